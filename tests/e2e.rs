//! End to end: the real binary in a pseudo-terminal, keys typed, the screen read back
//! through a terminal emulator, asserting what a person would see.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const PASSWORD: &str = "granite harbor lamp 77";

struct Console {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Console {
    fn start(db: &Path, cols: u16, rows: u16) -> Console {
        Console::start_with(&["--db".as_ref(), db.as_os_str()], cols, rows, None)
    }

    /// The binary with `args`; `tmp` as its TMPDIR (where a demo builds its folder).
    fn start_with(args: &[&std::ffi::OsStr], cols: u16, rows: u16, tmp: Option<&Path>) -> Console {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_mfa-console"));
        for a in args {
            cmd.arg(a);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("MFA_CONSOLE_DB");
        cmd.env_remove("NO_COLOR");
        if let Some(t) = tmp {
            cmd.env("TMPDIR", t);
        }
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer = pty.master.take_writer().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            NonZeroU16::new(rows).unwrap(),
            NonZeroU16::new(cols).unwrap(),
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
        Console {
            screen,
            writer,
            child,
        }
    }

    fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Waits until `what` shows on the screen.
    fn wait_for(&self, what: &str) -> String {
        self.wait_for_within(what, 20)
    }

    /// The same, waiting up to `secs` seconds (a demo builds its organization first).
    fn wait_for_within(&self, what: &str, secs: u64) -> String {
        let start = Instant::now();
        loop {
            let t = self.text();
            if t.contains(what) {
                return t;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("waited {secs} s for {what:?}; the screen shows:\n{t}");
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        // Let the console take in one batch of keys before the next (a lone Esc must
        // not be read as the start of an escape sequence).
        std::thread::sleep(Duration::from_millis(120));
    }

    fn typed(&mut self, text: &str) {
        self.send(text);
        self.send("\r");
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

const DOWN: &str = "\x1b[B";
const TAB: &str = "\t";
const ESC: &str = "\x1b";

/// Picks the Base32 secret (groups of four) off the screen.
fn secret_on(screen: &str) -> String {
    let mut groups = Vec::new();
    for line in screen.lines() {
        for word in line.split_whitespace() {
            if word.len() == 4
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
            {
                groups.push(word.to_string());
            }
        }
    }
    assert_eq!(
        groups.len(),
        8,
        "secret groups on screen: {groups:?}\n{screen}"
    );
    groups.concat()
}

fn code_for(secret: &str, offset: i64) -> String {
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let t = totp_rs::Builder::new()
        .with_secret(bytes)
        .with_account_name("x")
        .build()
        .unwrap();
    t.generate((chrono::Utc::now().timestamp() + offset) as u64)
        .to_string()
}

/// Moves the navigation to `item` (from the top) and opens it.
fn open_nav(c: &mut Console, item: &str) {
    let screen = c.text();
    let items: Vec<&str> = [
        "Overview",
        "Security Controls",
        "Users",
        "Audit log",
        "Clients",
        "My account",
        "Configure my MFA",
        "Sign out",
    ]
    .into_iter()
    .filter(|i| screen.contains(i))
    .collect();
    let pos = items
        .iter()
        .position(|i| *i == item)
        .unwrap_or_else(|| panic!("{item} not in the menu:\n{screen}"));
    c.send(ESC); // from a pane back to the menu (the menu itself ignores Esc)
    c.send(&"\x1b[A".repeat(8));
    c.send(&DOWN.repeat(pos));
    c.send("\r");
}

#[test]
fn first_run_to_mfa_on_and_off_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("org.redb");
    let mut c = Console::start(&db, 100, 32);

    // First run: organization and first admin, then signed in.
    c.wait_for("first run");
    for field in [
        "Acme Corp",
        "alice",
        "alice@acme.example",
        "Alice Admin",
        PASSWORD,
        PASSWORD,
    ] {
        c.typed(field);
    }
    c.wait_for("Overview");
    c.wait_for("MFA off");

    // Two more users, added by another process while the console is open.
    for u in ["bob", "carol"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-console"))
            .args([
                "--db",
                db.to_str().unwrap(),
                "user",
                "add",
                u,
                "--email",
                &format!("{u}@acme.example"),
            ])
            .env_remove("MFA_CONSOLE_DB")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Security Controls: MFA is off, so no re-authentication; turn the authenticator on.
    open_nav(&mut c, "Security Controls");
    c.wait_for("Authenticator app (TOTP)");
    c.send(" ");
    c.wait_for("integrations");
    c.send("\r");
    c.wait_for("The authenticator method is now on");
    c.wait_for("MFA on (app)");

    // Configure my MFA: read the secret off the screen, type the app's code.
    open_nav(&mut c, "Configure my MFA");
    c.wait_for("Add an authenticator app");
    c.send("a");
    let screen = c.wait_for("Type the 6-digit code");
    assert!(screen.contains('▀'), "the QR code is drawn:\n{screen}");
    let secret = secret_on(&screen);
    c.typed("000000");
    c.wait_for("not right");
    c.typed(&code_for(&secret, 0));
    let screen = c.wait_for("Recovery codes");
    let recovery: Vec<String> = screen
        .split_whitespace()
        .filter(|w| w.len() == 29 && w.matches('-').count() == 5)
        .map(str::to_string)
        .collect();
    assert_eq!(recovery.len(), 10, "ten recovery codes shown:\n{screen}");
    c.send("\r");
    c.wait_for("Keep the recovery codes somewhere safe");

    // Sign out, sign in again: now a code is asked.
    open_nav(&mut c, "Sign out");
    c.wait_for("Sign in with your username");
    c.typed("alice");
    c.typed(PASSWORD);
    c.wait_for("6-digit code");
    c.typed(&code_for(&secret, 30));
    c.wait_for("Overview");

    // Users: alice configured, the others not.
    open_nav(&mut c, "Users");
    let screen = c.wait_for("1 of 3 configured");
    assert!(screen.contains("✓ configured"), "{screen}");
    assert_eq!(
        screen.matches("⚠ not configured").count(),
        2,
        "bob and carol:\n{screen}"
    );

    // Turn MFA off with Forget all devices: re-authentication (with a recovery code),
    // then the dialog.
    open_nav(&mut c, "Security Controls");
    c.wait_for("Confirm it is you");
    c.typed(PASSWORD);
    c.typed(&recovery[0]);
    c.wait_for("MFA is ENABLED");
    c.send(" ");
    c.wait_for("Forget all devices");
    c.send(" "); // check the box
    c.send(TAB);
    c.send("\r");
    c.wait_for("1 enrollment(s) forgotten");
    c.wait_for("MFA off");

    open_nav(&mut c, "Users");
    c.wait_for("0 of 3 configured");
    let screen = c.text();
    assert_eq!(
        screen.matches("⚠ not configured").count(),
        3,
        "nobody is configured:\n{screen}"
    );

    c.send(ESC);
    c.send("q");
    let start = Instant::now();
    while c.child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "q quits");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn wrong_codes_get_the_generic_message_then_the_lockout_with_its_end() {
    use mfa_console::core::{Actor, Core, NewUser};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("org.redb");
    {
        let core = Core::create(
            &db,
            "Acme Corp",
            NewUser {
                username: "alice".into(),
                email: "alice@acme.example".into(),
                name: String::new(),
                role: mfa_console::store::Role::Admin,
                password: Some(zeroize::Zeroizing::new(PASSWORD.into())),
            },
            Arc::new(mfa_console::mail::Outbox::new(
                dir.path().join("outbox"),
                "MFA <m@localhost>",
            )),
        )
        .unwrap();
        core.set_method(
            Actor::Operator,
            mfa_console::store::Method::Authenticator,
            true,
            false,
        )
        .unwrap();
        let p = core
            .begin_authenticator(Actor::Operator, "alice", None, None)
            .unwrap();
        core.confirm_authenticator(Actor::Operator, &p, &p.code_at(core.now() - 30).unwrap())
            .unwrap();
    }
    let mut c = Console::start(&db, 80, 24);
    c.wait_for("Sign in with your username");
    c.typed("alice");
    c.typed(PASSWORD);
    c.wait_for("6-digit code");
    // Each attempt is waited for until the database has counted it: a code typed while the
    // one before is still being checked is not taken.
    let store = mfa_console::store::Store::open(&db).unwrap();
    let counted = |n: u32| {
        let start = Instant::now();
        loop {
            let l = store.read(|tx| tx.lockout("alice")).unwrap();
            if l.failures >= n || l.locked_until.is_some() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "attempt {n} was not counted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for n in 1..=3 {
        c.typed("000000");
        counted(n);
        let screen = c.wait_for("Sign-in refused: the username, password or code is not right.");
        assert!(
            screen.contains("6-digit code"),
            "still at the code step:\n{screen}"
        );
        assert!(!screen.contains("Overview"));
    }
    // Two more failures reach the lockout threshold (5): the message names its end.
    c.typed("000000");
    counted(4);
    c.wait_for("Sign-in refused");
    c.typed("000000");
    let screen = c.wait_for("locked");
    assert!(
        screen.contains("until 20"),
        "the lockout shows when it ends:\n{screen}"
    );
    assert!(screen.contains("UTC"), "{screen}");
}

/// A closed terminal (the window closed, `tmux kill-session`) ends a demo the way `q`
/// does: its temporary folder is removed.
#[test]
#[allow(unsafe_code)]
fn a_closed_terminal_ends_the_demo_and_removes_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_mfa-console"));
    cmd.arg("--demo");
    cmd.env("TERM", "xterm-256color");
    cmd.env("TMPDIR", tmp.path());
    cmd.env_remove("MFA_CONSOLE_DB");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    // Read on this thread (no second handle on the terminal), so that dropping the
    // master closes the terminal for real.
    let fd = pty.master.as_raw_fd().unwrap();
    let mut seen = String::new();
    let drain = |for_: Duration, seen: &mut String| {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; the fd stays open while `pty.master` lives.
            let ready = unsafe { libc::poll(&mut p, 1, 100) };
            if ready > 0 {
                let mut buf = [0u8; 8192];
                // SAFETY: reads into a buffer of the length given.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                seen.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
            }
        }
    };
    let demo_dirs = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("mfa-console-demo-"))
            })
            .collect()
    };
    let start = Instant::now();
    while !seen.contains("Demo ready") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the demo did not start: {seen}"
        );
        drain(Duration::from_millis(200), &mut seen);
    }
    // The console takes over the terminal.
    drain(Duration::from_millis(1500), &mut seen);
    assert_eq!(demo_dirs().len(), 1, "the demo folder is under TMPDIR");
    // The terminal goes away.
    drop(pty.master);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the console kept running without its terminal"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        demo_dirs().is_empty(),
        "left behind: {:?} (the console ended with {status:?}); its log:\n{}",
        demo_dirs(),
        demo_dirs()
            .first()
            .and_then(|d| std::fs::read_to_string(d.join("mfa-console.log")).ok())
            .unwrap_or_default()
    );
}

/// Quitting a demo says that its organization is being removed (a large one takes
/// seconds), after the screen is restored.
#[test]
fn quitting_the_demo_says_it_is_removing_it() {
    // Its own TMPDIR: a demo killed by a failing test leaves nothing in /tmp.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Console::start_with(&["--demo".as_ref()], 80, 24, Some(tmp.path()));
    c.wait_for_within("Demo organization", 120);
    c.send(ESC); // Esc on the first sign-in step quits
    c.wait_for("Removing the demo organization");
}
