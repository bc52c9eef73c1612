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
        // The record stays: it is read only while somebody holds the lock, who wrote it.
        let _ = self.lock.file.unlock();
    }
}

/// The owner record's fixed size: each holder overwrites it in one write, no truncation.
const RECORD_BYTES: usize = 320;

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
        let taken = backoff(deadline, Duration::from_millis(20), || {
            match self.file.try_lock() {
                Ok(()) => Ok(Some(())),
                Err(TryLockError::WouldBlock) => Ok(None),
                Err(TryLockError::Error(e)) => Err(super::io_err(&self.path, e)),
            }
        })?;
        if taken.is_none() {
            return Err(StoreError::Busy {
                path: self.db.clone(),
                waited: started.elapsed().as_secs(),
                holder: self.owner(),
            });
        }
        let held = Held { lock: self };
        self.record_owner();
        Ok(held)
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
        let mut line = format!("{}\t{since}\t{command}", std::process::id()).into_bytes();
        line.resize(RECORD_BYTES - 1, b' ');
        line.push(b'\n');
        let _ = self.file.write_all_at(&line, 0);
    }

    fn owner(&self) -> Option<String> {
        owner_of(&self.db)
    }
}

/// Calls `attempt` until it answers `Some`, pausing a little longer after each `None` (up
/// to `max_pause`); `None` once `deadline` has passed.
pub(crate) fn backoff<T>(
    deadline: Instant,
    max_pause: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let mut pause = Duration::from_micros(20);
    loop {
        if let Some(v) = attempt()? {
            return Ok(Some(v));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(max_pause);
    }
}

/// "process 1234 (mfa-console user import big.csv) has been writing to it since …", when a holder
/// wrote its record in `<db>.lock`.
pub fn owner_of(db: &Path) -> Option<String> {
    let bytes = crate::bounded::read(&lock_path(db), 1024).ok()??;
    let text = String::from_utf8_lossy(&bytes);
    let mut parts = text.trim_end().splitn(3, '\t');
    let pid: u32 = parts.next()?.parse().ok()?;
    let since = parts.next()?;
    let command = parts.next().unwrap_or("");
    // Today's holders by time of day; older ones with the date.
    let today = chrono::Local::now().format("%Y-%m-%d ").to_string();
    let since = since.strip_prefix(&today).unwrap_or(since);
    Some(format!(
        "process {pid} ({command}) has been writing to it since {since}"
    ))
}
