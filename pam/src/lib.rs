//! `pam_mfa_console.so`: a PAM module that asks the `mfa-console serve` service, over its
//! Unix socket, whether a user may sign in, and asks the person for a verification code
//! when the service needs one. All policy (lockout, replay, grace, roles) is the
//! service's; the module maps its answers to prompts, messages and a PAM result.
//!
//! Unsafe code lives in `ffi` only (the PAM entry points, libpam calls, two socket
//! calls); options, protocol and the sign-in flow are safe Rust, tested without libpam.

mod client;
mod ffi;
mod flow;
mod options;
mod protocol;
mod strings;
