//! The database's writer lock: `<database>.lock` beside it, taken before every write
//! transaction and before the engine opens the file for writing, with a deadline.
//!
//! redb's multi-writer mode lets processes share the file, but its own writer lock is taken
//! with a blocking `fcntl` when a writable handle opens: a process stopped inside a write
//! (SIGSTOP, a debugger, a full disk) would hold every newcomer without bound. Every writer
//! takes this lock first, with a timeout, so redb's lock is only ever contended within the
//! moment one of our writers holds ours; readers open read-only and never touch either.
//!
//! While held, the file says who holds it (pid, since when, command), so a writer that gives
//! up can say which process to look at.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Result, StoreError};

/// `<database>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

pub(crate) struct WriterLock {
    path: PathBuf,
    db: PathBuf,
    file: File,
}

/// The lock while held; released when dropped.
pub(crate) struct Held<'a> {
    lock: &'a WriterLock,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.lock.file.set_len(0);
        let _ = self.lock.file.unlock();
    }
}

impl WriterLock {
    pub fn open(db: &Path) -> Result<WriterLock> {
        let path = lock_path(db);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| super::io_err(&path, e))?;
        Ok(WriterLock {
            path,
            db: db.to_path_buf(),
            file,
        })
    }

    /// Takes the lock, waiting with a short back-off until `deadline`; then gives up with
    /// [`StoreError::Busy`] naming the holder.
    pub fn acquire(&self, started: Instant, deadline: Instant) -> Result<Held<'_>> {
        let mut pause = Duration::from_micros(50);
        loop {
            match self.file.try_lock() {
                Ok(()) => {
                    let held = Held { lock: self };
                    self.record_owner();
                    return Ok(held);
                }
                Err(TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(StoreError::Busy {
                            path: self.db.clone(),
                            waited: now.duration_since(started).as_secs(),
                            holder: self.owner(),
                        });
                    }
                    std::thread::sleep(pause.min(deadline - now));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(TryLockError::Error(e)) => return Err(super::io_err(&self.path, e)),
            }
        }
    }

    /// Says who holds the lock now; only the holder writes it, and clears it on release.
    fn record_owner(&self) {
        let command: String = std::env::args()
            .enumerate()
            .map(|(i, a)| {
                if i == 0 {
                    Path::new(&a)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or(a)
                } else {
                    a
                }
            })
            .map(|a| a.chars().filter(|c| !c.is_control()).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        let since = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        let line = format!("{}\t{since}\t{command}\n", std::process::id());
        let _ = self.file.set_len(0);
        let _ = self.file.write_all_at(line.as_bytes(), 0);
    }

    fn owner(&self) -> Option<String> {
        owner_of(&self.db)
    }
}

/// "process 1234 (`mfa-console user import big.csv`) has held it since …", when a holder
/// wrote its record in `<db>.lock`.
pub fn owner_of(db: &Path) -> Option<String> {
    let mut text = String::new();
    let f = File::open(lock_path(db)).ok()?;
    f.take(1024).read_to_string(&mut text).ok()?;
    let mut parts = text.trim_end().splitn(3, '\t');
    let pid: u32 = parts.next()?.parse().ok()?;
    let since = parts.next()?;
    let command = parts.next().unwrap_or("");
    Some(format!(
        "process {pid} (`{command}`) has held it since {since}"
    ))
}
