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
///
/// The 19 MiB of argon2 memory is kept per thread and reused: a fresh allocation costs
/// every check ~4,900 page faults, which on a busy host is half again the hash itself.
/// A thread holds at most one such buffer, the size of the largest hash it checked.
pub fn verify(password: &str, phc: &str) -> bool {
    let p = prepare(password);
    verify_reusing(p.as_bytes(), phc).unwrap_or_else(|| {
        // Not a form the reusing path reads: the library's own check decides.
        hasher().verify_password(p.as_bytes(), phc).is_ok()
    })
}

thread_local! {
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The check with this thread's argon2 memory; `None` when the PHC string is not an
/// argon2 hash with a salt and an output.
fn verify_reusing(password: &[u8], phc: &str) -> Option<bool> {
    use subtle::ConstantTimeEq;
    let parsed = argon2::PasswordHash::new(phc).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    let (salt, expected) = (parsed.salt.as_ref()?, parsed.hash.as_ref()?);
    let blocks = params.block_count();
    // Larger than any hash this product makes: not worth keeping per thread.
    if blocks > 4 * Params::DEFAULT_M_COST as usize {
        return None;
    }
    let mut out = Zeroizing::new(vec![0u8; expected.as_bytes().len()]);
    let argon = Argon2::new(algorithm, version, params);
    let done = BLOCKS.with(|cell| {
        let mut memory = cell.try_borrow_mut().ok()?;
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        Some(
            argon
                .hash_password_into_with_memory(
                    password,
                    salt.as_ref(),
                    &mut out,
                    &mut memory[..blocks],
                )
                .is_ok(),
        )
    })?;
    Some(done && bool::from(out.as_slice().ct_eq(expected.as_bytes())))
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

#[cfg(test)]
mod reuse_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_reusing_check_agrees_with_the_library() {
        let phc = hash("granite harbor lamp 77").unwrap();
        for (pw, right) in [
            ("granite harbor lamp 77", true),
            ("granite harbor lamp 78", false),
            ("", false),
        ] {
            assert_eq!(
                verify_reusing(prepare(pw).as_bytes(), &phc),
                Some(right),
                "{pw:?}"
            );
            assert_eq!(verify(pw, &phc), right, "{pw:?}");
        }
        // Other parameters (and a second size of memory on this thread) still check right.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"short one")
        .unwrap()
        .to_string();
        assert_eq!(verify_reusing(b"short one", &small), Some(true));
        assert_eq!(verify_reusing(b"short two", &small), Some(false));
        assert_eq!(
            verify_reusing(prepare("granite harbor lamp 77").as_bytes(), &phc),
            Some(true)
        );
        assert!(!verify("x", "not a hash"));
        assert!(!verify("x", DUMMY_PHC));
    }
}
