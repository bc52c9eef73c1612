//! End to end: the module as the system's libpam loads it, against the real service
//! (`mfa-console --db DB serve --socket SOCK`) on a database prepared with the real
//! command line only (`init`, `user add`, `controls`, `enroll`). TOTP codes are computed
//! with `totp-rs` from the secret `enroll` prints; emailed codes are read from the outbox
//! folder beside the database.
//!
//! The binary is the one beside the module (`target/<profile>/mfa-console`): `cargo test`
//! on the workspace builds it before any test runs; `cargo test -p pam_mfa_console` alone
//! does not (run `cargo build` first).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/pam.rs"]
mod pam;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pam::{Outcome, PAM_AUTH_ERR, PAM_SUCCESS, SignIn};
use tempfile::TempDir;
use totp_rs::{Builder, Secret, Totp};

const ADMIN_PW: &str = "quiet meadow lantern 42";
const USER_PW: &str = "amber falcon river 17";
const CODE_PROMPT: &str = "prompt(off): Verification code: ";
const REFUSED: &str = "error: Sign-in refused: the username, password or code is not right.";
const UNREACHABLE: &str =
    "error: The verification service is not reachable; ask your administrator.";

/// `target/<profile>/mfa-console`, found from this test's executable
/// (`target/<profile>/deps/module-HASH`).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile.join("mfa-console");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` on the workspace builds it (or run `cargo build`)",
        bin.display()
    );
    bin
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An organization in a temporary folder, and its service once started.
struct Org {
    dir: TempDir,
    db: PathBuf,
    socket: PathBuf,
    service: Option<Child>,
}

impl Org {
    /// `init` "Acme" with administrator `admin`, then the authenticator method on.
    fn new() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let org = Org {
            db: dir.path().join("org.redb"),
            socket: dir.path().join("verify.sock"),
            dir,
            service: None,
        };
        org.ok(
            &[
                "init",
                "--org",
                "Acme",
                "--admin",
                "admin",
                "--email",
                "admin@example.com",
                "--password-stdin",
            ],
            &format!("{ADMIN_PW}\n"),
        );
        org.ok(&["controls", "set", "authenticator", "on"], "");
        org
    }

    fn command(&self) -> Command {
        let mut c = Command::new(binary());
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("MFA_CONSOLE_CONFIG")
            .env_remove("RUST_BACKTRACE")
            .arg("--db")
            .arg(&self.db);
        c
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked"),
            "mfa-console {args:?} panicked:\n{err}"
        );
        out
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "mfa-console {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn add_user(&self, user: &str) {
        let email = format!("{user}@example.com");
        self.ok(
            &["user", "add", user, "--email", &email, "--password-stdin"],
            &format!("{USER_PW}\n"),
        );
    }

    /// `enroll USER --method authenticator`: reads the otpauth URI it prints, types the
    /// current code. The step of that code is used up (the replay guard).
    fn enroll_authenticator(&self, user: &str) -> Totp {
        let mut child = self
            .command()
            .args(["enroll", user, "--method", "authenticator"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let uri = loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "no otpauth URI");
            if line.starts_with("otpauth://") {
                break line.trim_end().to_string();
            }
        };
        let secret = uri
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("secret="))
            .unwrap();
        let totp = Builder::new()
            .with_secret(Secret::try_from_base32(secret).unwrap())
            .build()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{}", code_at(&totp, now())).unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert!(child.wait().unwrap().success(), "enroll failed:\n{rest}");
        totp
    }

    /// `enroll USER --method email`, typing the code from the outbox.
    fn enroll_email(&self, user: &str) {
        self.ok(&["controls", "set", "email", "on"], "");
        let mut child = self
            .command()
            .args(["enroll", user, "--method", "email"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The message is written before the code is read from stdin.
        let started = Instant::now();
        let code = loop {
            if let Some(c) = newest_code(&self.outbox()) {
                break c;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no email");
            thread::sleep(Duration::from_millis(50));
        };
        writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "enroll --method email failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    /// `serve --socket SOCK`, once the socket answers.
    fn start(&mut self) {
        let log = fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let child = self
            .command()
            .arg("serve")
            .arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.service = Some(child);
        let started = Instant::now();
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.service.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve ended ({status}):\n{}", self.serve_log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "serve did not open {}:\n{}",
                self.socket.display(),
                self.serve_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn serve_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops it: the service finishes and removes its socket.
    #[allow(unsafe_code)]
    fn stop(&mut self) {
        if let Some(mut child) = self.service.take() {
            let pid = i32::try_from(child.id()).unwrap();
            // SAFETY: kill() on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: the socket file stays, nobody answers on it.
    fn kill(&mut self) {
        if let Some(mut child) = self.service.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// One sign-in through `auth required <module> socket=SOCK ARGS`.
    fn sign_in(&self, user: &str, args: &str) -> SignIn {
        SignIn::with_args(&format!("socket={} {args}", self.socket.display()))
            .user(user)
            .rhost("10.0.0.5")
    }

    /// The audit log, for what the service recorded.
    fn audit(&self) -> String {
        self.ok(&["audit"], "")
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        self.stop();
    }
}

fn code_at(totp: &Totp, t: u64) -> String {
    totp.generate(t).to_string()
}

/// A six-digit code that is none of those from two steps back to two ahead.
fn wrong_code(totp: &Totp) -> String {
    let t = now();
    let near: Vec<String> = (0..=4u64).map(|i| code_at(totp, t + i * 30 - 60)).collect();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// The code in the newest message of the outbox: a line of six digits. Never panics (it
/// runs inside the PAM conversation).
fn newest_code(outbox: &Path) -> Option<String> {
    let newest = fs::read_dir(outbox)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
    let text = fs::read_to_string(newest.path()).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
}

fn assert_outcome(out: &Outcome, rc: i32, shown: &[&str]) {
    let seen: Vec<&str> = out.shown.iter().map(String::as_str).collect();
    assert_eq!((out.rc, &seen[..]), (rc, shown), "{out:?}");
}

#[test]
fn a_fresh_code_is_accepted_once() {
    let mut org = Org::new();
    org.add_user("alice");
    let totp = org.enroll_authenticator("alice");
    org.start();
    // The next step's code: enrollment used up the current one, and it is within the skew.
    let code = code_at(&totp, now() + 30);
    let out = org.sign_in("alice", "").typing(&[&code]).run();
    assert_outcome(&out, PAM_SUCCESS, &[CODE_PROMPT]);

    let replayed = org.sign_in("alice", "").typing(&[&code]).run();
    assert_outcome(&replayed, PAM_AUTH_ERR, &[CODE_PROMPT, REFUSED]);

    let audit = org.audit();
    assert!(
        audit.contains("pam@"),
        "the service audits the socket peer:\n{audit}"
    );
}

#[test]
fn a_wrong_code_is_refused() {
    let mut org = Org::new();
    org.add_user("alice");
    let totp = org.enroll_authenticator("alice");
    org.start();
    let out = org.sign_in("alice", "").typing(&[&wrong_code(&totp)]).run();
    assert_outcome(&out, PAM_AUTH_ERR, &[CODE_PROMPT, REFUSED]);
}

#[test]
fn password_and_code_mode_checks_both() {
    let mut org = Org::new();
    org.add_user("alice");
    let totp = org.enroll_authenticator("alice");
    org.start();
    let wrong_pw = org
        .sign_in("alice", "mode=password-and-code")
        .typing(&["not the password"])
        .run();
    assert_outcome(
        &wrong_pw,
        PAM_AUTH_ERR,
        &["prompt(off): Password: ", REFUSED],
    );
    let code = code_at(&totp, now() + 30);
    let out = org
        .sign_in("alice", "mode=password-and-code")
        .typing(&[USER_PW, &code])
        .run();
    assert_outcome(&out, PAM_SUCCESS, &["prompt(off): Password: ", CODE_PROMPT]);
}

#[test]
fn lockout_is_shared_with_the_verify_command() {
    let mut org = Org::new();
    org.add_user("alice");
    org.ok(&["controls", "policy", "lockout-threshold", "3"], "");
    let totp = org.enroll_authenticator("alice");
    org.start();
    let wrong = wrong_code(&totp);

    // Failures 1 (PAM), 2 (CLI), 3 (PAM): the third locks.
    let out = org.sign_in("alice", "").typing(&[&wrong]).run();
    assert_outcome(&out, PAM_AUTH_ERR, &[CODE_PROMPT, REFUSED]);
    let cli = org.run(&["verify", "alice"], &format!("{USER_PW}\n{wrong}\n"));
    assert_eq!(cli.status.code(), Some(1));
    let out = org.sign_in("alice", "").typing(&[&wrong]).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(out.shown.len(), 2, "{out:?}");
    assert!(
        out.shown[1].starts_with("error: This account is locked until ")
            && out.shown[1].ends_with(" UTC."),
        "{out:?}"
    );

    // The CLI sees the lock, even with the right code; and so does the next PAM sign-in,
    // before any prompt.
    let right = code_at(&totp, now() + 30);
    let cli = org.run(&["verify", "alice"], &format!("{USER_PW}\n{right}\n"));
    assert_eq!(cli.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("locked"),
        "{cli:?}"
    );
    let out = org.sign_in("alice", "").typing(&[&right]).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(out.shown.len(), 1, "{out:?}");
    assert!(out.shown[0].starts_with("error: This account is locked until "));
}

#[test]
fn a_stopped_service_fails_closed() {
    let mut org = Org::new();
    org.add_user("alice");
    org.start();
    org.stop();
    let out = org.sign_in("alice", "").typing(&["123456"]).run();
    assert_outcome(&out, PAM_AUTH_ERR, &[UNREACHABLE]);

    // Killed: its socket file is left behind with nobody on it.
    org.start();
    org.kill();
    assert!(org.socket.exists());
    let out = org.sign_in("alice", "").typing(&["123456"]).run();
    assert_outcome(&out, PAM_AUTH_ERR, &[UNREACHABLE]);
}

#[test]
fn fail_open_lets_in_while_the_service_is_stopped() {
    let mut org = Org::new();
    org.add_user("alice");
    let totp = org.enroll_authenticator("alice");
    org.start();
    // Up: fail=open changes nothing.
    let out = org
        .sign_in("alice", "fail=open")
        .typing(&[&wrong_code(&totp)])
        .run();
    assert_outcome(&out, PAM_AUTH_ERR, &[CODE_PROMPT, REFUSED]);
    org.stop();
    let out = org.sign_in("alice", "fail=open").run();
    assert_outcome(&out, PAM_SUCCESS, &[]);
}

#[test]
fn an_unknown_user_is_stepped_around_only_with_unknown_ignore() {
    let mut org = Org::new();
    org.start();
    // The stack's next line decides when the module steps aside.
    let stack = |args: &str| {
        format!(
            "auth [success=done ignore=ignore default=die] {{module}} socket={} {args}\nauth required pam_permit.so\n",
            org.socket.display()
        )
    };
    let out = SignIn::stack(&stack("unknown=ignore"))
        .user("mallory")
        .run();
    assert_outcome(&out, PAM_SUCCESS, &[]);
    let out = SignIn::stack(&stack(""))
        .user("mallory")
        .typing(&["123456"])
        .run();
    assert_outcome(&out, PAM_AUTH_ERR, &[CODE_PROMPT, REFUSED]);
}

#[test]
fn enter_gets_a_code_by_email() {
    let mut org = Org::new();
    org.add_user("erin");
    org.enroll_email("erin");
    let enrolled = Instant::now();
    org.start();
    // One email code per 30 s per user: the enrollment's was the last.
    thread::sleep(Duration::from_secs(31).saturating_sub(enrolled.elapsed()));
    let outbox = org.outbox();
    let out = org
        .sign_in("erin", "")
        .typing(&[""])
        .then_typing(move || newest_code(&outbox).unwrap_or_default())
        .run();
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.shown.len(), 4, "{out:?}");
    assert!(
        out.shown[0].starts_with(
            "info: Type the code from your authenticator app, or press Enter to get a code by email at "
        ) && out.shown[0].contains("@example.com"),
        "{out:?}"
    );
    assert_eq!(out.shown[1], CODE_PROMPT);
    assert!(
        out.shown[2].starts_with("info: A code was sent to "),
        "{out:?}"
    );
    assert_eq!(out.shown[3], CODE_PROMPT);
    assert!(!out.shown[0].contains("erin@"), "the address is masked");
}

#[test]
fn grace_then_enroll_required() {
    let mut org = Org::new();
    org.add_user("gina");
    org.ok(&["controls", "policy", "enforcement", "required"], "");
    org.ok(&["controls", "policy", "grace-days", "7"], "");
    org.start();
    let out = org.sign_in("gina", "").run();
    assert_outcome(
        &out,
        PAM_SUCCESS,
        &[
            "info: Multi-factor authentication is required: configure it in the console within 7 days.",
        ],
    );

    org.ok(&["controls", "policy", "grace-days", "0"], "");
    let out = org.sign_in("gina", "").run();
    assert_outcome(
        &out,
        PAM_AUTH_ERR,
        &[
            "error: Multi-factor authentication is required and not configured for this account: configure MFA in the console first.",
        ],
    );
}
