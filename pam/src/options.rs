//! The module's arguments, as written after the module's path in a PAM configuration line.

use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = "/var/lib/mfa-console/verify.sock";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT_SECONDS: u64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The password was checked by an earlier module (or there is none): only the code.
    CodeOnly,
    /// The service checks the password too.
    PasswordAndCode,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::CodeOnly => "code-only",
            Mode::PasswordAndCode => "password-and-code",
        }
    }
}

/// What to do with a user the service does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Deny,
    /// Step aside (PAM_IGNORE): for machines where only some accounts are in the console.
    Ignore,
}

/// What to do when the service cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    Closed,
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub socket: PathBuf,
    pub mode: Mode,
    pub use_first_pass: bool,
    pub timeout: Duration,
    pub unknown: Unknown,
    pub fail: Fail,
    /// A service account the service may run as, besides root and the program's own.
    pub service_uid: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            socket: PathBuf::from(DEFAULT_SOCKET),
            mode: Mode::CodeOnly,
            use_first_pass: false,
            timeout: DEFAULT_TIMEOUT,
            unknown: Unknown::Deny,
            fail: Fail::Closed,
            service_uid: None,
        }
    }
}

/// The options, or every problem found (one line each, for the system log). A later
/// `key=value` replaces an earlier one.
pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Options, Vec<String>> {
    let mut o = Options::default();
    let mut problems = Vec::new();
    for arg in args {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        match (key, value) {
            ("use_first_pass", None) => o.use_first_pass = true,
            ("socket", Some(v)) if v.starts_with('/') => o.socket = PathBuf::from(v),
            ("socket", Some(v)) => {
                problems.push(format!("socket={v}: expected an absolute path"));
            }
            ("mode", Some("code-only")) => o.mode = Mode::CodeOnly,
            ("mode", Some("password-and-code")) => o.mode = Mode::PasswordAndCode,
            ("mode", Some(v)) => {
                problems.push(format!(
                    "mode={v}: expected mode=code-only or mode=password-and-code"
                ));
            }
            ("timeout", Some(v)) => match v.parse::<u64>() {
                Ok(s) if (1..=MAX_TIMEOUT_SECONDS).contains(&s) => {
                    o.timeout = Duration::from_secs(s);
                }
                _ => problems.push(format!(
                    "timeout={v}: expected whole seconds from 1 to {MAX_TIMEOUT_SECONDS}"
                )),
            },
            ("unknown", Some("deny")) => o.unknown = Unknown::Deny,
            ("unknown", Some("ignore")) => o.unknown = Unknown::Ignore,
            ("unknown", Some(v)) => {
                problems.push(format!(
                    "unknown={v}: expected unknown=deny or unknown=ignore"
                ));
            }
            ("service_uid", Some(v)) => match v.parse::<u32>() {
                Ok(n) => o.service_uid = Some(n),
                Err(_) => problems.push(format!(
                    "service_uid={v}: expected the number of the account the service runs as"
                )),
            },
            ("fail", Some("closed")) => o.fail = Fail::Closed,
            ("fail", Some("open")) => o.fail = Fail::Open,
            ("fail", Some(v)) => {
                problems.push(format!("fail={v}: expected fail=closed or fail=open"));
            }
            _ => problems.push(format!(
                "unknown option {arg:?} (known: socket=PATH, mode=, use_first_pass, timeout=SECONDS, unknown=, fail=, service_uid=)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(o)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn no_arguments_give_the_defaults() {
        let o = parse([]).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.socket, PathBuf::from("/var/lib/mfa-console/verify.sock"));
        assert_eq!(o.mode, Mode::CodeOnly);
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!((o.unknown, o.fail), (Unknown::Deny, Fail::Closed));
        assert!(!o.use_first_pass);
    }

    #[test]
    fn every_option_is_read() {
        let o = parse([
            "socket=/run/mfa/v.sock",
            "mode=password-and-code",
            "use_first_pass",
            "timeout=3",
            "unknown=ignore",
            "fail=open",
            "service_uid=998",
        ])
        .unwrap();
        assert_eq!(
            o,
            Options {
                socket: PathBuf::from("/run/mfa/v.sock"),
                mode: Mode::PasswordAndCode,
                use_first_pass: true,
                timeout: Duration::from_secs(3),
                unknown: Unknown::Ignore,
                fail: Fail::Open,
                service_uid: Some(998),
            }
        );
    }

    #[test]
    fn a_later_value_replaces_an_earlier_one() {
        let o = parse(["fail=open", "fail=closed"]).unwrap();
        assert_eq!(o.fail, Fail::Closed);
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = parse([
            "debug",
            "socket=relative.sock",
            "mode=code",
            "timeout=0",
            "timeout=ten",
            "unknown=allow",
            "fail=maybe",
            "use_first_pass=yes",
            "socket",
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 9, "{problems:#?}");
        assert!(problems[0].starts_with("unknown option \"debug\""));
        assert_eq!(
            problems[1],
            "socket=relative.sock: expected an absolute path"
        );
        assert!(problems[3].starts_with("timeout=0: expected whole seconds"));
        assert!(problems[7].starts_with("unknown option \"use_first_pass=yes\""));
    }

    #[test]
    fn the_longest_timeout_is_ten_minutes() {
        assert!(parse(["timeout=600"]).is_ok());
        assert!(parse(["timeout=601"]).is_err());
    }
}
