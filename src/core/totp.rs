//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, 160-bit secrets from the OS CSPRNG.

use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

pub const STEP: u64 = 30;
pub const DIGITS: u8 = 6;
pub const SECRET_BYTES: usize = 20;

pub fn new_secret() -> Result<Zeroizing<Vec<u8>>, crate::store::StoreError> {
    let mut s = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    crate::random::fill(&mut s)?;
    Ok(s)
}

/// The organization name as a TOTP issuer: `:` separates issuer and account in the URI.
pub fn issuer_of(org: &str) -> String {
    let s: String = org
        .chars()
        .map(|c| if c == ':' || c.is_control() { ' ' } else { c })
        .collect();
    let s = s.trim().to_string();
    if s.is_empty() { "MFA".to_string() } else { s }
}

fn build(secret: &[u8], skew: u8, issuer: &str, account: &str) -> Result<Totp, String> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP)
        .with_skew(u16::from(skew))
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|e| format!("could not set up the authenticator: {e}"))
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer` (no Base32 padding).
pub fn uri(secret: &[u8], issuer: &str, account: &str) -> Result<String, String> {
    let t = build(secret, 1, issuer, account)?;
    t.to_url()
        .map_err(|e| format!("could not build the otpauth URI: {e}"))
}

/// Base32 of the secret, unpadded, in groups of four for typing by hand.
pub fn grouped_secret(secret: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(super::text::group(
        &data_encoding::BASE32_NOPAD.encode(secret),
        4,
        ' ',
    ))
}

/// The matched time step when `code` (already normalised) is valid at `now` within
/// ±`skew` steps. Replay is the caller's business: see `Core::verify_totp`.
pub fn matched_step(secret: &[u8], skew: u8, code: &str, now: i64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = build(secret, skew, "x", "x").ok()?;
    t.check(code, u64::try_from(now).ok()?)
}

/// The code for `now`: for tests and for the enrollment screen's self-check.
pub fn code_at(secret: &[u8], now: i64) -> Option<String> {
    let t = build(secret, 0, "x", "x").ok()?;
    Some(t.generate(u64::try_from(now).ok()?).to_string())
}
