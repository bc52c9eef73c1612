//! The key file beside the database: the key that seals TOTP secrets (with an AEAD) and
//! the key that links the audit chain (with HMAC-SHA-256).
//!
//! Format (text, mode 0600), one labelled key per line, 64 hexadecimal characters each:
//!
//! ```text
//! # mfa-console key file: keep it private and back it up with the database
//! sealing-key 3f0c…
//! audit-key 9a41…
//! ```
//!
//! Blank lines and lines starting with `#` are ignored. A file holding one bare line of 64
//! hexadecimal characters is the schema-1 format: a sealing key alone; opening its database
//! adds an audit key (see `store::migrate`). `rotate-key` replaces the sealing key and keeps
//! the audit key, so the chain of older events still verifies.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::StoreError;

const SEALING_LABEL: &str = "sealing-key";
const AUDIT_LABEL: &str = "audit-key";
/// The longest key file read: a few lines of text.
const MAX_KEY_FILE: u64 = 4096;

/// The keys of a key file (mode 0600): the 256-bit sealing key, and the audit key once the
/// file has one.
pub struct SecretKey {
    bytes: Zeroizing<[u8; 32]>,
    audit: Option<AuditKey>,
}

/// The 256-bit key of the audit chain's HMAC-SHA-256 links. It never changes for the life
/// of a database: every event's link is computed with it.
pub struct AuditKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl AuditKey {
    fn generate() -> Result<Self, StoreError> {
        Ok(Self {
            bytes: random_key()?,
        })
    }

    /// Short public identifier of the audit key: names the chain in the log file.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"mfa-console audit key fingerprint v1");
        h.update(self.bytes.as_ref());
        hex::encode(&h.finalize()[..8])
    }

    /// HMAC-SHA-256 over `domain` and each part, every one prefixed with its length so that
    /// no two different lists of parts give the same input.
    pub fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], StoreError> {
        Ok(self.hmac(domain, parts)?.finalize().into_bytes().into())
    }

    /// Whether `tag` (hexadecimal) is the MAC of these parts, compared in constant time.
    pub fn verify(&self, domain: &[u8], parts: &[&[u8]], tag: &str) -> bool {
        match (hex::decode(tag), self.hmac(domain, parts)) {
            (Ok(tag), Ok(m)) => m.verify_slice(&tag).is_ok(),
            _ => false,
        }
    }

    fn hmac(&self, domain: &[u8], parts: &[&[u8]]) -> Result<Hmac<Sha256>, StoreError> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.bytes.as_ref())
            .map_err(|_| StoreError::Crypto)?;
        for part in std::iter::once(&domain).chain(parts) {
            m.update(&(part.len() as u64).to_le_bytes());
            m.update(part);
        }
        Ok(m)
    }
}

/// A value sealed with [`SecretKey`]: random nonce plus ciphertext and tag.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: String,
    pub data: String,
}

impl SecretKey {
    /// A fresh key file's keys: a sealing key and an audit key.
    pub fn generate() -> Result<Self, StoreError> {
        Ok(Self {
            bytes: random_key()?,
            audit: Some(AuditKey::generate()?),
        })
    }

    /// A new sealing key with this file's audit key, for `rotate-key`: the audit chain's
    /// links stay valid across a rotation.
    pub fn rotated(&self) -> Result<Self, StoreError> {
        Ok(Self {
            bytes: random_key()?,
            audit: self.audit.as_ref().map(|a| AuditKey {
                bytes: a.bytes.clone(),
            }),
        })
    }

    /// The same keys, for a copy of the database sealed with them (`store copy`).
    pub fn duplicate(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            audit: self.audit.as_ref().map(|a| AuditKey {
                bytes: a.bytes.clone(),
            }),
        }
    }

    /// These keys plus a new audit key: for a schema-1 key file, which has none.
    pub fn with_new_audit_key(&self) -> Result<Self, StoreError> {
        Ok(Self {
            bytes: self.bytes.clone(),
            audit: Some(AuditKey::generate()?),
        })
    }

    /// The audit chain's key; `None` for a schema-1 key file.
    pub fn audit(&self) -> Option<&AuditKey> {
        self.audit.as_ref()
    }

    /// Short public identifier of the sealing key, stored in the database so that a wrong
    /// or stale key file is recognised before anything is decrypted with it.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"mfa-console key fingerprint v1");
        h.update(self.bytes.as_ref());
        hex::encode(&h.finalize()[..8])
    }

    /// The key file's text. Built in one allocation large enough for all of it, so no
    /// copy of a key is left behind in freed memory.
    fn file_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(256));
        text.push_str("# mfa-console key file: keep it private and back it up with the database\n");
        let keys = [Some(&self.bytes), self.audit.as_ref().map(|a| &a.bytes)];
        for (label, key) in [SEALING_LABEL, AUDIT_LABEL].into_iter().zip(keys) {
            if let Some(key) = key {
                text.push_str(label);
                text.push(' ');
                text.push_str(&Zeroizing::new(hex::encode(key.as_ref())));
                text.push('\n');
            }
        }
        text
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
        f.write_all(self.file_text().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(())
    }

    /// Replaces the key file at `path` in one step: written to a private temporary file in
    /// the same folder, flushed to disk, renamed over the old one, and the folder flushed,
    /// so a crash leaves either the old file or the new one, never half of either.
    pub fn replace_file(&self, path: &Path) -> Result<(), StoreError> {
        let io = |e| StoreError::KeyFileIo {
            path: path.to_path_buf(),
            source: e,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // tempfile creates it with mode 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".mfa-console-key-")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(self.file_text().as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
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
        let io = |e| StoreError::KeyFileIo {
            path: path.to_path_buf(),
            source: e,
        };
        // A key file is a few lines; anything much longer is not one.
        let mut bytes = Zeroizing::new(Vec::new());
        fs::File::open(path)
            .map_err(io)?
            .take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let invalid = || StoreError::KeyFileInvalid(path.to_path_buf());
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(invalid());
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let (sealing, audit) = parse_key_file(text).ok_or_else(invalid)?;
        Ok(Self {
            bytes: sealing,
            audit: audit.map(|bytes| AuditKey { bytes }),
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
    staged_beside(&key_path(db))
}

/// The key a store holds in memory, with its fingerprint, shared by the store's clones.
pub(crate) struct Keys {
    key: std::sync::RwLock<std::sync::Arc<SecretKey>>,
    id: std::sync::RwLock<String>,
}

impl Keys {
    pub(crate) fn new(key: SecretKey) -> Keys {
        Keys {
            id: std::sync::RwLock::new(key.fingerprint()),
            key: std::sync::RwLock::new(std::sync::Arc::new(key)),
        }
    }

    pub(crate) fn get(&self) -> std::sync::Arc<SecretKey> {
        self.key
            .read()
            .map(|k| std::sync::Arc::clone(&k))
            .unwrap_or_else(|p| std::sync::Arc::clone(&p.into_inner()))
    }

    pub(crate) fn set(&self, key: SecretKey) {
        self.set_arc(key.fingerprint(), std::sync::Arc::new(key));
    }

    fn set_arc(&self, id: String, key: std::sync::Arc<SecretKey>) {
        if let (Ok(mut k), Ok(mut i)) = (self.key.write(), self.id.write()) {
            *k = key;
            *i = id;
        }
    }

    /// The key for a transaction that sees `key_id` in the database: the one in memory,
    /// or, after another process (or host) rotated it, the key file `live` read again.
    pub(crate) fn for_id(
        &self,
        key_id: Option<Vec<u8>>,
        live: &Path,
        load: impl FnOnce(&Path, &str) -> Result<SecretKey, StoreError>,
    ) -> Result<std::sync::Arc<SecretKey>, StoreError> {
        let id = String::from_utf8(key_id.unwrap_or_default()).unwrap_or_default();
        let current = self.id.read().map(|k| k.clone()).unwrap_or_default();
        if id.is_empty() || id == current {
            return Ok(self.get());
        }
        let key = std::sync::Arc::new(load(live, &id)?);
        self.set_arc(id, std::sync::Arc::clone(&key));
        Ok(key)
    }
}

/// The staged copy of the key file `live`: `live.new`.
pub fn staged_beside(live: &Path) -> PathBuf {
    let mut s = live.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

fn random_key() -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    crate::random::fill(bytes.as_mut())?;
    Ok(bytes)
}

type Key32 = Zeroizing<[u8; 32]>;

/// The sealing key and, when present, the audit key of a key file's text; `None` when it
/// is not a key file (unknown or repeated label, bad hexadecimal, no sealing key).
fn parse_key_file(text: &str) -> Option<(Key32, Option<Key32>)> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // Schema 1: one bare line, the sealing key.
    if let [only] = lines.as_slice()
        && !only.contains(char::is_whitespace)
    {
        return Some((decode_key(only)?, None));
    }
    let (mut sealing, mut audit) = (None, None);
    for line in lines {
        let (label, value) = line.split_once(char::is_whitespace)?;
        let slot = match label {
            SEALING_LABEL => &mut sealing,
            AUDIT_LABEL => &mut audit,
            _ => return None,
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(decode_key(value.trim())?);
    }
    Some((sealing?, audit))
}

fn decode_key(hex_text: &str) -> Option<Key32> {
    let raw = Zeroizing::new(hex::decode(hex_text).ok()?);
    let arr: [u8; 32] = raw.as_slice().try_into().ok()?;
    Some(Zeroizing::new(arr))
}
