//! The audit chain head in the log file, as a witness outside the database.
//!
//! Each time `check` or the console starts, it writes the database's chain head to the log
//! (`mfa-console.log` beside the database), one line with a fixed marker:
//!
//! ```text
//! 2026-12-01T09:24:03.461743Z  INFO audit-chain-head chain=1f3a… seq=42 mac=9b0c… db=/srv/mfa/org.redb
//! ```
//!
//! `chain` is the audit key's fingerprint (copies of one database share it, a new database
//! has its own), `mac` the first characters of the newest event's link, `db` the file's
//! full path. Before writing, it reads back the newest such line for the same chain and
//! file: a database whose head is older than that, or holds another event under that
//! number, was put back to an older copy (or rewritten), which the chain inside the file
//! alone cannot show. Such a finding is logged with another marker and is not recorded as
//! a head, so it keeps being reported until someone looks.

use crate::cli::Db;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::CliError;
use super::log;
use crate::core::Core;
use crate::core::audit::{HeadComparison, LOGGED_MAC_CHARS, LoggedHead};

const MARKER: &str = "audit-chain-head";
const MISMATCH_MARKER: &str = "audit-chain-mismatch";
/// How much of the end of the log is read first; older lines are read only when it holds
/// no record of this database.
const TAIL_BYTES: u64 = 1 << 20;
/// Longer lines are not ours and are skipped.
const MAX_LINE: u64 = 8192;

/// Compares the database's chain head with the newest one the log recorded, then records
/// it (or, when they disagree, logs a warning instead).
pub fn witness(db: &Db, core: &Core) -> Result<HeadComparison, CliError> {
    let Some(chain) = core.audit_chain_id() else {
        return Ok(HeadComparison::NoHead);
    };
    let file = match db.location() {
        crate::store::Location::File(_) => identity(db),
        other => other.identity(),
    };
    // The log first, then the database: another process recording a newer head in
    // between can then only make the database look newer than the record, never older.
    let logged = newest_recorded(&log::path_for(db), &chain, &file);
    let found = core.compare_chain_head(logged.as_ref())?;
    let shown = file.display();
    match &found {
        HeadComparison::Consistent { seq, mac } => {
            let mac: String = mac.chars().take(LOGGED_MAC_CHARS).collect();
            tracing::info!("{MARKER} chain={chain} seq={seq} mac={mac} db={shown}");
        }
        HeadComparison::RolledBack { logged, seq } => tracing::warn!(
            "{MISMATCH_MARKER} chain={chain} db={shown}: the database looks rolled back to an older copy: the log recorded event {} as its newest at {}, the database's newest is event {seq}",
            logged.seq,
            logged.time
        ),
        HeadComparison::Diverged { logged, seq } => tracing::warn!(
            "{MISMATCH_MARKER} chain={chain} db={shown}: the database holds another event {} than the one the log recorded at {} (the database's newest is event {seq}): it looks replaced by another copy",
            logged.seq,
            logged.time
        ),
        HeadComparison::NoHead => tracing::warn!(
            "{MISMATCH_MARKER} chain={chain} db={shown}: the audit chain head is missing or does not verify; run `mfa-console check`"
        ),
    }
    Ok(found)
}

/// The database file as the log names it: its full path when it can be resolved.
fn identity(db: &Path) -> PathBuf {
    std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf())
}

/// The head with the highest event number among the log's records for `chain` and `db`
/// (the later line when two have the same number).
fn newest_recorded(log: &Path, chain: &str, db: &Path) -> Option<LoggedHead> {
    let db = db.display().to_string();
    let mut file = File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    if start > 0 {
        file.seek(SeekFrom::Start(start)).ok()?;
        let tail = newest_in(BufReader::new(&mut file), chain, &db, true);
        if tail.is_some() {
            return tail;
        }
        file.seek(SeekFrom::Start(0)).ok()?;
    }
    newest_in(BufReader::new(file), chain, &db, false)
}

fn newest_in<R: BufRead>(mut r: R, chain: &str, db: &str, mid_line: bool) -> Option<LoggedHead> {
    let mut best: Option<LoggedHead> = None;
    let mut buf = Vec::new();
    // Started in the middle of the file: the first line is only the end of one.
    let mut skip = mid_line;
    loop {
        buf.clear();
        match <&mut R as Read>::take(&mut r, MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let complete = buf.last() == Some(&b'\n');
        if std::mem::replace(&mut skip, !complete) {
            continue;
        }
        if !complete && buf.len() as u64 == MAX_LINE {
            continue;
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            continue;
        };
        if let Some(h) = parse_line(line.trim_end_matches(['\n', '\r']), chain, db)
            && best.as_ref().is_none_or(|b| h.seq >= b.seq)
        {
            best = Some(h);
        }
    }
    best
}

/// A head record written by [`witness`] for `chain` and `db`; `None` for any other line.
fn parse_line(line: &str, chain: &str, db: &str) -> Option<LoggedHead> {
    let (time, rest) = line.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix("INFO ")?;
    let rest = rest.strip_prefix(MARKER)?.strip_prefix(' ')?;
    let (fields, path) = rest.split_once(" db=")?;
    if path != db {
        return None;
    }
    let (mut seen_chain, mut seq, mut mac) = (None, None, None);
    for field in fields.split(' ') {
        match field.split_once('=')? {
            ("chain", v) => seen_chain = Some(v),
            ("seq", v) => seq = v.parse::<u64>().ok(),
            ("mac", v) if v.len() >= 8 && v.bytes().all(|b| b.is_ascii_hexdigit()) => mac = Some(v),
            _ => return None,
        }
    }
    if seen_chain? != chain {
        return None;
    }
    Some(LoggedHead {
        seq: seq?,
        mac_prefix: mac?.to_string(),
        time: readable_time(time),
    })
}

/// `2026-12-01T09:24:03.461743Z` → `2026-12-01 09:24:03 UTC`.
fn readable_time(t: &str) -> String {
    match t.split_once('T') {
        Some((day, clock)) => {
            let clock = clock.split(['.', 'Z']).next().unwrap_or(clock);
            format!("{day} {clock} UTC")
        }
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DB: &str = "/srv/mfa/org.redb";

    fn line(chain: &str, seq: u64, mac: &str, db: &str) -> String {
        format!(
            "2026-12-01T09:24:03.461743Z  INFO {MARKER} chain={chain} seq={seq} mac={mac} db={db}\n"
        )
    }

    #[test]
    fn takes_the_highest_record_of_this_chain_and_file() {
        let log = [
            "2026-12-01T09:24:00.858026Z  INFO init: start on org.redb\n".to_string(),
            line("aaaa", 7, "0123abcd", DB),
            line("aaaa", 9, "4567abcd", DB),
            line("aaaa", 8, "89abcdef", DB),
            line("bbbb", 50, "00000000", DB),
            line("aaaa", 60, "00000000", "/srv/mfa/copy.redb"),
            format!("2026-12-01T09:24:03Z  WARN {MISMATCH_MARKER} chain=aaaa db={DB}: seq=99\n"),
            format!(
                "2026-12-01T09:24:03Z  INFO user: failed: {MARKER} chain=aaaa seq=99 mac=00 db={DB}\n"
            ),
        ]
        .concat();
        let h = newest_in(log.as_bytes(), "aaaa", DB, false).unwrap();
        assert_eq!(h.seq, 9);
        assert_eq!(h.mac_prefix, "4567abcd");
        assert_eq!(h.time, "2026-12-01 09:24:03 UTC");
        assert!(newest_in(log.as_bytes(), "cccc", DB, false).is_none());
    }

    #[test]
    fn skips_a_partial_first_line_and_overlong_lines() {
        let long = format!("{}\n", "x".repeat(3 * MAX_LINE as usize));
        let log = [
            line("aaaa", 70, "0123abcd", DB),
            long,
            line("aaaa", 5, "4567abcd", DB),
        ]
        .concat();
        assert_eq!(newest_in(log.as_bytes(), "aaaa", DB, true).unwrap().seq, 5);
        assert_eq!(
            newest_in(log.as_bytes(), "aaaa", DB, false).unwrap().seq,
            70
        );
    }
}
