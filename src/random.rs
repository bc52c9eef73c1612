//! Randomness from the operating system's CSPRNG, and the codes made from it.

use crate::store::StoreError;

pub fn fill(buf: &mut [u8]) -> Result<(), StoreError> {
    getrandom::fill(buf).map_err(|_| StoreError::Random)
}

pub fn u64() -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A decimal code of `digits` digits, uniform (rejection sampling, no modulo bias).
pub fn digits(digits: u32) -> Result<String, StoreError> {
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
pub fn base32(bytes: usize) -> Result<String, StoreError> {
    let mut b = vec![0u8; bytes];
    fill(&mut b)?;
    Ok(data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase())
}
