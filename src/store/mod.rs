//! The one redb file that holds everything, and its typed tables.
//!
//! Concurrency model: every process opens the file in redb's multi-writer mode and keeps
//! it open. Any number of consoles and commands share one database: reads run on a
//! snapshot and never wait; write transactions take the file's writer lock in turn (a
//! process that finds it held waits, with a short back-off, up to [`BUSY_TIMEOUT`]), so
//! none fails because another is open and no write is lost. Each commit is durable before
//! it returns, and the next transaction of any other process sees it. Within one process,
//! opening the same path again shares the handle.

pub mod crypto;
pub mod records;
mod tx;

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadableDatabase, ReadableTable,
    TableDefinition, TransactionError,
};

pub use crypto::{SecretKey, key_path, staged_key_path};
pub use records::*;
pub use tx::Tx;

/// The schema this build reads and writes. Older files are migrated forward on open.
pub const SCHEMA_VERSION: u64 = 1;
/// How long a unit of work waits for another process to release the database.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

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
    #[error("the database {0} stayed busy for {secs} s: another process holds it; try again", secs = BUSY_TIMEOUT.as_secs())]
    Busy(PathBuf),
    #[error(
        "key file {0} is missing: the TOTP secrets cannot be read without it; restore it from the backup taken with the database"
    )]
    KeyFileMissing(PathBuf),
    #[error("key file {0} can be read by other users: run `chmod 600 {0}` and try again")]
    KeyFileTooOpen(PathBuf),
    #[error(
        "key file {0} is not a valid key (expected 64 hexadecimal characters): restore it from a backup"
    )]
    KeyFileInvalid(PathBuf),
    #[error(
        "key file {0} does not belong to this database: restore the matching key file from a backup"
    )]
    KeyMismatch(PathBuf),
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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the open database and its key. Cheap to clone; clones share the handle.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// Transactions share the handle; `check_integrity` needs it alone.
    db: RwLock<Database>,
    key: RwLock<Arc<SecretKey>>,
    /// The fingerprint of `key`, to notice a rotation done by another process.
    key_id: RwLock<String>,
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

impl Store {
    /// Creates a new database with its key file (both mode 0600) and runs `init` in the
    /// first write transaction.
    pub fn create(path: &Path, init: impl FnOnce(&Tx) -> Result<()>) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
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
            .map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        let key = SecretKey::generate()?;
        let result = (|| {
            key.write_new(&kpath)?;
            let fingerprint = key.fingerprint();
            let db = builder().create(path).map_err(|e| db_err(path, e.into()))?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| {
                StoreError::Io {
                    path: path.to_path_buf(),
                    source: e,
                }
            })?;
            let store = Store::from_parts(path, db, key);
            store.write(|tx| {
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
        }
        result
    }

    fn from_parts(path: &Path, db: Database, key: SecretKey) -> Store {
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            db: RwLock::new(db),
            key_id: RwLock::new(key.fingerprint()),
            key: RwLock::new(Arc::new(key)),
        });
        register(&shared);
        Store { shared }
    }

    /// Opens an existing database: checks it is ours, reads and checks the key file,
    /// finishes an interrupted key rotation, and migrates an older schema forward.
    pub fn open(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        if let Some(shared) = registered(path) {
            return Ok(Store { shared });
        }
        let db = open_with_retry(path)?;
        let (magic, version, key_id) = {
            let rtx = db.begin_read().map_err(|e| db_err(path, e.into()))?;
            match rtx.open_table(META) {
                Ok(t) => {
                    let get = |k: &str| -> Result<Option<Vec<u8>>> {
                        Ok(t.get(k)
                            .map_err(|e| db_err(path, e.into()))?
                            .map(|v| v.value().to_vec()))
                    };
                    (get(MAGIC_KEY)?, get("schema_version")?, get("key_id")?)
                }
                Err(_) => (None, None, None),
            }
        };
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
        let key = load_key(path, &key_id)?;
        let store = Store::from_parts(path, db, key);
        if version < SCHEMA_VERSION {
            store.write(|tx| {
                // Another process may have migrated it meanwhile.
                let now = tx.meta_u64("schema_version")?;
                if now < SCHEMA_VERSION {
                    migrate(tx, now)
                } else {
                    Ok(())
                }
            })?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    pub fn key(&self) -> Arc<SecretKey> {
        self.shared
            .key
            .read()
            .map(|k| Arc::clone(&k))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// The key for a transaction that sees `key_id` in the database: the one in memory,
    /// or, after another process rotated it, the new key file.
    fn key_for(&self, key_id: Option<Vec<u8>>) -> Result<Arc<SecretKey>> {
        let id = String::from_utf8(key_id.unwrap_or_default()).unwrap_or_default();
        let current = self
            .shared
            .key_id
            .read()
            .map(|k| k.clone())
            .unwrap_or_default();
        if id.is_empty() || id == current {
            return Ok(self.key());
        }
        let key = Arc::new(load_key(self.path(), &id)?);
        if let (Ok(mut k), Ok(mut i)) = (self.shared.key.write(), self.shared.key_id.write()) {
            *k = Arc::clone(&key);
            *i = id;
        }
        Ok(key)
    }

    fn db(&self) -> std::sync::RwLockReadGuard<'_, Database> {
        self.shared.db.read().unwrap_or_else(|p| p.into_inner())
    }

    /// One read-only unit of work on a snapshot; never waits for writers.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let path = self.path();
        let db = self.db();
        let rtx = db.begin_read().map_err(|e| db_err(path, e.into()))?;
        let id = key_id_in(
            &rtx.open_table(META).map_err(|e| db_err(path, e.into()))?,
            path,
        )?;
        let tx = Tx::read(rtx, path, self.key_for(id)?);
        f(&tx)
    }

    /// One atomic, durable unit of work: committed with immediate durability when `f`
    /// returns `Ok`, rolled back entirely otherwise.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let path = self.path();
        let db = self.db();
        let wtx = begin_write_with_retry(&db, path)?;
        let id = key_id_in(
            &wtx.open_table(META).map_err(|e| db_err(path, e.into()))?,
            path,
        )?;
        let tx = Tx::write(wtx, path, self.key_for(id)?);
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
    }

    /// redb's own structural check of the file. Waits for other processes' writes and holds
    /// off new ones meanwhile.
    pub fn check_integrity(&self) -> Result<bool> {
        let mut db = self.shared.db.write().unwrap_or_else(|p| p.into_inner());
        db.check_integrity()
            .map_err(|e| db_err(&self.shared.path, e.into()))
    }

    /// Copies the database to `dest` while holding the writer lock (so no write lands
    /// half-way), and the key file to `dest.key`, both mode 0600.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        let dest_key = key_path(dest);
        for p in [dest, dest_key.as_path()] {
            if p.exists() {
                return Err(StoreError::AlreadyExists(p.to_path_buf()));
            }
        }
        let copy = |from: &Path, to: &Path| -> Result<()> {
            let io = |e| StoreError::Io {
                path: to.to_path_buf(),
                source: e,
            };
            let mut src = fs::File::open(from).map_err(|e| StoreError::Io {
                path: from.to_path_buf(),
                source: e,
            })?;
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(to)
                .map_err(io)?;
            std::io::copy(&mut src, &mut out).map_err(io)?;
            out.sync_all().map_err(io)
        };
        let path = self.path();
        {
            let db = self.db();
            let hold = begin_write_with_retry(&db, path)?;
            let copied = copy(path, dest);
            hold.abort().map_err(|e| db_err(path, e.into()))?;
            copied?;
        }
        copy(&key_path(path), &dest_key)?;
        Ok(())
    }

    /// Re-encrypts every sealed secret under a fresh key in one transaction, then puts the
    /// new key file in place. A crash in between is finished by the next [`Store::open`].
    pub fn rotate_key(
        &self,
        reseal: impl FnOnce(&Tx, &SecretKey) -> Result<usize>,
    ) -> Result<usize> {
        let path = self.path().to_path_buf();
        let staged = staged_key_path(&path);
        if staged.exists() {
            fs::remove_file(&staged).map_err(|e| StoreError::KeyFileIo {
                path: staged.clone(),
                source: e,
            })?;
        }
        let new_key = SecretKey::generate()?;
        new_key.write_new(&staged)?;
        let count = self.write(|tx| {
            let n = reseal(tx, &new_key)?;
            tx.put_meta("key_id", new_key.fingerprint().as_bytes())?;
            Ok::<_, StoreError>(n)
        })?;
        let live = key_path(&path);
        fs::rename(&staged, &live).map_err(|e| StoreError::KeyFileIo {
            path: live.clone(),
            source: e,
        })?;
        if let (Ok(mut k), Ok(mut i)) = (self.shared.key.write(), self.shared.key_id.write()) {
            *i = new_key.fingerprint();
            *k = Arc::new(new_key);
        }
        Ok(count)
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

fn begin_write_with_retry(db: &Database, path: &Path) -> Result<redb::WriteTransaction> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        match db.try_begin_write() {
            Ok(tx) => return Ok(tx),
            Err(TransactionError::WouldBlock) => {
                if start.elapsed() > BUSY_TIMEOUT {
                    return Err(StoreError::Busy(path.to_path_buf()));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(2));
            }
            Err(e) => return Err(db_err(path, e.into())),
        }
    }
}

fn load_key(db: &Path, key_id: &str) -> Result<SecretKey> {
    let live = key_path(db);
    let staged = staged_key_path(db);
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

/// Lifts an older schema to this build's, in the caller's one transaction. Schema 1 is
/// the first: the step from each later version's predecessor goes here as it comes.
fn migrate(tx: &Tx, _from: u64) -> Result<()> {
    tx.create_tables()?;
    tx.backfill_username_skeletons()?;
    tx.put_meta_u64("schema_version", SCHEMA_VERSION)
}

pub(crate) fn db_err(path: &Path, e: redb::Error) -> StoreError {
    if let redb::Error::Io(io) = &e {
        match io.kind() {
            std::io::ErrorKind::InvalidData => return StoreError::NotADatabase(path.to_path_buf()),
            std::io::ErrorKind::NotFound => return StoreError::NotFound(path.to_path_buf()),
            _ => {}
        }
    }
    StoreError::Db {
        path: path.to_path_buf(),
        source: e,
    }
}

fn open_with_retry(path: &Path) -> Result<Database> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        match builder().open(path) {
            Ok(db) => return Ok(db),
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                if start.elapsed() > BUSY_TIMEOUT {
                    return Err(StoreError::Busy(path.to_path_buf()));
                }
                let jitter = crate::random::u64().unwrap_or(0) % (pause.as_micros() as u64 + 1);
                std::thread::sleep(pause + Duration::from_micros(jitter));
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(e) => {
                if !path.exists() {
                    return Err(StoreError::NotFound(path.to_path_buf()));
                }
                return Err(db_err(path, e.into()));
            }
        }
    }
}
