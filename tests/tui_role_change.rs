//! An open console follows a role change made by another process: at its next refresh
//! (the console polls once a second) it redraws with the new role's panes and says so.
//! The console runs on plain state with `Runner::Inline` and a `TestBackend`; the change
//! is made by the real binary, as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use mfa_console::core::{Actor, Core, NewUser};
use mfa_console::mail::{Mailer, Outbox};
use mfa_console::store::Role;
use mfa_console::tui::app::{App, Msg, Runner, Screen};
use mfa_console::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tempfile::TempDir;
use zeroize::Zeroizing;

const ADMIN_PW: &str = "granite harbor lamp 77";
const ALICE_PW: &str = "violet tangerine harbor 7";

struct Env {
    _dir: TempDir,
    db: PathBuf,
    core: Arc<Core>,
    mailer: Arc<dyn Mailer>,
}

fn new_user(name: &str, role: Role, password: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        name: format!("{name} Example"),
        role,
        password: Some(Zeroizing::new(password.into())),
    }
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mfa.redb");
        let mailer: Arc<dyn Mailer> = Arc::new(Outbox::new(
            dir.path().join("outbox"),
            "MFA <mfa@localhost>",
        ));
        let core = Core::create(
            &db,
            "Acme Corp",
            new_user("admin", Role::Admin, ADMIN_PW),
            Arc::clone(&mailer),
        )
        .unwrap();
        core.add_user(Actor::Operator, new_user("alice", Role::Admin, ALICE_PW))
            .unwrap();
        Env {
            _dir: dir,
            db,
            core: Arc::new(core),
            mailer,
        }
    }

    fn app(&self) -> App {
        App::new(
            self.db.clone(),
            Some(Arc::clone(&self.core)),
            Arc::clone(&self.mailer),
            Theme { color: false },
            Runner::Inline,
        )
    }

    /// `mfa-console user set USER --role ROLE`, in a process of its own.
    fn set_role(&self, user: &str, role: &str) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-console"))
            .env_remove("MFA_CONSOLE_DB")
            .arg("--db")
            .arg(&self.db)
            .args(["user", "set", user, "--role", role])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn sign_in(app: &mut App, user: &str, password: &str) {
    for c in user.chars() {
        press(app, KeyCode::Char(c));
    }
    press(app, KeyCode::Enter);
    for c in password.chars() {
        press(app, KeyCode::Char(c));
    }
    press(app, KeyCode::Enter);
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    let w = usize::from(buf.area.width);
    buf.content
        .chunks(w)
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn notice(app: &App) -> String {
    app.notice
        .as_ref()
        .map(|(s, _)| s.clone())
        .unwrap_or_default()
}

#[test]
fn an_admin_demoted_by_another_process_sees_the_member_console_at_the_next_refresh() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    assert!(matches!(app.screen, Screen::Main(_)));
    // On the roster.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(
        s.contains("Users") && s.contains("Security Controls"),
        "{s}"
    );
    assert!(s.contains("admin Example"), "the roster is up: {s}");
    // A dialog opened as an admin (add user) is open when the change lands.
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(app.popups.len(), 1, "{}", screen(&app));

    env.set_role("alice", "member");
    app.update(Msg::Tick);

    let s = screen(&app);
    assert!(!s.contains("Security Controls"), "{s}");
    assert!(!s.contains("Audit log"), "{s}");
    assert!(!s.contains("admin Example"), "the roster is gone: {s}");
    assert!(s.contains("My account"), "{s}");
    assert!(app.popups.is_empty());
    match &app.screen {
        Screen::Main(m) => {
            assert_eq!(m.session.role(), Role::Member);
            assert!(!m.session.is_admin());
        }
        _ => panic!("still signed in, as a member"),
    }
    assert!(notice(&app).contains("member"), "{}", notice(&app));
    assert!(s.contains(&notice(&app)), "the notice shows: {s}");
    // The core refuses admin work for this session too.
    if let Screen::Main(m) = &app.screen {
        assert!(env.core.users(Actor::User(&m.session)).is_err());
    }

    // And back: made admin again, the admin panes return.
    env.set_role("alice", "admin");
    app.update(Msg::Tick);
    let s = screen(&app);
    assert!(
        s.contains("Security Controls") && s.contains("Users"),
        "{s}"
    );
    assert!(notice(&app).contains("admin"), "{}", notice(&app));
}

#[test]
fn a_user_made_an_integration_account_is_signed_out() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    assert!(matches!(app.screen, Screen::Main(_)));
    env.set_role("alice", "integration");
    app.update(Msg::Tick);
    assert!(matches!(app.screen, Screen::SignIn(_)), "{}", screen(&app));
    assert!(screen(&app).contains("integration"), "{}", screen(&app));
}

/// A name from before control characters were refused at input is drawn escaped on the
/// roster and in the profile: it cannot repaint the screen.
#[test]
fn a_stored_control_character_is_escaped_on_the_roster_and_in_the_profile() {
    let env = Env::new();
    env.core
        .store()
        .write(|tx| {
            let id = tx.user_id_by_name("alice")?.unwrap();
            let mut u = tx.user(id)?.unwrap();
            u.name = "Al\u{1b}[2Jice\nadmin".into();
            u.email = "alice@exa\u{202e}mple.com".into();
            tx.put_user(&u)
        })
        .unwrap();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(s.contains("Al\\u{1b}[2Jice"), "{s}");
    assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}'), "{s:?}");
    // The profile of alice (second row).
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(s.contains("Profile · alice"), "{s}");
    assert!(s.contains("alice@exa\\u{202e}mple.com"), "{s}");
    assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}'), "{s:?}");
}
