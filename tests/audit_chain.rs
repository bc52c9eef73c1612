//! The audit chain cannot be rewritten: every way someone who can write the database file,
//! but cannot read its key file, might change the audit log is reported by `check` with
//! the event number. The database is tampered with through redb directly (what such a
//! person can do); everything else runs the real `mfa-console` binary on a real file in a
//! temporary folder. Also: the key file's audit key, the chain head in the log file (a
//! database put back to an older copy), and the migration of schema-1 databases, from a
//! file written by the previous release (`tests/fixtures/v1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mfa_console::core::audit::event_hash;
use mfa_console::store::{AuditEvent, ChainHead};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tempfile::TempDir;

const ADMIN_PW: &str = "river stone lantern 42";
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEAD_KEY: &str = "audit_chain_head";

// ---------------------------------------------------------------------------------------
// Test bench
// ---------------------------------------------------------------------------------------

struct Org {
    dir: TempDir,
    db: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Org {
    /// A new database for "Acme": the admin, then alice, bob and carol (invited), so the
    /// chain holds six events.
    fn new() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        let org = Org { dir, db };
        org.ok(
            &[
                "init",
                "--org",
                "Acme",
                "--admin",
                "admin",
                "--email",
                "admin@example.com",
                "--password-stdin",
            ],
            Some(&format!("{ADMIN_PW}\n")),
        );
        for u in ["alice", "bob", "carol"] {
            org.add(u);
        }
        org
    }

    /// A copy of the schema-1 database in `tests/fixtures/v1` (made by the previous
    /// release: an admin, alice with an authenticator, bob invited, seven events).
    fn v1() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
        for name in ["org.redb", "org.redb.key"] {
            let to = dir.path().join(name);
            fs::copy(fixtures.join(name), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
        }
        Org { dir, db }
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("org.redb.key")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("mfa-console.log")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = Command::cargo_bin("mfa-console").unwrap();
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("MFA_CONSOLE_CONFIG")
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .write_stdin(stdin.unwrap_or(""));
        let out = c.output().unwrap();
        let r = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
            "a panic: {}",
            r.stderr
        );
        r
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let r = self.run(args, stdin);
        assert_eq!(r.code, 0, "{args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    fn add(&self, user: &str) {
        self.ok(
            &[
                "user",
                "add",
                user,
                "--email",
                &format!("{user}@example.com"),
            ],
            None,
        );
    }

    fn check_passes(&self) -> Run {
        let r = self.run(&["check"], None);
        assert_eq!(r.code, 0, "check failed:\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("All checks passed"), "{}", r.stdout);
        r
    }

    /// `check` fails, and its audit chain line says `what`.
    fn check_fails_with(&self, what: &str) -> Run {
        let r = self.run(&["check"], None);
        assert_eq!(r.code, 1, "check passed:\n{}\n{}", r.stdout, r.stderr);
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("audit chain:"))
            .unwrap_or_default()
            .to_string();
        assert!(line.contains("FAILED"), "{}", r.stdout);
        assert!(line.contains(what), "expected {what:?} in:\n{}", r.stdout);
        assert!(r.stderr.contains("failed its check"), "{}", r.stderr);
        r
    }

    fn events(&self) -> Vec<AuditEvent> {
        let db = Database::open(&self.db).unwrap();
        let rtx = db.begin_read().unwrap();
        let t = rtx.open_table(AUDIT).unwrap();
        t.iter()
            .unwrap()
            .map(|r| serde_json::from_slice(r.unwrap().1.value()).unwrap())
            .collect()
    }

    fn head(&self) -> Option<ChainHead> {
        let db = Database::open(&self.db).unwrap();
        let rtx = db.begin_read().unwrap();
        let t = rtx.open_table(META).unwrap();
        t.get(HEAD_KEY)
            .unwrap()
            .map(|v| serde_json::from_slice(v.value()).unwrap())
    }

    fn schema(&self) -> u64 {
        let db = Database::open(&self.db).unwrap();
        let rtx = db.begin_read().unwrap();
        let t = rtx.open_table(META).unwrap();
        let v = t.get("schema_version").unwrap().unwrap();
        u64::from_le_bytes(v.value().try_into().unwrap())
    }

    /// Changes the file the way someone holding it (but not the key file) can: with redb.
    fn tamper(&self, f: impl FnOnce(&mut redb::Table<u64, &[u8]>, &mut redb::Table<&str, &[u8]>)) {
        let db = Database::open(&self.db).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            let mut audit = wtx.open_table(AUDIT).unwrap();
            let mut meta = wtx.open_table(META).unwrap();
            f(&mut audit, &mut meta);
        }
        wtx.commit().unwrap();
    }

    fn put_event(&self, at: u64, e: &AuditEvent) {
        let bytes = serde_json::to_vec(e).unwrap();
        self.tamper(|audit, _| {
            audit.insert(at, bytes.as_slice()).unwrap();
        });
    }

    fn key_lines(&self) -> Vec<String> {
        fs::read_to_string(self.key())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn key_value(lines: &[String], label: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{label} ")))
        .map(str::to_string)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------
// Tampering with the chain
// ---------------------------------------------------------------------------------------

#[test]
fn a_new_chain_passes_check_and_keeps_its_head() {
    let org = Org::new();
    org.check_passes();
    let events = org.events();
    assert_eq!(events.len(), 5, "{events:?}");
    let head = org.head().expect("a chain head");
    assert_eq!(head.seq, 5);
    assert_eq!(head.mac, events[4].hash);
    assert_eq!(events[4].hash.len(), 64);
    // Each append moves the head with it.
    org.add("dave");
    assert_eq!(org.head().unwrap().seq, 6);
    org.check_passes();
}

#[test]
fn deleting_the_newest_events_is_reported() {
    let org = Org::new();
    org.check_passes();
    org.tamper(|audit, _| {
        audit.remove(5).unwrap();
        audit.remove(4).unwrap();
    });
    org.check_fails_with("events 4 to 5 are missing: the newest events were deleted");
}

#[test]
fn deleting_the_newest_event_is_reported() {
    let org = Org::new();
    org.tamper(|audit, _| {
        audit.remove(5).unwrap();
    });
    org.check_fails_with("event 5 is missing: the newest events were deleted");
}

#[test]
fn deleting_the_newest_events_and_moving_the_head_back_is_reported() {
    let org = Org::new();
    let events = org.events();
    let older = &events[2];
    // The head pointed at event 3, with the MAC of the head that stood at event 5.
    let mut head = org.head().unwrap();
    head.seq = older.seq;
    head.mac = older.hash.clone();
    let bytes = serde_json::to_vec(&head).unwrap();
    org.tamper(|audit, meta| {
        audit.remove(5).unwrap();
        audit.remove(4).unwrap();
        meta.insert(HEAD_KEY, bytes.as_slice()).unwrap();
    });
    org.check_fails_with("the chain head (event 3) was altered");
}

#[test]
fn deleting_the_newest_events_and_the_head_is_reported() {
    let org = Org::new();
    org.tamper(|audit, meta| {
        audit.remove(5).unwrap();
        meta.remove(HEAD_KEY).unwrap();
    });
    org.check_fails_with("the chain head is missing");
    // A later append does not cover it up: it links to nothing.
    org.add("dave");
    let events = org.events();
    assert_eq!(events.last().unwrap().seq, 5);
    org.check_fails_with("event 5 was appended while the chain head was missing or altered");
}

#[test]
fn deleting_every_event_is_reported() {
    let org = Org::new();
    org.tamper(|audit, meta| {
        for seq in 1..=5 {
            audit.remove(seq).unwrap();
        }
        meta.remove(HEAD_KEY).unwrap();
    });
    org.check_fails_with("every event was deleted");
}

#[test]
fn deleting_an_event_in_the_middle_is_reported() {
    let org = Org::new();
    org.tamper(|audit, _| {
        audit.remove(3).unwrap();
    });
    org.check_fails_with("event 3 is missing: it was deleted (the next event found is 4)");
}

#[test]
fn deleting_an_event_and_renumbering_the_rest_is_reported() {
    let org = Org::new();
    let events = org.events();
    org.tamper(|audit, _| {
        for e in &events[3..] {
            let mut moved = e.clone();
            moved.seq -= 1;
            audit
                .insert(moved.seq, serde_json::to_vec(&moved).unwrap().as_slice())
                .unwrap();
        }
        audit.remove(5).unwrap();
    });
    org.check_fails_with("event 3 was altered after it was written");
}

#[test]
fn swapping_two_events_is_reported() {
    let org = Org::new();
    let events = org.events();
    org.put_event(3, &events[3]);
    org.put_event(4, &events[2]);
    org.check_fails_with("event 3 is out of order: event 4 stands in its place");
}

#[test]
fn swapping_two_events_and_their_numbers_is_reported() {
    let org = Org::new();
    let events = org.events();
    let (mut a, mut b) = (events[2].clone(), events[3].clone());
    std::mem::swap(&mut a.seq, &mut b.seq);
    org.put_event(3, &b);
    org.put_event(4, &a);
    org.check_fails_with("event 3 was altered after it was written");
}

#[test]
fn editing_an_event_is_reported() {
    let org = Org::new();
    let mut e = org.events()[2].clone();
    assert_eq!(e.kind, "user.created");
    e.details = "role admin, active".into();
    org.put_event(3, &e);
    org.check_fails_with("event 3 was altered after it was written");
}

#[test]
fn editing_and_rechaining_without_the_key_is_reported() {
    // What someone without the key file can do: edit an event, then recompute every link
    // after it with plain SHA-256 (the schema-1 scheme) and point the head at the result.
    let org = Org::new();
    let mut events = org.events();
    events[2].details = "role admin, active".into();
    for i in 2..events.len() {
        if i > 0 {
            events[i].prev = events[i - 1].hash.clone();
        }
        events[i].hash = event_hash(&events[i]);
    }
    let mut head = org.head().unwrap();
    head.mac = events.last().unwrap().hash.clone();
    let head = serde_json::to_vec(&head).unwrap();
    org.tamper(|audit, meta| {
        for e in &events {
            audit
                .insert(e.seq, serde_json::to_vec(e).unwrap().as_slice())
                .unwrap();
        }
        meta.insert(HEAD_KEY, head.as_slice()).unwrap();
    });
    org.check_fails_with("event 3 was altered after it was written");
}

#[test]
fn replacing_the_newest_event_is_reported() {
    let org = Org::new();
    let events = org.events();
    // Event 5 replaced by a copy of event 4 renumbered: its link is event 4's.
    let mut fake = events[3].clone();
    fake.seq = 5;
    fake.prev = events[3].hash.clone();
    org.put_event(5, &fake);
    org.check_fails_with("event 5 was altered after it was written");
}

#[test]
fn a_chain_from_another_database_is_reported() {
    // Same key file, events of another organization: nothing links up.
    let org = Org::new();
    let other = Org::new();
    let theirs = other.events();
    org.tamper(|audit, _| {
        for e in &theirs {
            audit
                .insert(e.seq, serde_json::to_vec(e).unwrap().as_slice())
                .unwrap();
        }
    });
    org.check_fails_with("event 1 was altered after it was written");
}

// ---------------------------------------------------------------------------------------
// The key file
// ---------------------------------------------------------------------------------------

#[test]
fn the_key_file_holds_a_sealing_key_and_an_audit_key() {
    let org = Org::new();
    assert_eq!(mode(&org.key()), 0o600);
    let lines = org.key_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for label in ["sealing-key", "audit-key"] {
        let v = key_value(&lines, label).unwrap_or_else(|| panic!("no {label}: {lines:?}"));
        assert_eq!(v.len(), 64);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    // The database holds neither.
    let raw = fs::read(&org.db).unwrap();
    for label in ["sealing-key", "audit-key"] {
        let v = key_value(&lines, label).unwrap();
        assert!(
            !raw.windows(64).any(|w| w == v.as_bytes()),
            "{label} in the db"
        );
        let bytes = hex::decode(v).unwrap();
        assert!(
            !raw.windows(32).any(|w| w == bytes.as_slice()),
            "{label} in the db"
        );
    }
}

#[test]
fn rotate_key_replaces_the_sealing_key_and_keeps_the_audit_key() {
    let org = Org::new();
    let before = org.key_lines();
    org.ok(&["rotate-key"], None);
    let after = org.key_lines();
    assert_ne!(
        key_value(&before, "sealing-key"),
        key_value(&after, "sealing-key")
    );
    assert_eq!(
        key_value(&before, "audit-key"),
        key_value(&after, "audit-key")
    );
    assert_eq!(mode(&org.key()), 0o600);
    let r = org.check_passes();
    assert!(r.stdout.contains("(6 events)"), "{}", r.stdout);
    org.add("dave");
    org.check_passes();
}

#[test]
fn a_key_file_without_its_audit_key_is_refused_by_name() {
    let org = Org::new();
    let sealing = key_value(&org.key_lines(), "sealing-key").unwrap();
    fs::write(org.key(), format!("{sealing}\n")).unwrap();
    let key = org.key().display().to_string();
    for args in [&["check"][..], &["user", "list"]] {
        let r = org.run(args, None);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains(&key) && r.stderr.contains("has no audit key"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("restore the key file"), "{}", r.stderr);
    }
}

#[test]
fn a_key_file_with_another_audit_key_fails_check_at_event_1() {
    let org = Org::new();
    let sealing = key_value(&org.key_lines(), "sealing-key").unwrap();
    fs::write(
        org.key(),
        format!("sealing-key {sealing}\naudit-key {}\n", "ab".repeat(32)),
    )
    .unwrap();
    org.check_fails_with("event 1 was altered after it was written");
}

// ---------------------------------------------------------------------------------------
// The chain head in the log file
// ---------------------------------------------------------------------------------------

#[test]
fn check_records_the_chain_head_in_the_log() {
    let org = Org::new();
    org.check_passes();
    let log = fs::read_to_string(org.log()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("audit-chain-head"))
        .unwrap_or_else(|| panic!("no head in the log:\n{log}"));
    let head = org.head().unwrap();
    assert!(line.contains(" seq=5 "), "{line}");
    assert!(
        line.contains(&format!(" mac={} ", &head.mac[..16])),
        "{line}"
    );
    let db = fs::canonicalize(&org.db).unwrap();
    assert!(line.ends_with(&format!("db={}", db.display())), "{line}");
    assert_eq!(mode(&org.log()), 0o600);
}

#[test]
fn a_database_put_back_to_an_older_copy_fails_check() {
    let org = Org::new();
    org.check_passes();
    let aside = org.path("aside.redb");
    fs::copy(&org.db, &aside).unwrap();
    org.add("dave");
    org.add("erin");
    org.check_passes();
    // The older copy comes back, key file and all.
    fs::copy(&aside, &org.db).unwrap();
    let r = org.run(&["check"], None);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("the database looks rolled back to an older copy")
            && r.stdout.contains("says event 7 was the newest at ")
            && r.stdout.contains("the database's newest is event 5"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("audit chain:        ok"),
        "the chain inside the file is whole: {}",
        r.stdout
    );
    assert!(r.stderr.contains("mfa-console.log"), "{}", r.stderr);
    // It keeps being reported: the older head is not taken as the new record.
    org.run(&["user", "list"], None);
    let again = org.run(&["check"], None);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(again.stdout.contains("rolled back"), "{}", again.stdout);
    // Events added since do not make it go away until the count passes the record...
    org.add("frank");
    let r = org.run(&["check"], None);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // ... and then the recorded event 7 is another one.
    org.add("grace");
    org.add("heidi");
    let r = org.run(&["check"], None);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("the database's event 7 is not the one"),
        "{}",
        r.stdout
    );
    // Moving the log aside (a restore done on purpose) starts a new record.
    fs::rename(org.log(), org.path("mfa-console.log.old")).unwrap();
    org.check_passes();
    org.check_passes();
}

#[test]
fn deleting_the_newest_events_and_putting_back_an_older_head_is_caught_by_the_log() {
    // The head record of an older copy vouches for a shorter chain: the file alone looks
    // whole, the log does not agree.
    let org = Org::new();
    let old_head = serde_json::to_vec(&org.head().unwrap()).unwrap();
    org.add("dave");
    org.add("erin");
    org.check_passes();
    org.tamper(|audit, meta| {
        audit.remove(7).unwrap();
        audit.remove(6).unwrap();
        meta.insert(HEAD_KEY, old_head.as_slice()).unwrap();
    });
    let r = org.run(&["check"], None);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("audit chain:        ok"), "{}", r.stdout);
    assert!(
        r.stdout.contains("says event 7 was the newest")
            && r.stdout.contains("the database's newest is event 5"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_different_copy_with_as_many_events_fails_check() {
    let org = Org::new();
    let aside = org.path("aside.redb");
    fs::copy(&org.db, &aside).unwrap();
    org.add("dave");
    org.check_passes();
    fs::copy(&aside, &org.db).unwrap();
    org.add("mallory");
    let r = org.run(&["check"], None);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("the database's event 6 is not the one")
            && r.stdout.contains("it looks replaced by another copy"),
        "{}",
        r.stdout
    );
}

#[test]
fn copies_and_new_databases_keep_records_of_their_own() {
    let org = Org::new();
    org.add("dave");
    org.check_passes();
    // A backup beside it is another file: its own record.
    let backup = org.path("backup.redb");
    org.ok(&["backup", backup.to_str().unwrap()], None);
    org.add("erin");
    org.check_passes();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&backup)
        .arg("check");
    c.assert().success();
    // A new database at the same path has a new audit key: no false alarm.
    fs::remove_file(&org.db).unwrap();
    fs::remove_file(org.key()).unwrap();
    org.ok(
        &[
            "init",
            "--org",
            "Acme",
            "--admin",
            "admin",
            "--email",
            "admin@example.com",
            "--password-stdin",
        ],
        Some(&format!("{ADMIN_PW}\n")),
    );
    org.check_passes();
}

/// The console, in a pseudo-terminal, until it shows the sign-in screen.
fn start_console(db: &Path) -> bool {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_mfa-console"));
    cmd.arg("--db");
    cmd.arg(db);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("MFA_CONSOLE_DB");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let mut writer = pty.master.take_writer().unwrap();
    let screen = Arc::new(Mutex::new(vt100::Parser::new(
        NonZeroU16::new(24).unwrap(),
        NonZeroU16::new(80).unwrap(),
        0,
    )));
    let s = Arc::clone(&screen);
    std::thread::spawn(move || {
        let _keep = pty.master;
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.lock().unwrap().process(&buf[..n]);
        }
    });
    let start = Instant::now();
    let mut shown = false;
    while start.elapsed() < Duration::from_secs(20) {
        if screen
            .lock()
            .unwrap()
            .screen()
            .contents()
            .contains("Username")
        {
            shown = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    let _ = writer.write_all(b"\x1b");
    let _ = writer.flush();
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    shown
}

#[test]
fn the_console_records_the_head_and_warns_about_an_older_copy() {
    let org = Org::new();
    let aside = org.path("aside.redb");
    fs::copy(&org.db, &aside).unwrap();
    org.add("dave");
    assert!(start_console(&org.db), "the console did not start");
    let log = fs::read_to_string(org.log()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("INFO audit-chain-head") && l.contains(" seq=6 ")),
        "{log}"
    );
    fs::copy(&aside, &org.db).unwrap();
    assert!(start_console(&org.db), "the console did not start");
    let log = fs::read_to_string(org.log()).unwrap();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("rolled back to an older copy"))
        .unwrap_or_else(|| panic!("no warning in the log:\n{log}"));
    assert!(
        warning.contains("event 6") && warning.contains("newest is event 5"),
        "{warning}"
    );
    // And check agrees.
    let r = org.run(&["check"], None);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

// ---------------------------------------------------------------------------------------
// Migration from schema 1
// ---------------------------------------------------------------------------------------

#[test]
fn the_fixture_is_a_schema_1_database() {
    let org = Org::v1();
    assert_eq!(org.schema(), 1);
    let lines = org.key_lines();
    assert_eq!(lines.len(), 1, "a one-line key file: {lines:?}");
    assert!(org.head().is_none());
    let events = org.events();
    assert_eq!(events.len(), 7);
    // The schema-1 links: plain SHA-256.
    assert!(events.iter().all(|e| event_hash(e) == e.hash));
}

#[test]
fn a_schema_1_database_is_migrated_and_passes_check() {
    let org = Org::v1();
    let old_key = org.key_lines()[0].clone();
    let old_events = org.events();
    let r = org.check_passes();
    assert!(r.stdout.contains("(8 events)"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 checked"),
        "the sealed secret still opens: {}",
        r.stdout
    );
    assert_eq!(org.schema(), mfa_console::store::SCHEMA_VERSION);
    // The key file keeps its sealing key and gains an audit key, still private.
    let lines = org.key_lines();
    assert_eq!(key_value(&lines, "sealing-key"), Some(old_key));
    assert_eq!(key_value(&lines, "audit-key").map(|k| k.len()), Some(64));
    assert_eq!(mode(&org.key()), 0o600);
    let leftovers: Vec<_> = fs::read_dir(org.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mfa-console-key"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Every event kept as it was, re-linked; the migration itself is the eighth.
    let events = org.events();
    for (old, new) in old_events.iter().zip(&events) {
        assert_eq!(
            (
                old.seq,
                old.time,
                &old.actor,
                &old.subject,
                &old.kind,
                &old.details
            ),
            (
                new.seq,
                new.time,
                &new.actor,
                &new.subject,
                &new.kind,
                &new.details
            )
        );
        assert_ne!(old.hash, new.hash, "re-linked with the audit key");
    }
    let last = events.last().unwrap();
    assert_eq!((last.seq, last.kind.as_str()), (8, "audit-chain.migrated"));
    assert!(
        last.details.contains("their SHA-256 chain verified"),
        "{last:?}"
    );
    assert_eq!(org.head().unwrap().seq, 8);
    // The sign-in path still works on it, and so does the chain from here on.
    org.add("carol");
    org.check_passes();
    // Once migrated, the old events are protected like new ones.
    let mut e = org.events()[2].clone();
    e.details = "role admin, active".into();
    org.put_event(3, &e);
    org.check_fails_with("event 3 was altered after it was written");
}

#[test]
fn a_tampered_schema_1_chain_is_kept_and_reported() {
    let org = Org::v1();
    let mut e = org.events()[2].clone();
    assert_eq!(e.subject, "alice");
    e.details = "role admin, active".into();
    org.put_event(3, &e);
    let r = org.check_fails_with(
        "event 8 records that the chain was already broken when this database was migrated to schema 2",
    );
    assert!(
        r.stdout
            .contains("broken at event 3: event 3 was altered after it was written"),
        "{}",
        r.stdout
    );
    // Kept as found, not repaired and not blessed.
    assert_eq!(org.schema(), mfa_console::store::SCHEMA_VERSION);
    let events = org.events();
    assert_eq!(events[2].details, "role admin, active");
    assert_eq!(events[7].kind, "audit-chain.broken-before-migration");
    // It stays reported after later work.
    org.add("carol");
    org.check_fails_with("already broken");
}

#[test]
fn a_schema_1_chain_with_an_event_deleted_is_reported() {
    let org = Org::v1();
    org.tamper(|audit, _| {
        audit.remove(4).unwrap();
    });
    org.check_fails_with("event 4 is missing");
    let events = org.events();
    assert_eq!(
        events.last().unwrap().kind,
        "audit-chain.broken-before-migration"
    );
    assert!(
        events
            .last()
            .unwrap()
            .details
            .contains("event 4 is missing")
    );
}

#[test]
fn a_crash_between_key_file_and_database_is_finished_on_the_next_open() {
    // The key file already has its audit key, the database is still schema 1: what a
    // crash after step 1 of the migration leaves.
    let org = Org::v1();
    let sealing = org.key_lines()[0].clone();
    let audit = "5a".repeat(32);
    fs::write(
        org.key(),
        format!("sealing-key {sealing}\naudit-key {audit}\n"),
    )
    .unwrap();
    org.check_passes();
    assert_eq!(org.schema(), mfa_console::store::SCHEMA_VERSION);
    assert_eq!(key_value(&org.key_lines(), "audit-key"), Some(audit));
}

#[test]
fn processes_opening_a_schema_1_database_at_once_agree_on_one_audit_key() {
    let org = Org::v1();
    let bin = assert_cmd::cargo::cargo_bin("mfa-console");
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&bin)
                .env_remove("MFA_CONSOLE_DB")
                .arg("--db")
                .arg(&org.db)
                .args(["user", "list", "--format", "csv"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = org.check_passes();
    assert!(
        r.stdout.contains("(8 events)"),
        "migrated once: {}",
        r.stdout
    );
}

#[test]
fn a_schema_1_backup_restored_with_its_one_line_key_file_migrates_again() {
    // Older backups keep working: their own key file gets its own audit key.
    let org = Org::v1();
    let backup = Org::v1();
    org.check_passes();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&backup.db)
        .arg("check");
    c.assert().success();
    assert_ne!(
        key_value(&org.key_lines(), "audit-key"),
        key_value(&backup.key_lines(), "audit-key")
    );
}
