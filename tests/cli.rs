//! The command line, end to end: every subcommand run as the real `mfa-console` binary on a
//! real database in a temporary folder (`--db <tmp>/org.redb`), asserting exit status
//! (0 success, 1 refused or failed, 2 usage), stdout and stderr. TOTP codes are computed
//! independently with `totp-rs` from the secret the binary prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;
use tempfile::TempDir;
use totp_rs::{Builder, Secret, Totp};

const ADMIN_PW: &str = "river stone lantern 42";
const ALICE_PW: &str = "quiet meadow lantern 9";
const SVC_PW: &str = "integration token phrase 5";
const GENERIC: &str = "Sign-in refused: the username, password or code is not right.";

// ---------------------------------------------------------------------------------------
// Test bench
// ---------------------------------------------------------------------------------------

/// A temporary folder holding `org.redb` (not yet created).
struct Org {
    dir: TempDir,
    db: PathBuf,
}

impl Org {
    /// An empty folder: no database yet.
    fn empty() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        Org { dir, db }
    }

    /// A database for "Acme" with administrator `admin`.
    fn new() -> Org {
        let org = Org::empty();
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
            Some(&format!("{ADMIN_PW}\n")),
        )
        .success();
        org
    }

    /// `Org::new` plus alice (member, with a password).
    fn with_alice() -> Org {
        let org = Org::new();
        org.add_with_password("alice", ALICE_PW, "member");
        org
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("org.redb.key")
    }

    fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with `--db` on this organization and no `MFA_CONSOLE_DB` in its environment.
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("mfa-console").unwrap();
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("RUST_BACKTRACE")
            .arg("--db")
            .arg(&self.db);
        c
    }

    /// Runs the binary with `args` (and `stdin`, else an empty stdin); never a panic.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Assert {
        let mut c = self.cmd();
        c.args(args).write_stdin(stdin.unwrap_or(""));
        no_panic(c.assert())
    }

    fn add_with_password(&self, user: &str, password: &str, role: &str) {
        let email = format!("{user}@example.com");
        self.run(
            &[
                "user",
                "add",
                user,
                "--email",
                &email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        )
        .success()
        .stdout(contains(format!("Added {user}.")));
    }

    fn stdout(&self, args: &[&str]) -> String {
        let a = self.run(args, None).success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.stdout(args)).unwrap()
    }

    /// The `report --format json` row of `user`.
    fn report_row(&self, user: &str) -> Value {
        let report = self.json(&["report", "--format", "json"]);
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == user)
            .cloned()
            .unwrap_or_else(|| unreachable!("{user} is not in the report: {report}"))
    }

    fn usernames(&self) -> Vec<String> {
        self.json(&["user", "export", "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["username"].as_str().unwrap().to_string())
            .collect()
    }

    fn verify(&self, user: &str, password: &str, code: Option<&str>) -> Assert {
        let input = match code {
            Some(c) => format!("{password}\n{c}\n"),
            None => format!("{password}\n"),
        };
        self.run(&["verify", user], Some(&input))
    }

    /// Enrolls `user` with an authenticator through the binary: reads the secret it prints,
    /// types the right code, and returns the TOTP generator and the whole stdout.
    fn enroll_authenticator(&self, user: &str) -> Enrolled {
        let e = self.enroll_with(user, |t| code_at(t, now()));
        assert!(e.status.success(), "enroll failed: {}\n{}", e.err, e.out);
        e
    }

    /// Runs `enroll USER --method authenticator` with piped stdio; `code` picks the line to
    /// type once the secret is known.
    fn enroll_with(&self, user: &str, code: impl FnOnce(&Totp) -> String) -> Enrolled {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mfa-console"))
            .env_remove("MFA_CONSOLE_DB")
            .env_remove("RUST_BACKTRACE")
            .arg("--db")
            .arg(&self.db)
            .args(["enroll", user, "--method", "authenticator"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        let mut secret_line = None;
        let uri = loop {
            let mut line = String::new();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "enroll ended before printing the otpauth URI:\n{seen}"
            );
            seen.push_str(&line);
            let l = line.trim_end();
            if let Some(s) = l.strip_prefix("Secret: ") {
                secret_line = Some(s.to_string());
            }
            if l.starts_with("otpauth://") {
                break l.to_string();
            }
        };
        let secret_line = secret_line.expect("no `Secret:` line before the otpauth URI");
        // `Secret: XXXX XXXX ...`: Base32 in groups of four, separated by single spaces.
        let groups: Vec<&str> = secret_line.split(' ').collect();
        assert!(groups.len() >= 8, "160-bit secret expected: {secret_line}");
        for g in &groups {
            assert!(
                !g.is_empty()
                    && g.len() <= 4
                    && g.chars()
                        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
                "bad secret group {g:?} in {secret_line}"
            );
        }
        let base32: String = groups.concat();
        assert!(
            uri.starts_with(&format!("otpauth://totp/Acme:{user}?")),
            "unexpected URI {uri}"
        );
        // The secret without Base32 padding, then the issuer.
        assert!(uri.contains(&format!("secret={base32}&")), "{uri}");
        assert!(uri.ends_with("issuer=Acme"), "{uri}");
        let totp = totp_from_base32(&base32);

        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", code(&totp)).unwrap();
        drop(stdin);
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        seen.push_str(&rest);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_no_panic_text(&err);
        Enrolled {
            totp,
            base32,
            out: seen,
            status,
            err,
        }
    }
}

/// What `enroll --method authenticator` printed and how it ended.
struct Enrolled {
    totp: Totp,
    base32: String,
    out: String,
    status: std::process::ExitStatus,
    err: String,
}

fn no_panic(a: Assert) -> Assert {
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert_no_panic_text(&err);
    a
}

fn assert_no_panic_text(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "the binary panicked:\n{stderr}"
    );
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn totp_from_base32(base32: &str) -> Totp {
    let bytes = Secret::try_from_base32(base32).unwrap();
    assert_eq!(bytes.as_ref().len(), 20, "a 160-bit secret");
    Builder::new().with_secret(bytes).build().unwrap()
}

fn code_at(totp: &Totp, t: u64) -> String {
    let c = totp.generate(t).to_string();
    assert_eq!(c.len(), 6, "six digits: {c}");
    c
}

/// A six-digit code that is none of the codes from two steps back to two steps ahead.
fn wrong_code(totp: &Totp) -> String {
    let t = now();
    let near: Vec<String> = (0..=4u64).map(|i| code_at(totp, t + i * 30 - 60)).collect();
    let mut n: u32 = near[2].parse().unwrap();
    loop {
        n = (n + 1) % 1_000_000;
        let c = format!("{n:06}");
        if !near.contains(&c) {
            return c;
        }
    }
}

fn stdout_of(a: &Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn stderr_of(a: &Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

// ---------------------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------------------

#[test]
fn init_creates_database_and_private_key_file() {
    let org = Org::empty();
    org.run(
        &[
            "init",
            "--org",
            "Acme",
            "--admin",
            "admin",
            "--email",
            "admin@example.com",
            "--name",
            "Ada Admin",
            "--password-stdin",
        ],
        Some(&format!("{ADMIN_PW}\n")),
    )
    .success()
    .stdout(contains("Created").and(contains("administrator admin")))
    .stdout(contains("Key file"));
    assert!(org.db.exists());
    assert!(org.key().exists());
    assert_eq!(mode(&org.db), 0o600);
    assert_eq!(mode(&org.key()), 0o600);
    let admin = org.report_row("admin");
    assert_eq!(admin["role"], "admin");
    assert_eq!(admin["name"], "Ada Admin");
    org.verify("admin", ADMIN_PW, None)
        .success()
        .stdout(contains("accepted"));
}

#[test]
fn init_twice_is_refused() {
    let org = Org::new();
    let before = fs::read(org.key()).unwrap();
    org.run(
        &[
            "init",
            "--org",
            "Other",
            "--admin",
            "root",
            "--email",
            "root@example.com",
            "--password-stdin",
        ],
        Some("another long passphrase 1\n"),
    )
    .code(1)
    .stderr(contains("already exists"))
    .stdout(predicate::str::is_empty());
    assert_eq!(fs::read(org.key()).unwrap(), before, "key file untouched");
    assert_eq!(org.usernames(), vec!["admin"]);
}

#[test]
fn init_refuses_short_and_common_passwords() {
    let org = Org::empty();
    let args = [
        "init",
        "--org",
        "Acme",
        "--admin",
        "admin",
        "--email",
        "admin@example.com",
        "--password-stdin",
    ];
    org.run(&args, Some("short\n"))
        .code(1)
        .stderr(contains("at least 12 characters"));
    assert!(!org.db.exists(), "no database after a refused init");
    org.run(&args, Some("password1234\n"))
        .code(1)
        .stderr(contains("common"));
    assert!(!org.db.exists());
    org.run(&args, None)
        .code(1)
        .stderr(contains("standard input was empty"));
    assert!(!org.db.exists());
}

#[test]
fn init_missing_required_flag_is_a_usage_error() {
    let org = Org::empty();
    org.run(
        &[
            "init",
            "--org",
            "Acme",
            "--admin",
            "admin",
            "--password-stdin",
        ],
        Some(&format!("{ADMIN_PW}\n")),
    )
    .code(2)
    .stderr(contains("--email"));
    assert!(!org.db.exists());
}

#[test]
fn every_subcommand_has_help() {
    let org = Org::empty();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["user", "list", "--help"],
        &["user", "show", "--help"],
        &["user", "set", "--help"],
        &["user", "reset-mfa", "--help"],
        &["user", "remove", "--help"],
        &["user", "import", "--help"],
        &["user", "export", "--help"],
        &["user", "enrollment-code", "--help"],
        &["controls", "--help"],
        &["controls", "show", "--help"],
        &["controls", "set", "--help"],
        &["controls", "policy", "--help"],
        &["enroll", "--help"],
        &["verify", "--help"],
        &["report", "--help"],
        &["audit", "--help"],
        &["backup", "--help"],
        &["check", "--help"],
        &["rotate-key", "--help"],
    ] {
        org.run(args, None).success().stdout(contains("Usage:"));
    }
    org.run(&["frobnicate"], None).code(2);
    org.run(&["report", "--format", "xml"], None).code(2);
}

// ---------------------------------------------------------------------------------------
// user add / list / show
// ---------------------------------------------------------------------------------------

#[test]
fn user_add_with_password() {
    let org = Org::new();
    org.add_with_password("alice", ALICE_PW, "member");
    let row = org.report_row("alice");
    assert_eq!(row["role"], "member");
    assert_eq!(row["status"], "active");
    org.verify("alice", ALICE_PW, None)
        .success()
        .stdout(contains("accepted"));
}

#[test]
fn user_add_without_password_invites_and_mails() {
    let org = Org::new();
    let a = org
        .run(
            &[
                "user",
                "add",
                "bob",
                "--email",
                "bob@example.com",
                "--name",
                "Bob Builder",
            ],
            None,
        )
        .success()
        .stdout(contains("invited").and(contains("Activation code:")));
    let out = stdout_of(&a);
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("Activation code: "))
        .unwrap()
        .trim()
        .to_string();
    assert!(code.len() >= 10, "activation code {code:?}");
    let mails: Vec<PathBuf> = fs::read_dir(org.outbox())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(mails.len(), 1, "one activation mail: {mails:?}");
    assert_eq!(mode(&mails[0]), 0o600);
    let mail = fs::read_to_string(&mails[0]).unwrap();
    assert!(mail.contains("bob@example.com"), "{mail}");
    let row = org.report_row("bob");
    assert_eq!(row["status"], "invited");
    assert_eq!(row["name"], "Bob Builder");
}

#[test]
fn user_add_duplicate_is_refused_ignoring_case() {
    let org = Org::new();
    org.run(&["user", "add", "bob", "--email", "bob@example.com"], None)
        .success();
    org.run(&["user", "add", "bob", "--email", "bob2@example.com"], None)
        .code(1)
        .stderr(contains("already exists"));
    org.run(&["user", "add", "Bob", "--email", "bob3@example.com"], None)
        .code(1)
        .stderr(contains("already exists"));
    org.run(&["user", "add", "ADMIN", "--email", "x@example.com"], None)
        .code(1)
        .stderr(contains("already exists"));
    assert_eq!(org.usernames(), vec!["admin", "bob"]);
}

#[test]
fn user_add_bad_input() {
    let org = Org::new();
    org.run(&["user", "add", "carol", "--email", "notanemail"], None)
        .code(1)
        .stderr(contains("notanemail").and(contains("not an email address")));
    org.run(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--role",
            "boss",
        ],
        None,
    )
    .code(2)
    .stderr(contains("boss"));
    org.run(&["user", "add", "carol"], None)
        .code(2)
        .stderr(contains("--email"));
    org.run(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
    )
    .code(1)
    .stderr(contains("12 characters"));
    assert_eq!(org.usernames(), vec!["admin"]);
}

#[test]
fn user_list_formats_and_not_configured() {
    let org = Org::with_alice();
    org.add_with_password("svc", SVC_PW, "integration");

    let table = org.stdout(&["user", "list"]);
    assert!(table.contains("USERNAME"), "{table}");
    for u in ["admin", "alice", "svc"] {
        assert!(table.contains(u), "{table}");
    }
    assert!(table.contains("0 of 2 users configured"), "{table}");

    let csv = org.stdout(&["user", "list", "--format", "csv"]);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("username,name,email,role,status,configured")
    );
    assert_eq!(lines.count(), 3, "{csv}");
    assert!(
        csv.contains("alice,,alice@example.com,member,active,false"),
        "{csv}"
    );

    let json = org.json(&["user", "list", "--format", "json"]);
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let svc = rows.iter().find(|r| r["username"] == "svc").unwrap();
    assert_eq!(svc["role"], "integration");

    // Integration users are exempt from MFA and not listed as "not configured".
    let nc = org.json(&["user", "list", "--not-configured", "--format", "json"]);
    let names: Vec<&str> = nc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin", "alice"]);

    org.run(&["user", "list", "--format", "xml"], None).code(2);
}

#[test]
fn user_show_table_json_and_unknown() {
    let org = Org::with_alice();
    org.run(&["user", "show", "alice"], None).success().stdout(
        contains("username:")
            .and(contains("alice"))
            .and(contains("alice@example.com"))
            .and(contains("Enrollments:")),
    );
    let j = org.json(&["user", "show", "alice", "--format", "json"]);
    assert_eq!(j["user"]["username"], "alice");
    assert_eq!(j["user"]["email"], "alice@example.com");
    assert_eq!(j["user"]["configured"], false);
    assert_eq!(j["enrollments"], serde_json::json!([]));
    assert_eq!(j["recovery_codes_left"], 0);
    assert_eq!(j["must_change_password"], false);
    // Case does not matter for lookup.
    org.run(&["user", "show", "ALICE"], None)
        .success()
        .stdout(contains("alice"));
    org.run(&["user", "show", "nobody"], None)
        .code(1)
        .stderr(contains("nobody").and(contains("no user")));
}

// ---------------------------------------------------------------------------------------
// user set / reset-mfa / remove / enrollment-code
// ---------------------------------------------------------------------------------------

#[test]
fn user_set_role_email_name_disable_enable() {
    let org = Org::with_alice();
    org.run(
        &[
            "user",
            "set",
            "alice",
            "--role",
            "admin",
            "--email",
            "alice@corp.example",
            "--name",
            "Alice Liddell",
        ],
        None,
    )
    .success()
    .stdout(contains("Updated alice."));
    let u = org.json(&["user", "show", "alice", "--format", "json"]);
    assert_eq!(u["user"]["role"], "admin");
    assert_eq!(u["user"]["email"], "alice@corp.example");
    assert_eq!(u["user"]["name"], "Alice Liddell");

    org.run(&["user", "set", "alice", "--disable"], None)
        .success();
    assert_eq!(org.report_row("alice")["status"], "disabled");
    org.verify("alice", ALICE_PW, None).code(1);

    org.run(&["user", "set", "alice", "--enable"], None)
        .success();
    assert_eq!(org.report_row("alice")["status"], "active");
    org.verify("alice", ALICE_PW, None).success();

    org.run(&["user", "set", "alice", "--disable", "--enable"], None)
        .code(2);
    org.run(&["user", "set", "alice", "--role", "boss"], None)
        .code(2);
    org.run(&["user", "set", "alice", "--email", "nope"], None)
        .code(1)
        .stderr(contains("not an email address"));
    org.run(&["user", "set", "nobody", "--name", "X"], None)
        .code(1)
        .stderr(contains("nobody"));
}

#[test]
fn user_set_nothing_to_change_is_refused() {
    let org = Org::with_alice();
    org.run(&["user", "set", "alice"], None)
        .code(1)
        .stderr(contains("nothing to change"));
}

#[test]
fn user_set_unlock_clears_a_lockout() {
    let org = Org::with_alice();
    org.run(&["controls", "policy", "lockout-threshold", "3"], None)
        .success();
    for _ in 0..3 {
        org.verify("alice", "definitely the wrong password", None)
            .code(1);
    }
    // Locked: even the right password is refused.
    org.verify("alice", ALICE_PW, None).code(1);
    let u = org.json(&["user", "show", "alice", "--format", "json"]);
    assert!(!u["user"]["locked_until"].is_null(), "locked: {u}");

    org.run(&["user", "set", "alice", "--unlock"], None)
        .success()
        .stdout(contains("Updated alice."));
    let u = org.json(&["user", "show", "alice", "--format", "json"]);
    assert!(u["user"]["locked_until"].is_null(), "unlocked: {u}");
    org.verify("alice", ALICE_PW, None)
        .success()
        .stdout(contains("accepted"));
}

#[test]
fn user_set_temp_password() {
    let org = Org::with_alice();
    org.run(
        &["user", "set", "alice", "--temp-password-stdin"],
        Some("temporary pass phrase 77\n"),
    )
    .success();
    let u = org.json(&["user", "show", "alice", "--format", "json"]);
    assert_eq!(u["must_change_password"], true);
    // The old password no longer works; the temporary one must be changed in the console.
    org.verify("alice", ALICE_PW, None)
        .code(1)
        .stderr(contains(GENERIC));
    org.verify("alice", "temporary pass phrase 77", None)
        .code(1)
        .stderr(contains("temporary password"));
    org.run(
        &["user", "set", "alice", "--temp-password-stdin"],
        Some("short\n"),
    )
    .code(1)
    .stderr(contains("12 characters"));
}

#[test]
fn user_remove_and_enrollment_code() {
    let org = Org::with_alice();
    org.run(&["user", "enrollment-code", "alice"], None)
        .success()
        .stdout(contains("Enrollment code for alice"));
    org.run(&["user", "enrollment-code", "nobody"], None)
        .code(1)
        .stderr(contains("nobody"));

    org.run(&["user", "remove", "alice"], None)
        .success()
        .stdout(contains("Removed alice."));
    assert_eq!(org.usernames(), vec!["admin"]);
    org.run(&["user", "show", "alice"], None)
        .code(1)
        .stderr(contains("alice"));
    org.run(&["user", "remove", "alice"], None)
        .code(1)
        .stderr(contains("alice"));
    org.verify("alice", ALICE_PW, None)
        .code(1)
        .stderr(contains(GENERIC));
}

// ---------------------------------------------------------------------------------------
// user export / import
// ---------------------------------------------------------------------------------------

#[test]
fn user_export_csv_and_json() {
    let org = Org::with_alice();
    org.run(
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob@example.com",
            "--name",
            "Bob, Jr.",
        ],
        None,
    )
    .success();
    let csv = org.stdout(&["user", "export"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "username,email,name,role");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines.contains(&"alice,alice@example.com,,member"), "{csv}");
    assert!(
        lines.contains(&"bob,bob@example.com,\"Bob, Jr.\",member"),
        "{csv}"
    );
    assert_eq!(csv, org.stdout(&["user", "export", "--format", "csv"]));

    let json = org.json(&["user", "export", "--format", "json"]);
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .any(|r| r["username"] == "bob" && r["name"] == "Bob, Jr.")
    );

    // The export re-imports into another organization.
    let other = Org::new();
    let file = other.path("export.csv");
    let without_admin: String = csv
        .lines()
        .filter(|l| !l.starts_with("admin,"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&file, without_admin).unwrap();
    other
        .run(&["user", "import", file.to_str().unwrap()], None)
        .success();
    assert_eq!(other.usernames(), vec!["admin", "alice", "bob"]);
}

#[test]
fn user_import_good_file() {
    let org = Org::new();
    let file = org.path("users.csv");
    fs::write(
        &file,
        "username,email,name,role\n\
         dave,dave@example.com,Dave D,member\n\
         erin,erin@example.com,Erin,admin\n\
         svc,svc@example.com,Service,integration\n",
    )
    .unwrap();
    org.run(&["user", "import", file.to_str().unwrap()], None)
        .success()
        .stdout(contains("Imported 3 user(s)"));
    assert_eq!(org.usernames(), vec!["admin", "dave", "erin", "svc"]);
    assert_eq!(org.report_row("erin")["role"], "admin");
    assert_eq!(org.report_row("dave")["status"], "invited");
    assert_eq!(org.report_row("svc")["role"], "integration");
    let mails = fs::read_dir(org.outbox()).unwrap().count();
    assert!(mails >= 3, "activation mails: {mails}");
}

#[test]
fn user_import_with_codes_file_writes_private_codes_that_activate() {
    let org = Org::new();
    let file = org.path("users.csv");
    fs::write(
        &file,
        "username,email,name,role\n\
         dave,dave@example.com,Dave D,member\n\
         erin,erin@example.com,Erin,member\n",
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
        None,
    )
    .success()
    .stdout(contains("Imported 2 user(s)"))
    .stdout(contains("mode 0600"));
    assert_eq!(mode(&codes), 0o600);
    assert!(
        !org.outbox().exists() || fs::read_dir(org.outbox()).unwrap().count() == 0,
        "no mails"
    );
    let text = fs::read_to_string(&codes).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("username,email,activation_code,expires"));
    let dave: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(dave[0], "dave");
    // The code in the file activates dave's account.
    let core = mfa_console::core::Core::open(
        &org.db,
        std::sync::Arc::new(mfa_console::mail::Outbox::new(
            org.outbox(),
            "MFA <m@localhost>",
        )),
    )
    .unwrap();
    let step = core
        .activate(
            "dave",
            dave[2],
            "quiet meadow lantern 5",
            mfa_console::core::Channel::Console,
        )
        .unwrap();
    assert!(matches!(step, mfa_console::core::SignInStep::SignedIn(_)));
    drop(core);
    // An existing codes file is refused before anything is imported.
    let more = org.path("more.csv");
    fs::write(
        &more,
        "username,email,name,role\nfrank,frank@example.com,Frank,member\n",
    )
    .unwrap();
    let a = org
        .run(
            &[
                "user",
                "import",
                more.to_str().unwrap(),
                "--codes-out",
                codes.to_str().unwrap(),
            ],
            None,
        )
        .code(1);
    assert!(stderr_of(&a).contains("codes file"), "{}", stderr_of(&a));
    assert!(!org.usernames().contains(&"frank".to_string()));
}

#[test]
fn user_import_bad_line_adds_nobody() {
    let org = Org::new();
    let file = org.path("bad.csv");
    fs::write(
        &file,
        "username,email,name,role\n\
         frank,frank@example.com,Frank,member\n\
         gina,bademail,Gina,member\n\
         hank,hank@example.com,Hank,member\n",
    )
    .unwrap();
    org.run(&["user", "import", file.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("line 3").and(contains("bademail")))
        .stderr(contains("bad.csv"));
    assert_eq!(org.usernames(), vec!["admin"], "nothing imported");
}

#[test]
fn user_import_duplicate_of_existing_user_adds_nobody() {
    let org = Org::with_alice();
    let file = org.path("dup.csv");
    fs::write(
        &file,
        "username,email,name,role\n\
         frank,frank@example.com,Frank,member\n\
         Alice,alice2@example.com,Alice Two,member\n",
    )
    .unwrap();
    org.run(&["user", "import", file.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("already exists").or(contains("line 3")));
    assert_eq!(org.usernames(), vec!["admin", "alice"]);
}

#[test]
fn user_import_wrong_header_and_missing_file() {
    let org = Org::new();
    let file = org.path("hdr.csv");
    fs::write(&file, "user,mail\nx,x@example.com\n").unwrap();
    org.run(&["user", "import", file.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("line 1").and(contains("header")));
    let missing = org.path("missing.csv");
    org.run(&["user", "import", missing.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("missing.csv"));
    org.run(&["user", "import"], None).code(2);
    assert_eq!(org.usernames(), vec!["admin"]);
}

// ---------------------------------------------------------------------------------------
// controls
// ---------------------------------------------------------------------------------------

#[test]
fn controls_show_table_and_json() {
    let org = Org::new();
    org.run(&["controls", "show"], None).success().stdout(
        contains("Organization:")
            .and(contains("Acme"))
            .and(contains("authenticator:"))
            .and(contains("totp-skew")),
    );
    let j = org.json(&["controls", "show", "--format", "json"]);
    assert_eq!(j["mfa_enabled"], false);
    assert_eq!(j["methods"]["authenticator"], false);
    assert_eq!(j["methods"]["email"], false);
    assert!(j["policy"].is_object(), "{j}");
    assert_eq!(j["policy"]["totp-skew"], "1");
    org.run(&["controls", "show", "--format", "csv"], None)
        .code(2);
}

#[test]
fn controls_set_methods() {
    let org = Org::with_alice();
    // An account named like a service is on the advisory; alice, a person, is not.
    org.add_with_password("build-bot", "bot password phrase 42", "member");
    let a = org
        .run(&["controls", "set", "authenticator", "on"], None)
        .success()
        .stdout(contains("authenticator method is now on").and(contains("MFA is enabled")))
        .stderr(contains("Advisory").and(contains("build-bot (the name looks like a service")));
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(!err.contains("alice"), "{err}");
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success()
        .stdout(contains("already on"));
    org.run(&["controls", "set", "email", "on"], None)
        .success()
        .stderr(contains("email codes are weaker"));
    let j = org.json(&["controls", "show", "--format", "json"]);
    assert_eq!(j["mfa_enabled"], true);
    assert_eq!(j["methods"]["authenticator"], true);
    assert_eq!(j["methods"]["email"], true);

    org.run(&["controls", "set", "email", "off"], None)
        .success()
        .stdout(contains("email method is now off"));
    org.run(
        &[
            "controls",
            "set",
            "authenticator",
            "off",
            "--forget-all-devices",
        ],
        None,
    )
    .success()
    .stdout(contains("now off").and(contains("Forgot 0 enrollment(s)")));
    let j = org.json(&["controls", "show", "--format", "json"]);
    assert_eq!(j["mfa_enabled"], false);

    org.run(
        &[
            "controls",
            "set",
            "authenticator",
            "on",
            "--forget-all-devices",
        ],
        None,
    )
    .code(1)
    .stderr(contains("--forget-all-devices"));
    org.run(&["controls", "set", "foo", "on"], None)
        .code(2)
        .stderr(contains("foo"));
    org.run(&["controls", "set", "email", "maybe"], None)
        .code(2);
}

#[test]
fn controls_policy() {
    let org = Org::new();
    org.run(&["controls", "policy", "totp-skew", "2"], None)
        .success()
        .stdout(contains("totp-skew is now 2"));
    let j = org.json(&["controls", "show", "--format", "json"]);
    assert_eq!(j["policy"]["totp-skew"], "2");

    org.run(&["controls", "policy", "totp-skew", "7"], None)
        .code(1)
        .stderr(contains("totp-skew").and(contains("7")));
    org.run(&["controls", "policy", "nonsense", "1"], None)
        .code(1)
        .stderr(contains("nonsense").and(contains("policy key")));
    org.run(&["controls", "policy", "totp-skew"], None).code(2);
    let j = org.json(&["controls", "show", "--format", "json"]);
    assert_eq!(j["policy"]["totp-skew"], "2", "unchanged by the refusals");
}

// ---------------------------------------------------------------------------------------
// enroll / verify
// ---------------------------------------------------------------------------------------

#[test]
fn enroll_authenticator_then_verify_and_replay() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    let Enrolled {
        totp, base32, out, ..
    } = org.enroll_authenticator("alice");
    assert!(out.contains("Saved: alice is configured."), "{out}");
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Recovery codes"))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(after.len(), 10, "ten recovery codes: {out}");
    let unique: std::collections::HashSet<_> = after.iter().collect();
    assert_eq!(unique.len(), 10);

    let row = org.report_row("alice");
    assert_eq!(row["configured"], true);
    assert_eq!(row["methods"], serde_json::json!(["authenticator"]));

    // Password alone is not enough any more.
    org.verify("alice", ALICE_PW, None)
        .code(1)
        .stderr(contains(GENERIC));
    // Password and a fresh code (the next step, within the ±1 skew).
    let code = code_at(&totp, now() + 30);
    org.verify("alice", ALICE_PW, Some(&code))
        .success()
        .stdout(contains("accepted"));
    // The same code again: replay.
    org.verify("alice", ALICE_PW, Some(&code))
        .code(1)
        .stderr(contains(GENERIC))
        .stdout(predicate::str::is_empty());
    // Wrong password with a code: the same message.
    org.verify("alice", "definitely the wrong password", Some(&code))
        .code(1)
        .stderr(contains(GENERIC));
    // Unknown user: the same message.
    org.verify("nobody", ALICE_PW, Some(&code))
        .code(1)
        .stderr(contains(GENERIC));
    // A recovery code works once.
    org.verify("alice", ALICE_PW, Some(after[0]))
        .success()
        .stdout(contains("accepted"));
    org.verify("alice", ALICE_PW, Some(after[0]))
        .code(1)
        .stderr(contains(GENERIC));

    // The secret is shown once: the database holds it only sealed.
    let raw = fs::read(&org.db).unwrap();
    assert!(
        !raw.windows(base32.len()).any(|w| w == base32.as_bytes()),
        "Base32 secret in the database file"
    );

    org.run(&["check"], None)
        .success()
        .stdout(contains("All checks passed"));

    // Admin reset removes the enrollment.
    org.run(&["user", "reset-mfa", "alice"], None)
        .success()
        .stdout(contains("Reset MFA for alice"));
    assert_eq!(org.report_row("alice")["configured"], false);
    let u = org.json(&["user", "show", "alice", "--format", "json"]);
    assert_eq!(u["enrollments"], serde_json::json!([]));
    assert_eq!(u["recovery_codes_left"], 0);
    org.run(&["user", "reset-mfa", "nobody"], None)
        .code(1)
        .stderr(contains("nobody"));
}

#[test]
fn enroll_wrong_code_saves_nothing() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    let Enrolled {
        out, status, err, ..
    } = org.enroll_with("alice", wrong_code);
    assert_eq!(status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("code is not right"), "{err}");
    assert!(!out.contains("Recovery codes"), "{out}");
    let row = org.report_row("alice");
    assert_eq!(row["configured"], false);
    assert_eq!(row["methods"], serde_json::json!([]));

    // No code at all on stdin.
    org.run(&["enroll", "alice", "--method", "authenticator"], None)
        .code(1)
        .stderr(contains("no code"));
    assert_eq!(org.report_row("alice")["configured"], false);
}

#[test]
fn enroll_refusals() {
    let org = Org::with_alice();
    // Email is off.
    org.run(&["enroll", "alice", "--method", "email"], Some("123456\n"))
        .code(1)
        .stderr(contains("email method is turned off"));
    // Authenticator is off too.
    org.run(
        &["enroll", "alice", "--method", "authenticator"],
        Some("123456\n"),
    )
    .code(1)
    .stderr(contains("authenticator"));
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    org.run(
        &["enroll", "nobody", "--method", "authenticator"],
        Some("123456\n"),
    )
    .code(1)
    .stderr(contains("nobody"));
    org.run(&["enroll", "alice", "--method", "sms"], None)
        .code(2);
    org.run(&["enroll", "alice"], None).code(2);
    assert_eq!(org.report_row("alice")["configured"], false);
}

#[test]
fn forget_all_devices_drops_enrollments() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    org.enroll_authenticator("alice");
    assert_eq!(org.report_row("alice")["configured"], true);
    org.run(
        &[
            "controls",
            "set",
            "authenticator",
            "off",
            "--forget-all-devices",
        ],
        None,
    )
    .success()
    .stdout(contains("Forgot 1 enrollment(s)"));
    assert_eq!(org.report_row("alice")["configured"], false);
    // MFA off: the password alone is enough again.
    org.verify("alice", ALICE_PW, None).success();
}

#[test]
fn verify_without_mfa_and_integration_users() {
    let org = Org::with_alice();
    org.add_with_password("svc", SVC_PW, "integration");
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    // Integration: password only.
    org.verify("svc", SVC_PW, None)
        .success()
        .stdout(contains("accepted"));
    // Member who has not configured MFA (enforcement optional): password only.
    org.verify("alice", ALICE_PW, None)
        .success()
        .stdout(contains("accepted"));
    // Username case does not matter.
    org.verify("ALICE", ALICE_PW, None).success();
    // Wrong password: generic.
    org.verify("alice", "definitely the wrong password", None)
        .code(1)
        .stderr(contains(GENERIC));
    org.verify("svc", "definitely the wrong password", None)
        .code(1)
        .stderr(contains(GENERIC));
    // Nothing at all on stdin.
    org.run(&["verify", "alice"], None)
        .code(1)
        .stderr(contains(GENERIC));
    org.run(&["verify"], None).code(2);
}

// ---------------------------------------------------------------------------------------
// report / audit
// ---------------------------------------------------------------------------------------

#[test]
fn report_formats() {
    let org = Org::with_alice();
    org.add_with_password("svc", SVC_PW, "integration");
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    org.enroll_authenticator("alice");

    let j = org.json(&["report", "--format", "json"]);
    let rows = j.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert!(r["username"].is_string(), "{r}");
        assert!(r["role"].is_string(), "{r}");
        assert!(r["status"].is_string(), "{r}");
        assert!(r["configured"].is_boolean(), "{r}");
        assert!(r["methods"].is_array(), "{r}");
    }
    let alice = rows.iter().find(|r| r["username"] == "alice").unwrap();
    assert_eq!(alice["configured"], true);
    let admin = rows.iter().find(|r| r["username"] == "admin").unwrap();
    assert_eq!(admin["configured"], false);

    let csv = org.stdout(&["report", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("username,"), "{csv}");
    assert!(lines[0].contains("configured"), "{csv}");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("alice,") && l.contains(",true,authenticator,")),
        "{csv}"
    );

    let table = org.stdout(&["report"]);
    assert!(table.contains("USERNAME"), "{table}");
    // Two people (admin, alice); the integration user does not count.
    assert!(table.contains("1 of 2 users configured"), "{table}");
    assert_eq!(table, org.stdout(&["report", "--format", "table"]));
}

#[test]
fn audit_formats_and_filter() {
    let org = Org::with_alice();
    org.run(&["user", "add", "bob", "--email", "bob@example.com"], None)
        .success();
    org.run(&["user", "set", "bob", "--name", "Bob"], None)
        .success();
    org.run(&["controls", "policy", "grace-days", "3"], None)
        .success();

    let table = org.stdout(&["audit"]);
    assert!(table.contains("EVENT"), "{table}");
    assert!(table.contains("user.created"), "{table}");
    assert!(table.contains("policy.changed"), "{table}");

    let jsonl = org.stdout(&["audit", "--format", "jsonl"]);
    let events: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 4, "{jsonl}");
    for e in &events {
        for k in ["seq", "time", "actor", "kind", "subject", "details"] {
            assert!(!e[k].is_null(), "{k} missing in {e}");
        }
    }
    // Newest first.
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    // No password anywhere in the log.
    assert!(!jsonl.contains(ALICE_PW) && !jsonl.contains(ADMIN_PW));

    let bob = org.stdout(&["audit", "--user", "bob", "--format", "jsonl"]);
    let bob: Vec<Value> = bob
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(bob.len() >= 2, "{bob:?}");
    for e in &bob {
        assert!(e["subject"] == "bob" || e["actor"] == "bob", "{e}");
    }
    let bob_table = org.stdout(&["audit", "--user", "bob"]);
    assert!(bob_table.contains("bob"), "{bob_table}");
    assert!(!bob_table.contains("alice"), "{bob_table}");
    assert!(!bob_table.contains("policy.changed"), "{bob_table}");

    org.run(&["audit", "--format", "json"], None).code(2);
}

// ---------------------------------------------------------------------------------------
// backup / check / rotate-key
// ---------------------------------------------------------------------------------------

#[test]
fn backup_and_check() {
    let org = Org::with_alice();
    org.run(&["check"], None)
        .success()
        .stdout(contains("All checks passed"));

    let dest = org.path("backup.redb");
    let dest_key = org.path("backup.redb.key");
    org.run(&["backup", dest.to_str().unwrap()], None)
        .success()
        .stdout(contains("Backed up"));
    assert!(dest.exists() && dest_key.exists());
    assert_eq!(mode(&dest), 0o600);
    assert_eq!(mode(&dest_key), 0o600);
    assert_eq!(fs::read(&dest_key).unwrap(), fs::read(org.key()).unwrap());

    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&dest)
        .arg("check");
    no_panic(c.assert())
        .success()
        .stdout(contains("All checks passed"));
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&dest)
        .args(["user", "list", "--format", "csv"]);
    no_panic(c.assert()).success().stdout(contains("alice"));

    // Never over an existing file.
    let before = fs::read(&dest).unwrap();
    org.run(&["backup", dest.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("already exists"));
    assert_eq!(fs::read(&dest).unwrap(), before);
    org.run(&["backup"], None).code(2);
}

#[test]
fn rotate_key_keeps_secrets_readable() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    let totp = org.enroll_authenticator("alice").totp;
    let before = fs::read(org.key()).unwrap();
    org.run(&["rotate-key"], None)
        .success()
        .stdout(contains("Re-encrypted 1 secret(s)"));
    let after = fs::read(org.key()).unwrap();
    assert_ne!(before, after, "a new key");
    assert_eq!(mode(&org.key()), 0o600);
    org.run(&["check"], None)
        .success()
        .stdout(contains("All checks passed"));
    // The authenticator secret still decrypts under the new key.
    org.verify("alice", ALICE_PW, Some(&code_at(&totp, now() + 30)))
        .success()
        .stdout(contains("accepted"));
}

// ---------------------------------------------------------------------------------------
// broken databases and key files
// ---------------------------------------------------------------------------------------

#[test]
fn missing_database_names_path_and_suggests_init() {
    let org = Org::empty();
    let shown = org.db.display().to_string();
    for args in [
        &["user", "list"][..],
        &["report"],
        &["check"],
        &["controls", "show"],
        &["audit"],
    ] {
        org.run(args, None)
            .code(1)
            .stderr(contains(shown.as_str()).and(contains("init")));
    }
    assert!(!org.db.exists(), "nothing created by a failed open");
}

#[test]
fn foreign_file_is_not_a_database() {
    let org = Org::empty();
    fs::write(&org.db, "hello world, not a database\n").unwrap();
    org.run(&["user", "list"], None)
        .code(1)
        .stderr(contains("not an mfa-console database"));
    let mut noise = vec![0u8; 10_000];
    for (i, b) in noise.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    fs::write(&org.db, noise).unwrap();
    org.run(&["check"], None)
        .code(1)
        .stderr(contains("not an mfa-console database"));
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let org = Org::with_alice();
    fs::set_permissions(org.key(), fs::Permissions::from_mode(0o644)).unwrap();
    for args in [&["user", "list"][..], &["check"], &["report"]] {
        org.run(args, None).code(1).stderr(contains("chmod 600"));
    }
    org.verify("alice", ALICE_PW, None)
        .code(1)
        .stderr(contains("chmod 600"));
    fs::set_permissions(org.key(), fs::Permissions::from_mode(0o600)).unwrap();
    org.run(&["user", "list"], None).success();
}

#[test]
fn missing_key_file_is_named() {
    let org = Org::with_alice();
    let aside = org.path("key.aside");
    fs::rename(org.key(), &aside).unwrap();
    let key = org.key().display().to_string();
    for args in [&["user", "list"][..], &["check"]] {
        org.run(args, None)
            .code(1)
            .stderr(contains("key file").and(contains(key.as_str())));
    }
    fs::rename(&aside, org.key()).unwrap();
    org.run(&["check"], None).success();
}

#[test]
fn db_env_var_is_honoured() {
    let org = Org::new();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env("MFA_CONSOLE_DB", &org.db)
        .args(["user", "list", "--format", "csv"]);
    no_panic(c.assert()).success().stdout(contains("admin"));
    // --db wins over the environment.
    let other = Org::empty();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env("MFA_CONSOLE_DB", &org.db)
        .arg("--db")
        .arg(&other.db)
        .args(["user", "list"]);
    no_panic(c.assert()).code(1).stderr(contains("init"));
}

#[test]
fn db_path_is_a_directory() {
    let org = Org::empty();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(org.dir.path())
        .args(["user", "list"]);
    let a = no_panic(c.assert()).code(1);
    let err = stderr_of(&a);
    assert!(err.contains(&org.dir.path().display().to_string()), "{err}");
}

// ---------------------------------------------------------------------------------------
// more refusals, escaping, concurrency
// ---------------------------------------------------------------------------------------

#[test]
fn user_add_common_password_adds_nobody() {
    let org = Org::new();
    org.run(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        Some("password1234\n"),
    )
    .code(1)
    .stderr(contains("common"));
    org.run(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        None,
    )
    .code(1)
    .stderr(contains("standard input was empty"));
    assert_eq!(org.usernames(), vec!["admin"]);
}

#[test]
fn user_set_refused_applies_nothing() {
    let org = Org::with_alice();
    org.run(
        &[
            "user",
            "set",
            "alice",
            "--role",
            "admin",
            "--temp-password-stdin",
        ],
        Some("short\n"),
    )
    .code(1)
    .stderr(contains("12 characters"));
    // A refused command changes nothing: alice must still be a member.
    assert_eq!(org.report_row("alice")["role"], "member");
}

#[test]
fn user_set_bad_email_applies_nothing() {
    let org = Org::with_alice();
    org.run(
        &["user", "set", "alice", "--role", "admin", "--email", "nope"],
        None,
    )
    .code(1)
    .stderr(contains("not an email address"));
    let row = org.report_row("alice");
    assert_eq!(row["role"], "member");
    assert_eq!(row["email"], "alice@example.com");
}

#[test]
fn control_characters_are_escaped_on_screen_and_in_exports() {
    let org = Org::new();
    let evil = "Ev\u{1b}[31mil\u{7}";
    // Refused at input now…
    org.run(
        &[
            "user",
            "add",
            "eve",
            "--email",
            "eve@example.com",
            "--name",
            evil,
        ],
        None,
    )
    .code(1)
    .stderr(contains("control or invisible character"));
    // …but a database from before may hold such a name.
    org.run(&["user", "add", "eve", "--email", "eve@example.com"], None)
        .success();
    {
        let core = mfa_console::core::Core::open(
            &org.db,
            std::sync::Arc::new(mfa_console::mail::Outbox::new(
                org.outbox(),
                "MFA <m@localhost>",
            )),
        )
        .unwrap();
        core.store()
            .write(|tx| {
                let id = tx.user_id_by_name("eve")?.unwrap();
                let mut u = tx.user(id)?.unwrap();
                u.name = evil.into();
                tx.put_user(&u)
            })
            .unwrap();
    }
    // An unknown username with control characters: error message and audit subject.
    org.verify("gh\u{1b}[2Jost", ALICE_PW, None)
        .code(1)
        .stderr(contains(GENERIC));
    for args in [
        &["user", "list"][..],
        &["user", "list", "--format", "csv"],
        &["user", "show", "eve"],
        &["report"],
        &["report", "--format", "csv"],
        &["audit"],
        &["audit", "--format", "jsonl"],
    ] {
        let out = org.stdout(args);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "raw control character in `{}`: {out:?}",
            args.join(" ")
        );
    }
    let a = org.run(&["user", "show", "gh\u{1b}[2Jost"], None).code(1);
    assert!(!stderr_of(&a).contains('\u{1b}'), "{:?}", stderr_of(&a));
    // JSON carries the real value, escaped once by JSON's own rules.
    let raw = org.stdout(&["user", "show", "eve", "--format", "json"]);
    assert!(!raw.contains('\u{1b}'), "{raw:?}");
    let j: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(j["user"]["name"], evil);
}

#[test]
fn wrong_or_garbled_key_file_is_refused() {
    let org = Org::with_alice();
    let other = Org::new();
    fs::copy(other.key(), org.key()).unwrap();
    fs::set_permissions(org.key(), fs::Permissions::from_mode(0o600)).unwrap();
    org.run(&["check"], None)
        .code(1)
        .stderr(contains("key file").and(contains("does not belong")));
    org.verify("alice", ALICE_PW, None).code(1);
    fs::write(org.key(), "garbage\n").unwrap();
    org.run(&["user", "list"], None)
        .code(1)
        .stderr(contains("key file").and(contains("not a valid key")));
}

#[test]
fn backup_never_overwrites_a_key_file() {
    let org = Org::new();
    let dest = org.path("b.redb");
    let dest_key = org.path("b.redb.key");
    fs::write(&dest_key, "keep me\n").unwrap();
    org.run(&["backup", dest.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("b.redb.key"));
    assert_eq!(fs::read_to_string(&dest_key).unwrap(), "keep me\n");
    assert!(!dest.exists(), "no half backup left behind");
    let nowhere = org.path("no/such/dir/b.redb");
    org.run(&["backup", nowhere.to_str().unwrap()], None)
        .code(1)
        .stderr(contains("b.redb"));
}

#[test]
fn backup_taken_before_rotate_key_keeps_its_own_key() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    org.enroll_authenticator("alice");
    let dest = org.path("before.redb");
    org.run(&["backup", dest.to_str().unwrap()], None).success();
    org.run(&["rotate-key"], None).success();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&dest)
        .arg("check");
    no_panic(c.assert())
        .success()
        .stdout(contains("All checks passed").and(contains("1 checked")));
    // The new key does not open the old backup.
    fs::copy(org.key(), org.path("before.redb.key")).unwrap();
    let mut c = Command::cargo_bin("mfa-console").unwrap();
    c.env_remove("MFA_CONSOLE_DB")
        .arg("--db")
        .arg(&dest)
        .arg("check");
    no_panic(c.assert()).code(1).stderr(contains("key file"));
}

#[test]
fn audit_holds_no_password_code_or_secret() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    let e = org.enroll_authenticator("alice");
    let recovery: Vec<String> = e
        .out
        .lines()
        .skip_while(|l| !l.starts_with("Recovery codes"))
        .skip(1)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let code = code_at(&e.totp, now() + 30);
    org.verify("alice", ALICE_PW, Some(&code)).success();
    org.verify("alice", "definitely the wrong password", Some(&code))
        .code(1);
    org.run(
        &["user", "set", "alice", "--temp-password-stdin"],
        Some("temporary pass phrase 77\n"),
    )
    .success();
    let mut log = org.stdout(&["audit", "--format", "jsonl"]);
    log.push_str(&org.stdout(&["audit"]));
    assert!(log.contains("sign-in.ok"), "{log}");
    for secret in [
        ALICE_PW,
        ADMIN_PW,
        "definitely the wrong password",
        "temporary pass phrase 77",
        &e.base32,
        &e.base32[..16],
        &code,
    ] {
        assert!(!log.contains(secret), "{secret:?} in the audit log");
    }
    for r in &recovery {
        assert!(
            !log.contains(r.as_str()),
            "recovery code {r} in the audit log"
        );
    }
}

#[test]
fn concurrent_subcommands_all_succeed() {
    let org = Org::new();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mfa-console"))
                .env_remove("MFA_CONSOLE_DB")
                .arg("--db")
                .arg(&org.db)
                .args(["user", "add", &format!("u{i}"), "--email"])
                .arg(format!("u{i}@example.com"))
                .arg("--password-stdin")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "quiet meadow lantern {i}").unwrap();
            drop(stdin);
            child
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_no_panic_text(&err);
        assert!(out.status.success(), "a concurrent add failed: {err}");
    }
    assert_eq!(org.usernames().len(), 9);
    org.run(&["check"], None).success();
}

#[test]
fn racing_verifies_with_one_code_let_exactly_one_through() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    let totp = org.enroll_authenticator("alice").totp;
    let code = code_at(&totp, now() + 30);
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mfa-console"))
                .env_remove("MFA_CONSOLE_DB")
                .arg("--db")
                .arg(&org.db)
                .args(["verify", "alice"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            write!(stdin, "{ALICE_PW}\n{code}\n").unwrap();
            drop(stdin);
            child
        })
        .collect();
    let mut accepted = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_no_panic_text(&err);
        match out.status.code() {
            Some(0) => accepted += 1,
            Some(1) => assert!(err.contains(GENERIC), "{err}"),
            other => unreachable!("exit {other:?}: {err}"),
        }
    }
    assert_eq!(
        accepted, 1,
        "exactly one of the racing sign-ins gets through"
    );
}

#[test]
fn the_log_file_is_private_and_holds_no_password_code_or_secret() {
    let org = Org::with_alice();
    org.run(&["controls", "set", "authenticator", "on"], None)
        .success();
    let e = org.enroll_authenticator("alice");
    let recovery: Vec<String> = e
        .out
        .split_whitespace()
        .filter(|w| w.len() == 29 && w.matches('-').count() == 5)
        .map(str::to_string)
        .collect();
    let code = code_at(&e.totp, now() + 30);
    org.verify("alice", ALICE_PW, Some(&code)).success();
    org.verify("alice", ALICE_PW, Some(&code)).code(1);
    org.verify("alice", "a wrong password here", Some("123456"))
        .code(1);
    org.run(&["user", "show", "nobody"], None).code(1);

    let log = org.path("mfa-console.log");
    assert_eq!(mode(&log), 0o600, "the log file is private");
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("verify: start"), "{text}");
    assert!(
        text.contains("no user named"),
        "failures are logged: {text}"
    );
    let mut secrets = vec![
        ADMIN_PW.to_string(),
        ALICE_PW.to_string(),
        "a wrong password here".to_string(),
        code.clone(),
        e.base32.clone(),
        e.base32.to_lowercase(),
    ];
    secrets.extend(recovery);
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the log holds {s:?}:\n{text}");
    }
}

#[test]
fn audit_exports_csv_newest_first_with_the_chain_hashes() {
    let org = Org::with_alice();
    let a = org.run(&["audit", "--format", "csv"], None).success();
    let out = stdout_of(&a);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("seq,time,actor,kind,subject,details,hash")
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    let second: Vec<&str> = lines.next().unwrap().split(',').collect();
    let seq = |r: &Vec<&str>| r[0].parse::<u64>().unwrap();
    assert!(seq(&first) > seq(&second), "newest first");
    assert_eq!(first[3], "user.created");
    assert_eq!(first[4], "alice");
    let hash = first.last().unwrap();
    assert_eq!(hash.len(), 64, "each row carries its chain hash: {first:?}");
}

/// A file with many bad rows: the first 20 are printed, then how many more there are.
#[test]
fn an_import_with_many_bad_rows_says_how_many_more_there_are() {
    let org = Org::new();
    let file = org.path("bad.csv");
    let mut csv = String::from("username,email,name,role\n");
    for i in 0..300 {
        csv.push_str(&format!("user{i},not-an-address,User {i},member\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let a = org
        .run(&["user", "import", file.to_str().unwrap()], None)
        .failure();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains("line 2:") && err.contains("line 21:"), "{err}");
    assert!(!err.contains("line 22:"), "{err}");
    assert!(err.contains("… and 280 more"), "{err}");
    assert!(!org.stdout(&["user", "list"]).contains("user0"));
}
