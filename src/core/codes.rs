//! One-time codes that are stored only as hashes: email codes, recovery codes,
//! activation and enrollment codes, trusted-device tokens.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::text;
use crate::random::RandomError;

/// SHA-256 over a purpose label, the owner and the normalised code.
pub fn hash(purpose: &str, user: u64, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(user.to_le_bytes());
    h.update(code.as_bytes());
    hex::encode(h.finalize())
}

pub fn matches(purpose: &str, user: u64, code: &str, stored: &str) -> bool {
    hash(purpose, user, code)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

/// Six digits for an email code.
pub fn email_code() -> Result<String, RandomError> {
    crate::random::digits(6)
}

/// 120 random bits as 24 Base32 characters, shown `abcd-efgh-…` (six groups of four).
/// With that much entropy a plain SHA-256 is a sound way to keep them.
pub fn recovery_code() -> Result<String, RandomError> {
    Ok(text::group(&crate::random::base32(15)?, 4, '-'))
}

/// 80 random bits, shown in four groups: activation and enrollment codes.
pub fn long_code() -> Result<String, RandomError> {
    Ok(text::group(&crate::random::base32(10)?, 4, '-'))
}

/// 256 random bits for a trusted-device token.
pub fn device_token() -> Result<String, RandomError> {
    crate::random::base32(32)
}
