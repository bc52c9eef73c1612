//! Typed access to the tables inside one transaction.

use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;

use super::chain;
use super::crypto::AuditKey;
use super::*;

/// The meta record holding the audit chain head.
const CHAIN_HEAD_KEY: &str = "audit_chain_head";

/// A [`Tx`] on the redb file: a snapshot to read (which never waits for writers), or the
/// one write transaction of the moment (which waits for other processes' writes to finish).
pub struct RedbTx<'s> {
    inner: Inner,
    path: &'s Path,
    key: Arc<SecretKey>,
    /// Where the next audit event goes (sequence before it, link it follows), once looked
    /// up in this transaction.
    audit_tail: RefCell<Option<(u64, String)>>,
    /// Events were appended: the chain head moves to the newest, once, at commit.
    appended: Cell<bool>,
    /// Something changed: the generation counter goes up once, at commit.
    changed: Cell<bool>,
}

enum Inner {
    Read(ReadTransaction),
    Write(Box<WriteTransaction>),
}

/// A table opened for reading in either kind of transaction; `$t` is bound in `$body`,
/// which is compiled once for each kind.
macro_rules! with_table {
    ($self:ident, $def:expr, |$t:ident| $body:expr) => {
        match &$self.inner {
            Inner::Read(r) => {
                let $t = r.open_table($def).map_err(|e| $self.err(e))?;
                $body
            }
            Inner::Write(w) => {
                let $t = w.open_table($def).map_err(|e| $self.err(e))?;
                $body
            }
        }
    };
}

/// A table opened for writing; only in a write transaction.
macro_rules! table {
    ($self:ident, $def:expr) => {
        $self.writer()?.open_table($def).map_err(|e| $self.err(e))?
    };
}

/// One unit of work on the store: a snapshot to read, or the one write of the moment.
/// The core sees the store only through this; every implementation gives each unit of
/// work serializable isolation, and makes the replay guard (`put_last_totp_step` after
/// `last_totp_step`) and the lockout counter (`put_lockout` after `lockout`) atomic within
/// the write they are part of. The redb implementation ([`RedbTx`]) gets both from the
/// engine: one write transaction at a time across processes (under the writer lock), and
/// reads on a committed snapshot.
pub trait Tx {
    /// The key this database's secrets are sealed with.
    fn key(&self) -> &SecretKey;

    /// The database file this transaction is on.
    fn path(&self) -> &Path;

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<()>;

    /// A number stored in meta (little-endian); 0 when absent.
    fn meta_u64(&self, key: &str) -> Result<u64> {
        Ok(self
            .meta(key)?
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0))
    }

    fn put_meta_u64(&self, key: &str, value: u64) -> Result<()> {
        self.put_meta(key, &value.to_le_bytes())
    }

    /// The next value of a named counter (1, 2, 3, …).
    fn next_id(&self, counter: &str) -> Result<u64> {
        let key = format!("next_{counter}");
        let n = self.meta_u64(&key)? + 1;
        self.put_meta_u64(&key, n)?;
        Ok(n)
    }

    /// Bumped by every committed change, so a long-running console can tell cheaply
    /// whether another process changed something.
    fn generation(&self) -> Result<u64> {
        self.meta_u64("generation")
    }

    /// Marks the transaction as a change; the counter moves once, when it commits.
    fn bump_generation(&self) -> Result<()>;

    fn organization(&self) -> Result<Organization>;

    fn put_organization(&self, org: &Organization) -> Result<()>;

    fn user(&self, id: u64) -> Result<Option<User>>;

    fn user_id_by_name(&self, normalized: &str) -> Result<Option<u64>>;

    fn put_user(&self, user: &User) -> Result<()>;

    fn put_username(&self, normalized: &str, id: u64) -> Result<()>;

    fn remove_username(&self, normalized: &str) -> Result<()>;

    /// Enters `id` under `skeleton` (see [`username_skeleton`]) unless another user is
    /// there already, whose id it then gives (and enters nothing). Only in write
    /// transactions: databases made before the index have it once migrated.
    fn claim_username_skeleton(&self, skeleton: &str, id: u64) -> Result<Option<u64>>;

    fn remove_username_skeleton(&self, skeleton: &str, id: u64) -> Result<()>;

    /// Rebuilds the skeleton index from the users table: for databases made before it.
    fn backfill_username_skeletons(&self) -> Result<usize>;

    fn remove_user_record(&self, id: u64) -> Result<()>;

    /// Calls `f` with every user in id order, decoding one at a time, until it returns
    /// `false`.
    fn each_user(&self, f: &mut dyn FnMut(User) -> Result<bool>) -> Result<()>;

    /// Every user, in id order.
    fn users(&self) -> Result<Vec<User>>;

    fn enrollments_of(&self, user: u64) -> Result<Vec<Enrollment>>;

    /// Every enrollment of every user, in user order.
    fn all_enrollments(&self) -> Result<Vec<Enrollment>>;

    fn put_enrollment(&self, e: &Enrollment) -> Result<()>;

    fn remove_enrollment(&self, user: u64, id: u64) -> Result<bool>;

    fn recovery_codes(&self, user: u64) -> Result<Vec<(u32, RecoveryCode)>>;

    fn put_recovery_code(&self, user: u64, idx: u32, code: &RecoveryCode) -> Result<()>;

    /// Deletes the user's recovery codes; how many there were.
    fn clear_recovery_codes(&self, user: u64) -> Result<usize>;

    fn email_code(&self, user: u64) -> Result<Option<EmailCode>>;

    fn put_email_code(&self, user: u64, c: &EmailCode) -> Result<()>;

    /// Marks the waiting email code spent; its send time still throttles the next send.
    fn spend_email_code(&self, user: u64) -> Result<()> {
        if let Some(mut c) = self.email_code(user)? {
            c.used = true;
            c.hash.clear();
            self.put_email_code(user, &c)?;
        }
        Ok(())
    }

    fn remove_email_code(&self, user: u64) -> Result<bool>;

    fn activation_code(&self, user: u64) -> Result<Option<OneTimeCode>>;

    fn put_activation_code(&self, user: u64, c: &OneTimeCode) -> Result<()>;

    fn remove_activation_code(&self, user: u64) -> Result<bool>;

    fn enrollment_code(&self, user: u64) -> Result<Option<OneTimeCode>>;

    fn put_enrollment_code(&self, user: u64, c: &OneTimeCode) -> Result<()>;

    fn remove_enrollment_code(&self, user: u64) -> Result<bool>;

    fn trusted_device(&self, user: u64, token_hash: &str) -> Result<Option<TrustedDevice>>;

    fn put_trusted_device(&self, user: u64, token_hash: &str, d: &TrustedDevice) -> Result<()>;

    fn trusted_device_count(&self, user: u64) -> Result<usize>;

    /// Forgets the user's trusted devices; how many there were.
    fn clear_trusted_devices(&self, user: u64) -> Result<usize>;

    fn clear_all_trusted_devices(&self) -> Result<()>;

    fn reauth_grant(&self, user: u64, session: u64) -> Result<Option<Timestamp>>;

    fn put_reauth_grant(&self, user: u64, session: u64, until: Timestamp) -> Result<()>;

    fn clear_reauth_grants(&self, user: u64) -> Result<()>;

    /// Drops grants that have run out, so the table does not grow without bound.
    fn prune_reauth_grants(&self, now: Timestamp) -> Result<()>;

    fn lockout(&self, normalized: &str) -> Result<Lockout>;

    fn put_lockout(&self, normalized: &str, l: &Lockout) -> Result<()>;

    /// Every account with a lockout record: (normalised username, counter).
    fn lockouts(&self) -> Result<Vec<(String, Lockout)>>;

    /// Adds one failure to the account's counter, in the store itself (never a value
    /// read earlier and written back), and gives the counter after it.
    fn count_failure(&self, normalized: &str) -> Result<Lockout>;

    fn last_totp_step(&self, user: u64) -> Result<Option<u64>>;

    fn put_last_totp_step(&self, user: u64, step: u64) -> Result<()>;

    /// The replay guard: makes `step` the user's last accepted TOTP step only if it is
    /// later than the one stored (a compare-and-set); false, and nothing changed, when it
    /// is not: the code was used already.
    fn claim_totp_step(&self, user: u64, step: u64) -> Result<bool>;

    fn remove_last_totp_step(&self, user: u64) -> Result<()>;

    fn client(&self, name: &str) -> Result<Option<ApiClient>>;

    /// The client whose API key hashes to `key_hash`, if any.
    fn client_by_key_hash(&self, key_hash: &str) -> Result<Option<ApiClient>>;

    /// Every client, by name.
    fn clients(&self) -> Result<Vec<ApiClient>>;

    /// Stores a client and makes its key hash (and only it) find the client.
    fn put_client(&self, c: &ApiClient) -> Result<()>;

    /// Removes a client and its key; false when there was none.
    fn remove_client(&self, name: &str) -> Result<bool>;

    fn audit_head(&self) -> Result<Option<AuditEvent>>;

    /// The stored chain head, as found (not yet verified); events appended in this
    /// transaction move it only when it commits.
    fn chain_head(&self) -> Result<Option<ChainHead>>;

    /// The key file's audit key, or a clear error when the key file has none.
    fn audit_key(&self) -> Result<&AuditKey>;

    /// Appends one event to the chain, in this transaction: the event lands with the act
    /// or not at all. The chain head moves to the newest event when the transaction
    /// commits (once, however many events it appends). Returns its sequence number.
    fn append_audit(
        &self,
        time: Timestamp,
        actor: &str,
        subject: &str,
        kind: &str,
        details: &str,
    ) -> Result<u64>;

    /// The audit event stored under `seq`.
    fn audit_event(&self, seq: u64) -> Result<Option<AuditEvent>>;

    /// Audit events, oldest first.
    fn audit_events(&self) -> Result<Vec<AuditEvent>>;

    /// The newest `limit` audit events, newest first.
    fn recent_audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>>;

    /// Calls `f` with audit events from the newest back, decoding one at a time, until it
    /// returns `false`.
    fn each_audit_newest_first(&self, f: &mut dyn FnMut(AuditEvent) -> Result<bool>) -> Result<()>;

    /// Raw access for tests that tamper with the chain on purpose.
    #[doc(hidden)]
    fn overwrite_audit_raw(&self, seq: u64, bytes: &[u8]) -> Result<()>;

    /// Every stored row, table by table, as stored: what `store copy` moves.
    fn export_rows(&self, f: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;

    /// Stores one row as it is (into a new, empty database, by `store copy`).
    fn import_row(&self, row: Row) -> Result<()>;

    /// Stores rows as they are, as [`Tx::import_row`] would one by one (an implementation
    /// may send them in fewer statements).
    fn import_rows(&self, rows: Vec<Row>) -> Result<()> {
        rows.into_iter().try_for_each(|r| self.import_row(r))
    }
}

/// One stored row, as either store holds it; records are the same bytes in both.
#[derive(Debug, Clone)]
pub enum Row {
    Meta(String, Vec<u8>),
    User(u64, Vec<u8>),
    Username(String, u64),
    UsernameSkeleton(String, u64),
    Enrollment(u64, u64, Vec<u8>),
    RecoveryCode(u64, u32, Vec<u8>),
    EmailCode(u64, Vec<u8>),
    ActivationCode(u64, Vec<u8>),
    EnrollmentCode(u64, Vec<u8>),
    TrustedDevice(u64, String, Vec<u8>),
    ReauthGrant(u64, u64, Timestamp),
    Lockout(String, Lockout),
    TotpStep(u64, u64),
    Audit(u64, Vec<u8>),
    Client(String, Vec<u8>),
    ClientKey(String, String),
}

impl<'s> RedbTx<'s> {
    pub(super) fn read(inner: ReadTransaction, path: &'s Path, key: Arc<SecretKey>) -> Self {
        Self {
            inner: Inner::Read(inner),
            path,
            key,
            audit_tail: RefCell::new(None),
            appended: Cell::new(false),
            changed: Cell::new(false),
        }
    }

    pub(super) fn write(inner: WriteTransaction, path: &'s Path, key: Arc<SecretKey>) -> Self {
        Self {
            inner: Inner::Write(Box::new(inner)),
            path,
            key,
            audit_tail: RefCell::new(None),
            appended: Cell::new(false),
            changed: Cell::new(false),
        }
    }

    pub(super) fn commit(self) -> Result<()> {
        let tail = self.audit_tail.borrow().clone();
        if self.appended.get()
            && let Some((seq, mac)) = tail
        {
            self.put_chain_head(seq, &mac)?;
        }
        if self.changed.get() {
            let n = self.generation()? + 1;
            self.put_meta_u64("generation", n)?;
        }
        match self.inner {
            Inner::Write(w) => (*w).commit().map_err(|e| db_err(self.path, e.into())),
            Inner::Read(_) => Ok(()),
        }
    }

    pub(super) fn abort(self) -> Result<()> {
        match self.inner {
            Inner::Write(w) => (*w).abort().map_err(|e| db_err(self.path, e.into())),
            Inner::Read(_) => Ok(()),
        }
    }

    fn writer(&self) -> Result<&WriteTransaction> {
        match &self.inner {
            Inner::Write(w) => Ok(w),
            Inner::Read(_) => Err(StoreError::Corrupt {
                path: self.path.to_path_buf(),
                what: "transaction".into(),
                detail: "a change was attempted in a read-only unit of work".into(),
            }),
        }
    }

    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_err(self.path, e.into())
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.to_path_buf(),
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            path: self.path.to_path_buf(),
            what: "record being written".into(),
            detail: e.to_string(),
        })
    }

    fn get_json<K: redb::Key + 'static, T: DeserializeOwned>(
        &self,
        def: TableDefinition<K, &'static [u8]>,
        key: K::SelfType<'_>,
        what: &str,
    ) -> Result<Option<T>> {
        with_table!(self, def, |t| {
            let v = t.get(key).map_err(|e| self.err(e))?;
            match v {
                Some(v) => Ok(Some(self.decode(what, v.value())?)),
                None => Ok(None),
            }
        })
    }

    fn put_json<K: redb::Key + 'static, T: Serialize>(
        &self,
        def: TableDefinition<K, &'static [u8]>,
        key: K::SelfType<'_>,
        value: &T,
    ) -> Result<()> {
        let bytes = self.encode(value)?;
        let mut t = table!(self, def);
        t.insert(key, bytes.as_slice()).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn remove_key<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
        key: K::SelfType<'_>,
    ) -> Result<bool> {
        let mut t = table!(self, def);
        let existed = t.remove(key).map_err(|e| self.err(e))?.is_some();
        Ok(existed)
    }

    /// Creates every table, so that read-only transactions find them all.
    pub(super) fn create_tables(&self) -> Result<()> {
        let w = self.writer()?;
        let e = |e: redb::TableError| self.err(e);
        w.open_table(META).map_err(e)?;
        w.open_table(USERS).map_err(e)?;
        w.open_table(USERNAMES).map_err(e)?;
        w.open_table(USERNAME_SKELETONS).map_err(e)?;
        w.open_table(ENROLLMENTS).map_err(e)?;
        w.open_table(RECOVERY_CODES).map_err(e)?;
        w.open_table(EMAIL_CODES).map_err(e)?;
        w.open_table(ACTIVATION_CODES).map_err(e)?;
        w.open_table(ENROLLMENT_CODES).map_err(e)?;
        w.open_table(TRUSTED_DEVICES).map_err(e)?;
        w.open_table(REAUTH_GRANTS).map_err(e)?;
        w.open_table(LOCKOUTS).map_err(e)?;
        w.open_table(TOTP_STEPS).map_err(e)?;
        w.open_table(AUDIT).map_err(e)?;
        w.open_table(CLIENTS).map_err(e)?;
        w.open_table(CLIENT_KEYS).map_err(e)?;
        Ok(())
    }

    /// Where the next event goes: (its sequence number, the link it follows). Looked up
    /// once per transaction, then kept as events are appended.
    fn audit_tail(&self) -> Result<(u64, String)> {
        if let Some(t) = self.audit_tail.borrow().clone() {
            return Ok(t);
        }
        let key = self.audit_key()?;
        let last_seq = with_table!(self, AUDIT, |t| {
            let last = t.last().map_err(|e| self.err(e))?;
            Ok::<_, StoreError>(last.map(|(k, _)| k.value()))
        })?;
        let tail = chain::tail(key, self.chain_head()?, last_seq);
        self.audit_tail.replace(Some(tail.clone()));
        Ok(tail)
    }

    /// Points the chain head at (`seq`, `mac`), with its MAC.
    pub(super) fn put_chain_head(&self, seq: u64, mac: &str) -> Result<()> {
        let key = self.audit_key()?;
        let head = chain::head(key, seq, mac)?;
        let bytes = self.encode(&head)?;
        self.put_meta(CHAIN_HEAD_KEY, &bytes)?;
        self.audit_tail.replace(Some((seq, head.mac)));
        Ok(())
    }

    /// Every audit event with the key it is stored under, in key order: what a migration
    /// rewrites in place.
    pub(super) fn audit_events_by_key(&self) -> Result<Vec<(u64, AuditEvent)>> {
        with_table!(self, AUDIT, |t| {
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| self.err(e))? {
                let (k, v) = row.map_err(|e| self.err(e))?;
                out.push((k.value(), self.decode("audit event", v.value())?));
            }
            Ok(out)
        })
    }

    /// Writes `e` under `key` as it is (a migration re-linking the chain).
    pub(super) fn put_audit_at(&self, key: u64, e: &AuditEvent) -> Result<()> {
        self.put_json(AUDIT, key, e)
    }
}

impl Tx for RedbTx<'_> {
    fn key(&self) -> &SecretKey {
        &self.key
    }

    fn path(&self) -> &Path {
        self.path
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        with_table!(self, META, |t| {
            let v = t.get(key).map_err(|e| self.err(e))?;
            Ok(v.map(|v| v.value().to_vec()))
        })
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut t = table!(self, META);
        t.insert(key, value).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn bump_generation(&self) -> Result<()> {
        self.writer()?;
        self.changed.set(true);
        Ok(())
    }

    fn organization(&self) -> Result<Organization> {
        with_table!(self, META, |t| {
            let v = t.get("organization").map_err(|e| self.err(e))?;
            match v {
                Some(v) => self.decode("organization", v.value()),
                None => Err(StoreError::Corrupt {
                    path: self.path.to_path_buf(),
                    what: "organization".into(),
                    detail: "missing".into(),
                }),
            }
        })
    }

    fn put_organization(&self, org: &Organization) -> Result<()> {
        let bytes = self.encode(org)?;
        self.put_meta("organization", &bytes)
    }

    fn user(&self, id: u64) -> Result<Option<User>> {
        self.get_json(USERS, id, "user")
    }

    fn user_id_by_name(&self, normalized: &str) -> Result<Option<u64>> {
        with_table!(self, USERNAMES, |t| {
            let v = t.get(normalized).map_err(|e| self.err(e))?;
            Ok(v.map(|v| v.value()))
        })
    }

    fn put_user(&self, user: &User) -> Result<()> {
        self.put_json(USERS, user.id, user)
    }

    fn put_username(&self, normalized: &str, id: u64) -> Result<()> {
        let mut t = table!(self, USERNAMES);
        t.insert(normalized, id).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn remove_username(&self, normalized: &str) -> Result<()> {
        self.remove_key(USERNAMES, normalized).map(|_| ())
    }

    fn claim_username_skeleton(&self, skeleton: &str, id: u64) -> Result<Option<u64>> {
        let mut t = table!(self, USERNAME_SKELETONS);
        let taken = {
            let mut range = t
                .range((skeleton, 0)..=(skeleton, u64::MAX))
                .map_err(|e| self.err(e))?;
            match range.next() {
                Some(row) => Some(row.map_err(|e| self.err(e))?.0.value().1),
                None => None,
            }
        };
        if taken.is_none() {
            t.insert((skeleton, id), ()).map_err(|e| self.err(e))?;
        }
        Ok(taken)
    }

    fn remove_username_skeleton(&self, skeleton: &str, id: u64) -> Result<()> {
        self.remove_key(USERNAME_SKELETONS, (skeleton, id))
            .map(|_| ())
    }

    fn backfill_username_skeletons(&self) -> Result<usize> {
        let users = self.users()?;
        let mut t = table!(self, USERNAME_SKELETONS);
        t.retain(|_, _| false).map_err(|e| self.err(e))?;
        for u in &users {
            t.insert((username_skeleton(&u.username).as_str(), u.id), ())
                .map_err(|e| self.err(e))?;
        }
        Ok(users.len())
    }

    fn remove_user_record(&self, id: u64) -> Result<()> {
        self.remove_key(USERS, id).map(|_| ())
    }

    fn each_user(&self, f: &mut dyn FnMut(User) -> Result<bool>) -> Result<()> {
        with_table!(self, USERS, |t| {
            for row in t.iter().map_err(|e| self.err(e))? {
                let (_, v) = row.map_err(|e| self.err(e))?;
                if !f(self.decode("user", v.value())?)? {
                    break;
                }
            }
            Ok(())
        })
    }

    fn users(&self) -> Result<Vec<User>> {
        with_table!(self, USERS, |t| {
            let mut out = Vec::with_capacity(t.len().map_err(|e| self.err(e))? as usize);
            for row in t.iter().map_err(|e| self.err(e))? {
                let (_, v) = row.map_err(|e| self.err(e))?;
                out.push(self.decode("user", v.value())?);
            }
            Ok(out)
        })
    }

    fn enrollments_of(&self, user: u64) -> Result<Vec<Enrollment>> {
        with_table!(self, ENROLLMENTS, |t| {
            let mut out = Vec::new();
            for row in t
                .range((user, 0)..=(user, u64::MAX))
                .map_err(|e| self.err(e))?
            {
                let (_, v) = row.map_err(|e| self.err(e))?;
                out.push(self.decode("enrollment", v.value())?);
            }
            Ok(out)
        })
    }

    fn all_enrollments(&self) -> Result<Vec<Enrollment>> {
        with_table!(self, ENROLLMENTS, |t| {
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| self.err(e))? {
                let (_, v) = row.map_err(|e| self.err(e))?;
                out.push(self.decode("enrollment", v.value())?);
            }
            Ok(out)
        })
    }

    fn put_enrollment(&self, e: &Enrollment) -> Result<()> {
        self.put_json(ENROLLMENTS, (e.user_id, e.id), e)
    }

    fn remove_enrollment(&self, user: u64, id: u64) -> Result<bool> {
        self.remove_key(ENROLLMENTS, (user, id))
    }

    fn recovery_codes(&self, user: u64) -> Result<Vec<(u32, RecoveryCode)>> {
        with_table!(self, RECOVERY_CODES, |t| {
            let mut out = Vec::new();
            for row in t
                .range((user, 0)..=(user, u32::MAX))
                .map_err(|e| self.err(e))?
            {
                let (k, v) = row.map_err(|e| self.err(e))?;
                out.push((k.value().1, self.decode("recovery code", v.value())?));
            }
            Ok(out)
        })
    }

    fn put_recovery_code(&self, user: u64, idx: u32, code: &RecoveryCode) -> Result<()> {
        self.put_json(RECOVERY_CODES, (user, idx), code)
    }

    fn clear_recovery_codes(&self, user: u64) -> Result<usize> {
        let mut t = table!(self, RECOVERY_CODES);
        let n = t
            .extract_from_if((user, 0)..=(user, u32::MAX), |_, _| true)
            .map_err(|e| self.err(e))?
            .count();
        Ok(n)
    }

    fn email_code(&self, user: u64) -> Result<Option<EmailCode>> {
        self.get_json(EMAIL_CODES, user, "email code")
    }

    fn put_email_code(&self, user: u64, c: &EmailCode) -> Result<()> {
        self.put_json(EMAIL_CODES, user, c)
    }

    fn remove_email_code(&self, user: u64) -> Result<bool> {
        self.remove_key(EMAIL_CODES, user)
    }

    fn activation_code(&self, user: u64) -> Result<Option<OneTimeCode>> {
        self.get_json(ACTIVATION_CODES, user, "activation code")
    }

    fn put_activation_code(&self, user: u64, c: &OneTimeCode) -> Result<()> {
        self.put_json(ACTIVATION_CODES, user, c)
    }

    fn remove_activation_code(&self, user: u64) -> Result<bool> {
        self.remove_key(ACTIVATION_CODES, user)
    }

    fn enrollment_code(&self, user: u64) -> Result<Option<OneTimeCode>> {
        self.get_json(ENROLLMENT_CODES, user, "enrollment code")
    }

    fn put_enrollment_code(&self, user: u64, c: &OneTimeCode) -> Result<()> {
        self.put_json(ENROLLMENT_CODES, user, c)
    }

    fn remove_enrollment_code(&self, user: u64) -> Result<bool> {
        self.remove_key(ENROLLMENT_CODES, user)
    }

    fn trusted_device(&self, user: u64, token_hash: &str) -> Result<Option<TrustedDevice>> {
        self.get_json(TRUSTED_DEVICES, (user, token_hash), "trusted device")
    }

    fn put_trusted_device(&self, user: u64, token_hash: &str, d: &TrustedDevice) -> Result<()> {
        self.put_json(TRUSTED_DEVICES, (user, token_hash), d)
    }

    fn trusted_device_count(&self, user: u64) -> Result<usize> {
        with_table!(self, TRUSTED_DEVICES, |t| {
            let n = t
                .range((user, "")..(user + 1, ""))
                .map_err(|e| self.err(e))?
                .count();
            Ok(n)
        })
    }

    fn clear_trusted_devices(&self, user: u64) -> Result<usize> {
        let mut t = table!(self, TRUSTED_DEVICES);
        let n = t
            .extract_from_if((user, "")..(user + 1, ""), |_, _| true)
            .map_err(|e| self.err(e))?
            .count();
        Ok(n)
    }

    fn clear_all_trusted_devices(&self) -> Result<()> {
        let mut t = table!(self, TRUSTED_DEVICES);
        t.retain(|_, _| false).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn reauth_grant(&self, user: u64, session: u64) -> Result<Option<Timestamp>> {
        with_table!(self, REAUTH_GRANTS, |t| {
            let v = t.get((user, session)).map_err(|e| self.err(e))?;
            Ok(v.map(|v| v.value()))
        })
    }

    fn put_reauth_grant(&self, user: u64, session: u64, until: Timestamp) -> Result<()> {
        let mut t = table!(self, REAUTH_GRANTS);
        t.insert((user, session), until).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn clear_reauth_grants(&self, user: u64) -> Result<()> {
        let mut t = table!(self, REAUTH_GRANTS);
        t.extract_from_if((user, 0)..=(user, u64::MAX), |_, _| true)
            .map_err(|e| self.err(e))?
            .for_each(drop);
        Ok(())
    }

    fn prune_reauth_grants(&self, now: Timestamp) -> Result<()> {
        let mut t = table!(self, REAUTH_GRANTS);
        t.retain(|_, until| until > now).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn lockout(&self, normalized: &str) -> Result<Lockout> {
        Ok(self
            .get_json(LOCKOUTS, normalized, "lockout counter")?
            .unwrap_or_default())
    }

    fn put_lockout(&self, normalized: &str, l: &Lockout) -> Result<()> {
        if l.failures == 0 && l.locked_until.is_none() && l.lock_count == 0 {
            self.remove_key(LOCKOUTS, normalized).map(|_| ())
        } else {
            self.put_json(LOCKOUTS, normalized, l)
        }
    }

    fn lockouts(&self) -> Result<Vec<(String, Lockout)>> {
        with_table!(self, LOCKOUTS, |t| {
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| self.err(e))? {
                let (k, v) = row.map_err(|e| self.err(e))?;
                out.push((k.value().to_string(), self.decode("lockout", v.value())?));
            }
            Ok(out)
        })
    }

    fn count_failure(&self, normalized: &str) -> Result<Lockout> {
        // The one write transaction of the moment: nothing else changes it in between.
        let mut l = self.lockout(normalized)?;
        l.failures = l.failures.saturating_add(1);
        self.put_lockout(normalized, &l)?;
        Ok(l)
    }

    fn last_totp_step(&self, user: u64) -> Result<Option<u64>> {
        with_table!(self, TOTP_STEPS, |t| {
            let v = t.get(user).map_err(|e| self.err(e))?;
            Ok(v.map(|v| v.value()))
        })
    }

    fn put_last_totp_step(&self, user: u64, step: u64) -> Result<()> {
        let mut t = table!(self, TOTP_STEPS);
        t.insert(user, step).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn remove_last_totp_step(&self, user: u64) -> Result<()> {
        self.remove_key(TOTP_STEPS, user).map(|_| ())
    }

    fn claim_totp_step(&self, user: u64, step: u64) -> Result<bool> {
        // The one write transaction of the moment: nothing else changes it in between.
        if self.last_totp_step(user)?.is_some_and(|last| step <= last) {
            return Ok(false);
        }
        self.put_last_totp_step(user, step)?;
        Ok(true)
    }

    fn client(&self, name: &str) -> Result<Option<ApiClient>> {
        self.get_json(CLIENTS, name, "API client")
    }

    fn client_by_key_hash(&self, key_hash: &str) -> Result<Option<ApiClient>> {
        let name = with_table!(self, CLIENT_KEYS, |t| {
            let v = t.get(key_hash).map_err(|e| self.err(e))?;
            Ok::<_, StoreError>(v.map(|v| v.value().to_string()))
        })?;
        match name {
            Some(n) => self.client(&n),
            None => Ok(None),
        }
    }

    fn clients(&self) -> Result<Vec<ApiClient>> {
        with_table!(self, CLIENTS, |t| {
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| self.err(e))? {
                let (_, v) = row.map_err(|e| self.err(e))?;
                out.push(self.decode("API client", v.value())?);
            }
            Ok(out)
        })
    }

    fn put_client(&self, c: &ApiClient) -> Result<()> {
        let old = self.client(&c.name)?;
        let key_changed = old.as_ref().is_none_or(|o| o.key_hash != c.key_hash);
        if let Some(old) = old.filter(|o| o.key_hash != c.key_hash) {
            self.remove_key(CLIENT_KEYS, old.key_hash.as_str())?;
        }
        self.put_json(CLIENTS, c.name.as_str(), c)?;
        // Counting a request changes only the client's record: the key index stays as
        // it is (one table less in every verification's commit).
        if key_changed {
            let mut t = table!(self, CLIENT_KEYS);
            t.insert(c.key_hash.as_str(), c.name.as_str())
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn remove_client(&self, name: &str) -> Result<bool> {
        let Some(old) = self.client(name)? else {
            return Ok(false);
        };
        self.remove_key(CLIENT_KEYS, old.key_hash.as_str())?;
        self.remove_key(CLIENTS, name)
    }

    fn audit_head(&self) -> Result<Option<AuditEvent>> {
        with_table!(self, AUDIT, |t| {
            let last = t.last().map_err(|e| self.err(e))?;
            match last {
                Some((_, v)) => Ok(Some(self.decode("audit event", v.value())?)),
                None => Ok(None),
            }
        })
    }

    fn chain_head(&self) -> Result<Option<ChainHead>> {
        match self.meta(CHAIN_HEAD_KEY)? {
            Some(bytes) => Ok(Some(self.decode("audit chain head", &bytes)?)),
            None => Ok(None),
        }
    }

    fn audit_key(&self) -> Result<&AuditKey> {
        self.key
            .audit()
            .ok_or_else(|| chain::no_audit_key(self.path))
    }

    fn append_audit(
        &self,
        time: Timestamp,
        actor: &str,
        subject: &str,
        kind: &str,
        details: &str,
    ) -> Result<u64> {
        let key = self.audit_key()?;
        let e = chain::next_event(
            key,
            self.audit_tail()?,
            time,
            [actor, subject, kind, details],
        )?;
        self.put_json(AUDIT, e.seq, &e)?;
        self.audit_tail.replace(Some((e.seq, e.hash)));
        self.appended.set(true);
        Ok(e.seq)
    }

    fn audit_event(&self, seq: u64) -> Result<Option<AuditEvent>> {
        self.get_json(AUDIT, seq, "audit event")
    }

    fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        with_table!(self, AUDIT, |t| {
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| self.err(e))? {
                let (_, v) = row.map_err(|e| self.err(e))?;
                out.push(self.decode("audit event", v.value())?);
            }
            Ok(out)
        })
    }

    fn recent_audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::new();
        self.each_audit_newest_first(&mut |e| {
            out.push(e);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    fn each_audit_newest_first(&self, f: &mut dyn FnMut(AuditEvent) -> Result<bool>) -> Result<()> {
        with_table!(self, AUDIT, |t| {
            for row in t.iter().map_err(|e| self.err(e))?.rev() {
                let (_, v) = row.map_err(|e| self.err(e))?;
                if !f(self.decode("audit event", v.value())?)? {
                    break;
                }
            }
            Ok(())
        })
    }

    #[doc(hidden)]
    fn overwrite_audit_raw(&self, seq: u64, bytes: &[u8]) -> Result<()> {
        let mut t = table!(self, AUDIT);
        t.insert(seq, bytes).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn export_rows(&self, f: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        macro_rules! each {
            ($def:expr, |$k:ident, $v:ident| $row:expr) => {
                with_table!(self, $def, |t| {
                    for r in t.iter().map_err(|e| self.err(e))? {
                        let (k, v) = r.map_err(|e| self.err(e))?;
                        let ($k, $v) = (k.value(), v.value());
                        f($row)?;
                    }
                    Ok::<_, StoreError>(())
                })?
            };
        }
        each!(META, |k, v| Row::Meta(k.to_string(), v.to_vec()));
        each!(USERS, |k, v| Row::User(k, v.to_vec()));
        each!(USERNAMES, |k, v| Row::Username(k.to_string(), v));
        each!(USERNAME_SKELETONS, |k, _v| Row::UsernameSkeleton(
            k.0.to_string(),
            k.1
        ));
        each!(ENROLLMENTS, |k, v| Row::Enrollment(k.0, k.1, v.to_vec()));
        each!(RECOVERY_CODES, |k, v| Row::RecoveryCode(
            k.0,
            k.1,
            v.to_vec()
        ));
        each!(EMAIL_CODES, |k, v| Row::EmailCode(k, v.to_vec()));
        each!(ACTIVATION_CODES, |k, v| Row::ActivationCode(k, v.to_vec()));
        each!(ENROLLMENT_CODES, |k, v| Row::EnrollmentCode(k, v.to_vec()));
        each!(TRUSTED_DEVICES, |k, v| Row::TrustedDevice(
            k.0,
            k.1.to_string(),
            v.to_vec()
        ));
        each!(REAUTH_GRANTS, |k, v| Row::ReauthGrant(k.0, k.1, v));
        each!(LOCKOUTS, |k, v| Row::Lockout(
            k.to_string(),
            self.decode("lockout", v)?
        ));
        each!(TOTP_STEPS, |k, v| Row::TotpStep(k, v));
        each!(AUDIT, |k, v| Row::Audit(k, v.to_vec()));
        each!(CLIENTS, |k, v| Row::Client(k.to_string(), v.to_vec()));
        each!(CLIENT_KEYS, |k, v| Row::ClientKey(
            k.to_string(),
            v.to_string()
        ));
        Ok(())
    }

    fn import_row(&self, row: Row) -> Result<()> {
        let e = |e: redb::StorageError| self.err(e);
        match row {
            Row::Meta(k, v) => self.put_meta(&k, &v),
            Row::User(k, v) => table!(self, USERS)
                .insert(k, v.as_slice())
                .map(drop)
                .map_err(e),
            Row::Username(k, v) => self.put_username(&k, v),
            Row::UsernameSkeleton(s, id) => table!(self, USERNAME_SKELETONS)
                .insert((s.as_str(), id), ())
                .map(drop)
                .map_err(e),
            Row::Enrollment(u, i, v) => table!(self, ENROLLMENTS)
                .insert((u, i), v.as_slice())
                .map(drop)
                .map_err(e),
            Row::RecoveryCode(u, i, v) => table!(self, RECOVERY_CODES)
                .insert((u, i), v.as_slice())
                .map(drop)
                .map_err(e),
            Row::EmailCode(u, v) => table!(self, EMAIL_CODES)
                .insert(u, v.as_slice())
                .map(drop)
                .map_err(e),
            Row::ActivationCode(u, v) => table!(self, ACTIVATION_CODES)
                .insert(u, v.as_slice())
                .map(drop)
                .map_err(e),
            Row::EnrollmentCode(u, v) => table!(self, ENROLLMENT_CODES)
                .insert(u, v.as_slice())
                .map(drop)
                .map_err(e),
            Row::TrustedDevice(u, h, v) => table!(self, TRUSTED_DEVICES)
                .insert((u, h.as_str()), v.as_slice())
                .map(drop)
                .map_err(e),
            Row::ReauthGrant(u, s, until) => self.put_reauth_grant(u, s, until),
            Row::Lockout(k, l) => self.put_json(LOCKOUTS, k.as_str(), &l),
            Row::TotpStep(u, step) => self.put_last_totp_step(u, step),
            Row::Audit(k, v) => self.overwrite_audit_raw(k, &v),
            Row::Client(k, v) => table!(self, CLIENTS)
                .insert(k.as_str(), v.as_slice())
                .map(drop)
                .map_err(e),
            Row::ClientKey(k, v) => table!(self, CLIENT_KEYS)
                .insert(k.as_str(), v.as_str())
                .map(drop)
                .map_err(e),
        }
    }
}

/// The generic forms of the callbacks, for any implementation.
impl dyn Tx + '_ {
    /// Calls `f` with every user in id order, decoding one at a time, until it returns
    /// `false`.
    pub fn for_each_user<E: From<StoreError>>(
        &self,
        mut f: impl FnMut(User) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
        let mut failed = None;
        self.each_user(&mut |u| match f(u) {
            Ok(go) => Ok(go),
            Err(e) => {
                failed = Some(e);
                Ok(false)
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Calls `f` with audit events from the newest back, until it returns `false`.
    pub fn for_each_audit_newest_first(
        &self,
        mut f: impl FnMut(AuditEvent) -> Result<bool>,
    ) -> Result<()> {
        self.each_audit_newest_first(&mut f)
    }
}
