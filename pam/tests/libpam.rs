//! The module as the system's libpam loads it, against a scripted stand-in for the
//! service on a temporary socket: the PAM result, every prompt and message shown, and
//! every request the service received. (`module.rs` runs the same module against the
//! real service.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/pam.rs"]
mod pam;

use std::ffi::{c_char, c_int, c_void};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::ptr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pam::{PAM_AUTH_ERR, PAM_CONV_ERR, PAM_PERM_DENIED, PAM_SUCCESS, SignIn};
use serde_json::{Value, json};
use tempfile::TempDir;

const UNREACHABLE: &str =
    "error: The verification service is not reachable; ask your administrator.";
const CODE_PROMPT: &str = "prompt(off): Verification code: ";

enum Reply {
    Line(Value),
    Raw(Vec<u8>),
    /// Say nothing for a while, then close.
    Silence,
}

/// The stand-in: answers each request line with `reply(request)`; records `(connection
/// number, request)`.
struct FakeService {
    _dir: TempDir,
    path: PathBuf,
    requests: Arc<Mutex<Vec<(usize, Value)>>>,
}

impl FakeService {
    fn start(reply: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verify.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let reply = Arc::new(reply);
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let (seen, reply) = (seen.clone(), reply.clone());
                thread::spawn(move || {
                    let mut out = stream.try_clone().unwrap();
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { return };
                        let request: Value = serde_json::from_str(&line).unwrap();
                        seen.lock().unwrap().push((n, request.clone()));
                        let bytes = match reply(&request) {
                            Reply::Line(v) => format!("{v}\n").into_bytes(),
                            Reply::Raw(b) => b,
                            Reply::Silence => {
                                thread::sleep(Duration::from_secs(5));
                                return;
                            }
                        };
                        if out.write_all(&bytes).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeService {
            _dir: dir,
            path,
            requests,
        }
    }

    /// A service that wants a code and accepts only 123456.
    fn wanting_code(probe_answer: Value) -> Self {
        Self::start(move |r| match r["code"].as_str() {
            None => Reply::Line(probe_answer.clone()),
            Some("123456") => Reply::Line(
                json!({"result":"accepted","mfa":"verified","method":"authenticator","message":"Accepted."}),
            ),
            Some(_) => Reply::Line(
                json!({"result":"refused","message":"Sign-in refused: the username, password or code is not right."}),
            ),
        })
    }

    fn args(&self, more: &str) -> String {
        format!("socket={} {more}", self.path.display())
    }

    fn requests(&self) -> Vec<(usize, Value)> {
        self.requests.lock().unwrap().clone()
    }
}

fn code_required() -> Value {
    json!({"result":"code_required","methods":["authenticator"],"message":"A code is needed."})
}

#[test]
fn a_code_is_asked_for_and_checked_on_one_connection() {
    let svc = FakeService::wanting_code(code_required());
    let out = SignIn::with_args(&svc.args(""))
        .rhost("10.0.0.5")
        .tty("ssh")
        .typing(&["123456"])
        .run();
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.shown, [CODE_PROMPT]);
    let requests = svc.requests();
    assert_eq!(requests.len(), 2);
    let (probe, verify) = (&requests[0], &requests[1]);
    assert_eq!((probe.0, verify.0), (0, 0), "one connection");
    let service = probe.1["service"].as_str().unwrap();
    assert!(service.starts_with("mfa-test-"), "{service}");
    assert_eq!(
        probe.1,
        json!({"op":"verify","mode":"code-only","username":"alice","service":service,"rhost":"10.0.0.5","tty":"ssh"})
    );
    assert_eq!(
        verify.1,
        json!({"op":"verify","mode":"code-only","username":"alice","code":"123456","service":service,"rhost":"10.0.0.5","tty":"ssh"})
    );
}

#[test]
fn a_wrong_code_is_refused_with_the_services_message() {
    let svc = FakeService::wanting_code(code_required());
    let out = SignIn::with_args(&svc.args("")).typing(&["000000"]).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(
        out.shown,
        [
            CODE_PROMPT,
            "error: Sign-in refused: the username, password or code is not right."
        ]
    );
}

#[test]
fn grace_is_told_and_accepted() {
    let svc = FakeService::start(|_| {
        Reply::Line(json!({"result":"accepted","mfa":"grace","grace_days_left":6,"message":"ok"}))
    });
    let out = SignIn::with_args(&svc.args("")).run();
    assert_eq!(out.rc, PAM_SUCCESS);
    assert_eq!(
        out.shown,
        [
            "info: Multi-factor authentication is required: configure it in the console within 6 days."
        ]
    );
}

#[test]
fn pam_silent_keeps_messages_back_but_not_prompts() {
    let grace = FakeService::start(|_| {
        Reply::Line(json!({"result":"accepted","mfa":"grace","grace_days_left":6}))
    });
    let out = SignIn::with_args(&grace.args("")).silent().run();
    assert_eq!(out.rc, PAM_SUCCESS);
    assert!(out.shown.is_empty(), "{out:?}");

    let svc = FakeService::wanting_code(code_required());
    let out = SignIn::with_args(&svc.args(""))
        .silent()
        .typing(&["000000"])
        .run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(out.shown, [CODE_PROMPT]);
}

#[test]
fn enter_gets_a_code_by_email() {
    let svc = FakeService::start(|r| {
        Reply::Line(match (r["op"].as_str(), r["code"].as_str()) {
            (Some("email-code"), _) => {
                json!({"result":"code_sent","email":"a•••@example.com","expires":"2026-12-01T12:44:56Z"})
            }
            (_, None) => {
                json!({"result":"code_required","methods":["authenticator","email"],"email":"a•••@example.com"})
            }
            (_, Some("481516")) => json!({"result":"accepted","mfa":"verified","method":"email"}),
            _ => json!({"result":"refused"}),
        })
    });
    let out = SignIn::with_args(&svc.args(""))
        .typing(&["", "481516"])
        .run();
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(
        out.shown,
        [
            "info: Type the code from your authenticator app, or press Enter to get a code by email at a•••@example.com.",
            CODE_PROMPT,
            "info: A code was sent to a•••@example.com.",
            CODE_PROMPT,
        ]
    );
    let ops: Vec<_> = svc
        .requests()
        .iter()
        .map(|(_, r)| r["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops, ["verify", "email-code", "verify"]);
}

#[test]
fn no_service_fails_closed_with_the_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let args = format!("socket={}/verify.sock", dir.path().display());
    let out = SignIn::with_args(&args).typing(&["123456"]).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(out.shown, [UNREACHABLE]);
}

#[test]
fn no_service_with_fail_open_lets_in_silently() {
    let dir = tempfile::tempdir().unwrap();
    let args = format!("socket={}/verify.sock fail=open", dir.path().display());
    let out = SignIn::with_args(&args).run();
    assert_eq!(out.rc, PAM_SUCCESS);
    assert!(out.shown.is_empty());
}

#[test]
fn a_silent_service_times_out() {
    let svc = FakeService::start(|_| Reply::Silence);
    let started = Instant::now();
    let out = SignIn::with_args(&svc.args("timeout=1")).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(out.shown, [UNREACHABLE]);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn an_answer_over_64_kib_or_not_json_is_unreachable() {
    let huge = FakeService::start(|_| {
        let mut b = vec![b'{'; 70 * 1024];
        b.push(b'\n');
        Reply::Raw(b)
    });
    let garbage = FakeService::start(|_| Reply::Raw(b"SSH-2.0-OpenSSH\r\n".to_vec()));
    let error = FakeService::start(|_| {
        Reply::Line(json!({"result":"error","status":503,"message":"database busy"}))
    });
    for svc in [huge, garbage, error] {
        let out = SignIn::with_args(&svc.args("")).run();
        assert_eq!(out.rc, PAM_AUTH_ERR);
        assert_eq!(out.shown, [UNREACHABLE]);
    }
}

#[test]
fn an_unknown_user_is_refused_or_stepped_around() {
    let svc = FakeService::start(|_| {
        Reply::Line(json!({"result":"refused","reason":"unknown_user","message":"unknown"}))
    });
    // `ignore` lets the next line of the stack decide; `deny` is a plain failure.
    let stack = |args: String| {
        format!(
            "auth [success=done ignore=ignore default=die] {{module}} {args}\nauth required pam_permit.so\n"
        )
    };
    let out = SignIn::stack(&stack(svc.args("unknown=ignore")))
        .user("carol")
        .run();
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert!(out.shown.is_empty());

    // Alone in the stack, a module that steps aside leaves libpam nothing to go by.
    let out = SignIn::with_args(&svc.args("unknown=ignore"))
        .user("carol")
        .run();
    assert_eq!(out.rc, PAM_PERM_DENIED, "{out:?}");

    let out = SignIn::stack(&stack(svc.args("")))
        .user("carol")
        .typing(&["1"])
        .run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(
        out.shown,
        [
            CODE_PROMPT,
            "error: Sign-in refused: the username, password or code is not right."
        ]
    );
}

#[test]
fn locked_and_enroll_required_are_told() {
    let locked = FakeService::start(|_| {
        Reply::Line(json!({"result":"locked","until":"2026-12-01T12:34:56Z","message":"Locked."}))
    });
    let out = SignIn::with_args(&locked.args("")).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(
        out.shown,
        ["error: This account is locked until 2026-12-01 12:34:56 UTC."]
    );

    let enroll = FakeService::start(|_| {
        Reply::Line(json!({"result":"enroll_required","message":"Configure MFA in the console."}))
    });
    let out = SignIn::with_args(&enroll.args("")).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(out.shown, ["error: Configure MFA in the console."]);
}

#[test]
fn a_typed_password_is_passed_to_the_next_module() {
    let svc = FakeService::start(|r| {
        Reply::Line(if r["password"] == "correct horse" {
            json!({"result":"accepted","mfa":"mfa_off"})
        } else {
            json!({"result":"refused"})
        })
    });
    // The second line reads PAM_AUTHTOK, set by the first.
    let stack = format!(
        "auth required {{module}} {}\nauth required {{module}} {}\n",
        svc.args("mode=password-and-code"),
        svc.args("mode=password-and-code use_first_pass")
    );
    let out = SignIn::stack(&stack).typing(&["correct horse"]).run();
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.shown, ["prompt(off): Password: "]);
    let requests = svc.requests();
    assert_eq!(requests.len(), 2);
    for (_, r) in &requests {
        assert_eq!(r["mode"], "password-and-code");
        assert_eq!(r["password"], "correct horse");
    }
}

#[test]
fn use_first_pass_without_an_earlier_password_is_refused() {
    let svc = FakeService::start(|_| Reply::Line(json!({"result":"accepted","mfa":"mfa_off"})));
    let out = SignIn::with_args(&svc.args("mode=password-and-code use_first_pass")).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert!(svc.requests().is_empty());
}

#[test]
fn a_bad_option_refuses_without_asking_the_service() {
    let svc = FakeService::start(|_| Reply::Line(json!({"result":"accepted","mfa":"mfa_off"})));
    let out = SignIn::with_args(&svc.args("fail=open debug")).run();
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert_eq!(
        out.shown,
        [
            "error: Multi-factor authentication is not set up correctly on this machine; ask your administrator."
        ]
    );
    assert!(svc.requests().is_empty());
}

#[test]
fn a_conversation_that_gives_no_answer_is_a_conversation_error() {
    let svc = FakeService::wanting_code(code_required());
    let out = SignIn::with_args(&svc.args("")).run();
    assert_eq!(out.rc, PAM_CONV_ERR);
    assert_eq!(out.shown, [CODE_PROMPT]);
}

#[test]
#[allow(unsafe_code)]
fn setcred_succeeds_and_no_handle_is_refused() {
    type Entry = unsafe extern "C" fn(*mut c_void, c_int, c_int, *const *const c_char) -> c_int;
    pam::load_libpam();
    // SAFETY: the module's initialisers are Rust's; its entry points take these four
    // arguments, and both return before touching a null handle.
    unsafe {
        let lib = libloading::os::unix::Library::open(
            Some(pam::module_path().as_os_str()),
            libloading::os::unix::RTLD_NOW,
        )
        .unwrap();
        let setcred = lib.get::<Entry>("pam_sm_setcred").unwrap();
        assert_eq!(setcred(ptr::null_mut(), 0, 0, ptr::null()), PAM_SUCCESS);
        let authenticate = lib.get::<Entry>("pam_sm_authenticate").unwrap();
        assert_eq!(
            authenticate(ptr::null_mut(), 0, 0, ptr::null()),
            PAM_AUTH_ERR
        );
    }
}
