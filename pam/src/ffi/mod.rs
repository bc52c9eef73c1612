//! The boundary with libpam: the exported entry points and the libpam functions they use.
//! libpam's functions are declared without `#[link]`: they come from the process that
//! loads the module (it is linked with libpam.so.0), so the module builds without
//! libpam's development files.
#![allow(unsafe_code)]

pub mod socket;

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use zeroize::{Zeroize, Zeroizing};

use crate::client::SocketVerifier;
use crate::flow::{self, AskError, Conversation, Notice, Pam, Priority, SystemLog, Verdict};

/// libpam's `pam_handle_t`, only ever behind a pointer.
#[repr(C)]
pub struct PamHandle {
    _opaque: [u8; 0],
}

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

type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

// <security/_pam_types.h>, Linux-PAM 1.5.
const PAM_SUCCESS: c_int = 0;
const PAM_AUTH_ERR: c_int = 7;
const PAM_CONV_ERR: c_int = 19;
const PAM_IGNORE: c_int = 25;
const PAM_SERVICE: c_int = 1;
const PAM_TTY: c_int = 3;
const PAM_RHOST: c_int = 4;
const PAM_CONV: c_int = 5;
const PAM_AUTHTOK: c_int = 6;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_SILENT: c_int = 0x8000;

unsafe extern "C" {
    fn pam_get_user(pamh: *mut PamHandle, user: *mut *const c_char, prompt: *const c_char)
    -> c_int;
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    /// Logs to LOG_AUTHPRIV with the module's and service's name in front of the line.
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

/// # Safety
/// Called by libpam with its handle and the module's arguments from the configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    if pamh.is_null() {
        return PAM_AUTH_ERR;
    }
    // A panic must not reach libpam: it becomes a refusal.
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libpam passes `argc` NUL-terminated strings in `argv`, valid for this call.
        let args = unsafe { arguments(argc, argv) };
        let mut handle = Handle {
            pamh,
            silent: flags & PAM_SILENT != 0,
        };
        let verdict = flow::run(&mut handle, &args, |o| {
            SocketVerifier::new(&o.socket, o.timeout).with_service_uid(o.service_uid)
        });
        match verdict {
            Verdict::Success => PAM_SUCCESS,
            Verdict::Refused => PAM_AUTH_ERR,
            Verdict::Ignore => PAM_IGNORE,
            Verdict::ConversationFailed => PAM_CONV_ERR,
        }
    }))
    .unwrap_or(PAM_AUTH_ERR)
}

/// No credentials to set: the service has nothing to hand over.
#[unsafe(no_mangle)]
pub extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    PAM_SUCCESS
}

/// # Safety
/// `argv` holds `argc` valid NUL-terminated strings (or `argc` is 0).
unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    if argv.is_null() {
        return Vec::new();
    }
    (0..usize::try_from(argc).unwrap_or(0))
        .filter_map(|i| {
            // SAFETY: i < argc, within the array the caller promised.
            let p = unsafe { *argv.add(i) };
            // SAFETY: each non-null entry is a NUL-terminated string (caller's promise).
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// The handle of the current call, seen through the flow's traits.
struct Handle {
    pamh: *mut PamHandle,
    silent: bool,
}

impl Handle {
    /// A string item's bytes, copied, or `None` when unset.
    fn item_bytes(&self, item_type: c_int) -> Option<Zeroizing<Vec<u8>>> {
        let mut p: *const c_void = ptr::null();
        // SAFETY: `pamh` is the live handle of this call; pam_get_item writes one pointer.
        let rc = unsafe { pam_get_item(self.pamh, item_type, &mut p) };
        if rc != PAM_SUCCESS || p.is_null() {
            return None;
        }
        // SAFETY: string items are NUL-terminated strings owned by libpam, valid until the
        // item is changed; they are copied at once.
        let bytes = unsafe { CStr::from_ptr(p.cast::<c_char>()) }.to_bytes();
        Some(Zeroizing::new(bytes.to_vec()))
    }

    fn context_item(&self, item_type: c_int) -> Option<String> {
        let bytes = self.item_bytes(item_type)?;
        let s = String::from_utf8_lossy(&bytes).into_owned();
        (!s.is_empty()).then_some(s)
    }

    fn conversation(&self) -> Option<(ConvFn, *mut c_void)> {
        let mut p: *const c_void = ptr::null();
        // SAFETY: as in `item_bytes`; PAM_CONV's item is a `struct pam_conv`.
        let rc = unsafe { pam_get_item(self.pamh, PAM_CONV, &mut p) };
        if rc != PAM_SUCCESS || p.is_null() {
            return None;
        }
        // SAFETY: libpam keeps the application's pam_conv for the handle's lifetime.
        let conv = unsafe { &*p.cast::<PamConv>() };
        Some((conv.conv?, conv.appdata_ptr))
    }

    /// Shows one message; the answer, if the style asks for one.
    fn converse(&self, style: c_int, text: &str) -> Result<Option<Zeroizing<Vec<u8>>>, AskError> {
        let (conv, appdata) = self.conversation().ok_or(AskError::Conversation)?;
        let text = CString::new(text.replace('\0', "")).map_err(|_| AskError::Conversation)?;
        let message = PamMessage {
            msg_style: style,
            msg: text.as_ptr(),
        };
        let mut messages: *const PamMessage = &message;
        let mut response: *mut PamResponse = ptr::null_mut();
        // SAFETY: one message, valid for the call; the application allocates `response`
        // (or leaves it null) and hands it to us.
        let rc = unsafe { conv(1, &mut messages, &mut response, appdata) };
        // SAFETY: `response` is null or what the conversation allocated for one message.
        let answer = unsafe { take_response(response) };
        if rc != PAM_SUCCESS {
            return Err(AskError::Conversation);
        }
        Ok(answer)
    }
}

/// Copies the answer out of a conversation response, zeroes it and frees it.
///
/// # Safety
/// `response` is null or a malloc'ed `pam_response` whose `resp` is null or a malloc'ed
/// NUL-terminated string (the conversation's contract).
unsafe fn take_response(response: *mut PamResponse) -> Option<Zeroizing<Vec<u8>>> {
    if response.is_null() {
        return None;
    }
    // SAFETY: non-null, allocated by the conversation for our one message.
    let resp = unsafe { (*response).resp };
    let answer = (!resp.is_null()).then(|| {
        // SAFETY: `resp` is a NUL-terminated string we now own.
        let len = unsafe { CStr::from_ptr(resp) }.to_bytes().len();
        // SAFETY: the `len` bytes before the NUL are ours to read and overwrite.
        let bytes = unsafe { std::slice::from_raw_parts_mut(resp.cast::<u8>(), len) };
        let copy = Zeroizing::new(bytes.to_vec());
        bytes.zeroize();
        // SAFETY: malloc'ed by the conversation and not used after this.
        unsafe { libc::free(resp.cast()) };
        copy
    });
    // SAFETY: the array itself, malloc'ed by the conversation.
    unsafe { libc::free(response.cast()) };
    answer
}

/// The answer as text, in the same buffer (no copy is left behind).
fn into_text(mut bytes: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, AskError> {
    String::from_utf8(std::mem::take(&mut *bytes))
        .map(Zeroizing::new)
        .map_err(|e| {
            e.into_bytes().zeroize();
            AskError::NotText
        })
}

impl Conversation for Handle {
    fn ask(&mut self, prompt: &str) -> Result<Zeroizing<String>, AskError> {
        match self.converse(PAM_PROMPT_ECHO_OFF, prompt)? {
            Some(bytes) => into_text(bytes),
            None => Err(AskError::Conversation),
        }
    }

    fn tell(&mut self, notice: Notice, text: &str) {
        if self.silent {
            return;
        }
        let style = match notice {
            Notice::Info => PAM_TEXT_INFO,
            Notice::Error => PAM_ERROR_MSG,
        };
        // A message needs no answer; one given anyway is zeroed and freed like any other.
        let _ = self.converse(style, text);
    }
}

impl SystemLog for Handle {
    fn log(&mut self, priority: Priority, line: &str) {
        let priority = match priority {
            Priority::Error => libc::LOG_ERR,
            Priority::Warning => libc::LOG_WARNING,
        };
        let Ok(line) = CString::new(line.replace('\0', "")) else {
            return;
        };
        // SAFETY: a "%s" format with the one string argument it names.
        unsafe { pam_syslog(self.pamh, priority, c"%s".as_ptr(), line.as_ptr()) };
    }
}

impl Pam for Handle {
    fn username(&mut self) -> Result<String, String> {
        let mut p: *const c_char = ptr::null();
        // SAFETY: live handle; libpam writes a pointer to a string it owns (it may ask
        // the application for the name first).
        let rc = unsafe { pam_get_user(self.pamh, &mut p, ptr::null()) };
        if rc != PAM_SUCCESS {
            return Err(format!("PAM error {rc}"));
        }
        if p.is_null() {
            return Err("no username".into());
        }
        // SAFETY: a NUL-terminated string owned by libpam, copied at once.
        let name = unsafe { CStr::from_ptr(p) };
        name.to_str()
            .map(str::to_owned)
            .map_err(|_| "the username is not UTF-8".into())
    }

    fn service(&self) -> Option<String> {
        self.context_item(PAM_SERVICE)
    }

    fn rhost(&self) -> Option<String> {
        self.context_item(PAM_RHOST)
    }

    fn tty(&self) -> Option<String> {
        self.context_item(PAM_TTY)
    }

    fn earlier_password(&self) -> Option<Zeroizing<String>> {
        into_text(self.item_bytes(PAM_AUTHTOK)?).ok()
    }

    fn pass_password_on(&mut self, password: &str) {
        if password.contains('\0') {
            return;
        }
        let mut c = Zeroizing::new(Vec::with_capacity(password.len() + 1));
        c.extend_from_slice(password.as_bytes());
        c.push(0);
        // SAFETY: a NUL-terminated string; libpam copies it (and wipes its copy at pam_end).
        unsafe { pam_set_item(self.pamh, PAM_AUTHTOK, c.as_ptr().cast()) };
    }
}
