//! The links of the audit chain. Each event carries HMAC-SHA-256, under the key file's
//! audit key, over its fields and the link of the event before it; the chain head (newest
//! sequence number and link, with its own MAC) is stored beside the events. Someone who
//! can write the database but not read the key file can neither edit an event, nor
//! recompute the links after an edit, nor drop the newest events and move the head back.

use sha2::{Digest, Sha256};

use super::crypto::AuditKey;
use super::records::{AuditEvent, ChainHead, Timestamp};
use super::{Result, StoreError};

/// The `prev` of event 1.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `prev` written when the chain head was missing or did not verify while events
/// existed: it matches no event's link, so `check` keeps reporting the break instead of
/// the next append quietly covering it.
pub const BROKEN_HEAD: &str = "head-missing-or-altered";

const EVENT_DOMAIN: &[u8] = b"mfa-console audit event v2";
const HEAD_DOMAIN: &[u8] = b"mfa-console audit head v2";

fn event_parts(e: &AuditEvent) -> [Vec<u8>; 7] {
    [
        e.prev.as_bytes().to_vec(),
        e.seq.to_le_bytes().to_vec(),
        e.time.to_le_bytes().to_vec(),
        e.actor.as_bytes().to_vec(),
        e.subject.as_bytes().to_vec(),
        e.kind.as_bytes().to_vec(),
        e.details.as_bytes().to_vec(),
    ]
}

/// The link of `e` (schema 2): hexadecimal HMAC-SHA-256 under `key`.
pub fn event_mac(key: &AuditKey, e: &AuditEvent) -> Result<String> {
    let parts = event_parts(e);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(hex::encode(key.mac(EVENT_DOMAIN, &refs)?))
}

/// Whether `e.hash` is the link of `e` under `key`.
pub fn event_mac_matches(key: &AuditKey, e: &AuditEvent) -> bool {
    let parts = event_parts(e);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    key.verify(EVENT_DOMAIN, &refs, &e.hash)
}

/// The MAC that vouches for a chain head.
pub fn head_tag(key: &AuditKey, seq: u64, mac: &str) -> Result<String> {
    Ok(hex::encode(
        key.mac(HEAD_DOMAIN, &[&seq.to_le_bytes(), mac.as_bytes()])?,
    ))
}

/// Whether `tag` vouches for the head (`seq`, `mac`) under `key`.
pub fn head_tag_matches(key: &AuditKey, seq: u64, mac: &str, tag: &str) -> bool {
    key.verify(HEAD_DOMAIN, &[&seq.to_le_bytes(), mac.as_bytes()], tag)
}

/// The unkeyed SHA-256 link of schema 1. Anyone can compute it, which is why schema 2
/// replaced it with [`event_mac`]; it stays to verify a schema-1 chain before migrating it
/// (and to show, in tests, that re-chaining without the key is caught).
pub fn event_hash(e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    for part in event_parts(e) {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// The first break in a schema-1 (SHA-256) chain, if any: (sequence number, what is wrong).
pub fn verify_v1(events: &[AuditEvent]) -> Option<(u64, String)> {
    let mut prev = GENESIS.to_string();
    for (expect_seq, e) in (1u64..).zip(events) {
        if e.seq != expect_seq {
            return Some((
                expect_seq,
                format!("event {expect_seq} is missing (next found: {})", e.seq),
            ));
        }
        if e.prev != prev {
            return Some((
                e.seq,
                format!("event {} does not follow the event before it", e.seq),
            ));
        }
        if event_hash(e) != e.hash {
            return Some((
                e.seq,
                format!("event {} was altered after it was written", e.seq),
            ));
        }
        prev = e.hash.clone();
    }
    None
}

/// The error for a transaction whose key file has no audit key.
pub(super) fn no_audit_key(db: &std::path::Path) -> StoreError {
    StoreError::NoAuditKey {
        key: super::key_path(db),
        db: db.to_path_buf(),
    }
}

/// The event a migration to schema 2 appends when the old chain verified.
pub const KIND_MIGRATED: &str = "audit-chain.migrated";
/// The event a migration to schema 2 appends when the old chain was already broken: the
/// events are kept as they were, and `check` keeps reporting this one.
pub const KIND_BROKEN_BEFORE_MIGRATION: &str = "audit-chain.broken-before-migration";

/// Where the next event goes, (the sequence number before it, the link it follows), from
/// the stored head and the highest sequence number stored: never over an existing event,
/// even one beyond the head; with events but no head that verifies, linked to nothing, so
/// the break stays visible.
pub(super) fn tail(
    key: &AuditKey,
    head: Option<ChainHead>,
    last_seq: Option<u64>,
) -> (u64, String) {
    let head = head.filter(|h| head_tag_matches(key, h.seq, &h.mac, &h.tag));
    match (head, last_seq) {
        (Some(h), last) => (h.seq.max(last.unwrap_or(0)), h.mac),
        (None, None) => (0, GENESIS.to_string()),
        (None, Some(last)) => (last, BROKEN_HEAD.to_string()),
    }
}

/// The event after `tail`, with its link.
pub(super) fn next_event(
    key: &AuditKey,
    tail: (u64, String),
    time: Timestamp,
    [actor, subject, kind, details]: [&str; 4],
) -> Result<AuditEvent> {
    let (last, prev) = tail;
    let mut e = AuditEvent {
        seq: last + 1,
        time,
        actor: actor.to_string(),
        subject: subject.to_string(),
        kind: kind.to_string(),
        details: details.to_string(),
        prev,
        hash: String::new(),
    };
    e.hash = event_mac(key, &e)?;
    Ok(e)
}

/// The head pointing at (`seq`, `mac`), with its MAC.
pub(super) fn head(key: &AuditKey, seq: u64, mac: &str) -> Result<ChainHead> {
    Ok(ChainHead {
        seq,
        mac: mac.to_string(),
        tag: head_tag(key, seq, mac)?,
    })
}
