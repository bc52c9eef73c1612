//! The PostgreSQL store: the same [`Tx`] contract on a database server that several hosts
//! share, so that two or more service nodes keep one roster, one lockout, one replay guard
//! and one audit trail.
//!
//! Isolation, per unit of work:
//! - **A read** is one `REPEATABLE READ, READ ONLY` transaction: one snapshot, which never
//!   waits for a writer.
//! - **A write** is one transaction that first takes the database's write lock (a
//!   transaction-scoped advisory lock, held until it commits or rolls back), then runs at
//!   `READ COMMITTED`: every statement sees all that committed before the lock was granted,
//!   and no other write runs in between, so each write is serializable as a whole and never
//!   needs a retry (a unit of work runs its closure once: its checks and its mail decisions
//!   cannot be replayed). Nearly every write appends to the audit chain, whose head is one
//!   row, so a finer lock would not let more writes run side by side.
//! - Inside a write, the replay guard is a compare-and-set on `totp_steps`
//!   ([`Tx::claim_totp_step`]), failures are added to the counter by the database
//!   ([`Tx::count_failure`]), and each append locks the chain head row `FOR UPDATE`: those
//!   three would stay right even without the write lock.
//!
//! Layout: every table has its key as real columns, with primary keys, a unique normalised
//! username and foreign keys to `users` (checked at commit); lockout counters and replay
//! steps are real columns too. The other records are stored as the same JSON bytes as in
//! the redb file (`record bytea`), so `store copy` moves them unchanged and both stores
//! decode them with one set of types. The layout has its own version (`mfa_schema`), lifted
//! by forward migrations in one transaction on open.
//!
//! Connections: a small pool per process. A server that cannot be reached fails the unit
//! of work at once, with the host named; the next unit of work connects again, so nothing
//! has to be restarted once the server is back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::chain;
use super::crypto::AuditKey;
use super::*;

/// Where a PostgreSQL database is: the connection settings (with the password, read from
/// its file), the URL as shown (never with a password) and this host's key file.
#[derive(Clone)]
pub struct PgLocation {
    config: postgres::Config,
    shown: String,
    host: String,
    key_file: PathBuf,
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.shown)
    }
}

impl PgLocation {
    /// Whether a database setting names a PostgreSQL server rather than a file.
    pub fn is_url(text: &str) -> bool {
        let t = text.trim_start().to_ascii_lowercase();
        t.starts_with("postgresql://") || t.starts_with("postgres://")
    }

    /// Reads `postgresql://USER@HOST:PORT/DATABASE[?options]`. A password in the URL is
    /// refused: it would show in process lists and logs; it comes from its own file.
    pub fn parse(
        url: &str,
        password: Option<Zeroizing<String>>,
        key_file: PathBuf,
    ) -> std::result::Result<PgLocation, String> {
        let url = url.trim();
        let mut config: postgres::Config = url.parse().map_err(|e| {
            format!(
                "the database URL is not valid ({e}): write postgresql://USER@HOST:PORT/DATABASE"
            )
        })?;
        if config.get_password().is_some() {
            return Err("the database URL holds a password: remove it from the URL and put it in a file named by `password_file` under [store] in the config file (mode 0600)".into());
        }
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => {
                return Err(
                    "the database URL names no host: write postgresql://USER@HOST:PORT/DATABASE"
                        .into(),
                );
            }
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let Some(user) = config.get_user().map(str::to_string) else {
            return Err(
                "the database URL names no user: write postgresql://USER@HOST:PORT/DATABASE".into(),
            );
        };
        let dbname = config
            .get_dbname()
            .map(str::to_string)
            .unwrap_or_else(|| user.clone());
        if let Some(pw) = password {
            config.password(pw.as_bytes());
        }
        config
            .application_name("mfa-console")
            .connect_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            // A link that drops without a reset fails within seconds, not after the
            // system's minutes of retransmissions.
            .tcp_user_timeout(Duration::from_secs(20));
        let host = format!("{host}:{port}");
        Ok(PgLocation {
            config,
            shown: format!("postgresql://{user}@{host}/{dbname}"),
            host,
            key_file,
        })
    }

    /// The URL as shown on screen and in logs: user, host, port and database; never a
    /// password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `HOST:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// This host's key file for the database.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }
}

/// The advisory lock every write takes first (an arbitrary number: "mfa-cons").
const WRITE_LOCK: i64 = 0x6d66_612d_636f_6e73;
/// The layout this build creates and reads; older ones are lifted on open.
const LAYOUT_VERSION: i32 = 1;
/// Idle connections kept per process.
const POOL_SIZE: usize = 32;
/// Rows fetched at a time by the scans that hand rows to a callback (which may itself
/// query, so no cursor stays open across it).
const PAGE: i64 = 1000;

/// The forward migrations, one per layout version: `MIGRATIONS[v - 1]` lifts v - 1 to v.
const MIGRATIONS: &[&str] = &["
CREATE TABLE meta (key text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE users (id bigint PRIMARY KEY CHECK (id > 0), record bytea NOT NULL);
CREATE TABLE usernames (
    normalized text PRIMARY KEY CHECK (normalized <> ''),
    user_id bigint NOT NULL UNIQUE REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE username_skeletons (
    skeleton text NOT NULL,
    user_id bigint NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (skeleton, user_id)
);
CREATE TABLE enrollments (
    user_id bigint NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    id bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE TABLE recovery_codes (
    user_id bigint NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    idx integer NOT NULL CHECK (idx >= 0),
    record bytea NOT NULL,
    PRIMARY KEY (user_id, idx)
);
CREATE TABLE email_codes (
    user_id bigint PRIMARY KEY REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    record bytea NOT NULL
);
CREATE TABLE activation_codes (
    user_id bigint PRIMARY KEY REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    record bytea NOT NULL
);
CREATE TABLE enrollment_codes (
    user_id bigint PRIMARY KEY REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    record bytea NOT NULL
);
CREATE TABLE trusted_devices (
    user_id bigint NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    token_hash text NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (user_id, token_hash)
);
CREATE TABLE reauth_grants (
    user_id bigint NOT NULL,
    session bigint NOT NULL,
    until_at bigint NOT NULL,
    PRIMARY KEY (user_id, session)
);
CREATE TABLE lockouts (
    normalized text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until bigint,
    lock_count integer NOT NULL DEFAULT 0 CHECK (lock_count >= 0),
    locked_attempts integer NOT NULL DEFAULT 0 CHECK (locked_attempts >= 0),
    locked_audit_at bigint
);
CREATE TABLE totp_steps (
    user_id bigint PRIMARY KEY REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    last_step bigint NOT NULL CHECK (last_step >= 0)
);
CREATE TABLE audit (seq bigint PRIMARY KEY CHECK (seq > 0), record bytea NOT NULL);
CREATE TABLE clients (name text PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE client_keys (
    key_hash text PRIMARY KEY,
    name text NOT NULL REFERENCES clients (name) DEFERRABLE INITIALLY DEFERRED
);
"];

/// Every table of the layout.
const TABLES: &[&str] = &[
    "mfa_schema",
    "meta",
    "users",
    "usernames",
    "username_skeletons",
    "enrollments",
    "recovery_codes",
    "email_codes",
    "activation_codes",
    "enrollment_codes",
    "trusted_devices",
    "reauth_grants",
    "lockouts",
    "totp_steps",
    "audit",
    "clients",
    "client_keys",
];

/// A unit of work's result, or (when BEGIN failed, so nothing ran) the failure and the
/// work handed back to try on another connection.
type Begun<T, E, F> = std::result::Result<std::result::Result<T, E>, (StoreError, F)>;

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    used: Instant,
}

/// An open PostgreSQL database: its location, a pool of connections and the key.
pub(super) struct PgStore {
    loc: PgLocation,
    /// The URL as shown, where errors name a path.
    shown_path: PathBuf,
    idle: Mutex<Vec<Conn>>,
    keys: super::crypto::Keys,
}

impl PgStore {
    fn new(loc: PgLocation, key: SecretKey) -> PgStore {
        PgStore {
            shown_path: PathBuf::from(loc.shown()),
            loc,
            idle: Mutex::new(Vec::new()),
            keys: super::crypto::Keys::new(key),
        }
    }

    pub(super) fn location(&self) -> &PgLocation {
        &self.loc
    }

    pub(super) fn shown_path(&self) -> &Path {
        &self.shown_path
    }

    /// Every table of the layout is there, at this build's version.
    pub(super) fn check_layout(&self) -> Result<bool> {
        self.read_with(false, |tx| {
            for t in TABLES {
                if !tx.table_exists(t)? {
                    return Ok(false);
                }
            }
            let layout: i32 = match tx.row("SELECT max(version) FROM mfa_schema", &[])? {
                Some(r) => tx.col::<Option<i32>>(&r, 0, "layout version")?.unwrap_or(0),
                None => 0,
            };
            Ok(layout == LAYOUT_VERSION)
        })
    }

    /// Creates the layout in an empty database, with a new key file (mode 0600) unless
    /// `key` is given (a copy keeps its source's key), and runs `init` in the same
    /// transaction.
    pub(super) fn create(
        loc: &PgLocation,
        key: Option<SecretKey>,
        init: impl FnOnce(&dyn Tx) -> Result<()>,
    ) -> Result<PgStore> {
        let kpath = loc.key_file.clone();
        if kpath.exists() {
            return Err(StoreError::AlreadyExists(kpath));
        }
        let key = match key {
            Some(k) => k,
            None => SecretKey::generate()?,
        };
        if let Some(dir) = kpath.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        key.write_new(&kpath)?;
        let fingerprint = key.fingerprint();
        let store = PgStore::new(loc.clone(), key);
        let made = store.write_with(true, |tx| {
            if tx.table_exists("meta")? {
                return Err(StoreError::Postgres {
                    at: store.loc.shown.clone(),
                    detail: "it already holds an mfa-console organization: choose an empty database (create one with `createdb -O USER DATABASE`), or use this one as it is".into(),
                });
            }
            tx.batch("CREATE TABLE mfa_schema (version integer NOT NULL)")?;
            for step in MIGRATIONS {
                tx.batch(step)?;
            }
            tx.exec(
                "INSERT INTO mfa_schema (version) VALUES ($1)",
                &[&LAYOUT_VERSION],
            )?;
            tx.put_meta(MAGIC_KEY, MAGIC)?;
            tx.put_meta_u64("schema_version", SCHEMA_VERSION)?;
            tx.put_meta("key_id", fingerprint.as_bytes())?;
            init(tx)
        });
        if let Err(e) = made {
            let _ = std::fs::remove_file(&kpath);
            return Err(e);
        }
        Ok(store)
    }

    /// Opens a database made by `create`: checks it is ours, lifts an older layout forward,
    /// and reads this host's key file.
    pub(super) fn open(loc: &PgLocation) -> Result<PgStore> {
        // The key is read once the database says which one it expects.
        let probe = PgStore::new(loc.clone(), SecretKey::generate()?);
        let (magic, version, key_id, layout) = probe.read_with(true, |tx| {
            if !tx.table_exists("meta")? {
                return Err(StoreError::NotFound(probe.shown_path().to_path_buf()));
            }
            let layout: i32 = match tx.row("SELECT max(version) FROM mfa_schema", &[])? {
                Some(r) => tx.col::<Option<i32>>(&r, 0, "layout version")?.unwrap_or(0),
                None => 0,
            };
            Ok((
                tx.meta(MAGIC_KEY)?,
                tx.meta("schema_version")?,
                tx.meta("key_id")?,
                layout,
            ))
        })?;
        if magic.as_deref() != Some(MAGIC) {
            return Err(StoreError::ForeignDatabase(
                probe.shown_path().to_path_buf(),
            ));
        }
        let version = version
            .and_then(|v| v.try_into().ok().map(u64::from_le_bytes))
            .ok_or_else(|| StoreError::ForeignDatabase(probe.shown_path().to_path_buf()))?;
        let newest = LAYOUT_VERSION as u64;
        if version > SCHEMA_VERSION || layout as u64 > newest {
            return Err(StoreError::NewerSchema {
                path: probe.shown_path().to_path_buf(),
                found: version.max(layout as u64),
            });
        }
        let key_id = String::from_utf8(key_id.unwrap_or_default()).unwrap_or_default();
        let key = load_key(&loc.key_file, &key_id)?;
        let store = PgStore::new(loc.clone(), key);
        if layout < LAYOUT_VERSION {
            store.write_with(false, |tx| {
                let now: i32 = match tx.row("SELECT max(version) FROM mfa_schema", &[])? {
                    Some(r) => tx.col::<Option<i32>>(&r, 0, "layout version")?.unwrap_or(0),
                    None => 0,
                };
                for step in MIGRATIONS.iter().skip(now.max(0) as usize) {
                    tx.batch(step)?;
                }
                tx.exec("DELETE FROM mfa_schema", &[])?;
                tx.exec(
                    "INSERT INTO mfa_schema (version) VALUES ($1)",
                    &[&LAYOUT_VERSION],
                )
                .map(drop)
            })?;
        }
        Ok(store)
    }

    pub(super) fn key(&self) -> Arc<SecretKey> {
        self.keys.get()
    }

    /// The key for a transaction that sees `key_id`: after another host rotated it and
    /// this host's key file was replaced, the new key file.
    fn key_for(&self, key_id: Option<Vec<u8>>) -> Result<Arc<SecretKey>> {
        self.keys.for_id(key_id, &self.loc.key_file, load_key)
    }

    pub(super) fn set_key(&self, key: SecretKey) {
        self.keys.set(key);
    }

    fn connect(&self) -> Result<Conn> {
        let mut client = self
            .loc
            .config
            .connect(NoTls)
            .map_err(|e| pg_err(&self.loc, e))?;
        let wait = busy_timeout().as_millis().max(1);
        // A write waits for the write lock at most the busy timeout; a host stopped in the
        // middle of a write (SIGSTOP, a hung disk) loses the lock after a minute.
        client
            .batch_execute(&format!(
                "SET lock_timeout = {wait}; SET statement_timeout = {}; SET idle_in_transaction_session_timeout = 60000",
                wait + 60_000
            ))
            .map_err(|e| pg_err(&self.loc, e))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            used: Instant::now(),
        })
    }

    /// A connection from the pool, or a new one. One idle for a while is checked first:
    /// the server may have restarted since.
    fn take(&self) -> Result<Conn> {
        loop {
            let pooled = self.idle.lock().ok().and_then(|mut p| p.pop());
            match pooled {
                Some(mut c) => {
                    if c.client.is_closed() {
                        continue;
                    }
                    if c.used.elapsed() > Duration::from_secs(2)
                        && c.client.is_valid(Duration::from_secs(2)).is_err()
                    {
                        self.forget_idle();
                        continue;
                    }
                    c.used = Instant::now();
                    return Ok(c);
                }
                None => return self.connect(),
            }
        }
    }

    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            // The server went away: the other idle connections went with it.
            self.forget_idle();
            return;
        }
        if let Ok(mut p) = self.idle.lock()
            && p.len() < POOL_SIZE
        {
            p.push(conn);
        }
    }

    fn forget_idle(&self) {
        if let Ok(mut p) = self.idle.lock() {
            p.clear();
        }
    }

    /// One read-only unit of work on one snapshot.
    pub(super) fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.read_with(false, |tx| f(tx))
    }

    /// `probing`: the database may not have the layout yet (opening it).
    fn read_with<T, E: From<StoreError>>(
        &self,
        probing: bool,
        f: impl FnOnce(&PgTx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.attempt(false, f, |store, tx, f| {
            let key_id = if probing {
                tx.meta_if_present("key_id")?
            } else {
                tx.meta("key_id")?
            };
            let _ = tx.key.set(store.key_for(key_id)?);
            let v = f(tx)?;
            tx.finish()?;
            Ok(v)
        })
    }

    /// One atomic, durable unit of work under the database's write lock: committed when
    /// `f` returns `Ok`, rolled back entirely otherwise.
    pub(super) fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.write_with(false, |tx| f(tx))
    }

    /// `creating`: the layout is not there yet (the key id is not read).
    fn write_with<T, E: From<StoreError>>(
        &self,
        creating: bool,
        f: impl FnOnce(&PgTx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.attempt(true, f, |store, tx, f| {
            tx.exec("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .map_err(|e| match e {
                    StoreError::Busy { path, waited, .. } => StoreError::Busy {
                        path,
                        waited,
                        holder: Some(
                            "another mfa-console (on this or another host) is writing to it".into(),
                        ),
                    },
                    other => other,
                })?;
            if !creating {
                let key_id = tx.meta("key_id")?;
                let _ = tx.key.set(store.key_for(key_id)?);
            }
            let v = f(tx)?;
            tx.finish()?;
            Ok::<_, E>(v)
        })
    }

    /// Begins a transaction on a connection and runs `body` in it. A pooled connection
    /// the server dropped (it restarted) fails at BEGIN, before anything ran: it is
    /// replaced, once, by a new connection. Any other failure stands.
    fn attempt<F, T, E: From<StoreError>>(
        &self,
        write: bool,
        f: F,
        body: impl Fn(&PgStore, &PgTx, F) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut conn = self.take()?;
        let first = self.begin_and_run(&mut conn, write, f, &body);
        self.give_back(conn);
        match first {
            Ok(done) => done,
            Err((StoreError::Unreachable { .. }, f)) => {
                self.forget_idle();
                let mut conn = self.connect()?;
                let second = self.begin_and_run(&mut conn, write, f, &body);
                self.give_back(conn);
                match second {
                    Ok(done) => done,
                    Err((e, _)) => Err(e.into()),
                }
            }
            Err((e, _)) => Err(e.into()),
        }
    }

    fn begin_and_run<F, T, E: From<StoreError>>(
        &self,
        conn: &mut Conn,
        write: bool,
        f: F,
        body: &impl Fn(&PgStore, &PgTx, F) -> std::result::Result<T, E>,
    ) -> Begun<T, E, F> {
        let Conn {
            client, statements, ..
        } = conn;
        // The level is said explicitly: a server, database or role may default to another,
        // and under REPEATABLE READ a write that waited for the lock would read the
        // snapshot from before the previous writer committed.
        let level = if write {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::RepeatableRead
        };
        let begun = client
            .build_transaction()
            .isolation_level(level)
            .read_only(!write)
            .start();
        match begun {
            Ok(t) => Ok(body(self, &PgTx::new(t, statements, self, write), f)),
            Err(e) => Err((pg_err(&self.loc, e), f)),
        }
    }
}

/// A person's reading of a PostgreSQL error: what it means and what to do.
pub(super) fn pg_err(loc: &PgLocation, e: postgres::Error) -> StoreError {
    let at = loc.shown.clone();
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let detail = |hint: &str| StoreError::Postgres {
            at: at.clone(),
            detail: format!("{} ({}){hint}", db.message(), code.code()),
        };
        return if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED {
            StoreError::Busy {
                path: PathBuf::from(&at),
                waited: busy_timeout().as_secs(),
                holder: None,
            }
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            detail(
                ": create the database first, e.g. `createdb -O USER DATABASE` on the server (README, \"PostgreSQL\")",
            )
        } else if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            detail(
                ": check the user in the URL, the file named by [store] password_file, and the server's pg_hba.conf",
            )
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            detail(": let the URL's user own the database (`ALTER DATABASE … OWNER TO …`)")
        } else if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            StoreError::Unreachable {
                host: loc.host.clone(),
                detail: db.message().to_string(),
            }
        } else {
            detail("")
        };
    }
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    let lost = e.is_closed()
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        || detail.contains("timed out")
        || detail.contains("connection");
    if lost {
        StoreError::Unreachable {
            host: loc.host.clone(),
            detail,
        }
    } else {
        StoreError::Postgres { at, detail }
    }
}

/// The meta record holding the audit chain head.
const CHAIN_HEAD_KEY: &str = "audit_chain_head";

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A [`Tx`] on PostgreSQL: one server transaction.
pub(super) struct PgTx<'c> {
    t: RefCell<Option<Transaction<'c>>>,
    statements: RefCell<&'c mut HashMap<&'static str, Statement>>,
    store: &'c PgStore,
    /// The key the database names in this transaction (set once its `key_id` is read).
    key: std::cell::OnceCell<Arc<SecretKey>>,
    write: bool,
    audit_tail: RefCell<Option<(u64, String)>>,
    appended: Cell<bool>,
    changed: Cell<bool>,
    /// The organization as read or written in this transaction: a verification asks for
    /// it several times, and nothing else changes it meanwhile (a snapshot, or the write
    /// lock held).
    organization: RefCell<Option<Organization>>,
    /// Lockout counters and clients as read or written in this transaction (a
    /// verification reads each twice); the replay guard and the failure increment always
    /// go to the database.
    lockouts_seen: RefCell<HashMap<String, Lockout>>,
    clients_seen: RefCell<HashMap<String, Option<ApiClient>>>,
    /// Events appended in this transaction, written in one statement before anything
    /// reads the log and at commit.
    pending_audit: RefCell<(Vec<i64>, Vec<Vec<u8>>)>,
    /// Users and clients written in this transaction, stored in one statement each before
    /// anything scans their table and at commit (a batch of verifications writes many).
    pending_users: RefCell<std::collections::BTreeMap<u64, User>>,
    pending_clients: RefCell<std::collections::BTreeMap<String, ApiClient>>,
}

impl<'c> PgTx<'c> {
    fn new(
        t: Transaction<'c>,
        statements: &'c mut HashMap<&'static str, Statement>,
        store: &'c PgStore,
        write: bool,
    ) -> Self {
        PgTx {
            t: RefCell::new(Some(t)),
            statements: RefCell::new(statements),
            store,
            key: std::cell::OnceCell::new(),
            write,
            audit_tail: RefCell::new(None),
            appended: Cell::new(false),
            changed: Cell::new(false),
            organization: RefCell::new(None),
            lockouts_seen: RefCell::new(HashMap::new()),
            clients_seen: RefCell::new(HashMap::new()),
            pending_audit: RefCell::new((Vec::new(), Vec::new())),
            pending_users: RefCell::new(std::collections::BTreeMap::new()),
            pending_clients: RefCell::new(std::collections::BTreeMap::new()),
        }
    }

    /// Writes the users written so far.
    fn flush_users(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending_users.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(pending.len());
        let mut records = Vec::with_capacity(pending.len());
        for (k, u) in &pending {
            ids.push(id(*k));
            records.push(self.encode(u)?);
        }
        self.exec(
            "INSERT INTO users (id, record) SELECT * FROM unnest($1::bigint[], $2::bytea[]) ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
            &[&ids, &records],
        )
        .map(drop)
    }

    /// Writes the clients written so far.
    fn flush_clients(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending_clients.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let mut names = Vec::with_capacity(pending.len());
        let mut records = Vec::with_capacity(pending.len());
        for (k, c) in &pending {
            names.push(k.clone());
            records.push(self.encode(c)?);
        }
        self.exec(
            "INSERT INTO clients (name, record) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
            &[&names, &records],
        )
        .map(drop)
    }

    fn refuse_in_read(&self) -> Result<()> {
        if self.write {
            Ok(())
        } else {
            Err(self.corrupt(
                "transaction",
                "a change was attempted in a read-only unit of work".into(),
            ))
        }
    }

    /// Writes the events appended so far.
    fn flush_audit(&self) -> Result<()> {
        let (seqs, records) = std::mem::take(&mut *self.pending_audit.borrow_mut());
        if seqs.is_empty() {
            return Ok(());
        }
        self.exec(
            "INSERT INTO audit (seq, record) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&seqs, &records],
        )
        .map(drop)
    }

    fn err(&self, e: postgres::Error) -> StoreError {
        pg_err(&self.store.loc, e)
    }

    fn corrupt(&self, what: &str, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.store.shown_path().to_path_buf(),
            what: what.to_string(),
            detail,
        }
    }

    fn with_t<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'c>) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut slot = self.t.borrow_mut();
        let t = slot
            .as_mut()
            .ok_or_else(|| self.corrupt("transaction", "used after it ended".into()))?;
        f(t).map_err(|e| self.err(e))
    }

    fn statement(&self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.with_t(|t| t.prepare(sql))?;
        self.statements.borrow_mut().insert(sql, s.clone());
        Ok(s)
    }

    fn rows(&self, sql: &'static str, params: Params<'_>) -> Result<Vec<postgres::Row>> {
        let s = self.statement(sql)?;
        self.with_t(|t| t.query(&s, params))
    }

    fn row(&self, sql: &'static str, params: Params<'_>) -> Result<Option<postgres::Row>> {
        let s = self.statement(sql)?;
        self.with_t(|t| t.query_opt(&s, params))
    }

    fn exec(&self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        self.refuse_in_read()?;
        let s = self.statement(sql)?;
        self.with_t(|t| t.execute(&s, params))
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.with_t(|t| t.batch_execute(sql))
    }

    fn col<'r, T: FromSql<'r>>(&self, row: &'r postgres::Row, i: usize, what: &str) -> Result<T> {
        row.try_get(i)
            .map_err(|e| self.corrupt(what, format!("column {i}: {e}")))
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(what, e.to_string()))
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| self.corrupt("record being written", e.to_string()))
    }

    /// The first column of each row, decoded as a record.
    fn records<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: Params<'_>,
        what: &str,
    ) -> Result<Vec<T>> {
        self.rows(sql, params)?
            .iter()
            .map(|r| self.decode(what, self.col::<&[u8]>(r, 0, what)?))
            .collect()
    }

    fn record<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: Params<'_>,
        what: &str,
    ) -> Result<Option<T>> {
        match self.row(sql, params)? {
            Some(r) => Ok(Some(self.decode(what, self.col::<&[u8]>(&r, 0, what)?)?)),
            None => Ok(None),
        }
    }

    fn table_exists(&self, name: &str) -> Result<bool> {
        let r = self.row(
            "SELECT to_regclass(current_schema() || '.' || $1)::text",
            &[&name],
        )?;
        Ok(match r {
            Some(r) => self.col::<Option<String>>(&r, 0, "table lookup")?.is_some(),
            None => false,
        })
    }

    /// The meta record `key`, when the meta table exists (a database being created has
    /// none yet).
    fn meta_if_present(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if !self.table_exists("meta")? {
            return Ok(None);
        }
        self.meta(key)
    }

    fn audit_tail(&self) -> Result<(u64, String)> {
        if let Some(t) = self.audit_tail.borrow().clone() {
            return Ok(t);
        }
        let key = self.audit_key()?;
        // The head row is locked until commit: appends stay one linear chain.
        let row = self.row(
            "SELECT (SELECT value FROM meta WHERE key = 'audit_chain_head' FOR UPDATE), (SELECT max(seq) FROM audit)",
            &[],
        )?;
        let (head, last) = match row {
            Some(r) => {
                let head = match self.col::<Option<&[u8]>>(&r, 0, "audit chain head")? {
                    Some(b) => Some(self.decode::<ChainHead>("audit chain head", b)?),
                    None => None,
                };
                let last = self.col::<Option<i64>>(&r, 1, "audit")?.map(|v| v as u64);
                (head, last)
            }
            None => (None, None),
        };
        let tail = chain::tail(key, head, last);
        self.audit_tail.replace(Some(tail.clone()));
        Ok(tail)
    }

    /// Moves the chain head and the generation, then commits (a read ends the snapshot).
    fn finish(&self) -> Result<()> {
        if self.write {
            self.flush_audit()?;
            self.flush_users()?;
            self.flush_clients()?;
            let tail = self.audit_tail.borrow().clone();
            if self.appended.get()
                && let Some((seq, mac)) = tail
            {
                let key = self.audit_key()?;
                let head = chain::head(key, seq, &mac)?;
                let bytes = self.encode(&head)?;
                self.put_meta(CHAIN_HEAD_KEY, &bytes)?;
            }
            if self.changed.get() {
                let n = self.generation()? + 1;
                self.put_meta_u64("generation", n)?;
            }
        }
        let t = self
            .t
            .borrow_mut()
            .take()
            .ok_or_else(|| self.corrupt("transaction", "ended twice".into()))?;
        t.commit().map_err(|e| self.err(e))
    }

    fn lockout_of(&self, r: &postgres::Row) -> Result<Lockout> {
        let n = |i| -> Result<u32> { Ok(self.col::<i32>(r, i, "lockout counter")?.max(0) as u32) };
        Ok(Lockout {
            failures: n(0)?,
            locked_until: self.col(r, 1, "lockout counter")?,
            lock_count: n(2)?,
            locked_attempts: n(3)?,
            locked_audit_at: self.col(r, 4, "lockout counter")?,
        })
    }

    /// Rows of a paged scan: `sql` takes the last key seen as `$1`.
    fn pages<T>(
        &self,
        sql: &'static str,
        start: i64,
        mut key_of: impl FnMut(&postgres::Row) -> Result<(i64, T)>,
        f: &mut dyn FnMut(T) -> Result<bool>,
    ) -> Result<()> {
        let mut after = start;
        loop {
            let rows = self.rows(sql, &[&after, &PAGE])?;
            let n = rows.len();
            let mut items = Vec::with_capacity(n);
            for r in &rows {
                let (k, v) = key_of(r)?;
                after = k;
                items.push(v);
            }
            drop(rows);
            for v in items {
                if !f(v)? {
                    return Ok(());
                }
            }
            if (n as i64) < PAGE {
                return Ok(());
            }
        }
    }
}

fn id(v: u64) -> i64 {
    v as i64
}

impl Tx for PgTx<'_> {
    fn key(&self) -> &SecretKey {
        self.key.get_or_init(|| self.store.key())
    }

    fn path(&self) -> &Path {
        Path::new(self.store.loc.shown.as_str())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.row("SELECT value FROM meta WHERE key = $1", &[&key])? {
            Some(r) => Ok(Some(self.col::<Vec<u8>>(&r, 0, "meta")?)),
            None => Ok(None),
        }
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        if key == "organization" {
            self.organization.replace(None);
        }
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .map(drop)
    }

    fn bump_generation(&self) -> Result<()> {
        self.refuse_in_read()?;
        self.changed.set(true);
        Ok(())
    }

    fn organization(&self) -> Result<Organization> {
        if let Some(org) = self.organization.borrow().as_ref() {
            return Ok(org.clone());
        }
        let org: Organization = match self.meta("organization")? {
            Some(v) => self.decode("organization", &v)?,
            None => return Err(self.corrupt("organization", "missing".into())),
        };
        self.organization.replace(Some(org.clone()));
        Ok(org)
    }

    fn put_organization(&self, org: &Organization) -> Result<()> {
        let bytes = self.encode(org)?;
        self.put_meta("organization", &bytes)?;
        self.organization.replace(Some(org.clone()));
        Ok(())
    }

    fn user(&self, uid: u64) -> Result<Option<User>> {
        if let Some(u) = self.pending_users.borrow().get(&uid) {
            return Ok(Some(u.clone()));
        }
        self.record(
            "SELECT record FROM users WHERE id = $1",
            &[&id(uid)],
            "user",
        )
    }

    fn user_id_by_name(&self, normalized: &str) -> Result<Option<u64>> {
        match self.row(
            "SELECT user_id FROM usernames WHERE normalized = $1",
            &[&normalized],
        )? {
            Some(r) => Ok(Some(self.col::<i64>(&r, 0, "username")? as u64)),
            None => Ok(None),
        }
    }

    fn put_user(&self, user: &User) -> Result<()> {
        self.refuse_in_read()?;
        self.pending_users
            .borrow_mut()
            .insert(user.id, user.clone());
        Ok(())
    }

    fn put_username(&self, normalized: &str, uid: u64) -> Result<()> {
        self.exec(
            "INSERT INTO usernames (normalized, user_id) VALUES ($1, $2) ON CONFLICT (normalized) DO UPDATE SET user_id = EXCLUDED.user_id",
            &[&normalized, &id(uid)],
        )
        .map(drop)
    }

    fn remove_username(&self, normalized: &str) -> Result<()> {
        self.exec(
            "DELETE FROM usernames WHERE normalized = $1",
            &[&normalized],
        )
        .map(drop)
    }

    fn claim_username_skeleton(&self, skeleton: &str, uid: u64) -> Result<Option<u64>> {
        if let Some(r) = self.row(
            "SELECT user_id FROM username_skeletons WHERE skeleton = $1 ORDER BY user_id LIMIT 1",
            &[&skeleton],
        )? {
            return Ok(Some(self.col::<i64>(&r, 0, "username skeleton")? as u64));
        }
        self.exec(
            "INSERT INTO username_skeletons (skeleton, user_id) VALUES ($1, $2)",
            &[&skeleton, &id(uid)],
        )?;
        Ok(None)
    }

    fn remove_username_skeleton(&self, skeleton: &str, uid: u64) -> Result<()> {
        self.exec(
            "DELETE FROM username_skeletons WHERE skeleton = $1 AND user_id = $2",
            &[&skeleton, &id(uid)],
        )
        .map(drop)
    }

    fn backfill_username_skeletons(&self) -> Result<usize> {
        let users = self.users()?;
        self.exec("DELETE FROM username_skeletons", &[])?;
        for u in &users {
            self.exec(
                "INSERT INTO username_skeletons (skeleton, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&username_skeleton(&u.username), &id(u.id)],
            )?;
        }
        Ok(users.len())
    }

    fn remove_user_record(&self, uid: u64) -> Result<()> {
        self.pending_users.borrow_mut().remove(&uid);
        self.exec("DELETE FROM users WHERE id = $1", &[&id(uid)])
            .map(drop)
    }

    fn each_user(&self, f: &mut dyn FnMut(User) -> Result<bool>) -> Result<()> {
        self.flush_users()?;
        self.pages(
            "SELECT id, record FROM users WHERE id > $1 ORDER BY id LIMIT $2",
            0,
            |r| {
                let k = self.col::<i64>(r, 0, "user")?;
                Ok((k, self.decode("user", self.col::<&[u8]>(r, 1, "user")?)?))
            },
            f,
        )
    }

    fn users(&self) -> Result<Vec<User>> {
        self.flush_users()?;
        self.records("SELECT record FROM users ORDER BY id", &[], "user")
    }

    fn enrollments_of(&self, user: u64) -> Result<Vec<Enrollment>> {
        self.records(
            "SELECT record FROM enrollments WHERE user_id = $1 ORDER BY id",
            &[&id(user)],
            "enrollment",
        )
    }

    fn all_enrollments(&self) -> Result<Vec<Enrollment>> {
        self.records(
            "SELECT record FROM enrollments ORDER BY user_id, id",
            &[],
            "enrollment",
        )
    }

    fn put_enrollment(&self, e: &Enrollment) -> Result<()> {
        let bytes = self.encode(e)?;
        self.exec(
            "INSERT INTO enrollments (user_id, id, record) VALUES ($1, $2, $3) ON CONFLICT (user_id, id) DO UPDATE SET record = EXCLUDED.record",
            &[&id(e.user_id), &id(e.id), &bytes],
        )
        .map(drop)
    }

    fn remove_enrollment(&self, user: u64, eid: u64) -> Result<bool> {
        Ok(self.exec(
            "DELETE FROM enrollments WHERE user_id = $1 AND id = $2",
            &[&id(user), &id(eid)],
        )? > 0)
    }

    fn recovery_codes(&self, user: u64) -> Result<Vec<(u32, RecoveryCode)>> {
        self.rows(
            "SELECT idx, record FROM recovery_codes WHERE user_id = $1 ORDER BY idx",
            &[&id(user)],
        )?
        .iter()
        .map(|r| {
            let idx = self.col::<i32>(r, 0, "recovery code")?.max(0) as u32;
            let code = self.decode("recovery code", self.col::<&[u8]>(r, 1, "recovery code")?)?;
            Ok((idx, code))
        })
        .collect()
    }

    fn put_recovery_code(&self, user: u64, idx: u32, code: &RecoveryCode) -> Result<()> {
        let bytes = self.encode(code)?;
        self.exec(
            "INSERT INTO recovery_codes (user_id, idx, record) VALUES ($1, $2, $3) ON CONFLICT (user_id, idx) DO UPDATE SET record = EXCLUDED.record",
            &[&id(user), &(idx as i32), &bytes],
        )
        .map(drop)
    }

    fn clear_recovery_codes(&self, user: u64) -> Result<usize> {
        Ok(self.exec(
            "DELETE FROM recovery_codes WHERE user_id = $1",
            &[&id(user)],
        )? as usize)
    }

    fn email_code(&self, user: u64) -> Result<Option<EmailCode>> {
        self.record(
            "SELECT record FROM email_codes WHERE user_id = $1",
            &[&id(user)],
            "email code",
        )
    }

    fn put_email_code(&self, user: u64, c: &EmailCode) -> Result<()> {
        let bytes = self.encode(c)?;
        self.exec(
            "INSERT INTO email_codes (user_id, record) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET record = EXCLUDED.record",
            &[&id(user), &bytes],
        )
        .map(drop)
    }

    fn remove_email_code(&self, user: u64) -> Result<bool> {
        Ok(self.exec("DELETE FROM email_codes WHERE user_id = $1", &[&id(user)])? > 0)
    }

    fn activation_code(&self, user: u64) -> Result<Option<OneTimeCode>> {
        self.record(
            "SELECT record FROM activation_codes WHERE user_id = $1",
            &[&id(user)],
            "activation code",
        )
    }

    fn put_activation_code(&self, user: u64, c: &OneTimeCode) -> Result<()> {
        let bytes = self.encode(c)?;
        self.exec(
            "INSERT INTO activation_codes (user_id, record) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET record = EXCLUDED.record",
            &[&id(user), &bytes],
        )
        .map(drop)
    }

    fn remove_activation_code(&self, user: u64) -> Result<bool> {
        Ok(self.exec(
            "DELETE FROM activation_codes WHERE user_id = $1",
            &[&id(user)],
        )? > 0)
    }

    fn enrollment_code(&self, user: u64) -> Result<Option<OneTimeCode>> {
        self.record(
            "SELECT record FROM enrollment_codes WHERE user_id = $1",
            &[&id(user)],
            "enrollment code",
        )
    }

    fn put_enrollment_code(&self, user: u64, c: &OneTimeCode) -> Result<()> {
        let bytes = self.encode(c)?;
        self.exec(
            "INSERT INTO enrollment_codes (user_id, record) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET record = EXCLUDED.record",
            &[&id(user), &bytes],
        )
        .map(drop)
    }

    fn remove_enrollment_code(&self, user: u64) -> Result<bool> {
        Ok(self.exec(
            "DELETE FROM enrollment_codes WHERE user_id = $1",
            &[&id(user)],
        )? > 0)
    }

    fn trusted_device(&self, user: u64, token_hash: &str) -> Result<Option<TrustedDevice>> {
        self.record(
            "SELECT record FROM trusted_devices WHERE user_id = $1 AND token_hash = $2",
            &[&id(user), &token_hash],
            "trusted device",
        )
    }

    fn put_trusted_device(&self, user: u64, token_hash: &str, d: &TrustedDevice) -> Result<()> {
        let bytes = self.encode(d)?;
        self.exec(
            "INSERT INTO trusted_devices (user_id, token_hash, record) VALUES ($1, $2, $3) ON CONFLICT (user_id, token_hash) DO UPDATE SET record = EXCLUDED.record",
            &[&id(user), &token_hash, &bytes],
        )
        .map(drop)
    }

    fn trusted_device_count(&self, user: u64) -> Result<usize> {
        match self.row(
            "SELECT count(*) FROM trusted_devices WHERE user_id = $1",
            &[&id(user)],
        )? {
            Some(r) => Ok(self.col::<i64>(&r, 0, "trusted devices")?.max(0) as usize),
            None => Ok(0),
        }
    }

    fn clear_trusted_devices(&self, user: u64) -> Result<usize> {
        Ok(self.exec(
            "DELETE FROM trusted_devices WHERE user_id = $1",
            &[&id(user)],
        )? as usize)
    }

    fn clear_all_trusted_devices(&self) -> Result<()> {
        self.exec("DELETE FROM trusted_devices", &[]).map(drop)
    }

    fn reauth_grant(&self, user: u64, session: u64) -> Result<Option<Timestamp>> {
        match self.row(
            "SELECT until_at FROM reauth_grants WHERE user_id = $1 AND session = $2",
            &[&id(user), &id(session)],
        )? {
            Some(r) => Ok(Some(self.col::<i64>(&r, 0, "re-authentication")?)),
            None => Ok(None),
        }
    }

    fn put_reauth_grant(&self, user: u64, session: u64, until: Timestamp) -> Result<()> {
        self.exec(
            "INSERT INTO reauth_grants (user_id, session, until_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, session) DO UPDATE SET until_at = EXCLUDED.until_at",
            &[&id(user), &id(session), &until],
        )
        .map(drop)
    }

    fn clear_reauth_grants(&self, user: u64) -> Result<()> {
        self.exec("DELETE FROM reauth_grants WHERE user_id = $1", &[&id(user)])
            .map(drop)
    }

    fn prune_reauth_grants(&self, now: Timestamp) -> Result<()> {
        self.exec("DELETE FROM reauth_grants WHERE until_at <= $1", &[&now])
            .map(drop)
    }

    fn lockout(&self, normalized: &str) -> Result<Lockout> {
        if let Some(l) = self.lockouts_seen.borrow().get(normalized) {
            return Ok(l.clone());
        }
        let l = match self.row(
            "SELECT failures, locked_until, lock_count, locked_attempts, locked_audit_at FROM lockouts WHERE normalized = $1",
            &[&normalized],
        )? {
            Some(r) => self.lockout_of(&r)?,
            None => Lockout::default(),
        };
        self.lockouts_seen
            .borrow_mut()
            .insert(normalized.to_string(), l.clone());
        Ok(l)
    }

    fn put_lockout(&self, normalized: &str, l: &Lockout) -> Result<()> {
        self.lockouts_seen
            .borrow_mut()
            .insert(normalized.to_string(), l.clone());
        if l.failures == 0 && l.locked_until.is_none() && l.lock_count == 0 {
            return self
                .exec("DELETE FROM lockouts WHERE normalized = $1", &[&normalized])
                .map(drop);
        }
        let n = |v: u32| v.min(i32::MAX as u32) as i32;
        self.exec(
            "INSERT INTO lockouts (normalized, failures, locked_until, lock_count, locked_attempts, locked_audit_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (normalized) DO UPDATE SET failures = EXCLUDED.failures, locked_until = EXCLUDED.locked_until, lock_count = EXCLUDED.lock_count, locked_attempts = EXCLUDED.locked_attempts, locked_audit_at = EXCLUDED.locked_audit_at",
            &[
                &normalized,
                &n(l.failures),
                &l.locked_until,
                &n(l.lock_count),
                &n(l.locked_attempts),
                &l.locked_audit_at,
            ],
        )
        .map(drop)
    }

    fn lockouts(&self) -> Result<Vec<(String, Lockout)>> {
        self.rows(
            "SELECT failures, locked_until, lock_count, locked_attempts, locked_audit_at, normalized FROM lockouts ORDER BY normalized",
            &[],
        )?
        .iter()
        .map(|r| Ok((self.col::<String>(r, 5, "lockout counter")?, self.lockout_of(r)?)))
        .collect()
    }

    fn count_failure(&self, normalized: &str) -> Result<Lockout> {
        let r = self.row(
            "INSERT INTO lockouts (normalized, failures) VALUES ($1, 1) \
             ON CONFLICT (normalized) DO UPDATE SET failures = lockouts.failures + 1 \
             RETURNING failures, locked_until, lock_count, locked_attempts, locked_audit_at",
            &[&normalized],
        )?;
        let l = match r {
            Some(r) => self.lockout_of(&r)?,
            None => {
                return Err(
                    self.corrupt("lockout counter", "the increment returned nothing".into())
                );
            }
        };
        self.lockouts_seen
            .borrow_mut()
            .insert(normalized.to_string(), l.clone());
        Ok(l)
    }

    fn last_totp_step(&self, user: u64) -> Result<Option<u64>> {
        match self.row(
            "SELECT last_step FROM totp_steps WHERE user_id = $1",
            &[&id(user)],
        )? {
            Some(r) => Ok(Some(self.col::<i64>(&r, 0, "TOTP step")? as u64)),
            None => Ok(None),
        }
    }

    fn put_last_totp_step(&self, user: u64, step: u64) -> Result<()> {
        self.exec(
            "INSERT INTO totp_steps (user_id, last_step) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET last_step = EXCLUDED.last_step",
            &[&id(user), &id(step)],
        )
        .map(drop)
    }

    fn remove_last_totp_step(&self, user: u64) -> Result<()> {
        self.exec("DELETE FROM totp_steps WHERE user_id = $1", &[&id(user)])
            .map(drop)
    }

    fn claim_totp_step(&self, user: u64, step: u64) -> Result<bool> {
        let changed = self.exec(
            "INSERT INTO totp_steps (user_id, last_step) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET last_step = EXCLUDED.last_step \
             WHERE totp_steps.last_step < EXCLUDED.last_step",
            &[&id(user), &id(step)],
        )?;
        Ok(changed == 1)
    }

    fn client(&self, name: &str) -> Result<Option<ApiClient>> {
        if let Some(c) = self.clients_seen.borrow().get(name) {
            return Ok(c.clone());
        }
        let c: Option<ApiClient> = self.record(
            "SELECT record FROM clients WHERE name = $1",
            &[&name],
            "API client",
        )?;
        self.clients_seen
            .borrow_mut()
            .insert(name.to_string(), c.clone());
        Ok(c)
    }

    fn client_by_key_hash(&self, key_hash: &str) -> Result<Option<ApiClient>> {
        self.flush_clients()?;
        self.record(
            "SELECT c.record FROM client_keys k JOIN clients c ON c.name = k.name WHERE k.key_hash = $1",
            &[&key_hash],
            "API client",
        )
    }

    fn clients(&self) -> Result<Vec<ApiClient>> {
        self.flush_clients()?;
        self.records(
            "SELECT record FROM clients ORDER BY name",
            &[],
            "API client",
        )
    }

    fn put_client(&self, c: &ApiClient) -> Result<()> {
        let old = self.client(&c.name)?;
        let key_changed = old.as_ref().is_none_or(|o| o.key_hash != c.key_hash);
        if let Some(old) = old.filter(|o| o.key_hash != c.key_hash) {
            self.exec(
                "DELETE FROM client_keys WHERE key_hash = $1",
                &[&old.key_hash],
            )?;
        }
        self.refuse_in_read()?;
        self.pending_clients
            .borrow_mut()
            .insert(c.name.clone(), c.clone());
        if key_changed {
            self.exec(
                "INSERT INTO client_keys (key_hash, name) VALUES ($1, $2) ON CONFLICT (key_hash) DO UPDATE SET name = EXCLUDED.name",
                &[&c.key_hash, &c.name],
            )?;
        }
        self.clients_seen
            .borrow_mut()
            .insert(c.name.clone(), Some(c.clone()));
        Ok(())
    }

    fn remove_client(&self, name: &str) -> Result<bool> {
        self.clients_seen
            .borrow_mut()
            .insert(name.to_string(), None);
        let pending = self.pending_clients.borrow_mut().remove(name).is_some();
        self.exec("DELETE FROM client_keys WHERE name = $1", &[&name])?;
        Ok(self.exec("DELETE FROM clients WHERE name = $1", &[&name])? > 0 || pending)
    }

    fn audit_head(&self) -> Result<Option<AuditEvent>> {
        self.flush_audit()?;
        self.record(
            "SELECT record FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
            "audit event",
        )
    }

    fn chain_head(&self) -> Result<Option<ChainHead>> {
        match self.meta(CHAIN_HEAD_KEY)? {
            Some(bytes) => Ok(Some(self.decode("audit chain head", &bytes)?)),
            None => Ok(None),
        }
    }

    fn audit_key(&self) -> Result<&AuditKey> {
        self.key()
            .audit()
            .ok_or_else(|| chain::no_audit_key(&self.store.loc.key_file))
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
        self.refuse_in_read()?;
        let bytes = self.encode(&e)?;
        {
            let mut pending = self.pending_audit.borrow_mut();
            pending.0.push(id(e.seq));
            pending.1.push(bytes);
        }
        self.audit_tail.replace(Some((e.seq, e.hash)));
        self.appended.set(true);
        Ok(e.seq)
    }

    fn audit_event(&self, seq: u64) -> Result<Option<AuditEvent>> {
        self.flush_audit()?;
        self.record(
            "SELECT record FROM audit WHERE seq = $1",
            &[&id(seq)],
            "audit event",
        )
    }

    fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        self.flush_audit()?;
        self.records("SELECT record FROM audit ORDER BY seq", &[], "audit event")
    }

    fn recent_audit_events(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        self.flush_audit()?;
        let limit = limit.min(i64::MAX as usize) as i64;
        self.records(
            "SELECT record FROM audit ORDER BY seq DESC LIMIT $1",
            &[&limit],
            "audit event",
        )
    }

    fn each_audit_newest_first(&self, f: &mut dyn FnMut(AuditEvent) -> Result<bool>) -> Result<()> {
        self.flush_audit()?;
        self.pages(
            "SELECT seq, record FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
            i64::MAX,
            |r| {
                let k = self.col::<i64>(r, 0, "audit event")?;
                Ok((
                    k,
                    self.decode("audit event", self.col::<&[u8]>(r, 1, "audit event")?)?,
                ))
            },
            f,
        )
    }

    #[doc(hidden)]
    fn overwrite_audit_raw(&self, seq: u64, bytes: &[u8]) -> Result<()> {
        self.flush_audit()?;
        self.exec(
            "INSERT INTO audit (seq, record) VALUES ($1, $2) ON CONFLICT (seq) DO UPDATE SET record = EXCLUDED.record",
            &[&id(seq), &bytes],
        )
        .map(drop)
    }

    fn export_rows(&self, f: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        self.flush_audit()?;
        self.flush_users()?;
        self.flush_clients()?;
        macro_rules! each {
            ($sql:expr, |$r:ident| $row:expr) => {
                for $r in self.rows($sql, &[])?.iter() {
                    f($row)?;
                }
            };
        }
        let bytes = |r: &postgres::Row, i| self.col::<Vec<u8>>(r, i, "row");
        let int = |r: &postgres::Row, i| Ok::<_, StoreError>(self.col::<i64>(r, i, "row")? as u64);
        let text = |r: &postgres::Row, i| self.col::<String>(r, i, "row");
        each!("SELECT key, value FROM meta ORDER BY key", |r| Row::Meta(
            text(r, 0)?,
            bytes(r, 1)?
        ));
        each!("SELECT id, record FROM users ORDER BY id", |r| Row::User(
            int(r, 0)?,
            bytes(r, 1)?
        ));
        each!(
            "SELECT normalized, user_id FROM usernames ORDER BY normalized",
            |r| Row::Username(text(r, 0)?, int(r, 1)?)
        );
        each!(
            "SELECT skeleton, user_id FROM username_skeletons ORDER BY skeleton, user_id",
            |r| Row::UsernameSkeleton(text(r, 0)?, int(r, 1)?)
        );
        each!(
            "SELECT user_id, id, record FROM enrollments ORDER BY user_id, id",
            |r| Row::Enrollment(int(r, 0)?, int(r, 1)?, bytes(r, 2)?)
        );
        each!(
            "SELECT user_id, idx, record FROM recovery_codes ORDER BY user_id, idx",
            |r| Row::RecoveryCode(
                int(r, 0)?,
                self.col::<i32>(r, 1, "row")?.max(0) as u32,
                bytes(r, 2)?
            )
        );
        each!(
            "SELECT user_id, record FROM email_codes ORDER BY user_id",
            |r| Row::EmailCode(int(r, 0)?, bytes(r, 1)?)
        );
        each!(
            "SELECT user_id, record FROM activation_codes ORDER BY user_id",
            |r| Row::ActivationCode(int(r, 0)?, bytes(r, 1)?)
        );
        each!(
            "SELECT user_id, record FROM enrollment_codes ORDER BY user_id",
            |r| Row::EnrollmentCode(int(r, 0)?, bytes(r, 1)?)
        );
        each!(
            "SELECT user_id, token_hash, record FROM trusted_devices ORDER BY user_id, token_hash",
            |r| Row::TrustedDevice(int(r, 0)?, text(r, 1)?, bytes(r, 2)?)
        );
        each!(
            "SELECT user_id, session, until_at FROM reauth_grants ORDER BY user_id, session",
            |r| Row::ReauthGrant(int(r, 0)?, int(r, 1)?, self.col::<i64>(r, 2, "row")?)
        );
        for (k, l) in self.lockouts()? {
            f(Row::Lockout(k, l))?;
        }
        each!(
            "SELECT user_id, last_step FROM totp_steps ORDER BY user_id",
            |r| Row::TotpStep(int(r, 0)?, int(r, 1)?)
        );
        each!(
            "SELECT seq, record FROM audit ORDER BY seq",
            |r| Row::Audit(int(r, 0)?, bytes(r, 1)?)
        );
        each!("SELECT name, record FROM clients ORDER BY name", |r| {
            Row::Client(text(r, 0)?, bytes(r, 1)?)
        });
        each!(
            "SELECT key_hash, name FROM client_keys ORDER BY key_hash",
            |r| Row::ClientKey(text(r, 0)?, text(r, 1)?)
        );
        Ok(())
    }

    fn import_rows(&self, rows: Vec<Row>) -> Result<()> {
        // The many rows go in one statement per table and batch; the few one by one.
        let mut users = (Vec::new(), Vec::new());
        let mut usernames = (Vec::new(), Vec::new());
        let mut skeletons = (Vec::new(), Vec::new());
        let mut activation = (Vec::new(), Vec::new());
        let mut audit = (Vec::new(), Vec::new());
        let mut enrollments = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            match row {
                Row::User(k, v) => {
                    users.0.push(id(k));
                    users.1.push(v);
                }
                Row::Username(n, u) => {
                    usernames.0.push(n);
                    usernames.1.push(id(u));
                }
                Row::UsernameSkeleton(s, u) => {
                    skeletons.0.push(s);
                    skeletons.1.push(id(u));
                }
                Row::ActivationCode(u, v) => {
                    activation.0.push(id(u));
                    activation.1.push(v);
                }
                Row::Audit(k, v) => {
                    audit.0.push(id(k));
                    audit.1.push(v);
                }
                Row::Enrollment(u, i, v) => {
                    enrollments.0.push(id(u));
                    enrollments.1.push(id(i));
                    enrollments.2.push(v);
                }
                other => self.import_row(other)?,
            }
        }
        if !users.0.is_empty() {
            self.exec(
                "INSERT INTO users (id, record) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                &[&users.0, &users.1],
            )?;
        }
        if !usernames.0.is_empty() {
            self.exec(
                "INSERT INTO usernames (normalized, user_id) SELECT * FROM unnest($1::text[], $2::bigint[])",
                &[&usernames.0, &usernames.1],
            )?;
        }
        if !skeletons.0.is_empty() {
            self.exec(
                "INSERT INTO username_skeletons (skeleton, user_id) SELECT * FROM unnest($1::text[], $2::bigint[])",
                &[&skeletons.0, &skeletons.1],
            )?;
        }
        if !activation.0.is_empty() {
            self.exec(
                "INSERT INTO activation_codes (user_id, record) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                &[&activation.0, &activation.1],
            )?;
        }
        if !audit.0.is_empty() {
            self.exec(
                "INSERT INTO audit (seq, record) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                &[&audit.0, &audit.1],
            )?;
        }
        if !enrollments.0.is_empty() {
            self.exec(
                "INSERT INTO enrollments (user_id, id, record) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])",
                &[&enrollments.0, &enrollments.1, &enrollments.2],
            )?;
        }
        Ok(())
    }

    fn import_row(&self, row: Row) -> Result<()> {
        let done = |r: Result<u64>| r.map(drop);
        match row {
            Row::Meta(k, v) => self.put_meta(&k, &v),
            Row::User(k, v) => done(self.exec(
                "INSERT INTO users (id, record) VALUES ($1, $2)",
                &[&id(k), &v],
            )),
            Row::Username(k, v) => self.put_username(&k, v),
            Row::UsernameSkeleton(s, u) => done(self.exec(
                "INSERT INTO username_skeletons (skeleton, user_id) VALUES ($1, $2)",
                &[&s, &id(u)],
            )),
            Row::Enrollment(u, i, v) => done(self.exec(
                "INSERT INTO enrollments (user_id, id, record) VALUES ($1, $2, $3)",
                &[&id(u), &id(i), &v],
            )),
            Row::RecoveryCode(u, i, v) => done(self.exec(
                "INSERT INTO recovery_codes (user_id, idx, record) VALUES ($1, $2, $3)",
                &[&id(u), &(i as i32), &v],
            )),
            Row::EmailCode(u, v) => done(self.exec(
                "INSERT INTO email_codes (user_id, record) VALUES ($1, $2)",
                &[&id(u), &v],
            )),
            Row::ActivationCode(u, v) => done(self.exec(
                "INSERT INTO activation_codes (user_id, record) VALUES ($1, $2)",
                &[&id(u), &v],
            )),
            Row::EnrollmentCode(u, v) => done(self.exec(
                "INSERT INTO enrollment_codes (user_id, record) VALUES ($1, $2)",
                &[&id(u), &v],
            )),
            Row::TrustedDevice(u, h, v) => done(self.exec(
                "INSERT INTO trusted_devices (user_id, token_hash, record) VALUES ($1, $2, $3)",
                &[&id(u), &h, &v],
            )),
            Row::ReauthGrant(u, s, until) => self.put_reauth_grant(u, s, until),
            Row::Lockout(k, l) => self.put_lockout(&k, &l),
            Row::TotpStep(u, s) => self.put_last_totp_step(u, s),
            Row::Audit(k, v) => self.overwrite_audit_raw(k, &v),
            Row::Client(k, v) => done(self.exec(
                "INSERT INTO clients (name, record) VALUES ($1, $2)",
                &[&k, &v],
            )),
            Row::ClientKey(k, v) => done(self.exec(
                "INSERT INTO client_keys (key_hash, name) VALUES ($1, $2)",
                &[&k, &v],
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_url_is_shown_without_a_password_and_one_inside_it_is_refused() {
        let key = PathBuf::from("/etc/mfa-console/mfa-console.key");
        let pw = Some(Zeroizing::new("s3cret".to_string()));
        let l = PgLocation::parse("postgresql://mfa@db.example:6543/org", pw, key.clone()).unwrap();
        assert_eq!(l.shown(), "postgresql://mfa@db.example:6543/org");
        assert_eq!(l.host(), "db.example:6543");
        assert!(!format!("{l:?}").contains("s3cret"));
        let e = PgLocation::parse("postgresql://mfa:s3cret@db.example/org", None, key.clone())
            .unwrap_err();
        assert!(
            e.contains("holds a password") && e.contains("password_file"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "the refusal does not repeat it: {e}");
        let e = PgLocation::parse("postgresql://db.example/org", None, key.clone()).unwrap_err();
        assert!(e.contains("names no user"), "{e}");
        assert!(PgLocation::is_url("postgres://a@b/c") && !PgLocation::is_url("/srv/org.redb"));
    }

    #[test]
    fn an_unreachable_server_is_named_with_what_to_do() {
        let key = PathBuf::from("/tmp/none.key");
        // Nothing listens on port 1 of loopback.
        let l = PgLocation::parse("postgresql://mfa@127.0.0.1:1/org", None, key).unwrap();
        let e = match l.config.connect(NoTls) {
            Ok(_) => return,
            Err(e) => pg_err(&l, e),
        };
        let text = e.to_string();
        assert!(
            text.contains("the database server at 127.0.0.1:1 is not reachable"),
            "{text}"
        );
        assert!(text.contains("check that PostgreSQL runs there"), "{text}");
    }
}
