//! The service's socket protocol (/work/proto.md): one JSON object per line each way.
//! Pure: requests to bytes, bytes to answers; the socket is in `client`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::options::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "verify")]
    Verify,
    #[serde(rename = "email-code")]
    EmailCode,
}

/// Who is signing in, where from: the same on every request of one sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub username: String,
    pub service: Option<String>,
    pub rhost: Option<String>,
    pub tty: Option<String>,
}

/// One request. Only the fields the service knows are ever written (it refuses others);
/// an absent code is the "what do I need?" probe.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    pub op: Op,
    pub mode: &'static str,
    pub username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rhost: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn new(
        op: Op,
        mode: Mode,
        ctx: &'a Context,
        password: Option<&'a str>,
        code: Option<&'a str>,
    ) -> Self {
        Request {
            op,
            mode: mode.as_str(),
            username: &ctx.username,
            password: match mode {
                Mode::PasswordAndCode => password,
                Mode::CodeOnly => None,
            },
            code,
            service: ctx.service.as_deref(),
            rhost: ctx.rhost.as_deref(),
            tty: ctx.tty.as_deref(),
        }
    }

    /// The request as one line. The buffer is reserved up front for the worst case (every
    /// byte escaped as `\u00XX`) so no copy of a password is left behind by a reallocation,
    /// and it is zeroed when dropped.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        let payload = [
            Some(self.username),
            self.password,
            self.code,
            self.service,
            self.rhost,
            self.tty,
        ]
        .iter()
        .flatten()
        .map(|s| s.len())
        .sum::<usize>();
        let mut line = Zeroizing::new(Vec::with_capacity(payload * 6 + 256));
        serde_json::to_writer(&mut *line, self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// What `accepted` says about the second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mfa {
    Verified,
    Off,
    NotConfigured,
    Grace,
    Integration,
    /// A kind this module does not know yet: still an acceptance.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted {
        mfa: Mfa,
        grace_days_left: Option<u32>,
        recovery_codes_left: Option<u32>,
    },
    CodeRequired {
        /// The masked address, when the user can get a code by email.
        email: Option<String>,
    },
    Refused {
        unknown_user: bool,
        message: Option<String>,
    },
    Locked {
        until: Option<String>,
    },
    EnrollRequired {
        message: Option<String>,
    },
    CodeSent {
        email: Option<String>,
    },
    Throttled {
        retry_after: Option<u64>,
    },
    Error {
        status: Option<u16>,
        message: Option<String>,
    },
    /// A result this module does not know (a newer service): the service is up and did
    /// not say yes.
    Other(String),
}

/// An answer line that is not an answer of this protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnAnswer(pub String);

/// The fields of every kind of answer; unknown fields are ignored (a newer service may
/// say more), a field of the wrong type makes the line not an answer.
#[derive(Deserialize)]
struct Raw {
    result: String,
    message: Option<String>,
    mfa: Option<String>,
    grace_days_left: Option<u32>,
    recovery_codes_left: Option<u32>,
    email: Option<String>,
    reason: Option<String>,
    until: Option<String>,
    retry_after: Option<u64>,
    status: Option<u16>,
}

pub fn parse_answer(line: &[u8]) -> Result<Answer, NotAnAnswer> {
    let raw: Raw =
        serde_json::from_slice(line).map_err(|e| NotAnAnswer(format!("not an answer: {e}")))?;
    let message = raw.message.filter(|m| !m.trim().is_empty());
    Ok(match raw.result.as_str() {
        "accepted" => Answer::Accepted {
            mfa: match raw.mfa.as_deref() {
                Some("verified") => Mfa::Verified,
                Some("mfa_off") => Mfa::Off,
                Some("not_configured") => Mfa::NotConfigured,
                Some("grace") => Mfa::Grace,
                Some("integration") => Mfa::Integration,
                Some(other) => Mfa::Other(other.to_string()),
                None => Mfa::Other(String::new()),
            },
            grace_days_left: raw.grace_days_left,
            recovery_codes_left: raw.recovery_codes_left,
        },
        "code_required" => Answer::CodeRequired {
            email: raw.email.filter(|e| !e.is_empty()),
        },
        "refused" => Answer::Refused {
            unknown_user: raw.reason.as_deref() == Some("unknown_user"),
            message,
        },
        "locked" => Answer::Locked { until: raw.until },
        "enroll_required" => Answer::EnrollRequired { message },
        "code_sent" => Answer::CodeSent { email: raw.email },
        "throttled" => Answer::Throttled {
            retry_after: raw.retry_after,
        },
        "error" => Answer::Error {
            status: raw.status,
            message,
        },
        other => Answer::Other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::{Value, json};

    fn ctx() -> Context {
        Context {
            username: "alice".into(),
            service: Some("sshd".into()),
            rhost: Some("10.0.0.5".into()),
            tty: None,
        }
    }

    fn encoded(r: &Request) -> Value {
        let line = r.encode().unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(&line).unwrap()
    }

    #[test]
    fn a_probe_has_no_code_and_code_only_sends_no_password() {
        let c = ctx();
        let r = Request::new(Op::Verify, Mode::CodeOnly, &c, Some("pw"), None);
        assert_eq!(
            encoded(&r),
            json!({"op":"verify","mode":"code-only","username":"alice","service":"sshd","rhost":"10.0.0.5"})
        );
    }

    #[test]
    fn password_and_code_sends_both() {
        let c = ctx();
        let r = Request::new(
            Op::Verify,
            Mode::PasswordAndCode,
            &c,
            Some("p\"w\n"),
            Some("123456"),
        );
        assert_eq!(
            encoded(&r),
            json!({"op":"verify","mode":"password-and-code","username":"alice","password":"p\"w\n",
                   "code":"123456","service":"sshd","rhost":"10.0.0.5"})
        );
    }

    #[test]
    fn email_code_request() {
        let c = Context {
            username: "bob".into(),
            ..Context::default()
        };
        let r = Request::new(Op::EmailCode, Mode::CodeOnly, &c, None, None);
        assert_eq!(
            encoded(&r),
            json!({"op":"email-code","mode":"code-only","username":"bob"})
        );
    }

    #[test]
    fn the_buffer_never_grows_past_what_was_reserved() {
        let c = ctx();
        let pw = "\u{1}".repeat(3000);
        let r = Request::new(Op::Verify, Mode::PasswordAndCode, &c, Some(&pw), Some("1"));
        let line = r.encode().unwrap();
        assert!(line.len() <= line.capacity());
        assert!(line.len() > 3000 * 6);
    }

    fn parse(v: Value) -> Answer {
        parse_answer(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn answers_of_every_kind() {
        assert_eq!(
            parse(
                json!({"result":"accepted","mfa":"grace","grace_days_left":3,"message":"ok","extra":1})
            ),
            Answer::Accepted {
                mfa: Mfa::Grace,
                grace_days_left: Some(3),
                recovery_codes_left: None
            }
        );
        assert_eq!(
            parse(
                json!({"result":"accepted","mfa":"verified","method":"recovery","recovery_codes_left":4})
            ),
            Answer::Accepted {
                mfa: Mfa::Verified,
                grace_days_left: None,
                recovery_codes_left: Some(4)
            }
        );
        assert_eq!(
            parse(
                json!({"result":"code_required","methods":["authenticator","email"],"email":"a•••@example.com"})
            ),
            Answer::CodeRequired {
                email: Some("a•••@example.com".into())
            }
        );
        assert_eq!(
            parse(json!({"result":"code_required","methods":["authenticator"]})),
            Answer::CodeRequired { email: None }
        );
        assert_eq!(
            parse(json!({"result":"refused","reason":"unknown_user","message":"no"})),
            Answer::Refused {
                unknown_user: true,
                message: Some("no".into())
            }
        );
        assert_eq!(
            parse(json!({"result":"refused"})),
            Answer::Refused {
                unknown_user: false,
                message: None
            }
        );
        assert_eq!(
            parse(json!({"result":"locked","until":"2026-12-01T12:34:56Z"})),
            Answer::Locked {
                until: Some("2026-12-01T12:34:56Z".into())
            }
        );
        assert_eq!(
            parse(json!({"result":"enroll_required","message":"Configure MFA."})),
            Answer::EnrollRequired {
                message: Some("Configure MFA.".into())
            }
        );
        assert_eq!(
            parse(
                json!({"result":"code_sent","email":"a•••@example.com","expires":"2026-12-01T12:44:56Z"})
            ),
            Answer::CodeSent {
                email: Some("a•••@example.com".into())
            }
        );
        assert_eq!(
            parse(json!({"result":"throttled","retry_after":12})),
            Answer::Throttled {
                retry_after: Some(12)
            }
        );
        assert_eq!(
            parse(json!({"result":"error","status":503,"message":"database busy"})),
            Answer::Error {
                status: Some(503),
                message: Some("database busy".into())
            }
        );
    }

    #[test]
    fn an_unknown_result_is_kept_by_name() {
        assert_eq!(
            parse(json!({"result":"password_expired","message":"x"})),
            Answer::Other("password_expired".into())
        );
    }

    #[test]
    fn lines_that_are_not_answers() {
        for bad in [
            &b"hello"[..],
            b"{}",
            b"[1]",
            br#"{"result":7}"#,
            br#"{"result":"accepted","grace_days_left":"3"}"#,
            b"\xff\xfe",
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
