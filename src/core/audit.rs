//! The append-only audit log. Each event is linked to the one before it by HMAC-SHA-256
//! under the key file's audit key, and the chain head is stored beside the events (see
//! `store::chain`), so `check` finds an edited, deleted, reordered, truncated or
//! re-chained event and names it. The log file keeps a record of the head as `check` and
//! the console saw it, so a whole database file put back to an older copy shows too.

use crate::core::{Core, Result};
use crate::store::chain::{self, BROKEN_HEAD, event_mac_matches, head_tag_matches};
use crate::store::{AuditEvent, AuditKey, ChainHead, Tx};

pub use crate::store::chain::{GENESIS, event_hash};

/// How many hexadecimal characters of a link the log file records.
pub const LOGGED_MAC_CHARS: usize = 16;

/// Appends one event in the caller's transaction: it lands with the act or not at all.
pub fn append(
    tx: &dyn Tx,
    time: i64,
    actor: &str,
    subject: &str,
    kind: &str,
    details: &str,
) -> crate::store::Result<()> {
    tx.append_audit(time, actor, subject, kind, details)?;
    tx.bump_generation()
}

/// The first problem with the chain, if any: (event number, what is wrong). `events` are
/// in stored order, `head` is the stored chain head.
pub fn verify_chain(
    key: &AuditKey,
    events: &[AuditEvent],
    head: Option<&ChainHead>,
) -> Option<(u64, String)> {
    let mut prev = GENESIS;
    for (expect, e) in (1u64..).zip(events) {
        if e.seq != expect {
            let why = if events.iter().any(|x| x.seq == expect) {
                format!(
                    "event {expect} is out of order: event {} stands in its place",
                    e.seq
                )
            } else {
                format!(
                    "event {expect} is missing: it was deleted (the next event found is {})",
                    e.seq
                )
            };
            return Some((expect, why));
        }
        if !event_mac_matches(key, e) {
            return Some((
                e.seq,
                format!(
                    "event {} was altered after it was written: its link does not match under the key file's audit key",
                    e.seq
                ),
            ));
        }
        if e.prev != prev {
            let why = if e.prev == BROKEN_HEAD {
                format!(
                    "event {} was appended while the chain head was missing or altered",
                    e.seq
                )
            } else if e.seq == 1 {
                "event 1 does not start the chain: events before it were removed or re-chained"
                    .to_string()
            } else {
                format!(
                    "event {} does not follow event {}: events were removed, inserted or re-chained",
                    e.seq,
                    e.seq - 1
                )
            };
            return Some((e.seq, why));
        }
        prev = &e.hash;
    }
    if let Some(why) = head_problem(key, events.last(), head) {
        return Some(why);
    }
    events
        .iter()
        .find(|e| e.kind == chain::KIND_BROKEN_BEFORE_MIGRATION)
        .map(|e| {
            (
                e.seq,
                format!(
                    "event {} records that the chain was already broken when this database was migrated to schema 2 ({}); compare it with a backup from before then",
                    e.seq, e.details
                ),
            )
        })
}

fn head_problem(
    key: &AuditKey,
    last: Option<&AuditEvent>,
    head: Option<&ChainHead>,
) -> Option<(u64, String)> {
    let Some(h) = head else {
        return Some(match last {
            Some(l) => (
                l.seq,
                format!(
                    "the chain head is missing: the newest events may have been deleted (the last event found is {})",
                    l.seq
                ),
            ),
            None => (
                1,
                "the audit log is empty and its chain head is missing: every event was deleted"
                    .to_string(),
            ),
        });
    };
    if !head_tag_matches(key, h.seq, &h.mac, &h.tag) {
        return Some((
            h.seq,
            format!(
                "the chain head (event {}) was altered: its MAC does not match under the key file's audit key",
                h.seq
            ),
        ));
    }
    let last_seq = last.map_or(0, |l| l.seq);
    if h.seq > last_seq {
        let first = last_seq + 1;
        let which = if first == h.seq {
            format!("event {first} is missing")
        } else {
            format!("events {first} to {} are missing", h.seq)
        };
        return Some((
            first,
            format!(
                "{which}: the newest events were deleted (the chain head records event {}, the last found is {last_seq})",
                h.seq
            ),
        ));
    }
    if h.seq < last_seq {
        return Some((
            h.seq + 1,
            format!(
                "event {} is beyond the chain head (event {}): the head was set back",
                h.seq + 1,
                h.seq
            ),
        ));
    }
    match last {
        Some(l) if l.hash != h.mac => Some((
            l.seq,
            format!(
                "the chain head does not match event {}: the newest event was replaced",
                l.seq
            ),
        )),
        _ => None,
    }
}

/// A chain head as a log line recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedHead {
    pub seq: u64,
    /// The first [`LOGGED_MAC_CHARS`] characters of that event's link.
    pub mac_prefix: String,
    /// When it was recorded, as the log line says it.
    pub time: String,
}

/// The database's chain head held against the head the log recorded last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadComparison {
    /// The database has no head that verifies (`check` says why): nothing to compare.
    NoHead,
    /// The head agrees with the log, or the log has no record of this chain yet.
    Consistent { seq: u64, mac: String },
    /// The database's newest event is older than the one the log recorded.
    RolledBack { logged: LoggedHead, seq: u64 },
    /// The log recorded a different event under that number: the database holds another
    /// history than the one seen before (an older copy that went on, or a rewrite).
    Diverged { logged: LoggedHead, seq: u64 },
}

impl Core {
    /// The audit key's short fingerprint: names this database's chain in the log file.
    /// Copies and backups of one database share it; a new database has its own.
    pub fn audit_chain_id(&self) -> Option<String> {
        self.store.key().audit().map(AuditKey::fingerprint)
    }

    /// The stored chain head held against `logged`, the newest head the log recorded for
    /// this database (`None`: no record yet).
    pub fn compare_chain_head(&self, logged: Option<&LoggedHead>) -> Result<HeadComparison> {
        Ok(self.store.read(|tx| {
            let key = tx.audit_key()?;
            let Some(head) = tx
                .chain_head()?
                .filter(|h| head_tag_matches(key, h.seq, &h.mac, &h.tag))
            else {
                return Ok::<_, crate::store::StoreError>(HeadComparison::NoHead);
            };
            let Some(logged) = logged else {
                return Ok(HeadComparison::Consistent {
                    seq: head.seq,
                    mac: head.mac,
                });
            };
            if logged.seq > head.seq {
                return Ok(HeadComparison::RolledBack {
                    logged: logged.clone(),
                    seq: head.seq,
                });
            }
            let same = tx.audit_event(logged.seq)?.is_some_and(|e| {
                !logged.mac_prefix.is_empty() && e.hash.starts_with(&logged.mac_prefix)
            });
            Ok(if same {
                HeadComparison::Consistent {
                    seq: head.seq,
                    mac: head.mac,
                }
            } else {
                HeadComparison::Diverged {
                    logged: logged.clone(),
                    seq: head.seq,
                }
            })
        })?)
    }
}

/// Audit kinds, one place for their spelling.
pub mod kind {
    pub const ORG_CREATED: &str = "organization.created";
    pub const SIGN_IN_OK: &str = "sign-in.ok";
    pub const SIGN_IN_FAILED: &str = "sign-in.failed";
    pub const PASSWORD_OK_CODE_NEEDED: &str = "sign-in.password-accepted";
    /// A code-only caller (the first factor checked elsewhere) asked what the user needs.
    pub const CODE_ASKED: &str = "sign-in.code-asked";
    pub const CODE_FAILED: &str = "code.failed";
    pub const LOCKOUT: &str = "account.locked";
    pub const LOCKED_ATTEMPT: &str = "sign-in.while-locked";
    pub const UNLOCK: &str = "account.unlocked";
    pub const METHOD_ON: &str = "method.on";
    pub const METHOD_OFF: &str = "method.off";
    pub const MFA_DISABLED: &str = "mfa.disabled";
    pub const FORGET_ALL_DEVICES: &str = "devices.forgotten";
    pub const POLICY_CHANGED: &str = "policy.changed";
    pub const ENROLLMENT_ADDED: &str = "enrollment.added";
    pub const ENROLLMENT_REMOVED: &str = "enrollment.removed";
    pub const MFA_RESET: &str = "mfa.reset";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_CHANGED: &str = "user.changed";
    pub const USER_DELETED: &str = "user.deleted";
    pub const USERS_IMPORTED: &str = "users.imported";
    pub const RECOVERY_USED: &str = "recovery-code.used";
    pub const RECOVERY_REGENERATED: &str = "recovery-codes.regenerated";
    pub const PASSWORD_CHANGED: &str = "password.changed";
    pub const TEMP_PASSWORD: &str = "password.temporary-issued";
    pub const ACTIVATED: &str = "account.activated";
    pub const ACTIVATION_RESENT: &str = "activation-code.resent";
    pub const REMINDERS_SENT: &str = "reminders.sent";
    pub const REAUTH_OK: &str = "reauth.ok";
    pub const REAUTH_FAILED: &str = "reauth.failed";
    pub const EMAIL_CODE_SENT: &str = "email-code.sent";
    pub const MAIL_FAILED: &str = "mail.failed";
    pub const DEVICE_TRUSTED: &str = "trusted-device.added";
    pub const ENROLLMENT_CODE_ISSUED: &str = "enrollment-code.issued";
    pub const KEY_ROTATED: &str = "key.rotated";
    pub const CLIENT_ADDED: &str = "client.added";
    pub const CLIENT_ROTATED: &str = "client.key-rotated";
    pub const CLIENT_REMOVED: &str = "client.removed";
    pub const CLIENT_BAD_KEY: &str = "client.bad-key";
    /// RADIUS packets dropped before any decision: from an address no radius client
    /// has, or without a right Message-Authenticator.
    pub const RADIUS_UNKNOWN_CLIENT: &str = "radius.unknown-client";
    pub const RADIUS_BAD_AUTHENTICATOR: &str = "radius.bad-authenticator";
    pub const CHAIN_MIGRATED: &str = crate::store::chain::KIND_MIGRATED;
    pub const CHAIN_BROKEN_BEFORE_MIGRATION: &str =
        crate::store::chain::KIND_BROKEN_BEFORE_MIGRATION;
}
