//! "Remember this terminal": the device token lives in a private file of this OS account
//! (the platform data folder), one per database and user; the database keeps its hash.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn folder() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "mfa-console").map(|d| d.data_dir().join("trusted"))
}

fn file_for(db: &Path, username: &str) -> Option<PathBuf> {
    let db = fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let mut h = Sha256::new();
    h.update(db.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(crate::core::text::normalize_username(username).as_bytes());
    Some(folder()?.join(format!("{}.token", hex::encode(&h.finalize()[..16]))))
}

/// The token remembered for `username` on `db`, if any.
pub fn load(db: &Path, username: &str) -> Option<String> {
    // A token is 52 characters; anything much larger is not one of ours.
    let bytes = crate::bounded::read(&file_for(db, username)?, 4096).ok()??;
    let text = String::from_utf8(bytes).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Keeps `token` for `username` on `db` (mode 0600, in a 0700 folder).
pub fn save(db: &Path, username: &str, token: &str) -> std::io::Result<()> {
    let path = file_for(db, username).ok_or_else(|| std::io::Error::other("no home folder"))?;
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(token.as_bytes())
}
