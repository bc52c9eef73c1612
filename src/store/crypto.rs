//! The key file beside the database and the AEAD that seals TOTP secrets with it.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::StoreError;

/// A 256-bit key read from (or written to) a key file with mode 0600.
pub struct SecretKey {
    bytes: Zeroizing<[u8; 32]>,
}

/// A value sealed with [`SecretKey`]: random nonce plus ciphertext and tag.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: String,
    pub data: String,
}

impl SecretKey {
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        crate::random::fill(bytes.as_mut())?;
        Ok(Self { bytes })
    }

    /// Short public identifier of the key, stored in the database so that a wrong or stale
    /// key file is recognised before anything is decrypted with it.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"mfa-console key fingerprint v1");
        h.update(self.bytes.as_ref());
        hex::encode(&h.finalize()[..8])
    }

    /// Writes a new key file; refuses to overwrite an existing one.
    pub fn write_new(&self, path: &Path) -> Result<(), StoreError> {
        let io = |e| StoreError::KeyFileIo {
            path: path.to_path_buf(),
            source: e,
        };
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(self.bytes.as_ref())));
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Self, StoreError> {
        let meta = fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::KeyFileMissing(path.to_path_buf())
            } else {
                StoreError::KeyFileIo {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(StoreError::KeyFileTooOpen(path.to_path_buf()));
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| StoreError::KeyFileIo {
            path: path.to_path_buf(),
            source: e,
        })?);
        let raw = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| StoreError::KeyFileInvalid(path.to_path_buf()))?,
        );
        let arr: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::KeyFileInvalid(path.to_path_buf()))?;
        Ok(Self {
            bytes: Zeroizing::new(arr),
        })
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Sealed, StoreError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.bytes.as_ref()));
        let mut nonce = [0u8; 12];
        crate::random::fill(&mut nonce)?;
        let data = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| StoreError::Crypto)?;
        Ok(Sealed {
            nonce: hex::encode(nonce),
            data: hex::encode(data),
        })
    }

    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.bytes.as_ref()));
        let nonce = hex::decode(&sealed.nonce).map_err(|_| StoreError::Crypto)?;
        if nonce.len() != 12 {
            return Err(StoreError::Crypto);
        }
        let data = hex::decode(&sealed.data).map_err(|_| StoreError::Crypto)?;
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &data,
                    aad: context,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Crypto)
    }
}

/// `<database>.key`, beside the database file.
pub fn key_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".key");
    PathBuf::from(s)
}

/// Where `rotate-key` stages the new key until the re-encryption has committed.
pub fn staged_key_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".key.new");
    PathBuf::from(s)
}
