//! The requests and answers of the service, as JSON: the same on the Unix socket (one
//! object per line) and over HTTP (one per body).

use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::core::clock::format_rfc3339;
use crate::core::{GENERIC_REFUSAL, MfaState, ServiceAnswer, ServiceRequest};
use crate::store::{ClientMode, Method};

/// The largest request: a body, or a line on the socket.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// The longest value of each field (bytes).
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 4096;
const MAX_CODE: usize = 64;
const MAX_CONTEXT: usize = 256;

/// An HTTP request body. Unknown fields are refused, so a misspelt `code` is not silently
/// a request without one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    pub username: String,
    #[serde(default)]
    pub password: Option<Zeroizing<String>>,
    #[serde(default)]
    pub code: Option<Zeroizing<String>>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub rhost: Option<String>,
}

/// What a socket line asks.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Verify,
    EmailCode,
    Health,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum WireMode {
    CodeOnly,
    PasswordAndCode,
}

impl From<WireMode> for ClientMode {
    fn from(m: WireMode) -> Self {
        match m {
            WireMode::CodeOnly => ClientMode::CodeOnly,
            WireMode::PasswordAndCode => ClientMode::PasswordAndCode,
        }
    }
}

/// A line on the socket.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketRequest {
    pub op: Op,
    #[serde(default)]
    pub mode: Option<WireMode>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Zeroizing<String>>,
    #[serde(default)]
    pub code: Option<Zeroizing<String>>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub rhost: Option<String>,
    #[serde(default)]
    pub tty: Option<String>,
}

/// A request the service refuses to look at, with the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// Parses JSON, naming what is wrong in words (serde's message has the line and column).
pub fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "the body is not valid JSON"
            }
            serde_json::error::Category::Data => "the request does not fit the API",
            serde_json::error::Category::Io => "the request could not be read",
        };
        BadRequest(format!(
            "{what}: {e}; send {{\"username\": …, \"code\": …}} (and \"password\" for password-and-code clients)"
        ))
    })
}

/// Checks the values and builds the core's request. `mode` is the caller's.
pub fn to_request(
    mode: ClientMode,
    username: Option<String>,
    password: Option<Zeroizing<String>>,
    code: Option<Zeroizing<String>>,
    context: &[(&str, Option<String>)],
) -> Result<ServiceRequest, BadRequest> {
    let username = username.ok_or_else(|| BadRequest("\"username\" is missing".into()))?;
    let too_long = |what: &str, len: usize, max: usize| {
        (len > max).then(|| BadRequest(format!("\"{what}\" is longer than {max} bytes")))
    };
    if let Some(e) = too_long("username", username.len(), MAX_USERNAME) {
        return Err(e);
    }
    if let Some(p) = &password
        && let Some(e) = too_long("password", p.len(), MAX_PASSWORD)
    {
        return Err(e);
    }
    if let Some(c) = &code
        && let Some(e) = too_long("code", c.len(), MAX_CODE)
    {
        return Err(e);
    }
    match mode {
        ClientMode::CodeOnly if password.is_some() => {
            return Err(BadRequest(
                "this client is code-only: it checks the first factor itself, so send no \"password\" (or ask for a password-and-code client)".into(),
            ));
        }
        ClientMode::PasswordAndCode if password.is_none() => {
            return Err(BadRequest(
                "\"password\" is missing: this client is password-and-code".into(),
            ));
        }
        _ => {}
    }
    let mut parts = Vec::new();
    for (name, value) in context {
        if let Some(v) = value {
            if let Some(e) = too_long(name, v.len(), MAX_CONTEXT) {
                return Err(e);
            }
            if !v.is_empty() {
                parts.push(match *name {
                    "rhost" => format!("from {v}"),
                    "tty" => format!("on {v}"),
                    _ => v.clone(),
                });
            }
        }
    }
    Ok(ServiceRequest {
        username,
        password,
        code,
        context: parts.join(" "),
    })
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Authenticator => "authenticator",
        Method::Email => "email",
    }
}

/// The answer as JSON, with its HTTP status.
pub fn answer(a: &ServiceAnswer) -> (u16, Value) {
    match a {
        ServiceAnswer::Accepted {
            mfa,
            method,
            recovery_codes_left,
        } => {
            let mut v = json!({"result": "accepted", "mfa": mfa.as_str()});
            let message = match mfa {
                MfaState::Verified => "accepted".to_string(),
                MfaState::Off => "accepted: MFA is off for the organization".into(),
                MfaState::NotConfigured => {
                    "accepted: this user has not configured MFA (it is optional)".into()
                }
                MfaState::Grace { days_left } => {
                    v["grace_days_left"] = json!(days_left);
                    format!(
                        "accepted: MFA is required; configure it in the console within {days_left} days"
                    )
                }
                MfaState::Integration => {
                    "accepted: integration accounts are not asked for a code".into()
                }
            };
            if let Some(m) = method {
                v["method"] = json!(m);
            }
            if let Some(n) = recovery_codes_left {
                v["recovery_codes_left"] = json!(n);
            }
            v["message"] = json!(message);
            (200, v)
        }
        ServiceAnswer::CodeRequired { methods, email } => {
            let mut v = json!({
                "result": "code_required",
                "methods": methods.iter().map(|m| method_name(*m)).collect::<Vec<_>>(),
                "message": "a verification code is required",
            });
            if let Some(e) = email {
                v["email"] = json!(e);
            }
            (401, v)
        }
        ServiceAnswer::Refused { unknown_user } => {
            let mut v = json!({"result": "refused", "message": GENERIC_REFUSAL});
            if *unknown_user {
                v["reason"] = json!("unknown_user");
            }
            (401, v)
        }
        ServiceAnswer::Locked { until } => (
            423,
            json!({
                "result": "locked",
                "until": format_rfc3339(*until),
                "message": format!(
                    "This account is locked after repeated failures until {}. An administrator can unlock it sooner.",
                    crate::core::clock::format_time(*until)
                ),
            }),
        ),
        ServiceAnswer::EnrollRequired => (
            403,
            json!({
                "result": "enroll_required",
                "message": "Multi-factor authentication is required and not configured for this account: configure MFA in the console first.",
            }),
        ),
        ServiceAnswer::CodeSent { email, expires } => (
            200,
            json!({
                "result": "code_sent",
                "email": email,
                "expires": format_rfc3339(*expires),
                "message": format!("A code was sent to {email}."),
            }),
        ),
        ServiceAnswer::Throttled { retry_after } => (
            429,
            json!({
                "result": "throttled",
                "retry_after": retry_after,
                "message": format!("A code was sent less than 30 s ago: wait {retry_after} s before asking for another."),
            }),
        ),
    }
}

/// An answer that is not a decision: bad input, a bad key, overload, a fault.
pub fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({"result": "error", "message": message}))
}

/// `GET /v1/health`: the schema version and the build, nothing secret.
pub fn health() -> (u16, Value) {
    (
        200,
        json!({
            "result": "ok",
            "schema_version": crate::store::SCHEMA_VERSION,
            "version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

/// One short line for the log: never a password or a code.
pub fn summary(a: &ServiceAnswer) -> String {
    match a {
        ServiceAnswer::Accepted { mfa, method, .. } => match method {
            Some(m) => format!("accepted ({}, {m})", mfa.as_str()),
            None => format!("accepted ({})", mfa.as_str()),
        },
        ServiceAnswer::CodeRequired { .. } => "code required".into(),
        ServiceAnswer::Refused { unknown_user: true } => "refused (unknown user)".into(),
        ServiceAnswer::Refused { .. } => "refused".into(),
        ServiceAnswer::Locked { until } => format!("locked until {}", format_rfc3339(*until)),
        ServiceAnswer::EnrollRequired => "refused (MFA must be configured first)".into(),
        ServiceAnswer::CodeSent { .. } => "email code sent".into(),
        ServiceAnswer::Throttled { .. } => "email code throttled".into(),
    }
}
