//! The text people type into names, addresses and usernames, at every front door: control
//! and invisible characters refused, confusable usernames refused (UTS #39 skeletons),
//! usernames bounded; and the import, backup and codes-file errors a person meets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use predicates::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;
use zeroize::Zeroizing;

use mfa_console::core::{Actor, Core, CoreError, NewUser, UserChange};
use mfa_console::mail::{Mailer, Outbox};
use mfa_console::store::{Method, Role};

const ADMIN_PW: &str = "river stone lantern 42";

struct Org {
    dir: TempDir,
    db: PathBuf,
}

impl Org {
    fn new() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        let org = Org { dir, db };
        org.run(
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
            &format!("{ADMIN_PW}\n"),
        )
        .success();
        org
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("mfa-console").unwrap();
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("RUST_BACKTRACE")
            .arg("--db")
            .arg(&self.db);
        c
    }

    fn run(&self, args: &[&str], stdin: &str) -> Assert {
        let a = self.cmd().args(args).write_stdin(stdin).assert();
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        a
    }

    fn add(&self, user: &str, name: &str) -> Assert {
        let email = format!("{}@example.com", user.replace('@', "."));
        self.run(
            &["user", "add", user, "--email", &email, "--name", name],
            "",
        )
    }

    fn usernames(&self) -> Vec<String> {
        let a = self
            .run(&["user", "export", "--format", "json"], "")
            .success();
        let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["username"].as_str().unwrap().to_string())
            .collect()
    }

    fn core(&self) -> Core {
        Core::open(&self.db, self.mailer()).unwrap()
    }

    fn mailer(&self) -> Arc<dyn Mailer> {
        Arc::new(Outbox::new(self.path("outbox"), "MFA <mfa@localhost>"))
    }
}

fn stderr(a: &Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Text with each kind of character that has no place in a name or an address.
const HOSTILE: [(&str, &str); 8] = [
    ("escape", "Mallory \u{1b}[2J"),
    ("newline", "Mallory\nBcc: everyone@example.com"),
    ("tab", "Mal\tlory"),
    ("delete", "Mal\u{7f}lory"),
    ("C1 control", "Mal\u{9b}lory"),
    ("right-to-left override", "Mal\u{202e}yrol"),
    ("zero-width space", "Mal\u{200b}lory"),
    ("bidi isolate", "Mal\u{2066}lory"),
];

// ---------------------------------------------------------------------------------------
// Control and invisible characters
// ---------------------------------------------------------------------------------------

#[test]
fn user_add_and_set_refuse_control_characters_in_names_and_addresses() {
    let org = Org::new();
    org.add("alice", "Alice").success();
    for (what, name) in HOSTILE {
        let a = org.add("mallory", name).code(1);
        assert!(
            stderr(&a).contains("control or invisible character"),
            "{what}: {}",
            stderr(&a)
        );
        // The refusal shows the character escaped, never raw.
        assert!(!stderr(&a).contains('\u{1b}'), "{what}");
        let a = org
            .run(&["user", "set", "alice", "--name", name], "")
            .code(1);
        assert!(
            stderr(&a).contains("control or invisible character"),
            "{what}: {}",
            stderr(&a)
        );
        let email = format!("{}@example.com", name.replace(' ', ""));
        org.run(&["user", "set", "alice", "--email", &email], "")
            .code(1)
            .stderr(contains("not an email address"));
    }
    assert_eq!(org.usernames(), vec!["admin", "alice"]);
    // Ordinary text from any script still goes in.
    org.run(
        &["user", "set", "alice", "--name", "Ålice Ödegård 爱丽丝"],
        "",
    )
    .success();
}

#[test]
fn import_refuses_control_characters_naming_the_line() {
    let org = Org::new();
    let file = org.path("users.csv");
    fs::write(
        &file,
        "username,email,name,role\n\
         dave,dave@example.com,Dave,member\n\
         erin,erin@example.com,\"Erin \u{1b}[31mRed\",member\n\
         fred,fred\u{200b}@example.com,Fred,member\n",
    )
    .unwrap();
    let a = org
        .run(&["user", "import", file.to_str().unwrap()], "")
        .code(1);
    let e = stderr(&a);
    assert!(
        e.contains("line 3") && e.contains("control or invisible"),
        "{e}"
    );
    assert!(
        e.contains("line 4") && e.contains("not an email address"),
        "{e}"
    );
    assert!(!e.contains('\u{1b}'), "{e:?}");
    assert_eq!(org.usernames(), vec!["admin"]);
}

#[test]
fn the_core_refuses_them_at_setup_and_in_configure_my_mfa() {
    let dir = tempfile::tempdir().unwrap();
    let mailer: Arc<dyn Mailer> = Arc::new(Outbox::new(dir.path().join("out"), "M <m@x.test>"));
    let admin = |name: &str, email: &str| NewUser {
        username: "admin".into(),
        email: email.into(),
        name: name.into(),
        role: Role::Admin,
        password: Some(Zeroizing::new(ADMIN_PW.into())),
    };
    // First-run setup: the administrator's name, address, and the organization's name.
    for (i, (_, bad)) in HOSTILE.iter().enumerate() {
        let db = dir.path().join(format!("a{i}.redb"));
        let e = Core::create(&db, "Acme", admin(bad, "a@example.com"), mailer.clone());
        assert!(matches!(e, Err(CoreError::Invalid(_))), "{bad:?}");
        let e = Core::create(&db, bad, admin("Admin", "a@example.com"), mailer.clone());
        assert!(matches!(e, Err(CoreError::Invalid(_))), "{bad:?}");
        assert!(!db.exists());
    }
    let e = Core::create(
        dir.path().join("b.redb"),
        "Acme",
        admin("Admin", "a\u{202e}@example.com"),
        mailer.clone(),
    );
    assert!(matches!(e, Err(CoreError::Invalid(_))));

    // Configure my MFA: changing the address that receives codes.
    let core = Core::create(
        dir.path().join("c.redb"),
        "Acme",
        admin("Admin", "a@example.com"),
        mailer,
    )
    .unwrap();
    core.set_method(Actor::Operator, Method::Email, true, false)
        .unwrap();
    for bad in [
        "adm\u{200b}in@example.com",
        "admin@exa\u{202e}mple.com",
        "admin@example.com\u{7}",
    ] {
        let e = core.begin_email_enrollment(Actor::Operator, "admin", Some(bad), None);
        assert!(matches!(e, Err(CoreError::Invalid(_))), "{bad:?}");
    }
    let e = core.update_user(
        Actor::Operator,
        "admin",
        UserChange {
            name: Some("Ad\u{85}min".into()),
            ..Default::default()
        },
    );
    assert!(matches!(e, Err(CoreError::Invalid(_))));
}

// ---------------------------------------------------------------------------------------
// Usernames
// ---------------------------------------------------------------------------------------

#[test]
fn usernames_confusable_with_an_existing_one_are_refused() {
    let org = Org::new();
    org.add("paul", "Paul").success();
    for (lookalike, why) in [
        ("p\u{430}ul", "Cyrillic a"),
        ("pau1", "digit one for l"),
        ("PAUL", "capitals"),
        ("p\u{251}ul", "Latin alpha"),
    ] {
        let a = org.add(lookalike, "Impostor").code(1);
        let e = stderr(&a);
        assert!(
            e.contains("paul") && (e.contains("looks like") || e.contains("already exists")),
            "{why}: {e}"
        );
    }
    // Letters that only look alike in combination ("rn" and "m").
    org.add("marta", "Marta").success();
    org.add("rnarta", "Impostor")
        .code(1)
        .stderr(contains("marta"));
    assert_eq!(org.usernames(), vec!["admin", "marta", "paul"]);

    // The index follows removals: once paul is gone the name is free again.
    org.run(&["user", "remove", "paul"], "").success();
    org.add("p\u{430}ul", "Now allowed").success();
    org.add("paul", "Impostor")
        .code(1)
        .stderr(contains("looks like"));
}

#[test]
fn import_refuses_confusable_usernames_in_the_file_and_in_the_database() {
    let org = Org::new();
    org.add("paul", "Paul").success();
    let file = org.path("users.csv");
    fs::write(
        &file,
        "username,email,name,role\n\
         ann,ann@example.com,Ann,member\n\
         p\u{430}ul,p2@example.com,Impostor,member\n",
    )
    .unwrap();
    org.run(&["user", "import", file.to_str().unwrap()], "")
        .code(1)
        .stderr(contains("line 3").and(contains("paul")));
    fs::write(
        &file,
        "username,email,name,role\n\
         olga,olga@example.com,Olga,member\n\
         \n\
         o1ga,o2@example.com,Impostor,member\n",
    )
    .unwrap();
    org.run(&["user", "import", file.to_str().unwrap()], "")
        .code(1)
        .stderr(contains("line 4").and(contains("olga")));
    assert_eq!(org.usernames(), vec!["admin", "paul"]);
}

#[test]
fn usernames_are_bounded_and_without_spaces() {
    let org = Org::new();
    let long = "a".repeat(10_000);
    let a = org.add(&long, "Long").code(1);
    let e = stderr(&a);
    assert!(e.contains("at most 64 characters"), "{e}");
    assert!(
        e.len() < 1000,
        "the name is not echoed whole: {} bytes",
        e.len()
    );
    org.add(&"b".repeat(64), "Longest").success();
    org.add(&"c".repeat(65), "Too long").code(1);
    for bad in ["bo b", "bob\t", "\u{a0}bob", "bo\u{2003}b", "bob\u{200b}"] {
        org.add(bad, "Spaces").code(1);
    }
    let file = org.path("users.csv");
    fs::write(
        &file,
        format!("username,email,name,role\n{long},x@example.com,X,member\n"),
    )
    .unwrap();
    let a = org
        .run(&["user", "import", file.to_str().unwrap()], "")
        .code(1);
    assert!(stderr(&a).contains("line 2"), "{}", stderr(&a));
    // Nothing of it reached the audit log.
    let audit = org.run(&["audit", "--format", "csv"], "").success();
    let audit = String::from_utf8_lossy(&audit.get_output().stdout).into_owned();
    assert!(!audit.contains(&"a".repeat(65)));
}

// ---------------------------------------------------------------------------------------
// Import conflicts, backup, the codes file
// ---------------------------------------------------------------------------------------

#[test]
fn import_conflicts_name_the_rows_real_line() {
    let org = Org::new();
    org.add("alice", "Alice").success();
    let file = org.path("users.csv");
    // Line 1 header; 2 dave; 3 blank; 4–5 erin (her quoted name ends with a line break,
    // which the import trims); 6 blank; 7 Alice.
    fs::write(
        &file,
        "username,email,name,role\n\
         dave,dave@example.com,Dave,member\n\
         \n\
         erin,erin@example.com,\"Erin\n\",member\n\
         \n\
         Alice,alice2@example.com,Alice Two,member\n",
    )
    .unwrap();
    let a = org
        .run(&["user", "import", file.to_str().unwrap()], "")
        .code(1);
    let e = stderr(&a);
    assert!(e.contains("line 7") && e.contains("already exists"), "{e}");
    assert!(!e.contains("line 4:"), "{e}");
    assert_eq!(org.usernames(), vec!["admin", "alice"]);
}

#[test]
fn backup_into_a_missing_folder_says_so() {
    let org = Org::new();
    let dest = org.path("no/such/folder/copy.redb");
    let a = org.run(&["backup", dest.to_str().unwrap()], "").code(1);
    let e = stderr(&a);
    assert!(e.contains("does not exist"), "{e}");
    assert!(
        e.contains(org.path("no/such/folder").to_str().unwrap()),
        "{e}"
    );
    assert!(e.contains("mkdir -p"), "{e}");
    // A file where the folder should be.
    fs::write(org.path("plain-file"), "x").unwrap();
    let dest = org.path("plain-file/copy.redb");
    org.run(&["backup", dest.to_str().unwrap()], "")
        .code(1)
        .stderr(contains("not a folder"));
    // And the good case still works.
    let dest = org.path("copy.redb");
    org.run(&["backup", dest.to_str().unwrap()], "").success();
    assert!(dest.exists());
}

/// A big import with `--codes-out`, stopped by `signal` once the codes file exists: the
/// file is removed, nothing is imported.
fn interrupted_import_removes_the_codes_file(signal: i32, status: i32) {
    let org = Org::new();
    let file = org.path("big.csv");
    let mut text = String::from("username,email,name,role\n");
    for i in 0..150_000 {
        text.push_str(&format!(
            "user{i:06},user{i:06}@example.com,User {i},member\n"
        ));
    }
    fs::write(&file, text).unwrap();
    let codes = org.path("codes.csv");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-console"))
        .env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&org.db)
        .args(["user", "import", file.to_str().unwrap(), "--codes-out"])
        .arg(&codes)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !codes.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no codes file");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let pid = child.id().to_string();
    let sig = format!("-{signal}");
    let killed = std::process::Command::new("kill")
        .args([sig.as_str(), pid.as_str()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(status), "{err}");
    assert!(
        err.contains("interrupted") && err.contains("removed"),
        "{err}"
    );
    assert!(!codes.exists(), "the codes file is left behind");
    assert_eq!(org.usernames(), vec!["admin"], "nothing imported");
}

#[test]
fn an_import_stopped_by_sigterm_removes_its_codes_file() {
    interrupted_import_removes_the_codes_file(15, 143);
}

#[test]
fn an_import_stopped_by_sigint_removes_its_codes_file() {
    interrupted_import_removes_the_codes_file(2, 130);
}

#[test]
fn a_failed_import_removes_its_codes_file() {
    let org = Org::new();
    org.add("alice", "Alice").success();
    let file = org.path("users.csv");
    fs::write(
        &file,
        "username,email,name,role\nalice,a2@example.com,Again,member\n",
    )
    .unwrap();
    let codes = org.path("codes.csv");
    org.run(
        &[
            "user",
            "import",
            file.to_str().unwrap(),
            "--codes-out",
            codes.to_str().unwrap(),
        ],
        "",
    )
    .code(1);
    assert!(!codes.exists());
    // Nothing to import with a bad file either: no codes file is made at all.
    fs::write(
        &file,
        "username,email,name,role\nbob,not-an-address,B,member\n",
    )
    .unwrap();
    org.run(
        &[
            "user",
            "import",
            file.to_str().unwrap(),
            "--codes-out",
            codes.to_str().unwrap(),
        ],
        "",
    )
    .code(1);
    assert!(!codes.exists());
    drop(org.core());
}

/// Databases made before the look-alike index have it filled when they are migrated: the
/// step `migrate()` runs is this one.
#[test]
fn the_lookalike_index_is_backfilled_for_older_databases() {
    let org = Org::new();
    org.add("paul", "Paul").success();
    org.add("olga", "Olga").success();
    {
        // As a database from before the index: no such table.
        let mut b = redb::Builder::new();
        b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
        let db = b.open(&org.db).unwrap();
        let w = db.begin_write().unwrap();
        let def: redb::TableDefinition<(&str, u64), ()> =
            redb::TableDefinition::new("username_skeletons");
        assert!(w.delete_table(def).unwrap());
        w.commit().unwrap();
    }
    let core = org.core();
    let n = core
        .store()
        .write(|tx| tx.backfill_username_skeletons())
        .unwrap();
    assert_eq!(n, 3, "admin, paul, olga");
    drop(core);
    org.add("p\u{430}ul", "Impostor")
        .code(1)
        .stderr(contains("looks like").and(contains("paul")));
    org.add("o1ga", "Impostor")
        .code(1)
        .stderr(contains("looks like").and(contains("olga")));
    // Run twice, it gives the same index.
    let core = org.core();
    assert_eq!(
        core.store()
            .write(|tx| tx.backfill_username_skeletons())
            .unwrap(),
        3
    );
}
