//! The system's libpam (`libpam.so.0`, loaded at run time: no development files needed)
//! driving the module as it is built (`target/<profile>/deps/libpam_mfa_console.so`),
//! with a scripted conversation that records every message shown.
#![allow(unsafe_code, dead_code)]

use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::PathBuf;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_IGNORE: c_int = 25;
pub const PAM_PERM_DENIED: c_int = 6;
const PAM_TTY: c_int = 3;
const PAM_RHOST: c_int = 4;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: unsafe extern "C" fn(
        c_int,
        *mut *const PamMessage,
        *mut *mut PamResponse,
        *mut c_void,
    ) -> c_int,
    appdata_ptr: *mut c_void,
}

type StartConfdir = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const PamConv,
    *const c_char,
    *mut *mut c_void,
) -> c_int;
type Authenticate = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type End = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type SetItem = unsafe extern "C" fn(*mut c_void, c_int, *const c_void) -> c_int;

struct Libpam {
    start_confdir: StartConfdir,
    authenticate: Authenticate,
    end: End,
    set_item: SetItem,
    _lib: Library,
}

/// Loads libpam into the process (as a PAM application is linked with it).
pub fn load_libpam() {
    libpam();
}

fn libpam() -> &'static Libpam {
    static LIBPAM: OnceLock<Libpam> = OnceLock::new();
    LIBPAM.get_or_init(|| {
        // SAFETY: libpam's initialisers are those every PAM application runs. RTLD_GLOBAL:
        // the module resolves pam_get_item & co. from the process, as in a real application.
        // The library is kept for the whole run, so the function pointers stay valid.
        unsafe {
            let lib = Library::open(Some("libpam.so.0"), RTLD_NOW | RTLD_GLOBAL)
                .expect("libpam.so.0 (package libpam0g) is on every Debian system");
            Libpam {
                start_confdir: *lib.get::<StartConfdir>("pam_start_confdir").unwrap(),
                authenticate: *lib.get::<Authenticate>("pam_authenticate").unwrap(),
                end: *lib.get::<End>("pam_end").unwrap(),
                set_item: *lib.get::<SetItem>("pam_set_item").unwrap(),
                _lib: lib,
            }
        }
    })
}

/// The module this test run built. `cargo test` builds the library (cdylib + rlib) before
/// the integration tests because they depend on the rlib; the .so is in `deps/`, beside
/// the test executable (it is copied up to `target/<profile>/` only by `cargo build`).
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let so = deps.join("libpam_mfa_console.so");
    assert!(so.exists(), "{} is missing", so.display());
    so
}

/// One `pam_authenticate` through a stack written for the occasion.
pub struct SignIn {
    stack: String,
    user: String,
    rhost: Option<String>,
    tty: Option<String>,
    answers: Vec<Typed>,
    flags: c_int,
}

/// What the person types at one prompt.
pub enum Typed {
    Text(String),
    /// Worked out when the prompt comes (e.g. a code that was just emailed).
    Later(Box<dyn FnMut() -> String>),
}

#[derive(Debug)]
pub struct Outcome {
    pub rc: c_int,
    /// `prompt: TEXT`, `info: TEXT` or `error: TEXT`, in order.
    pub shown: Vec<String>,
}

impl Outcome {
    pub fn prompts(&self) -> usize {
        self.shown
            .iter()
            .filter(|s| s.starts_with("prompt"))
            .count()
    }
}

impl SignIn {
    /// `auth required <module> ARGS`.
    pub fn with_args(args: &str) -> Self {
        Self::stack(&format!("auth required {{module}} {args}\n"))
    }

    /// A whole auth stack; `{module}` stands for the module's absolute path.
    pub fn stack(stack: &str) -> Self {
        SignIn {
            stack: stack.replace("{module}", module_path().to_str().unwrap()),
            user: "alice".into(),
            rhost: None,
            tty: None,
            answers: Vec::new(),
            flags: 0,
        }
    }

    /// `pam_authenticate(h, PAM_SILENT)`: the application wants no messages.
    pub fn silent(mut self) -> Self {
        self.flags = 0x8000;
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    pub fn rhost(mut self, rhost: &str) -> Self {
        self.rhost = Some(rhost.into());
        self
    }

    pub fn tty(mut self, tty: &str) -> Self {
        self.tty = Some(tty.into());
        self
    }

    /// What the person types at each prompt, in order; once they run out the
    /// conversation fails.
    pub fn typing(mut self, answers: &[&str]) -> Self {
        self.answers
            .extend(answers.iter().map(|a| Typed::Text(a.to_string())));
        self
    }

    /// Then, at the next prompt, whatever `answer` gives at that moment.
    pub fn then_typing(mut self, answer: impl FnMut() -> String + 'static) -> Self {
        self.answers.push(Typed::Later(Box::new(answer)));
        self
    }

    pub fn run(self) -> Outcome {
        static N: AtomicUsize = AtomicUsize::new(0);
        let confdir = tempfile::tempdir().unwrap();
        let service = format!("mfa-test-{}", N.fetch_add(1, Ordering::Relaxed));
        std::fs::write(confdir.path().join(&service), &self.stack).unwrap();

        let mut script = Script {
            answers: self.answers.into(),
            shown: Vec::new(),
        };
        let conv = PamConv {
            conv: conversation,
            appdata_ptr: (&raw mut script).cast(),
        };
        let pam = libpam();
        let c_service = CString::new(service).unwrap();
        let c_user = CString::new(self.user).unwrap();
        let c_confdir = CString::new(confdir.path().to_str().unwrap()).unwrap();
        let mut handle: *mut c_void = ptr::null_mut();
        // SAFETY: all strings are NUL-terminated and outlive the handle; `conv` and `script`
        // outlive it too (pam_end is called below, before they are dropped).
        let rc = unsafe {
            let rc = (pam.start_confdir)(
                c_service.as_ptr(),
                c_user.as_ptr(),
                &conv,
                c_confdir.as_ptr(),
                &mut handle,
            );
            assert_eq!(rc, PAM_SUCCESS, "pam_start_confdir");
            let items = [(PAM_RHOST, self.rhost), (PAM_TTY, self.tty)];
            for (item, value) in items {
                if let Some(v) = value {
                    let v = CString::new(v).unwrap();
                    assert_eq!((pam.set_item)(handle, item, v.as_ptr().cast()), PAM_SUCCESS);
                }
            }
            let rc = (pam.authenticate)(handle, self.flags);
            (pam.end)(handle, rc);
            rc
        };
        Outcome {
            rc,
            shown: script.shown,
        }
    }
}

struct Script {
    answers: VecDeque<Typed>,
    shown: Vec<String>,
}

/// The application's conversation function: answers are `calloc`/`strdup`ed, as libpam
/// and the module expect (the module frees them).
unsafe extern "C" fn conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the Script given to pam_start_confdir, alive for the handle.
    let script = unsafe { &mut *appdata.cast::<Script>() };
    let n = usize::try_from(num_msg).unwrap_or(0);
    // SAFETY: calloc of n zeroed responses (null resp = no answer).
    let replies = unsafe { libc::calloc(n.max(1), size_of::<PamResponse>()) }.cast::<PamResponse>();
    for i in 0..n {
        // SAFETY: libpam passes num_msg valid message pointers.
        let m = unsafe { &**msg.add(i) };
        // SAFETY: each message is a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(m.msg) }
            .to_string_lossy()
            .into_owned();
        match m.msg_style {
            1 | 2 => {
                let echo = if m.msg_style == 1 { "off" } else { "on" };
                script.shown.push(format!("prompt({echo}): {text}"));
                let typed = script.answers.pop_front().map(|t| match t {
                    Typed::Text(s) => s,
                    Typed::Later(mut f) => f(),
                });
                match typed {
                    Some(answer) => {
                        let a = CString::new(answer).unwrap_or_default();
                        // SAFETY: strdup copies the NUL-terminated answer; replies has n slots.
                        unsafe { (*replies.add(i)).resp = libc::strdup(a.as_ptr()) };
                    }
                    None => {
                        // SAFETY: free what was handed out so far, then the array.
                        unsafe {
                            for j in 0..i {
                                libc::free((*replies.add(j)).resp.cast());
                            }
                            libc::free(replies.cast());
                        }
                        return PAM_CONV_ERR;
                    }
                }
            }
            3 => script.shown.push(format!("error: {text}")),
            4 => script.shown.push(format!("info: {text}")),
            other => script.shown.push(format!("style {other}: {text}")),
        }
    }
    // SAFETY: resp is where libpam wants the array.
    unsafe { *resp = replies };
    PAM_SUCCESS
}
