//! Files read whole, never past a size limit: whatever a path names (a huge file,
//! `/dev/zero`, a pipe that never ends), the read stops one byte past the limit.

use std::io::Read;
use std::path::Path;

/// The content of `path`, or `None` when it holds more than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.by_ref().take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(out))
}

/// `limit` in words: "64 KiB", "1 MiB".
pub fn size(limit: u64) -> String {
    if limit >= 1024 * 1024 && limit.is_multiple_of(1024 * 1024) {
        format!("{} MiB", limit / (1024 * 1024))
    } else if limit >= 1024 && limit.is_multiple_of(1024) {
        format!("{} KiB", limit / 1024)
    } else {
        format!("{limit} bytes")
    }
}
