//! The one redb file that holds everything, and its typed tables.
//!
//! Concurrency model: every process opens the file in redb's multi-writer mode, read-only,
//! and keeps it open: reads run on a snapshot and never wait, however long another
//! process's write lasts. Writes go through a second, writable handle opened when the
//! first write comes, and every write first takes our own writer lock (`<db>.lock`, see
//! [`lock`]) with a deadline of [`busy_timeout`]: a writer that cannot get it in time says
//! the database is busy and which process holds it, instead of waiting without bound. So
//! any number of consoles and commands share one database, none fails because another is
//! open, and no write is lost. Each commit is durable before it returns, and the next
//! transaction of any other process sees it. Within one process, opening the same path
//! again shares the handles.
//!
//! Every call into the engine runs inside [`guard::catch`]: a panic on a damaged file
//! becomes [`StoreError::Damaged`], and this process refuses further writes to that file.

pub mod chain;
pub mod crypto;
pub mod guard;
pub mod lock;
mod migrate;
mod pg;
pub mod records;
mod tx;

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase,
    ReadableTable, TableDefinition, TransactionError,
};

use lock::WriterLock;

pub use crypto::{AuditKey, SecretKey, key_path, staged_beside, staged_key_path};
pub use pg::PgLocation;
pub use records::*;
use tx::RedbTx;
pub use tx::{Row, Tx};

/// The schema this build reads and writes. Older files are migrated forward on open.
pub const SCHEMA_VERSION: u64 = 3;
/// How long a write waits for another process to release the database, unless the
/// environment says otherwise (`MFA_CONSOLE_BUSY_SECONDS`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The wait before a write gives up: `MFA_CONSOLE_BUSY_SECONDS` (0–3600) or [`BUSY_TIMEOUT`].
pub fn busy_timeout() -> Duration {
    std::env::var("MFA_CONSOLE_BUSY_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
        .map(Duration::from_secs_f64)
        .unwrap_or(BUSY_TIMEOUT)
}

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const USERS: TableDefinition<u64, &[u8]> = TableDefinition::new("users");
pub(crate) const USERNAMES: TableDefinition<&str, u64> = TableDefinition::new("usernames");
/// (confusable skeleton of the username, user id): finds a username that looks like
/// another without reading every user.
pub(crate) const USERNAME_SKELETONS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("username_skeletons");
pub(crate) const ENROLLMENTS: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("enrollments");
pub(crate) const RECOVERY_CODES: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("recovery_codes");
pub(crate) const EMAIL_CODES: TableDefinition<u64, &[u8]> = TableDefinition::new("email_codes");
pub(crate) const ACTIVATION_CODES: TableDefinition<u64, &[u8]> =
    TableDefinition::new("activation_codes");
pub(crate) const ENROLLMENT_CODES: TableDefinition<u64, &[u8]> =
    TableDefinition::new("enrollment_codes");
pub(crate) const TRUSTED_DEVICES: TableDefinition<(u64, &str), &[u8]> =
    TableDefinition::new("trusted_devices");
pub(crate) const REAUTH_GRANTS: TableDefinition<(u64, u64), i64> =
    TableDefinition::new("reauth_grants");
pub(crate) const LOCKOUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("lockouts");
pub(crate) const TOTP_STEPS: TableDefinition<u64, u64> = TableDefinition::new("totp_steps");
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// API clients of the authentication service, by name (schema 3).
pub(crate) const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
/// (SHA-256 of an API key, hexadecimal) → the client's name.
pub(crate) const CLIENT_KEYS: TableDefinition<&str, &str> = TableDefinition::new("client_keys");

const MAGIC_KEY: &str = "product";
const MAGIC: &[u8] = b"mfa-console";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no database at {0}: create one with `mfa-console --db {0} init ...`, or check the --db path"
    )]
    NotFound(PathBuf),
    #[error("{0} already exists: choose another path, or move the old file away first")]
    AlreadyExists(PathBuf),
    #[error(
        "{0} is not an mfa-console database (not a redb file): check the --db path, or restore it from a backup"
    )]
    NotADatabase(PathBuf),
    #[error("{0} is a redb file but not an mfa-console database: check the --db path")]
    ForeignDatabase(PathBuf),
    #[error(
        "{path} was written by a newer mfa-console (schema {found}, this build reads up to {SCHEMA_VERSION}): upgrade mfa-console"
    )]
    NewerSchema { path: PathBuf, found: u64 },
    #[error(
        "the database {path} is busy: {who}; try again when it is done, or stop it if it hangs",
        who = holder.clone().unwrap_or_else(|| format!("another process has been writing to it for over {waited} s"))
    )]
    Busy {
        path: PathBuf,
        waited: u64,
        holder: Option<String>,
    },
    #[error(
        "the database {path} is damaged ({detail}); restore it from a backup (`mfa-console backup` makes one) or run `mfa-console check`"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "the database {path} was found damaged by `mfa-console check` ({detail}), so changes are refused: restore it from a backup (`mfa-console backup` makes one), then run `mfa-console check`"
    )]
    WritesRefused { path: PathBuf, detail: String },
    #[error("{0} is a folder, not a database file: give the path of the database file with --db")]
    IsAFolder(PathBuf),
    #[error(
        "cannot open {path}: permission denied; run mfa-console as the account that owns the database (see `ls -l {path}`), or fix the file's permissions"
    )]
    PermissionDenied { path: PathBuf },
    #[error(
        "cannot write to {path}: it is on a read-only file system; remount it read-write or move the database to a writable disk (reading still works)"
    )]
    ReadOnlyFileSystem { path: PathBuf },
    #[error(
        "key file {0} is missing: the TOTP secrets cannot be read without it; restore it from the backup taken with the database"
    )]
    KeyFileMissing(PathBuf),
    #[error("key file {0} can be read by other users: run `chmod 600 {0}` and try again")]
    KeyFileTooOpen(PathBuf),
    #[error(
        "key file {0} is not a valid key (expected the lines `sealing-key HEX` and `audit-key HEX`, 64 hexadecimal characters each): restore it from a backup"
    )]
    KeyFileInvalid(PathBuf),
    #[error(
        "key file {0} does not belong to this database: restore the matching key file from a backup"
    )]
    KeyMismatch(PathBuf),
    #[error(
        "key file {key} has no audit key, but the audit chain of {db} is keyed with one: restore the key file from the backup taken with the database"
    )]
    NoAuditKey { key: PathBuf, db: PathBuf },
    #[error("key file {path}: {source}")]
    KeyFileIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Db { path: PathBuf, source: redb::Error },
    #[error(
        "database {path}: damaged record in {what}: {detail}; run `mfa-console check` and restore from a backup if it fails"
    )]
    Corrupt {
        path: PathBuf,
        what: String,
        detail: String,
    },
    #[error(
        "a sealed secret could not be decrypted: the key file does not match or the record is damaged; run `mfa-console check`"
    )]
    Crypto,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error(
        "the database server at {host} is not reachable ({detail}): check that PostgreSQL runs there and accepts connections from this host, then try again"
    )]
    Unreachable { host: String, detail: String },
    #[error("database {at}: {detail}")]
    Postgres { at: String, detail: String },
}

impl From<crate::random::RandomError> for StoreError {
    fn from(_: crate::random::RandomError) -> Self {
        StoreError::Random
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the open database and its key. Cheap to clone; clones share the handle.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Redb(RedbStore),
    Postgres(Arc<pg::PgStore>),
}

/// Where a database is: a redb file, or a PostgreSQL database several hosts share.
#[derive(Clone, Debug)]
pub enum Location {
    File(PathBuf),
    Postgres(Box<PgLocation>),
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Location::File(p.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Self {
        Location::File(p.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Location::File(p)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Self {
        l.clone()
    }
}

impl Location {
    /// As shown on screen and in logs (a PostgreSQL URL never with its password).
    pub fn shown(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(l) => l.shown().to_string(),
        }
    }

    /// What names this database in files kept about it (remembered terminals, the log's
    /// chain heads): the file's path, or the URL as shown.
    pub fn identity(&self) -> PathBuf {
        match self {
            Location::File(p) => p.clone(),
            Location::Postgres(l) => PathBuf::from(l.shown()),
        }
    }

    /// The key file the database's secrets are sealed with.
    pub fn key_file(&self) -> PathBuf {
        match self {
            Location::File(p) => key_path(p),
            Location::Postgres(l) => l.key_file().to_path_buf(),
        }
    }
}

/// The redb file's handle.
#[derive(Clone)]
pub(crate) struct RedbStore {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// The read-only handle every read uses.
    reader: ReadOnlyDatabase,
    /// The writable handle and our writer lock, opened at the first write. The mutex orders
    /// this process's writers; the lock file orders processes.
    writer: Mutex<Writer>,
    keys: crypto::Keys,
    /// Set when the engine panicked on this file: later writes are refused.
    damaged: Mutex<Option<String>>,
    /// The thread that begins read transactions, so that a read can stop waiting for the
    /// engine's header lock; started at the first read.
    begins: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Writer {
    lock: Option<WriterLock>,
    db: Option<Database>,
}

impl Writer {
    /// Our writer lock held (opened at first use), then the writable handle (opened under
    /// it, so the engine's own writer lock, which that open takes without a deadline, is
    /// free).
    fn hold(
        &mut self,
        path: &Path,
        started: Instant,
        deadline: Instant,
    ) -> Result<(lock::Held<'_>, &mut Database)> {
        let lock = match self.lock.take() {
            Some(l) => l,
            None => WriterLock::open(path)?,
        };
        let held = self.lock.insert(lock).acquire(started, deadline)?;
        let db = match self.db.take() {
            Some(d) => d,
            None => open_writer(path)?,
        };
        Ok((held, self.db.insert(db)))
    }
}

/// Databases this process has open, so a second open of one path shares the handle.
static OPEN: Mutex<Vec<(PathBuf, Weak<Shared>)>> = Mutex::new(Vec::new());

fn registered(path: &Path) -> Option<Arc<Shared>> {
    let canon = fs::canonicalize(path).ok()?;
    let mut open = OPEN.lock().ok()?;
    open.retain(|(_, w)| w.strong_count() > 0);
    open.iter()
        .find(|(p, _)| *p == canon)
        .and_then(|(_, w)| w.upgrade())
}

fn register(shared: &Arc<Shared>) {
    if let (Ok(canon), Ok(mut open)) = (fs::canonicalize(&shared.path), OPEN.lock()) {
        open.push((canon, Arc::downgrade(shared)));
    }
}

fn builder() -> Builder {
    let mut b = Builder::new();
    b.set_concurrency_mode(ConcurrencyMode::MultiWriter);
    // Scans of 100,000 users gain little from a large cache; a console stays lean.
    b.set_cache_size(8 * 1024 * 1024);
    b
}

/// Runs engine work at the store boundary: a panic becomes [`StoreError::Damaged`].
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    guard::catch(f).unwrap_or_else(|detail| {
        Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail: format!("the storage engine stopped on it: {detail}"),
        })
    })
}

/// The `<database>.damaged` marker `check` leaves on a file it found damaged.
pub fn damaged_marker_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".damaged");
    PathBuf::from(p)
}

impl RedbStore {
    /// Creates a new database with its key file (both mode 0600) and runs `init` in the
    /// first write transaction.
    fn create(
        path: &Path,
        key: Option<SecretKey>,
        init: impl FnOnce(&dyn Tx) -> Result<()>,
    ) -> Result<RedbStore> {
        if path.is_dir() {
            return Err(StoreError::IsAFolder(path.to_path_buf()));
        }
        if path.exists() {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let kpath = key_path(path);
        if kpath.exists() {
            return Err(StoreError::AlreadyExists(kpath));
        }
        // Create the file ourselves so its mode is 0600 from the first byte on.
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let key = match key {
            Some(k) => k,
            None => SecretKey::generate()?,
        };
        let result = (|| {
            key.write_new(&kpath)?;
            let fingerprint = key.fingerprint();
            let lock = WriterLock::open(path)?;
            let db = guarded(path, || {
                builder().create(path).map_err(|e| db_err(path, e.into()))
            })?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(|e| io_err(path, e))?;
            let reader = open_reader(path)?;
            let store = RedbStore::from_parts(
                path,
                reader,
                Writer {
                    lock: Some(lock),
                    db: Some(db),
                },
                key,
            );
            store.write_redb(|tx| {
                tx.create_tables()?;
                tx.put_meta(MAGIC_KEY, MAGIC)?;
                tx.put_meta_u64("schema_version", SCHEMA_VERSION)?;
                tx.put_meta("key_id", fingerprint.as_bytes())?;
                init(tx)
            })?;
            Ok(store)
        })();
        if result.is_err() {
            let _ = fs::remove_file(path);
            let _ = fs::remove_file(&kpath);
            let _ = fs::remove_file(lock::lock_path(path));
        }
        result
    }

    fn from_parts(
        path: &Path,
        reader: ReadOnlyDatabase,
        writer: Writer,
        key: SecretKey,
    ) -> RedbStore {
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            reader,
            writer: Mutex::new(writer),
            keys: crypto::Keys::new(key),
            damaged: Mutex::new(None),
            begins: Mutex::new(None),
        });
        register(&shared);
        RedbStore { shared }
    }

    /// Opens an existing database: checks it is ours, reads and checks the key file,
    /// finishes an interrupted key rotation, and migrates an older schema forward. Never
    /// waits for another process's write, except to repair a file left by a crash.
    fn open(path: &Path) -> Result<RedbStore> {
        if path.is_dir() {
            return Err(StoreError::IsAFolder(path.to_path_buf()));
        }
        if !path.exists() {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        if let Some(shared) = registered(path) {
            return Ok(RedbStore { shared });
        }
        let (reader, writer) = match open_reader(path) {
            Ok(r) => (r, Writer::default()),
            // A writer died part-way: the next writable open repairs the file, under our lock.
            Err(StoreError::Db {
                source: redb::Error::RepairAborted,
                ..
            }) => {
                let writer = repair(path)?;
                (open_reader(path)?, writer)
            }
            Err(e) => return Err(e),
        };
        let (magic, version, key_id) = guarded(path, || {
            let rtx = reader.begin_read().map_err(|e| db_err(path, e.into()))?;
            match rtx.open_table(META) {
                Ok(t) => {
                    let get = |k: &str| -> Result<Option<Vec<u8>>> {
                        Ok(t.get(k)
                            .map_err(|e| db_err(path, e.into()))?
                            .map(|v| v.value().to_vec()))
                    };
                    Ok((get(MAGIC_KEY)?, get("schema_version")?, get("key_id")?))
                }
                Err(redb::TableError::TableDoesNotExist(_)) => Ok((None, None, None)),
                Err(e) => Err(db_err(path, e.into())),
            }
        })?;
        if magic.as_deref() != Some(MAGIC) {
            return Err(StoreError::ForeignDatabase(path.to_path_buf()));
        }
        let version = version
            .and_then(|v| v.try_into().ok().map(u64::from_le_bytes))
            .ok_or_else(|| StoreError::ForeignDatabase(path.to_path_buf()))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let key_id = String::from_utf8(key_id.unwrap_or_default()).unwrap_or_default();
        let key = load_key(&key_path(path), &key_id)?;
        let store = RedbStore::from_parts(path, reader, writer, key);
        migrate::bring_up_to_date(&store, version)?;
        Ok(store)
    }

    fn path(&self) -> &Path {
        &self.shared.path
    }

    fn key(&self) -> Arc<SecretKey> {
        self.shared.keys.get()
    }

    /// The key for a transaction that sees `key_id` in the database.
    fn key_for(&self, key_id: Option<Vec<u8>>) -> Result<Arc<SecretKey>> {
        self.shared
            .keys
            .for_id(key_id, &key_path(self.path()), load_key)
    }

    fn mark_damaged(&self, e: &StoreError) {
        if let StoreError::Damaged { detail, .. } = e
            && let Ok(mut d) = self.shared.damaged.lock()
        {
            *d = Some(detail.clone());
        }
    }

    /// Refuses a change to a file this process saw the engine fail on, or that `check`
    /// found damaged.
    fn refuse_if_damaged(&self) -> Result<()> {
        let path = self.path();
        if let Some(detail) = self.shared.damaged.lock().ok().and_then(|d| d.clone()) {
            return Err(StoreError::Damaged {
                path: path.to_path_buf(),
                detail,
            });
        }
        // One open per write: the marker is usually absent, and then this is the whole cost.
        match crate::bounded::read(&damaged_marker_path(path), 1024) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            found => Err(StoreError::WritesRefused {
                path: path.to_path_buf(),
                detail: found
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                    .unwrap_or_default(),
            }),
        }
    }

    /// One read-only unit of work on a snapshot; never waits for writers. The engine takes
    /// a short shared lock on the file's header to begin it; a writer stopped inside a
    /// commit (SIGSTOP, a stalled disk) holds that lock, so the wait for it is bounded.
    fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let path = self.path();
        let rtx = self.begin_read_bounded()?;
        let run = || -> std::result::Result<T, E> {
            let id = key_id_in(
                &rtx.open_table(META).map_err(|e| db_err(path, e.into()))?,
                path,
            )?;
            let tx = RedbTx::read(rtx, path, self.key_for(id)?);
            f(&tx)
        };
        match guard::catch(run) {
            Ok(r) => r,
            Err(detail) => {
                let e = StoreError::Damaged {
                    path: path.to_path_buf(),
                    detail: format!("the storage engine stopped on it: {detail}"),
                };
                self.mark_damaged(&e);
                Err(e.into())
            }
        }
    }

    /// Begins a read on this database's begin thread and waits for it until the busy
    /// timeout (see [`bounded`]; one long-lived thread rather than one per read).
    fn begin_read_bounded(&self) -> Result<redb::ReadTransaction> {
        let path = self.path();
        let started = Instant::now();
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let shared = Arc::clone(&self.shared);
        let job: Job = Box::new(move || {
            let r = guarded(&shared.path, || {
                shared
                    .reader
                    .begin_read()
                    .map_err(|e| db_err(&shared.path, e.into()))
            });
            let _ = reply.send(r);
        });
        {
            let mut begins = self.shared.begins.lock().unwrap_or_else(|p| p.into_inner());
            // A thread that ended (it cannot, short of a bug) hands the job back.
            let job = match begins.as_ref() {
                Some(s) => s.send(job).err().map(|std::sync::mpsc::SendError(job)| job),
                None => Some(job),
            };
            if let Some(job) = job {
                let (send, receive) = std::sync::mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name("database reads".into())
                    .spawn(move || {
                        while let Ok(job) = receive.recv() {
                            job();
                        }
                    })
                    .map_err(|e| io_err(path, e))?;
                let _ = send.send(job);
                *begins = Some(send);
            }
        }
        match answer.recv_timeout(busy_timeout()) {
            Ok(r) => r,
            Err(_) => Err(stuck_in_commit(path, started)),
        }
    }

    /// One atomic, durable unit of work: committed with immediate durability when `f`
    /// returns `Ok`, rolled back entirely otherwise. Waits at most [`busy_timeout`] for
    /// other writers, then fails with [`StoreError::Busy`].
    fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.write_redb(|tx| f(tx))
    }

    /// [`RedbStore::write`] with the engine's own transaction, for the store's own work
    /// (creating tables, migrations).
    pub(super) fn write_redb<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&RedbTx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.refuse_if_damaged()?;
        let path = self.path();
        let started = Instant::now();
        let deadline = started + busy_timeout();
        let mut slot = lock_until(&self.shared.writer, path, started, deadline)?;
        let run = |slot: &mut Writer| -> std::result::Result<T, E> {
            let (_held, db) = slot.hold(path, started, deadline)?;
            let wtx = begin_write_with_retry(db, path, started, deadline)?;
            let id = key_id_in(
                &wtx.open_table(META).map_err(|e| db_err(path, e.into()))?,
                path,
            )?;
            let tx = RedbTx::write(wtx, path, self.key_for(id)?);
            match f(&tx) {
                Ok(v) => {
                    tx.commit()?;
                    Ok(v)
                }
                Err(e) => {
                    tx.abort()?;
                    Err(e)
                }
            }
        };
        match guard::catch(|| run(&mut slot)) {
            Ok(r) => r,
            Err(detail) => {
                // The writable handle may be left inconsistent: let it go.
                let _ = guard::catch(|| slot.db.take());
                let e = StoreError::Damaged {
                    path: path.to_path_buf(),
                    detail: format!("the storage engine stopped on it: {detail}"),
                };
                self.mark_damaged(&e);
                Err(e.into())
            }
        }
    }

    /// redb's structural check of the file (page checksums, the allocator, every tree).
    /// Takes the writer lock like a write; reads go on meanwhile. A
    /// failure leaves the `<database>.damaged` marker, so every process refuses changes
    /// until a check passes again; a pass removes it.
    fn check_integrity(&self) -> Result<bool> {
        let path = self.path();
        let started = Instant::now();
        let deadline = started + busy_timeout();
        let mut slot = lock_until(&self.shared.writer, path, started, deadline)?;
        let outcome = guarded(path, || {
            let (_held, db) = slot.hold(path, started, deadline)?;
            db.check_integrity().map_err(|e| db_err(path, e.into()))
        });
        let marker = damaged_marker_path(path);
        match &outcome {
            Ok(true) => {
                if marker.exists() {
                    fs::remove_file(&marker).map_err(|e| io_err(&marker, e))?;
                }
                if let Ok(mut d) = self.shared.damaged.lock() {
                    *d = None;
                }
            }
            Ok(false) => write_marker(&marker, "redb found damage and repaired what it could"),
            // Damage, not a busy database or a refused file: the handle goes, the mark stays.
            Err(StoreError::Damaged { detail, .. }) => {
                let _ = guard::catch(|| slot.db.take());
                write_marker(&marker, detail);
            }
            Err(_) => {}
        }
        outcome
    }

    /// Copies the database to `dest` while holding the writer lock (so no write lands
    /// half-way), and the key file to `dest.key`, both mode 0600.
    fn backup(&self, dest: &Path) -> Result<()> {
        let dest_key = key_path(dest);
        for p in [dest, dest_key.as_path()] {
            if p.exists() {
                return Err(StoreError::AlreadyExists(p.to_path_buf()));
            }
        }
        let copy = |from: &Path, to: &Path| -> Result<()> {
            let mut src = fs::File::open(from).map_err(|e| io_err(from, e))?;
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(to)
                .map_err(|e| io_err(to, e))?;
            std::io::copy(&mut src, &mut out).map_err(|e| io_err(to, e))?;
            out.sync_all().map_err(|e| io_err(to, e))
        };
        let path = self.path();
        let started = Instant::now();
        let deadline = started + busy_timeout();
        {
            let mut slot = lock_until(&self.shared.writer, path, started, deadline)?;
            let _held = guarded(path, || slot.hold(path, started, deadline))?;
            let copied = copy(path, dest);
            if copied.is_err() {
                let _ = fs::remove_file(dest);
            }
            copied?;
        }
        copy(&key_path(path), &dest_key)?;
        Ok(())
    }
    fn set_key(&self, key: SecretKey) {
        self.shared.keys.set(key);
    }
}

impl Store {
    /// Creates a new database with a new key file (mode 0600) and runs `init` in its first
    /// write transaction. A file must not exist yet; a PostgreSQL database must exist and
    /// be empty.
    pub fn create(
        at: impl Into<Location>,
        init: impl FnOnce(&dyn Tx) -> Result<()>,
    ) -> Result<Store> {
        Self::create_with_key(&at.into(), None, init)
    }

    /// [`Store::create`] sealing with `key` (a copy keeps its source's key) instead of a new
    /// one.
    pub fn create_with_key(
        at: &Location,
        key: Option<SecretKey>,
        init: impl FnOnce(&dyn Tx) -> Result<()>,
    ) -> Result<Store> {
        let backend = match at {
            Location::File(p) => Backend::Redb(RedbStore::create(p, key, init)?),
            Location::Postgres(l) => {
                Backend::Postgres(Arc::new(pg::PgStore::create(l, key, init)?))
            }
        };
        Ok(Store { backend })
    }

    /// Opens an existing database: checks it is ours, reads and checks the key file,
    /// finishes an interrupted key rotation, and migrates an older schema forward.
    pub fn open(at: impl Into<Location>) -> Result<Store> {
        let backend = match &at.into() {
            Location::File(p) => Backend::Redb(RedbStore::open(p)?),
            Location::Postgres(l) => Backend::Postgres(Arc::new(pg::PgStore::open(l)?)),
        };
        Ok(Store { backend })
    }

    /// Where the database is, as shown (a file's path, or the PostgreSQL URL without a
    /// password).
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Redb(r) => r.path(),
            Backend::Postgres(p) => p.shown_path(),
        }
    }

    pub fn location(&self) -> Location {
        match &self.backend {
            Backend::Redb(r) => Location::File(r.path().to_path_buf()),
            Backend::Postgres(p) => Location::Postgres(Box::new(p.location().clone())),
        }
    }

    /// Whether this is a PostgreSQL database (shared by several hosts).
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    pub fn key(&self) -> Arc<SecretKey> {
        match &self.backend {
            Backend::Redb(r) => r.key(),
            Backend::Postgres(p) => p.key(),
        }
    }

    /// The key file on this host.
    pub fn key_file(&self) -> PathBuf {
        self.location().key_file()
    }

    /// One read-only unit of work on a snapshot; never waits for writers.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        match &self.backend {
            Backend::Redb(r) => r.read(f),
            Backend::Postgres(p) => p.read(f),
        }
    }

    /// One atomic, durable unit of work: committed when `f` returns `Ok`, rolled back
    /// entirely otherwise. Waits at most [`busy_timeout`] for other writers, then fails
    /// with [`StoreError::Busy`].
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        match &self.backend {
            Backend::Redb(r) => r.write(f),
            Backend::Postgres(p) => p.write(f),
        }
    }

    /// The structural check: redb's own (page checksums, the allocator, every tree); on
    /// PostgreSQL, that every table of the layout is there at this build's version.
    pub fn check_integrity(&self) -> Result<bool> {
        match &self.backend {
            Backend::Redb(r) => r.check_integrity(),
            Backend::Postgres(p) => p.check_layout(),
        }
    }

    /// Copies a redb database to `dest` and its key file to `dest.key` (mode 0600); a
    /// PostgreSQL database is backed up with the server's own tools.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        match &self.backend {
            Backend::Redb(r) => r.backup(dest),
            Backend::Postgres(p) => Err(StoreError::Postgres {
                at: p.location().shown().to_string(),
                detail: format!(
                    "backups of a PostgreSQL database are made on the server: run `pg_dump -Fc -f FILE DATABASE` there, and keep a copy of the key file {} with it (it is never in the database)",
                    p.location().key_file().display()
                ),
            }),
        }
    }

    /// Re-encrypts every sealed secret under a fresh key in one transaction, then puts the
    /// new key file in place. A crash in between is finished by the next [`Store::open`].
    pub fn rotate_key(
        &self,
        reseal: impl FnOnce(&dyn Tx, &SecretKey) -> Result<usize>,
    ) -> Result<usize> {
        let live = self.key_file();
        let staged = staged_beside(&live);
        if staged.exists() {
            fs::remove_file(&staged).map_err(|e| StoreError::KeyFileIo {
                path: staged.clone(),
                source: e,
            })?;
        }
        let new_key = self.key().rotated()?;
        new_key.write_new(&staged)?;
        let count = self.write(|tx| {
            let n = reseal(tx, &new_key)?;
            tx.put_meta("key_id", new_key.fingerprint().as_bytes())?;
            Ok::<_, StoreError>(n)
        })?;
        fs::rename(&staged, &live).map_err(|e| StoreError::KeyFileIo {
            path: live.clone(),
            source: e,
        })?;
        match &self.backend {
            Backend::Redb(r) => r.set_key(new_key),
            Backend::Postgres(p) => p.set_key(new_key),
        }
        Ok(count)
    }

    /// Copies every row into a new database at `to`, sealed with the same key (its key
    /// file is written beside it), in one transaction on each side: the source is read on
    /// one snapshot, the target is written in one unit of work that commits only whole.
    /// Gives the number of rows copied.
    pub fn copy_to(&self, to: &Location) -> Result<u64> {
        let key = self.key().duplicate();
        const BATCH: usize = 5000;
        let mut rows = 0u64;
        self.read(|src| {
            Store::create_with_key(to, Some(key), |dst| {
                let mut batch = Vec::with_capacity(BATCH);
                src.export_rows(&mut |row| {
                    rows += 1;
                    batch.push(row);
                    if batch.len() == BATCH {
                        dst.import_rows(std::mem::take(&mut batch))?;
                    }
                    Ok(())
                })?;
                dst.import_rows(batch)
            })
            .map(drop)
        })?;
        Ok(rows)
    }
}

/// The fingerprint of the key the database's secrets are sealed with.
fn key_id_in(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<Option<Vec<u8>>> {
    Ok(t.get("key_id")
        .map_err(|e| db_err(path, e.into()))?
        .map(|v| v.value().to_vec()))
}

fn begin_write_with_retry(
    db: &Database,
    path: &Path,
    started: Instant,
    deadline: Instant,
) -> Result<redb::WriteTransaction> {
    let tx = lock::backoff(deadline, Duration::from_millis(2), || {
        match db.try_begin_write() {
            Ok(tx) => Ok(Some(tx)),
            // Only a writer that does not take our lock (another tool) gets here.
            Err(TransactionError::WouldBlock) => Ok(None),
            Err(e) => Err(db_err(path, e.into())),
        }
    })?;
    tx.ok_or_else(|| busy(path, started, None))
}

fn busy(path: &Path, started: Instant, holder: Option<&str>) -> StoreError {
    StoreError::Busy {
        path: path.to_path_buf(),
        waited: started.elapsed().as_secs(),
        holder: holder.map(str::to_string),
    }
}

/// This process's writer slot, waiting for another thread's write until `deadline`.
fn lock_until<'a>(
    m: &'a Mutex<Writer>,
    path: &Path,
    started: Instant,
    deadline: Instant,
) -> Result<std::sync::MutexGuard<'a, Writer>> {
    let slot = lock::backoff(deadline, Duration::from_millis(5), || match m.try_lock() {
        Ok(g) => Ok(Some(g)),
        Err(std::sync::TryLockError::Poisoned(p)) => Ok(Some(p.into_inner())),
        Err(std::sync::TryLockError::WouldBlock) => Ok(None),
    })?;
    slot.ok_or_else(|| busy(path, started, Some("a write of this same process holds it")))
}

/// Runs `f` on a thread of its own and waits for it until the busy timeout: the engine
/// takes its header lock with a blocking call, which a writer stopped inside a commit
/// holds. A thread left waiting finishes on its own once that writer goes on.
fn bounded<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let started = Instant::now();
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    let p = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("database".into())
        .spawn(move || {
            let _ = send.send(guarded(&p, f));
        });
    if let Err(e) = spawned {
        return Err(io_err(path, e));
    }
    match receive.recv_timeout(busy_timeout()) {
        Ok(r) => r,
        Err(_) => Err(stuck_in_commit(path, started)),
    }
}

fn stuck_in_commit(path: &Path, started: Instant) -> StoreError {
    StoreError::Busy {
        path: path.to_path_buf(),
        waited: started.elapsed().as_secs(),
        holder: lock::owner_of(path)
            .map(|h| format!("{h}, and is stopped or stuck part-way through a commit"))
            .or_else(|| Some("a process is stopped or stuck part-way through a commit".into())),
    }
}

/// The read-only handle: shares the file with any writer and never waits for one.
fn open_reader(path: &Path) -> Result<ReadOnlyDatabase> {
    let started = Instant::now();
    let reader = lock::backoff(started + busy_timeout(), Duration::from_millis(10), || {
        let p = path.to_path_buf();
        match bounded(path, move || Ok(builder().open_read_only(&p)))? {
            Ok(db) => Ok(Some(db)),
            // Only a process holding the whole file (another tool, an old build) gets here.
            Err(DatabaseError::DatabaseAlreadyOpen) => Ok(None),
            Err(_) if !path.exists() => Err(StoreError::NotFound(path.to_path_buf())),
            Err(e) => Err(db_err(path, e.into())),
        }
    })?;
    reader.ok_or_else(|| {
        busy(
            path,
            started,
            Some("a program that locks the whole file has it open"),
        )
    })
}

/// The writable handle. Called with our writer lock held, so the engine's own writer lock,
/// which this open takes without a deadline, is free or about to be.
fn open_writer(path: &Path) -> Result<Database> {
    guarded(path, || {
        builder().open(path).map_err(|e| {
            if !path.exists() {
                StoreError::NotFound(path.to_path_buf())
            } else {
                db_err(path, e.into())
            }
        })
    })
}

/// Repairs a file a crashed writer left behind: a writable open under our lock does it.
fn repair(path: &Path) -> Result<Writer> {
    let mut writer = Writer::default();
    let started = Instant::now();
    writer.hold(path, started, started + busy_timeout())?;
    Ok(writer)
}

fn write_marker(marker: &Path, detail: &str) {
    let when = chrono::Local::now().format("%Y-%m-%d %H:%M");
    let _ = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(marker)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, format!("{detail}; found at {when}\n").as_bytes())
        });
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::PermissionDenied => StoreError::PermissionDenied {
            path: path.to_path_buf(),
        },
        ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnlyFileSystem {
            path: path.to_path_buf(),
        },
        ErrorKind::IsADirectory => StoreError::IsAFolder(path.to_path_buf()),
        _ => StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Reads the key file `live` and checks it is the one the database names (`key_id`);
/// finishes a rotation that committed but did not get to rename its staged key file.
fn load_key(live: &Path, key_id: &str) -> Result<SecretKey> {
    let live = live.to_path_buf();
    let staged = staged_beside(&live);
    match SecretKey::read(&live) {
        Ok(k) if k.fingerprint() == key_id => return Ok(k),
        Ok(_) | Err(StoreError::KeyFileMissing(_)) => {}
        Err(e) => return Err(e),
    }
    // A rotation that committed but did not get to rename its key file.
    if let Ok(k) = SecretKey::read(&staged)
        && k.fingerprint() == key_id
    {
        fs::rename(&staged, &live).map_err(|e| StoreError::KeyFileIo {
            path: live.clone(),
            source: e,
        })?;
        return Ok(k);
    }
    match SecretKey::read(&live) {
        Ok(_) => Err(StoreError::KeyMismatch(live)),
        Err(e) => Err(e),
    }
}

/// Lifts an older schema to this build's, in the caller's one transaction. Each step lifts
/// one version to the next; the steps live in `migrate.rs`.
fn migrate(tx: &RedbTx, from: u64) -> Result<()> {
    tx.create_tables()?;
    tx.backfill_username_skeletons()?;
    if from < 2 {
        migrate::audit_chain_to_v2(tx)?;
    }
    tx.put_meta_u64("schema_version", SCHEMA_VERSION)
}

/// A person's reading of an engine error: what it means for this file and what to do.
pub(crate) fn db_err(path: &Path, e: redb::Error) -> StoreError {
    use std::io::ErrorKind;
    let damaged = |detail: String| StoreError::Damaged {
        path: path.to_path_buf(),
        detail,
    };
    match e {
        redb::Error::Io(io) => match io.kind() {
            ErrorKind::InvalidData => StoreError::NotADatabase(path.to_path_buf()),
            ErrorKind::NotFound => StoreError::NotFound(path.to_path_buf()),
            ErrorKind::UnexpectedEof => {
                damaged("the file is shorter than its own header says: it was cut off".into())
            }
            _ => io_err(path, io),
        },
        redb::Error::Corrupted(detail) => damaged(detail),
        redb::Error::UpgradeRequired(v) => damaged(format!(
            "its header names an old file format ({v}) that mfa-console never writes"
        )),
        redb::Error::PreviousIo => damaged(
            "an earlier write to it failed part-way; reopen it so the engine can recover".into(),
        ),
        other => StoreError::Db {
            path: path.to_path_buf(),
            source: other,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn file_system_refusals_say_what_they_mean_and_what_to_do() {
        let p = Path::new("/srv/mfa/org.redb");
        let text = |kind| io_err(p, Error::from(kind)).to_string();
        let ro = text(ErrorKind::ReadOnlyFilesystem);
        assert!(ro.contains("/srv/mfa/org.redb") && ro.contains("read-only file system"));
        assert!(
            ro.contains("remount") && ro.contains("writable disk"),
            "{ro}"
        );
        let denied = text(ErrorKind::PermissionDenied);
        assert!(denied.contains("/srv/mfa/org.redb") && denied.contains("permission denied"));
        assert!(denied.contains("owns the database"), "{denied}");
        let folder = text(ErrorKind::IsADirectory);
        assert!(
            folder.contains("is a folder") && folder.contains("--db"),
            "{folder}"
        );
    }

    #[test]
    fn engine_errors_read_as_damage_with_the_way_out() {
        let p = Path::new("/srv/mfa/org.redb");
        for e in [
            redb::Error::Corrupted("Primary is corrupted despite 2-phase commit".into()),
            redb::Error::Corrupted("Malformed allocator state".into()),
            redb::Error::Corrupted("Expected file format version <= 3, found 252".into()),
            redb::Error::UpgradeRequired(2),
            redb::Error::Io(Error::new(
                ErrorKind::UnexpectedEof,
                "failed to fill whole buffer",
            )),
        ] {
            let text = db_err(p, e).to_string();
            assert!(text.contains("/srv/mfa/org.redb is damaged"), "{text}");
            assert!(text.contains("restore it from a backup"), "{text}");
            assert!(text.contains("mfa-console check"), "{text}");
        }
    }

    #[test]
    fn a_panic_inside_the_boundary_is_caught_quietly() {
        let r: Result<()> = guarded(Path::new("/x.redb"), || {
            let v: Vec<u8> = Vec::new();
            let i = v.len() + 3;
            let _ = v[i];
            Ok(())
        });
        match r {
            Err(StoreError::Damaged { detail, .. }) => {
                assert!(detail.contains("index out of bounds"))
            }
            other => panic!("{:?}", other.err()),
        }
    }
}
