//! The append-only, hash-chained audit log. Each event holds the hash of the one before
//! it, so an edited or deleted event breaks the chain and `check` finds it.

use sha2::{Digest, Sha256};

use crate::store::{AuditEvent, Result, Tx};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn event_hash(e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    for part in [
        e.prev.as_bytes(),
        &e.seq.to_le_bytes(),
        &e.time.to_le_bytes(),
        e.actor.as_bytes(),
        e.subject.as_bytes(),
        e.kind.as_bytes(),
        e.details.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// Appends one event in the caller's transaction: it lands with the act or not at all.
pub fn append(
    tx: &Tx,
    time: i64,
    actor: &str,
    subject: &str,
    kind: &str,
    details: &str,
) -> Result<()> {
    let (seq, prev) = match tx.audit_tail()? {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let mut e = AuditEvent {
        seq,
        time,
        actor: actor.to_string(),
        subject: subject.to_string(),
        kind: kind.to_string(),
        details: details.to_string(),
        prev,
        hash: String::new(),
    };
    e.hash = event_hash(&e);
    tx.put_audit(&e)?;
    tx.bump_generation()
}

/// The first broken link, if any: (sequence number, what is wrong).
pub fn verify_chain(events: &[AuditEvent]) -> Option<(u64, String)> {
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

/// Audit kinds, one place for their spelling.
pub mod kind {
    pub const ORG_CREATED: &str = "organization.created";
    pub const SIGN_IN_OK: &str = "sign-in.ok";
    pub const SIGN_IN_FAILED: &str = "sign-in.failed";
    pub const PASSWORD_OK_CODE_NEEDED: &str = "sign-in.password-accepted";
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
    pub const REAUTH_OK: &str = "reauth.ok";
    pub const REAUTH_FAILED: &str = "reauth.failed";
    pub const EMAIL_CODE_SENT: &str = "email-code.sent";
    pub const MAIL_FAILED: &str = "mail.failed";
    pub const DEVICE_TRUSTED: &str = "trusted-device.added";
    pub const ENROLLMENT_CODE_ISSUED: &str = "enrollment-code.issued";
    pub const KEY_ROTATED: &str = "key.rotated";
}
