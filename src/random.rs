//! Randomness from the operating system's CSPRNG, and the codes made from it. A leaf
//! module: the store and the core turn its one error into theirs.

/// The operating system gave no random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError)
}

pub fn u64() -> Result<u64, RandomError> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A decimal code of `digits` digits, uniform (rejection sampling, no modulo bias).
pub fn digits(digits: u32) -> Result<String, RandomError> {
    let modulus = 10u64.pow(digits);
    let limit = u64::MAX - (u64::MAX % modulus);
    loop {
        let v = u64()?;
        if v < limit {
            return Ok(format!("{:0width$}", v % modulus, width = digits as usize));
        }
    }
}

/// Lowercase Base32 (RFC 4648 alphabet, no padding) of `bytes` random bytes, for codes people type.
pub fn base32(bytes: usize) -> Result<String, RandomError> {
    let mut b = vec![0u8; bytes];
    fill(&mut b)?;
    Ok(data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase())
}
