//! The records kept in the database. Each is stored as JSON; new fields carry
//! `#[serde(default)]` so older records keep decoding.

use serde::{Deserialize, Serialize};

use super::crypto::Sealed;

pub type Timestamp = i64;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
    Integration,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Authenticator,
    Email,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    Optional,
    Required,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FirstFactorEnrollment {
    AnyoneSignedIn,
    WithEnrollmentCode,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Policy {
    pub enforcement: Enforcement,
    pub grace_days: u32,
    pub lockout_threshold: u32,
    pub lockout_minutes: u32,
    pub email_code_minutes: u32,
    pub trusted_device_days: u32,
    pub totp_skew: u8,
    pub first_enrollment: FirstFactorEnrollment,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            enforcement: Enforcement::Optional,
            grace_days: 7,
            lockout_threshold: 5,
            lockout_minutes: 15,
            email_code_minutes: 10,
            trusted_device_days: 0,
            totp_skew: 1,
            first_enrollment: FirstFactorEnrollment::AnyoneSignedIn,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecurityControls {
    pub email: bool,
    pub authenticator: bool,
}

impl SecurityControls {
    pub fn is_on(&self, m: Method) -> bool {
        match m {
            Method::Authenticator => self.authenticator,
            Method::Email => self.email,
        }
    }
    pub fn set(&mut self, m: Method, on: bool) {
        match m {
            Method::Authenticator => self.authenticator = on,
            Method::Email => self.email = on,
        }
    }
    pub fn mfa_enabled(&self) -> bool {
        self.email || self.authenticator
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Organization {
    pub name: String,
    pub controls: SecurityControls,
    pub policy: Policy,
    /// When enforcement last became `required`; grace periods count from here.
    #[serde(default)]
    pub required_since: Option<Timestamp>,
    pub created: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    /// As typed at creation (case kept); lookups use the normalised form.
    pub username: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// PHC string; `None` while the user is invited.
    pub password_hash: Option<String>,
    #[serde(default)]
    pub must_change_password: bool,
    #[serde(default)]
    pub disabled: bool,
    pub created: Timestamp,
    #[serde(default)]
    pub last_sign_in: Option<Timestamp>,
    /// Sign-ins through the console (as opposed to `verify`); an account that has none but
    /// signs in by `verify` looks like an integration.
    #[serde(default)]
    pub interactive_sign_ins: u64,
    #[serde(default)]
    pub api_sign_ins: u64,
    /// The last sign-in through `verify` or the service API that passed without a code
    /// (MFA off or not set up for the account): what an integration does.
    #[serde(default)]
    pub last_codeless_api_sign_in: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Enrollment {
    pub id: u64,
    pub user_id: u64,
    pub method: Method,
    pub label: String,
    pub created: Timestamp,
    #[serde(default)]
    pub last_used: Option<Timestamp>,
    /// Authenticator: the TOTP secret, sealed with the key file.
    #[serde(default)]
    pub secret: Option<Sealed>,
    /// Email: the address codes go to.
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub hash: String,
    #[serde(default)]
    pub used_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EmailCodePurpose {
    SignIn,
    Enrollment,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailCode {
    pub hash: String,
    pub purpose: EmailCodePurpose,
    /// For an enrollment: the address being verified.
    #[serde(default)]
    pub address: Option<String>,
    pub sent_at: Timestamp,
    pub expires: Timestamp,
    /// Spent (or a send still under way): kept, so the resend throttle outlives the code.
    #[serde(default)]
    pub used: bool,
}

/// An activation code (invited users) or an enrollment code (policy `with-enrollment-code`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OneTimeCode {
    pub hash: String,
    pub expires: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustedDevice {
    pub created: Timestamp,
    pub expires: Timestamp,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Lockout {
    pub failures: u32,
    #[serde(default)]
    pub locked_until: Option<Timestamp>,
    /// Lockouts in a row without a successful sign-in; each doubles the next one.
    #[serde(default)]
    pub lock_count: u32,
    /// Attempts while locked not yet told by an audit event, and when the last was told.
    #[serde(default)]
    pub locked_attempts: u32,
    #[serde(default)]
    pub locked_audit_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    pub seq: u64,
    pub time: Timestamp,
    pub actor: String,
    pub subject: String,
    pub kind: String,
    pub details: String,
    /// The link of the event before it (a fixed genesis value for event 1).
    pub prev: String,
    /// This event's link: HMAC-SHA-256 under the key file's audit key over the fields
    /// above (schema 1: a plain SHA-256 hash).
    pub hash: String,
}

/// The key of the confusable-username index: the UTS #39 skeleton of the username in its
/// compared form (trimmed, NFKC, lowercase), so that `paul`, `pаul` (Cyrillic а), `pau1`
/// and `PAUL` share one.
pub fn username_skeleton(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let trimmed = username.trim();
    if trimmed.is_ascii()
        && let Some(pieces) = ascii_skeletons()
    {
        // Most usernames: one table look-up per character instead of two normalisations
        // and a search of the confusables table (an import of 100,000 users does this
        // for each of them).
        let mut out = String::with_capacity(trimmed.len() + 4);
        for b in trimmed.bytes() {
            out.push_str(&pieces[usize::from(b.to_ascii_lowercase())]);
        }
        return out;
    }
    let compared = trimmed.nfkc().collect::<String>().to_lowercase();
    unicode_security::skeleton(&compared).collect()
}

/// The skeleton of each ASCII character, when every one is plain ASCII again: then the
/// skeleton of an ASCII string is theirs put together (nothing for normalisation to
/// reorder). Worked out once, from the confusables table itself.
fn ascii_skeletons() -> Option<&'static [String; 128]> {
    static PIECES: std::sync::OnceLock<Option<[String; 128]>> = std::sync::OnceLock::new();
    PIECES
        .get_or_init(|| {
            let pieces: [String; 128] = std::array::from_fn(|i| {
                let c = char::from(i as u8);
                unicode_security::skeleton(&c.to_string()).collect()
            });
            pieces.iter().all(|p| p.is_ascii()).then_some(pieces)
        })
        .as_ref()
}

/// The newest event of the audit chain, kept beside it and updated in the same transaction
/// as each append, so that deleting the newest events is noticed. `tag` is a MAC under the
/// audit key over `seq` and `mac`: without the key file nobody can point the head at an
/// older event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    /// The newest event's `hash`.
    pub mac: String,
    pub tag: String,
}

/// How an API client proves its user: with the product's own password and a code, or
/// with a code alone (the client checked the first factor itself).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    CodeOnly,
    PasswordAndCode,
}

impl ClientMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMode::CodeOnly => "code-only",
            ClientMode::PasswordAndCode => "password-and-code",
        }
    }
}

/// An application or host that asks the authentication service, with the hash of its
/// API key (never the key) and its use today.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiClient {
    pub name: String,
    pub mode: ClientMode,
    /// SHA-256 of the key, hexadecimal.
    pub key_hash: String,
    pub created: Timestamp,
    #[serde(default)]
    pub rotated: Option<Timestamp>,
    #[serde(default)]
    pub last_request: Option<Timestamp>,
    /// The UTC day (days since 1970-01-01) the two counters below are for.
    #[serde(default)]
    pub day: i64,
    #[serde(default)]
    pub requests_today: u64,
    #[serde(default)]
    pub refusals_today: u64,
}

impl ApiClient {
    /// Requests and refusals on the UTC day of `now` (zero when the counters are older).
    pub fn today(&self, now: Timestamp) -> (u64, u64) {
        if self.day == now.div_euclid(86400) {
            (self.requests_today, self.refusals_today)
        } else {
            (0, 0)
        }
    }
}
