//! The database under stress from outside: a writer stopped with SIGSTOP part-way through
//! its write, and files damaged byte by byte. No process waits without bound, and no
//! damage reaches a person as a panic or a stack trace.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "granite harbor lamp 77";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mfa-console"))
}

fn cmd(db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--db")
        .arg(db)
        .args(args)
        .env_remove("MFA_CONSOLE_DB")
        .env_remove("MFA_CONSOLE_CONFIG")
        .env_remove("MFA_CONSOLE_BUSY_SECONDS");
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    cmd(db, args).stdin(Stdio::null()).output().unwrap()
}

/// Runs a command with a hard deadline of our own, so a hang fails the test instead of
/// hanging it; gives the output and how long it took.
fn run_bounded(mut c: Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let what = format!("{c:?}");
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let trace = Command::new("sh")
                .arg("-c")
                .arg(format!("cat /proc/{0}/wchan; echo; cat /proc/{0}/stack; timeout 2 strace -p {0} 2>&1 | head -5; ls -la /proc/{0}/fd", child.id()))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            eprintln!("{trace}");
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still waited after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

fn init(dir: &Path) -> PathBuf {
    let db = dir.join("org.redb");
    let mut child = cmd(
        &db,
        &[
            "init",
            "--org",
            "Fault Test",
            "--admin",
            "admin",
            "--email",
            "admin@example.com",
            "--password-stdin",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success());
    db
}

fn write_csv(path: &Path, rows: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "username,email,name,role").unwrap();
    for i in 0..rows {
        writeln!(f, "user{i},user{i}@example.com,User {i},member").unwrap();
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts a large import and stops it with SIGSTOP inside its write transaction: a moment
/// after it took the writer lock, and while it still holds it.
fn stopped_importer(dir: &Path, db: &Path) -> Child {
    let csv = dir.join("big.csv");
    write_csv(&csv, IMPORTED);
    let codes = dir.join("codes.csv");
    let child = cmd(
        db,
        &[
            "user",
            "import",
            csv.to_str().unwrap(),
            "--codes-out",
            codes.to_str().unwrap(),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // The holder of the writer lock writes its pid first in the lock file.
    let lock = mfa_console::store::lock::lock_path(db);
    let started = Instant::now();
    loop {
        if std::fs::read_to_string(&lock)
            .map(|r| r.starts_with(&format!("{}\t", child.id())))
            .unwrap_or(false)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the import never took the writer lock"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, "-STOP");
    // Still inside: the commit would have been followed by the codes file.
    assert!(
        !dir.join("codes.csv").exists()
            || std::fs::metadata(dir.join("codes.csv")).unwrap().len() == 0,
        "the import finished its write before it was stopped"
    );
    child
}

const IMPORTED: usize = 5000;

#[test]
fn reads_answer_and_writes_give_up_while_a_writer_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let mut holder = stopped_importer(dir.path(), &db);

    // Reads: the roster, the report and the controls answer at once from the last commit.
    for args in [
        &["user", "list"][..],
        &["report", "--format", "json"][..],
        &["controls", "show"][..],
    ] {
        let (out, took) = run_bounded(cmd(&db, args), Duration::from_secs(30));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            took < Duration::from_secs(1),
            "{args:?} took {took:?} behind a stopped writer"
        );
    }
    let (out, _) = run_bounded(
        cmd(&db, &["report", "--format", "json"]),
        Duration::from_secs(30),
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1, "the stopped import is not visible half-way");

    // A write waits its busy timeout, then names the holder and what to do.
    let mut add = cmd(&db, &["user", "add", "late", "--email", "late@example.com"]);
    add.env("MFA_CONSOLE_BUSY_SECONDS", "2");
    let (out, took) = run_bounded(add, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took >= Duration::from_secs(2), "gave up after {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "gave up only after {took:?}"
    );
    assert!(err.contains("is busy"), "{err}");
    assert!(
        err.contains(&format!("process {}", holder.id())),
        "names the holder: {err}"
    );
    assert!(err.contains("user import"), "names its command: {err}");
    assert!(err.contains("try again"), "says what to do: {err}");
    assert!(!err.contains("panicked"), "{err}");

    // Once the holder goes on, its import lands whole and writes work again.
    signal(&holder, "-CONT");
    assert!(holder.wait().unwrap().success());
    let out = run(&db, &["user", "add", "late", "--email", "late@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&db, &["report", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), IMPORTED + 2);
    assert!(run(&db, &["check"]).status.success());
}

#[test]
fn a_stopped_writer_does_not_hold_a_new_process_that_only_reads_in_the_library() {
    // The console's roster reads through the same store as `user list`; this drives the
    // library the console uses, in this process, beside a stopped writer.
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let mut holder = stopped_importer(dir.path(), &db);
    let started = Instant::now();
    let store = mfa_console::store::Store::open(&db).unwrap();
    let users = store.read(|tx| tx.users().map(|u| u.len())).unwrap();
    assert_eq!(users, 1);
    assert!(started.elapsed() < Duration::from_secs(1));
    signal(&holder, "-CONT");
    assert!(holder.wait().unwrap().success());
    assert_eq!(
        store.read(|tx| tx.users().map(|u| u.len())).unwrap(),
        IMPORTED + 1
    );
}

/// A database of some users with a few events, about 1–2 MB.
fn sample_db(dir: &Path) -> PathBuf {
    let db = init(dir);
    let csv = dir.join("some.csv");
    write_csv(&csv, 3000);
    let codes = dir.join("some-codes.csv");
    let out = run(
        &db,
        &[
            "user",
            "import",
            csv.to_str().unwrap(),
            "--codes-out",
            codes.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    db
}

fn flip(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0xff], offset).unwrap();
}

fn assert_no_panic(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 101),
        "{what}: ended with {:?}\n{err}",
        out.status
    );
    assert!(
        !err.contains("panicked")
            && !err.contains("stack backtrace")
            && !err.contains("RUST_BACKTRACE"),
        "{what}: {err}"
    );
    if !out.status.success() {
        assert!(err.starts_with("error: "), "{what}: {err}");
    }
}

#[test]
fn a_flipped_byte_is_a_clear_error_and_writes_are_refused_until_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_db(dir.path());
    let pristine = dir.path().join("pristine.redb");
    std::fs::copy(&db, &pristine).unwrap();
    flip(&db, 4100);

    for args in [
        &["user", "list"][..],
        &["report"][..],
        &["user", "add", "zed", "--email", "zed@example.com"][..],
        &["check"][..],
    ] {
        let out = run(&db, args);
        assert_no_panic(&out, &format!("{args:?}"));
    }
    let out = run(&db, &["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("is damaged"), "{err}");
    assert!(err.contains("restore it from a backup"), "{err}");
    assert!(err.contains(db.to_str().unwrap()), "names the file: {err}");

    // After `check` found it damaged, every process refuses changes.
    let out = run(&db, &["user", "add", "zed", "--email", "zed@example.com"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changes are refused"), "{err}");

    // Restored from the copy, a passing check lifts the refusal.
    std::fs::copy(&pristine, &db).unwrap();
    let out = run(&db, &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&db, &["user", "add", "zed", "--email", "zed@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_flipped_byte_anywhere_makes_a_command_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_db(dir.path());
    let pristine = dir.path().join("pristine.redb");
    std::fs::copy(&db, &pristine).unwrap();
    let len = std::fs::metadata(&db).unwrap().len();
    // The header and first pages densely, the rest of the file sparsely.
    let mut offsets: Vec<u64> = (0..8192).step_by(97).collect();
    offsets.extend((8192..len).step_by((len / 40).max(1) as usize));
    for offset in offsets {
        std::fs::copy(&pristine, &db).unwrap();
        let _ = std::fs::remove_file(mfa_console::store::damaged_marker_path(&db));
        flip(&db, offset);
        for args in [
            &["user", "list"][..],
            &["user", "add", "zed", "--email", "zed@example.com"][..],
        ] {
            let out = run(&db, args);
            assert_no_panic(&out, &format!("byte {offset} flipped, {args:?}"));
        }
    }
}

#[test]
fn engine_errors_name_the_file_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_db(dir.path());

    // A folder given as the database.
    let folder = dir.path().join("folder.redb");
    std::fs::create_dir(&folder).unwrap();
    let out = run(&folder, &["user", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("is a folder") && err.contains("--db"), "{err}");

    // A file cut short.
    let cut = dir.path().join("cut.redb");
    std::fs::copy(&db, &cut).unwrap();
    std::fs::copy(
        mfa_console::store::key_path(&db),
        mfa_console::store::key_path(&cut),
    )
    .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(3000)
        .unwrap();
    let out = run(&cut, &["user", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&out, "cut short");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("cut off") && err.contains("restore it from a backup"),
        "{err}"
    );

    // A header naming a file format that does not exist.
    let odd = dir.path().join("odd.redb");
    std::fs::copy(&db, &odd).unwrap();
    std::fs::copy(
        mfa_console::store::key_path(&db),
        mfa_console::store::key_path(&odd),
    )
    .unwrap();
    flip(&odd, 64);
    let out = run(&odd, &["user", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&out, "odd format");
    assert!(
        err.contains("is damaged") && err.contains("odd.redb"),
        "{err}"
    );
}

/// Holds the storage engine's header lock (the first 320 bytes of the file, which a writer
/// holds exclusively while it publishes a commit) from this process, as a writer stopped
/// right then would.
#[allow(unsafe_code)]
fn hold_header_lock(db: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(db)
        .unwrap();
    // SAFETY: a zeroed `flock` is a valid value; the fd is open for the call's duration.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    lock.l_start = 0;
    lock.l_len = 320;
    // SAFETY: F_OFD_SETLK with a valid pointer to an initialised flock.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) };
    assert_eq!(rc, 0, "could not take the header lock");
    f
}

#[test]
fn a_read_behind_a_writer_stopped_mid_commit_gives_up_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let held = hold_header_lock(&db);
    let mut list = cmd(&db, &["user", "list"]);
    list.env("MFA_CONSOLE_BUSY_SECONDS", "2");
    let (out, took) = run_bounded(list, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(10), "waited {took:?}");
    assert!(
        err.contains("is busy") && err.contains("part-way through a commit"),
        "{err}"
    );
    drop(held);
    let out = run(&db, &["user", "list"]);
    assert!(out.status.success());
}
