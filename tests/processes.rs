//! Several real processes on one database: racing sign-ins, concurrent writers, and
//! writers killed with SIGKILL part-way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mfa_console::core::{Actor, Core, NewUser};
use mfa_console::mail::Outbox;
use mfa_console::store::{Method, Role};
use zeroize::Zeroizing;

const PASSWORD: &str = "granite harbor lamp 77";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mfa-console"))
}

fn new_org(dir: &Path) -> (PathBuf, Core) {
    let db = dir.join("org.redb");
    let core = Core::create(
        &db,
        "Race Test",
        NewUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password: Some(Zeroizing::new(PASSWORD.into())),
        },
        Arc::new(Outbox::new(dir.join("outbox"), "MFA <mfa@localhost>")),
    )
    .unwrap();
    (db, core)
}

fn users_in(db: &Path) -> HashSet<String> {
    let out = Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "report", "--format", "json"])
        .env_remove("MFA_CONSOLE_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| r["username"].as_str().unwrap().to_string())
        .collect()
}

fn check_passes(db: &Path) {
    let out = Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "check"])
        .env_remove("MFA_CONSOLE_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn_verify(db: &Path, user: &str, code: &str) -> std::process::Child {
    let mut child = Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "verify", user])
        .env_remove("MFA_CONSOLE_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}\n{code}").unwrap();
    drop(stdin);
    child
}

/// RFC 6238 §5.2: two sign-ins racing with one code let exactly one through.
#[test]
fn two_processes_racing_with_one_code_let_exactly_one_through() {
    let dir = tempfile::tempdir().unwrap();
    let (db, core) = new_org(dir.path());
    core.set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    let pending = core
        .begin_authenticator(Actor::Operator, "admin", Some("phone"), None)
        .unwrap();
    // Confirm with the previous step's code, so the current one is still fresh.
    let now = core.now();
    core.confirm_authenticator(
        Actor::Operator,
        &pending,
        &pending.code_at(now - 30).unwrap(),
    )
    .unwrap();
    let user_id = core
        .store()
        .read(|tx| tx.user_id_by_name("admin"))
        .unwrap()
        .unwrap();
    drop(core);
    let store = mfa_console::store::Store::open(&db).unwrap();

    for round in 0..12 {
        // Each round starts from a clean replay state, so the current code is fresh again.
        store.write(|tx| tx.remove_last_totp_step(user_id)).unwrap();
        let code = pending.code_at(chrono::Utc::now().timestamp()).unwrap();
        let a = spawn_verify(&db, "admin", &code);
        let b = spawn_verify(&db, "admin", &code);
        let accepted = [a, b]
            .into_iter()
            .map(|c| c.wait_with_output().unwrap().status.success())
            .filter(|ok| *ok)
            .count();
        assert_eq!(
            accepted, 1,
            "round {round}: {accepted} sign-ins accepted one code"
        );
    }
    check_passes(&db);
}

/// Many processes writing at once: none fails because another holds the file, none is lost.
#[test]
fn concurrent_processes_adding_users_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (db, core) = new_org(dir.path());
    drop(core);
    let n = 16;
    let children: Vec<_> = (0..n)
        .map(|i| {
            Command::new(bin())
                .args([
                    "--db",
                    db.to_str().unwrap(),
                    "user",
                    "add",
                    &format!("user{i}"),
                    "--email",
                    &format!("user{i}@example.com"),
                ])
                .env_remove("MFA_CONSOLE_DB")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "user add user{i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let users = users_in(&db);
    for i in 0..n {
        assert!(users.contains(&format!("user{i}")), "user{i} was lost");
    }
    assert_eq!(users.len(), n + 1);
    check_passes(&db);
}

/// A writer killed with SIGKILL at a random moment leaves the database as before or
/// after its change: `check` passes and every write that reported success is there.
#[test]
fn writers_killed_with_sigkill_lose_nothing_that_was_reported_done() {
    let dir = tempfile::tempdir().unwrap();
    let (db, core) = new_org(dir.path());
    drop(core);
    let mut reported_done = Vec::new();
    let mut killed = 0;
    for i in 0..40 {
        let mut child = Command::new(bin())
            .args([
                "--db",
                db.to_str().unwrap(),
                "user",
                "add",
                &format!("crash{i}"),
                "--email",
                &format!("crash{i}@example.com"),
            ])
            .env_remove("MFA_CONSOLE_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = mfa_console::random::u64().unwrap() % 60_000;
        std::thread::sleep(Duration::from_micros(delay));
        match child.try_wait().unwrap() {
            Some(status) => {
                if status.success() {
                    reported_done.push(format!("crash{i}"));
                }
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                let status = child.wait().unwrap();
                if status.success() {
                    reported_done.push(format!("crash{i}"));
                } else {
                    killed += 1;
                }
            }
        }
    }
    check_passes(&db);
    let users = users_in(&db);
    for u in &reported_done {
        assert!(users.contains(u), "{u} was reported added but is gone");
    }
    // The timing should have caught some writers mid-flight, and let others finish.
    assert!(killed > 0 || !reported_done.is_empty());
    eprintln!("{killed} writers killed, {} completed", reported_done.len());
}

/// A large import killed part-way lands whole or not at all.
#[test]
fn an_import_killed_part_way_lands_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (db, core) = new_org(dir.path());
    drop(core);
    let mut outcomes = HashSet::new();
    for round in 0..6 {
        let csv = dir.path().join(format!("batch{round}.csv"));
        let mut text = String::from("username,email,name,role\n");
        for i in 0..400 {
            text.push_str(&format!(
                "b{round}u{i},b{round}u{i}@example.com,User {i},member\n"
            ));
        }
        std::fs::write(&csv, text).unwrap();
        let mut child = Command::new(bin())
            .args([
                "--db",
                db.to_str().unwrap(),
                "user",
                "import",
                csv.to_str().unwrap(),
            ])
            .env_remove("MFA_CONSOLE_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = 10 + mfa_console::random::u64().unwrap() % 400;
        std::thread::sleep(Duration::from_millis(delay));
        let finished = child.try_wait().unwrap().is_some_and(|s| s.success());
        if !finished {
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        check_passes(&db);
        let users = users_in(&db);
        let landed = (0..400)
            .filter(|i| users.contains(&format!("b{round}u{i}")))
            .count();
        assert!(
            landed == 0 || landed == 400,
            "round {round}: {landed} of 400 users landed"
        );
        if status.success() {
            assert_eq!(
                landed, 400,
                "round {round}: import reported success but users are missing"
            );
        }
        outcomes.insert(landed);
    }
    eprintln!("import outcomes seen (users landed): {outcomes:?}");
}

/// A process that stays open (a console) keeps working after another process rotated the
/// key file: it notices the new key and reads the re-sealed secrets.
#[test]
fn a_long_running_process_follows_a_key_rotation_by_another() {
    use mfa_console::core::{Channel, CodeKind, SignInStep};
    let dir = tempfile::tempdir().unwrap();
    let (db, core) = new_org(dir.path());
    core.set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    let p = core
        .begin_authenticator(Actor::Operator, "admin", None, None)
        .unwrap();
    core.confirm_authenticator(Actor::Operator, &p, &p.code_at(core.now() - 30).unwrap())
        .unwrap();
    let out = Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "rotate-key"])
        .env_remove("MFA_CONSOLE_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pending = match core.sign_in("admin", PASSWORD, Channel::Api, None).unwrap() {
        SignInStep::CodeRequired(p) => p,
        other => panic!("expected the code step, got {other:?}"),
    };
    let step = core
        .submit_code(
            &pending,
            &p.code_at(core.now()).unwrap(),
            CodeKind::Authenticator,
        )
        .unwrap();
    assert!(matches!(step, SignInStep::SignedIn(_)));
    assert!(core.check().unwrap().ok());
}
