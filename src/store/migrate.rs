//! Schema migrations, run by [`super::Store::open`] on an older file.
//!
//! Schema 1 → 2: the audit chain's links become HMAC-SHA-256 under an audit key kept in the
//! key file, and the chain head is stored. In order:
//! 1. the key file gains an audit key (written to a temporary file, flushed, renamed), under
//!    the database's write lock so that two processes opening the file at once agree on
//!    one key;
//! 2. one write transaction verifies the old SHA-256 chain, re-links every event with the
//!    audit key, stores the head, records the outcome as an audit event and sets schema 2.
//!
//! Schema 2 → 3: the tables of the authentication service's API clients are created
//! (empty), in the same transaction that sets the version.
//!
//! A crash between the two steps of 1 → 2 is harmless: the next open finds the audit key in place and
//! runs step 2. A broken old chain is not blessed: its events are kept as found, and the
//! migration event says where the old chain broke, which `check` then reports.

use super::chain::{self, GENESIS};
use super::tx::{RedbTx, Tx};
use super::{
    RedbStore as Store, Result, SCHEMA_VERSION, SecretKey, StoreError, key_path, load_key,
};

/// Brings the file opened by `store` (found at schema `found`) up to [`SCHEMA_VERSION`],
/// and makes sure the key file holds the audit key the chain needs.
pub(super) fn bring_up_to_date(store: &Store, found: u64) -> Result<()> {
    if found < 2 {
        store.write(|tx| {
            if tx.meta_u64("schema_version")? < 2 {
                add_audit_key(store, &tx.key().fingerprint())?;
            }
            Ok::<_, StoreError>(())
        })?;
    }
    if store.key().audit().is_none() {
        // Read before step 1 (ours or another process's) wrote the audit key.
        let fresh = load_key(&key_path(store.path()), &store.key().fingerprint())?;
        // The same sealing key (and fingerprint), now with its audit key.
        store.shared.keys.set(fresh);
    }
    if store.key().audit().is_none() {
        return Err(chain::no_audit_key(store.path()));
    }
    if found < SCHEMA_VERSION {
        store.write_redb(|tx| {
            // Another process may have migrated it meanwhile.
            let now = tx.meta_u64("schema_version")?;
            if now < SCHEMA_VERSION {
                super::migrate(tx, now)
            } else {
                Ok(())
            }
        })?;
    }
    Ok(())
}

/// Step 1: adds an audit key to a schema-1 key file (one that has none), in place.
fn add_audit_key(store: &Store, fingerprint: &str) -> Result<()> {
    let path = key_path(store.path());
    let on_disk = SecretKey::read(&path)?;
    if on_disk.fingerprint() != fingerprint {
        return Err(StoreError::KeyMismatch(path));
    }
    if on_disk.audit().is_some() {
        return Ok(());
    }
    on_disk.with_new_audit_key()?.replace_file(&path)
}

/// Step 2, inside the migration's transaction: re-links the chain with the audit key.
pub(super) fn audit_chain_to_v2(tx: &RedbTx) -> Result<()> {
    let key = tx.audit_key()?;
    let events = tx.audit_events_by_key()?;
    let plain: Vec<_> = events.iter().map(|(_, e)| e.clone()).collect();
    let broken = chain::verify_v1(&plain);
    let count = events.len();
    let mut prev = GENESIS.to_string();
    let mut newest = None;
    // Each event stays under the key it was found at, so a gap or a swap in the old
    // chain is still there for `check` to see.
    for (at, mut e) in events {
        e.prev = prev;
        e.hash = chain::event_mac(key, &e)?;
        tx.put_audit_at(at, &e)?;
        prev = e.hash.clone();
        newest = Some((e.seq, e.hash));
    }
    if let Some((seq, mac)) = newest {
        tx.put_chain_head(seq, &mac)?;
    }
    let (kind, details) = match broken {
        None => (
            chain::KIND_MIGRATED,
            format!(
                "schema 1 to 2: {count} event(s) re-linked with the key file's audit key; their SHA-256 chain verified"
            ),
        ),
        Some((seq, why)) => {
            tracing::warn!(
                "audit chain of {}: the schema-1 chain was already broken at event {seq} ({why}); its events were kept as found",
                tx.path().display()
            );
            (
                chain::KIND_BROKEN_BEFORE_MIGRATION,
                format!(
                    "schema 1 to 2: {count} event(s) re-linked as found; their SHA-256 chain was already broken at event {seq}: {why}"
                ),
            )
        }
    };
    tx.append_audit(now(), "system", "audit log", kind, &details)?;
    tx.bump_generation()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
