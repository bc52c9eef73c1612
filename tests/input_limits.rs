//! Bounded input: every file and every line of standard input the binary reads has a size
//! limit, and going past it ends the command at once with exit status 1 and a message that
//! names the file (or standard input), the limit and what to do. Each case runs the real
//! binary under an address-space limit, so that a read without a bound fails the test
//! quickly instead of eating the machine's memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const ADMIN_PW: &str = "river stone lantern 42";
/// The address space each run may use: far more than the binary needs, far less than an
/// unbounded read of /dev/zero would take.
const MEMORY_KIB: u64 = 2 * 1024 * 1024;
/// Every refusal here comes at once; a debug build on a busy machine still takes < 1 s.
const PATIENCE: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

struct Org {
    dir: TempDir,
    db: PathBuf,
}

impl Org {
    fn new() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        let org = Org { dir, db };
        let r = org.run(
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
            format!("{ADMIN_PW}\n").as_bytes(),
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        org
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the binary on this database with `stdin`, under the memory limit; a run that
    /// outlasts [`PATIENCE`] is killed and fails the test.
    fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.run_with(args, stdin, &[])
    }

    fn run_with(&self, args: &[&str], stdin: &[u8], env: &[(&str, &Path)]) -> Run {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -v {MEMORY_KIB}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_mfa-console"))
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .env_remove("MFA_CONSOLE_DB")
            .env_remove("MFA_CONSOLE_CONFIG")
            .env_remove("RUST_BACKTRACE")
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let start = Instant::now();
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        // The binary may stop reading (that is the point): a broken pipe is expected.
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = std::thread::spawn(move || child.wait_with_output());
        let deadline = start + PATIENCE;
        while !out.is_finished() {
            assert!(
                Instant::now() < deadline,
                "mfa-console {args:?} still running after {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = out.join().unwrap().unwrap();
        let took = start.elapsed();
        let _ = writer.join();
        let r = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took,
        };
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("memory allocation"),
            "the binary panicked or ran out of memory:\n{}",
            r.stderr
        );
        r
    }

    fn usernames(&self) -> String {
        let r = self.run(&["user", "export"], b"");
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        r.stdout
    }
}

/// Exit status 1, quickly, with every `words` in the message.
fn refused(r: &Run, words: &[&str]) {
    assert_eq!(
        r.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    for w in words {
        assert!(r.stderr.contains(w), "{w:?} not in:\n{}", r.stderr);
    }
    assert!(
        r.took < Duration::from_secs(20),
        "took {:?}: {}",
        r.took,
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------
// user import
// ---------------------------------------------------------------------------------------

#[test]
fn importing_dev_zero_stops_at_the_row_limit() {
    let org = Org::new();
    let r = org.run(&["user", "import", "/dev/zero"], b"");
    refused(&r, &["/dev/zero", "line 1", "KiB"]);
    assert!(r.stderr.contains("nothing was imported"), "{}", r.stderr);
}

#[test]
fn a_ten_megabyte_line_is_refused_with_its_line_number() {
    let org = Org::new();
    let file = org.path("one-line.csv");
    let mut text = b"username,email,name,role\n".to_vec();
    text.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    fs::write(&file, &text).unwrap();
    let r = org.run(&["user", "import", file.to_str().unwrap()], b"");
    refused(&r, &["one-line.csv", "line 2", "64 KiB", "line breaks"]);
    assert_eq!(org.usernames().lines().count(), 2, "only the admin");
}

#[test]
fn a_field_over_one_kib_is_refused_naming_line_and_column() {
    let org = Org::new();
    let file = org.path("long-field.csv");
    let long = "x".repeat(2000);
    fs::write(
        &file,
        format!(
            "username,email,name,role\n\
             dave,dave@example.com,Dave,member\n\
             erin,erin@example.com,{long},member\n"
        ),
    )
    .unwrap();
    let r = org.run(&["user", "import", file.to_str().unwrap()], b"");
    refused(&r, &["long-field.csv", "line 3", "name", "1024 bytes"]);
    assert!(!r.stderr.contains(&long), "the field is not echoed whole");
    assert_eq!(org.usernames().lines().count(), 2, "nothing imported");
}

#[test]
fn a_quoted_field_that_never_closes_is_refused() {
    let org = Org::new();
    let file = org.path("open-quote.csv");
    let mut text = b"username,email,name,role\nfrank,frank@example.com,\"Frank".to_vec();
    for _ in 0..200_000 {
        text.extend_from_slice(b"more text on another line\n");
    }
    fs::write(&file, &text).unwrap();
    let r = org.run(&["user", "import", file.to_str().unwrap()], b"");
    refused(&r, &["open-quote.csv", "line 2", "64 KiB"]);
}

#[test]
fn too_many_rows_are_refused_before_anything_is_written() {
    let org = Org::new();
    let file = org.path("many.csv");
    let mut text = String::from("username,email,name,role\n");
    for i in 0..250_001 {
        text.push_str(&format!("u{i},u{i}@x.example,,\n"));
    }
    fs::write(&file, text).unwrap();
    let r = org.run(&["user", "import", file.to_str().unwrap()], b"");
    refused(&r, &["many.csv", "250000 rows", "split"]);
    assert_eq!(org.usernames().lines().count(), 2, "nothing imported");
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let org = Org::new();
    let file = org.path("huge.csv");
    // Rows as long as valid rows get, fewer than the row limit, more than 64 MiB.
    let mut text = String::from("username,email,name,role\n");
    let name = "日".repeat(128);
    let local = "e".repeat(200);
    let mut i = 0;
    while text.len() < 65 * 1024 * 1024 {
        text.push_str(&format!("u{i:06},{local}{i}@example.com,{name},member\n"));
        i += 1;
    }
    fs::write(&file, &text).unwrap();
    let r = org.run(&["user", "import", file.to_str().unwrap()], b"");
    refused(&r, &["huge.csv", "64 MiB", "split"]);
}

// ---------------------------------------------------------------------------------------
// standard input
// ---------------------------------------------------------------------------------------

#[test]
fn a_huge_password_on_stdin_is_refused() {
    let org = Org::new();
    let huge = vec![b'p'; 20 * 1024 * 1024];
    let r = org.run(
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        &huge,
    );
    refused(&r, &["standard input", "4096 bytes"]);
    assert!(!org.usernames().contains("bob"));

    // The same for a temporary password and for `init`.
    let r = org.run(
        &["user", "set", "admin", "--temp-password-stdin"],
        &huge[..10_000],
    );
    refused(&r, &["standard input", "4096 bytes"]);
    let other = Org {
        dir: tempfile::tempdir().unwrap(),
        db: PathBuf::new(),
    };
    let other = Org {
        db: other.path("new.redb"),
        ..other
    };
    let r = other.run(
        &[
            "init",
            "--org",
            "B",
            "--admin",
            "root",
            "--email",
            "root@example.com",
            "--password-stdin",
        ],
        &huge,
    );
    refused(&r, &["standard input", "4096 bytes"]);
    assert!(!other.db.exists());
}

#[test]
fn a_long_password_within_the_limit_is_still_read_whole() {
    let org = Org::new();
    // 1024 code points of four bytes each: the longest password there is.
    let longest: String = (0..1024u32)
        .map(|i| char::from_u32(0x1F600 + i % 64).unwrap())
        .collect();
    assert_eq!(longest.len(), 4096);
    let r = org.run(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        format!("{longest}\r\n").as_bytes(),
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = org.run(&["verify", "carol"], format!("{longest}\n").as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn verify_and_enroll_refuse_a_huge_line() {
    let org = Org::new();
    let huge = vec![b'1'; 20 * 1024 * 1024];
    let r = org.run(&["verify", "admin"], &huge);
    refused(&r, &["standard input", "4096 bytes"]);
    // A right password, then a huge code line.
    let mut input = format!("{ADMIN_PW}\n").into_bytes();
    input.extend_from_slice(&huge);
    let r = org.run(&["verify", "admin"], &input);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!r.stdout.contains("accepted"), "{}", r.stdout);

    let r = org.run(&["controls", "set", "authenticator", "on"], b"");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = org.run(&["enroll", "admin", "--method", "authenticator"], &huge);
    refused(&r, &["standard input", "4096 bytes"]);
}

// ---------------------------------------------------------------------------------------
// config, templates, files the config names
// ---------------------------------------------------------------------------------------

#[test]
fn a_huge_config_file_is_refused() {
    let org = Org::new();
    let config = org.path("config.toml");
    let mut text = b"[mail]\ntransport = \"outbox\"\n".to_vec();
    while text.len() < 10 * 1024 * 1024 {
        text.extend_from_slice(b"# a comment line that goes on and on and on\n");
    }
    fs::write(&config, &text).unwrap();
    let r = org.run(&["user", "list"], b"");
    refused(&r, &["config.toml", "1 MiB"]);
    let r = org.run(&["config", "check"], b"");
    refused(&r, &["config.toml", "1 MiB"]);
    fs::remove_file(&config).unwrap();

    // A config that is endless.
    let r = org.run(&["--config", "/dev/zero", "user", "list"], b"");
    refused(&r, &["/dev/zero", "1 MiB"]);
}

#[test]
fn a_huge_mail_template_is_refused() {
    let org = Org::new();
    fs::create_dir(org.path("templates")).unwrap();
    let mut text = String::from("Subject: {org}\n\n{code} {expires}\n");
    while text.len() < 5 * 1024 * 1024 {
        text.push_str("padding padding padding padding padding padding\n");
    }
    fs::write(org.path("templates/verification-code.txt"), text).unwrap();
    let r = org.run(&["config", "check"], b"");
    refused(&r, &["verification-code.txt", "64 KiB"]);
}

#[test]
fn a_huge_relay_password_file_or_ca_file_is_refused() {
    let org = Org::new();
    let pw = org.path("relay-password");
    fs::write(&pw, vec![b'x'; 3 * 1024 * 1024]).unwrap();
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(
        org.path("config.toml"),
        "[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\n\
         port = 2525\nsecurity = \"none\"\nusername = \"relay\"\npassword_file = \"relay-password\"\n",
    )
    .unwrap();
    let r = org.run(&["config", "check"], b"");
    refused(&r, &["relay-password", "4 KiB"]);

    let ca = org.path("ca.pem");
    let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    pem.extend(std::iter::repeat_n(b'A', 3 * 1024 * 1024));
    fs::write(&ca, pem).unwrap();
    fs::write(
        org.path("config.toml"),
        "[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\n\
         port = 2525\nsecurity = \"starttls\"\nca_file = \"ca.pem\"\n",
    )
    .unwrap();
    let r = org.run(&["config", "check"], b"");
    refused(&r, &["ca.pem", "1 MiB"]);
}
