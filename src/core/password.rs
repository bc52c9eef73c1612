//! Passwords: argon2id (m = 19456 KiB, t = 2, p = 1) in PHC strings, the length and
//! common-password rules, and the equal-time path for accounts that do not exist.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;
/// Bytes as typed: 1024 characters of up to 4 bytes each, with room for decomposed forms.
pub const MAX_BYTES: usize = 16 * 1024;

fn hasher() -> Argon2<'static> {
    // The OWASP minimum for argon2id; `Params::DEFAULT` is exactly this.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// NFKC, so the same password typed on two keyboards hashes the same.
fn prepare(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// Why a new password is refused, in words for the person choosing it.
pub fn check_new(password: &str, username: &str) -> Result<(), String> {
    if password.len() > MAX_BYTES {
        return Err(format!("a password has at most {MAX_LEN} characters"));
    }
    let p = prepare(password);
    let n = p.chars().count();
    if n < MIN_LEN {
        return Err(format!(
            "a password needs at least {MIN_LEN} characters (this one has {n}); a few words make a good one"
        ));
    }
    if n > MAX_LEN {
        return Err(format!(
            "a password has at most {MAX_LEN} characters (this one has {n})"
        ));
    }
    let lower = p.to_lowercase();
    if is_common(&lower) {
        return Err(
            "this password is on the list of commonly used passwords: choose another".into(),
        );
    }
    let mut chars = lower.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Err("a password of one repeated character is too easy to guess".into());
    }
    // Context-specific words (NIST 800-63B 3.1.1.2): a password built on the username.
    let user = super::text::normalize_username(username);
    if user.chars().count() >= 4 && lower.contains(&user) {
        return Err("a password cannot contain the username".into());
    }
    Ok(())
}

fn is_common(lower: &str) -> bool {
    static LIST: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../../assets/common-passwords.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    })
    .contains(lower)
}

pub fn hash(password: &str) -> Result<String, String> {
    let p = prepare(password);
    hasher()
        .hash_password(p.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("could not hash the password: {e}"))
}

/// Constant-time check of `password` against a PHC string; a malformed hash fails.
pub fn verify(password: &str, phc: &str) -> bool {
    let p = prepare(password);
    hasher().verify_password(p.as_bytes(), phc).is_ok()
}

/// An argon2id hash, with the parameters of [`hasher`], of a random password nobody kept.
/// Fixed at build time: made on first use, it cost a process its first unknown username
/// one extra hash, which told that the user did not exist.
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$Ne91angyWFTgOpY5xiKMxw$OfxYmC2OOaRP5+h9QomTcvz3C0jb/n4mwdoMmR5CkEc";

/// Spends the same time as checking a real password, for accounts that do not exist,
/// are invited, or are locked, so timing tells nothing.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, DUMMY_PHC);
}

/// Whether a stored hash was made with today's parameters, as [`DUMMY_PHC`] must be.
pub fn same_parameters(phc: &str) -> bool {
    let params = |s: &str| s.split('$').nth(3).map(str::to_string);
    hash("parameters probe")
        .ok()
        .is_some_and(|fresh| params(&fresh).is_some() && params(&fresh) == params(phc))
}
