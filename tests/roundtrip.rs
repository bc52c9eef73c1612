//! Round trips: the import/export CSV format, `otpauth://` URIs, and the codes people type.
//! Properties run through `proptest` on the library's own functions; the whole path
//! (export → import into a fresh database → export) runs through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use proptest::prelude::*;
use tempfile::TempDir;

use mfa_console::core::import::{parse_csv, write_csv};
use mfa_console::core::{codes, text, totp};

const ADMIN_PW: &str = "river stone lantern 42";

// ---------------------------------------------------------------------------------------
// CSV, as the library writes and reads it
// ---------------------------------------------------------------------------------------

/// One user as the import format holds it: username, email, name, role.
type Row = (String, String, String, String);

fn username() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9éöñß][a-zA-Z0-9._@+éöñß-]{0,40}"
}

fn email() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._+-]{0,20}@[a-z0-9][a-z0-9-]{0,15}\\.[a-z]{2,6}"
}

/// Display names: any printable text, quotes, commas, backslashes and non-Latin scripts
/// included; no surrounding spaces (the import trims them).
fn display_name() -> impl Strategy<Value = String> {
    "[ -~éü日本語😀ñ“”‘’«»]{0,60}".prop_map(|s| s.trim().chars().take(128).collect())
}

fn role() -> impl Strategy<Value = String> {
    prop_oneof![Just("admin"), Just("member"), Just("integration")].prop_map(String::from)
}

/// Users whose names are told apart by the import (no two alike or confusable).
fn users() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((username(), email(), display_name(), role()), 0..40).prop_map(|rows| {
        let mut seen = HashSet::new();
        rows.into_iter()
            .filter(|r| seen.insert(text::username_skeleton(&r.0)))
            .collect()
    })
}

fn to_csv(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv(
        &mut out,
        rows.iter()
            .map(|(u, e, n, r)| [u.as_str(), e.as_str(), n.as_str(), r.as_str()]),
    )
    .unwrap();
    out
}

fn from_csv(bytes: &[u8]) -> Vec<Row> {
    parse_csv(bytes, "export.csv")
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)))
        .into_iter()
        .map(|u| {
            (
                u.username,
                u.email,
                u.name,
                mfa_console::core::users::role_name(u.role).to_string(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn csv_written_then_read_gives_the_same_users(rows in users()) {
        let bytes = to_csv(&rows);
        prop_assert_eq!(from_csv(&bytes), rows);
    }

    #[test]
    fn csv_read_then_written_gives_the_same_bytes(rows in users()) {
        let bytes = to_csv(&rows);
        prop_assert_eq!(to_csv(&from_csv(&bytes)), bytes);
    }

    #[test]
    fn csv_errors_name_the_line_a_row_starts_on(
        rows in users().prop_filter("two rows at least", |r| r.len() >= 2),
        layout in prop::collection::vec((0usize..3, any::<bool>()), 40),
        bad in any::<prop::sample::Index>(),
    ) {
        // Blank lines between rows, and quoted names that go on over a line break (the
        // import trims it away), move rows down the file; the error must still point at
        // the line the bad row starts on.
        let bad = bad.index(rows.len());
        let mut text = String::from("username,email,name,role\n");
        let mut line = 2;
        let mut bad_line = 0;
        for (i, (u, e, n, r)) in rows.iter().enumerate() {
            let (blanks, broken) = layout[i % layout.len()];
            for _ in 0..blanks {
                text.push('\n');
                line += 1;
            }
            let email = if i == bad { "not-an-address" } else { e.as_str() };
            if i == bad {
                bad_line = line;
            }
            let name = n.replace('"', "\"\"");
            if broken {
                text.push_str(&format!("{u},{email},\"{name}\r\n\",{r}\n"));
                line += 2;
            } else {
                text.push_str(&format!("{u},{email},\"{name}\",{r}\n"));
                line += 1;
            }
        }
        let e = parse_csv(text.as_bytes(), "f.csv").err().map(|e| e.to_string()).unwrap_or_default();
        let want = format!("line {bad_line}:");
        prop_assert!(e.contains(&want), "{} not in {}\n{}", want, e, text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The look-alike index's key: its quick path for ASCII names gives what the whole
    /// UTS #39 computation gives.
    #[test]
    fn username_skeletons_match_the_full_computation(s in "[ -~]{0,30}|[a-zA-Z0-9._@+аеорсхі-]{1,20}") {
        use unicode_normalization::UnicodeNormalization;
        let compared = s.trim().nfkc().collect::<String>().to_lowercase();
        let full: String = unicode_security::skeleton(&compared).collect();
        prop_assert_eq!(text::username_skeleton(&s), full);
    }
}

// ---------------------------------------------------------------------------------------
// otpauth:// URIs
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn otpauth_uri_parses_back_to_secret_issuer_and_account(
        secret in prop::array::uniform20(any::<u8>()),
        org in "[ -~éü日本]{1,40}",
        account in username(),
    ) {
        let issuer = totp::issuer_of(&org);
        let uri = totp::uri(&secret, &issuer, &account).unwrap();
        prop_assert!(uri.starts_with("otpauth://totp/"), "{}", uri);
        prop_assert!(!uri.contains('='.to_string().repeat(2).as_str()));
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
        let secret_param = query
            .split('&')
            .find_map(|p| p.strip_prefix("secret="))
            .unwrap_or("");
        prop_assert!(!secret_param.contains('='), "padding in {}", uri);
        prop_assert!(!secret_param.contains('%'), "padding in {}", uri);
        let parsed = totp_rs::Totp::from_url(&uri).unwrap();
        prop_assert_eq!(parsed.issuer(), Some(issuer.as_str()));
        prop_assert_eq!(parsed.account_name(), account.as_str());
        prop_assert_eq!(parsed.digits(), 6);
        prop_assert_eq!(parsed.step(), 30);
        // The app that reads the URI makes the codes the console checks.
        for t in [0u64, 59, 1_111_111_109, 2_000_000_000] {
            prop_assert_eq!(
                Some(parsed.generate(t).to_string()),
                totp::code_at(&secret, t as i64)
            );
        }
        prop_assert_eq!(
            data_encoding::BASE32_NOPAD.encode(&secret),
            secret_param.to_string()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------

/// `code` as a person might type it: other case, extra spaces and dashes here and there.
fn retyped(code: &str, noise: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in code.chars().enumerate() {
        let n = noise[i % noise.len()];
        match n % 5 {
            0 => out.push(' '),
            1 => out.push('-'),
            2 => out.push('\t'),
            _ => {}
        }
        if n & 0x80 != 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn base32_alphabet(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn recovery_codes_have_their_format_and_survive_retyping(
        noise in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        let code = codes::recovery_code().unwrap();
        let groups: Vec<&str> = code.split('-').collect();
        prop_assert_eq!(groups.len(), 6, "{}", code);
        prop_assert!(groups.iter().all(|g| g.len() == 4 && base32_alphabet(g)), "{}", code);
        let norm = text::normalize_long_code(&code);
        prop_assert_eq!(norm.len(), 24);
        prop_assert_eq!(text::normalize_long_code(&retyped(&code, &noise)), norm.clone());
        prop_assert_eq!(text::normalize_long_code(&norm), norm.clone());
        prop_assert_eq!(text::group(&norm, 4, '-'), code);
    }

    #[test]
    fn activation_codes_have_their_format_and_survive_retyping(
        noise in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        let code = codes::long_code().unwrap();
        let groups: Vec<&str> = code.split('-').collect();
        prop_assert_eq!(groups.len(), 4, "{}", code);
        prop_assert!(groups.iter().all(|g| g.len() == 4 && base32_alphabet(g)), "{}", code);
        let norm = text::normalize_long_code(&code);
        prop_assert_eq!(text::normalize_long_code(&retyped(&code, &noise)), norm.clone());
        prop_assert_eq!(
            codes::hash("activation", 7, &text::normalize_long_code(&retyped(&code, &noise))),
            codes::hash("activation", 7, &norm)
        );
        prop_assert_eq!(text::group(&norm, 4, '-'), code);
    }

    #[test]
    fn grouping_then_normalising_gives_the_code_back(s in "[a-z2-7]{0,64}") {
        prop_assert_eq!(text::normalize_long_code(&text::group(&s, 4, '-')), s.clone());
        prop_assert_eq!(text::normalize_long_code(&text::group(&s, 4, ' ')), s);
    }

    #[test]
    fn email_codes_are_six_digits_and_spaces_do_not_matter(
        noise in prop::collection::vec(any::<u8>(), 1..10),
    ) {
        let code = codes::email_code().unwrap();
        prop_assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{}", code);
        let typed: String = retyped(&code, &noise).replace('-', "");
        prop_assert_eq!(text::normalize_code(&typed), code);
    }
}

// ---------------------------------------------------------------------------------------
// The real binary: export → import into a fresh database → export
// ---------------------------------------------------------------------------------------

struct Org {
    dir: TempDir,
    db: PathBuf,
}

impl Org {
    fn new(admin_name: &str) -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        let org = Org { dir, db };
        org.cmd()
            .args([
                "init",
                "--org",
                "Acme",
                "--admin",
                "admin",
                "--email",
                "admin@example.com",
                "--name",
                admin_name,
                "--password-stdin",
            ])
            .write_stdin(format!("{ADMIN_PW}\n"))
            .assert()
            .success();
        org
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("mfa-console").unwrap();
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("RUST_BACKTRACE")
            .arg("--db")
            .arg(&self.db);
        c
    }

    fn out(&self, args: &[&str]) -> Vec<u8> {
        let a = self.cmd().args(args).assert().success();
        a.get_output().stdout.clone()
    }

    fn import(&self, csv: &[u8]) {
        let file = self.dir.path().join("in.csv");
        fs::write(&file, csv).unwrap();
        self.cmd()
            .args(["user", "import", file.to_str().unwrap()])
            .assert()
            .success();
    }
}

/// Names an export must carry through unchanged.
const NAMES: [(&str, &str); 9] = [
    ("bob", "Bob, Jr."),
    ("carol", "Carol \"CJ\" Jones"),
    ("dan", "Dan \\ Backslash \\u{1b} literal"),
    ("eve", "Ève Müller-Łukasiewicz"),
    ("fay", "菲 王"),
    ("gus", "Gus 😀 'quoted'"),
    ("hal", "=SUM(A1:A2)"),
    ("ida", "Ida  two  spaces"),
    ("jo.e+x@corp", ""),
];

#[test]
fn user_export_import_export_gives_the_same_bytes() {
    let a = Org::new("Root Admin");
    for (u, n) in NAMES {
        a.cmd()
            .args([
                "user",
                "add",
                u,
                "--email",
                &format!("{}@example.com", u.replace('@', ".")),
                "--name",
                n,
            ])
            .assert()
            .success();
    }
    a.cmd()
        .args(["user", "set", "carol", "--role", "integration"])
        .assert()
        .success();
    let first = a.out(&["user", "export"]);
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(text.contains("\"Carol \"\"CJ\"\" Jones\""), "{text}");
    assert!(text.contains("Dan \\ Backslash \\u{1b} literal"), "{text}");

    let b = Org::new("Root Admin");
    let without_admin: Vec<u8> = text
        .lines()
        .filter(|l| !l.starts_with("admin,"))
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    b.import(&without_admin);
    let second = b.out(&["user", "export"]);
    assert_eq!(
        String::from_utf8_lossy(&second),
        String::from_utf8_lossy(&first)
    );
    assert_eq!(second, first);

    // JSON: each string escaped once, by JSON's own rules.
    let json: serde_json::Value =
        serde_json::from_slice(&b.out(&["user", "export", "--format", "json"])).unwrap();
    for (u, n) in NAMES {
        let row = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == u)
            .unwrap_or_else(|| panic!("{u} missing from {json}"));
        assert_eq!(row["name"], n, "{row}");
    }
}

/// A database from before control characters were refused may still hold some: the
/// export writes the real value (CSV quoting, JSON escaping), not a rewritten one.
#[test]
fn an_older_record_with_a_control_character_exports_its_real_value() {
    let a = Org::new("");
    a.cmd()
        .args(["user", "add", "kim", "--email", "kim@example.com"])
        .assert()
        .success();
    {
        let core = mfa_console::core::Core::open(
            &a.db,
            std::sync::Arc::new(mfa_console::mail::Outbox::new(
                a.dir.path().join("outbox"),
                "MFA <m@localhost>",
            )),
        )
        .unwrap();
        core.store()
            .write(|tx| {
                let id = tx.user_id_by_name("kim")?.unwrap();
                let mut u = tx.user(id)?.unwrap();
                u.name = "Kim\tTab \u{1b}[31mRed".into();
                tx.put_user(&u)
            })
            .unwrap();
    }
    let json: serde_json::Value =
        serde_json::from_slice(&a.out(&["user", "export", "--format", "json"])).unwrap();
    let kim = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["username"] == "kim")
        .unwrap();
    assert_eq!(kim["name"], "Kim\tTab \u{1b}[31mRed", "escaped once: {kim}");
    let csv = String::from_utf8(a.out(&["user", "export"])).unwrap();
    assert!(
        csv.contains("kim,kim@example.com,Kim\tTab \u{1b}[31mRed,member"),
        "{csv:?}"
    );
    // Terminal views still show it escaped.
    let table = String::from_utf8(a.out(&["user", "list"])).unwrap();
    assert!(table.contains("Kim\\u{9}Tab \\u{1b}[31mRed"), "{table}");
    assert!(!table.contains('\u{1b}'));
    let show = String::from_utf8(a.out(&["user", "show", "kim"])).unwrap();
    assert!(!show.contains('\u{1b}'), "{show}");
    let report = String::from_utf8(a.out(&["report", "--format", "csv"])).unwrap();
    assert!(!report.contains('\u{1b}'), "{report}");
}
