//! API clients of the authentication service: each application or host that asks is a
//! named client with its own key. Only a hash of the key is stored; the key is shown once.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Actor, Core, CoreError, Result, audit};
use crate::store::{ApiClient, ClientMode, Tx};

/// The start of every API key, so a key found in a log or a repository is recognisable.
pub const KEY_PREFIX: &str = "mfak_";
/// Longest client name (characters).
pub const MAX_CLIENT_NAME: usize = 64;

/// SHA-256 of an API key, hexadecimal. A key holds 256 random bits, so a plain hash keeps
/// it as safely as a slow one would.
pub fn key_hash(key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mfa-console api key v1\0");
    h.update(key.trim().as_bytes());
    hex::encode(h.finalize())
}

/// A client name: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit (it appears
/// in audit events and logs, so nothing that could pass for something else).
pub fn check_client_name(name: &str) -> std::result::Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
    if name.is_empty() || name.chars().count() > MAX_CLIENT_NAME {
        return Err(format!(
            "a client name has 1 to {MAX_CLIENT_NAME} characters"
        ));
    }
    if !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "{name:?} is not a client name: use lowercase letters, digits, '.', '-' and '_', starting with a letter or digit (e.g. web-portal)"
        ));
    }
    Ok(())
}

fn new_key() -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(format!(
        "{KEY_PREFIX}{}",
        crate::random::base32(32)?
    )))
}

impl Core {
    /// Adds a client; returns it and its key, which is never shown again.
    pub fn add_client(
        &self,
        actor: Actor,
        name: &str,
        mode: ClientMode,
    ) -> Result<(ApiClient, Zeroizing<String>)> {
        let name = name.trim();
        check_client_name(name).map_err(CoreError::Invalid)?;
        let key = new_key()?;
        let client = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            if tx.client(name)?.is_some() {
                return Err(CoreError::Conflict(format!(
                    "there is already a client named {name:?}: give a new key with `mfa-console client rotate {name}`, or pick another name"
                )));
            }
            let c = ApiClient {
                name: name.to_string(),
                mode,
                key_hash: key_hash(&key),
                created: self.now(),
                rotated: None,
                last_request: None,
                day: 0,
                requests_today: 0,
                refusals_today: 0,
            };
            tx.put_client(&c)?;
            self.audit(
                tx,
                &actor.name(),
                &format!("client {name}"),
                audit::kind::CLIENT_ADDED,
                mode.as_str(),
            )?;
            Ok(c)
        })?;
        Ok((client, key))
    }

    /// Every client, by name.
    pub fn clients(&self, actor: Actor) -> Result<Vec<ApiClient>> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            Ok(tx.clients()?)
        })
    }

    /// Gives a client a new key at once; the old one stops working with this commit.
    pub fn rotate_client(&self, actor: Actor, name: &str) -> Result<Zeroizing<String>> {
        let key = new_key()?;
        self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let mut c = Self::named_client(tx, name)?;
            c.key_hash = key_hash(&key);
            c.rotated = Some(self.now());
            tx.put_client(&c)?;
            self.audit(
                tx,
                &actor.name(),
                &format!("client {}", c.name),
                audit::kind::CLIENT_ROTATED,
                "",
            )
        })?;
        Ok(key)
    }

    /// Removes a client; its key stops working with this commit.
    pub fn remove_client(&self, actor: Actor, name: &str) -> Result<()> {
        self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let c = Self::named_client(tx, name)?;
            tx.remove_client(&c.name)?;
            self.audit(
                tx,
                &actor.name(),
                &format!("client {}", c.name),
                audit::kind::CLIENT_REMOVED,
                "",
            )
        })
    }

    /// The client an API key belongs to, if any (a read: a flood of wrong keys never
    /// takes the writer lock from real requests).
    pub fn client_for_key(&self, key: &str) -> Result<Option<ApiClient>> {
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let hash = key_hash(key);
        Ok(self.store.read(|tx| tx.client_by_key_hash(&hash))?)
    }

    /// Audits requests refused for a missing or wrong API key from one source: `count`
    /// of them since the last such event.
    pub fn audit_bad_keys(&self, source: &str, count: u64) -> Result<()> {
        self.store.write(|tx| {
            let detail = if count > 1 {
                format!("{count} requests with a missing or wrong API key")
            } else {
                "a request with a missing or wrong API key".to_string()
            };
            self.audit(
                tx,
                "system",
                &super::text::escape_control(source),
                audit::kind::CLIENT_BAD_KEY,
                &detail,
            )
        })
    }

    /// RADIUS requests dropped before any decision (`count` of them from `source` since
    /// the last event): `kind` says why.
    pub fn audit_radius_dropped(&self, source: &str, kind: &str, count: u64) -> Result<()> {
        let what = match kind {
            audit::kind::RADIUS_UNKNOWN_CLIENT => {
                "from an address that is no radius client's (dropped)"
            }
            _ => "without a right Message-Authenticator (dropped)",
        };
        self.store.write(|tx| {
            let detail = if count > 1 {
                format!("{count} RADIUS requests {what}")
            } else {
                format!("a RADIUS request {what}")
            };
            self.audit(
                tx,
                "system",
                &super::text::escape_control(source),
                kind,
                &detail,
            )
        })
    }

    fn named_client(tx: &dyn Tx, name: &str) -> Result<ApiClient> {
        tx.client(name.trim())?.ok_or_else(|| {
            CoreError::Invalid(format!(
                "no client named {:?}: list them with `mfa-console client list`",
                name.trim()
            ))
        })
    }
}
