//! The log file: `mfa-console.log` beside the database, mode 0600, through `tracing`.
//! It records what ran and what failed; never a password, code, secret or token (the
//! values that reach it are command names and error messages, which hold none).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub fn path_for(db: &Path) -> PathBuf {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("mfa-console.log")
}

/// Starts logging to the file beside `db`, when its folder exists. A log that cannot be
/// opened is not a reason to refuse work: the command goes on without it.
pub fn start(db: &Path) {
    let path = path_for(db);
    if !path.parent().is_some_and(Path::exists) {
        return;
    }
    let Ok(file) = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
    else {
        return;
    };
    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
