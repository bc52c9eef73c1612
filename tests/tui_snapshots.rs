//! `insta` snapshots of every screen, pane and dialog of the console, at 80×24 and 120×40,
//! drawn with `Theme { color: false }` (NO_COLOR): what is stored is the words-only
//! rendering, so each state must read from its words and symbols alone.
//!
//! The organization is built on a real database in a temporary folder with a manual clock;
//! whatever is random (secrets, recovery and activation codes, the QR code, the temporary
//! folder) is replaced by fixed-width placeholders before comparison, so the layout stays
//! readable in the `.snap` files.
//!
//! Update with `INSTA_UPDATE=always cargo test --test tui_snapshots`, then review the files
//! under `tests/snapshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use mfa_console::core::{
    Actor, Channel, Clock, CodeKind, Core, ManualClock, NewUser, PendingAuthenticator, SignInStep,
};
use mfa_console::mail::{Mailer, Outbox};
use mfa_console::store::{Method, Role};
use mfa_console::tui::app::{App, Runner, Screen};
use mfa_console::tui::popups::Popup;
use mfa_console::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tempfile::TempDir;
use zeroize::Zeroizing;

/// 2027-01-15 08:00:01 UTC, mid-step for TOTP.
const T0: i64 = 1_800_000_001;
const DAY: i64 = 86_400;
const ADMIN_PW: &str = "granite harbor lamp 77";
const ALICE_PW: &str = "violet tangerine harbor 7";
const BOB_PW: &str = "quiet meadow lantern 9";
const DAVE_PW: &str = "copper window falcon 3";

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

// ---------------------------------------------------------------------------------------
// Bench
// ---------------------------------------------------------------------------------------

struct Env {
    _dir: TempDir,
    db: PathBuf,
    clock: ManualClock,
    core: Arc<Core>,
    mailer: Arc<dyn Mailer>,
}

/// Temporary folders directly under /tmp, so their paths (and the wrapping of the lines
/// that show them) have the same length on every run.
fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix(".tmp")
        .rand_bytes(6)
        .tempdir_in("/tmp")
        .unwrap()
}

fn outbox(dir: &TempDir) -> Arc<dyn Mailer> {
    Arc::new(Outbox::new(
        dir.path().join("outbox"),
        "MFA <mfa@localhost>",
    ))
}

fn person(username: &str, name: &str, role: Role, password: Option<&str>) -> NewUser {
    NewUser {
        username: username.to_string(),
        email: format!("{username}@acme.example"),
        name: name.to_string(),
        role,
        password: password.map(|p| Zeroizing::new(p.to_string())),
    }
}

impl Env {
    /// Acme Corp with its admin only; MFA off.
    fn bare() -> Env {
        Env::bare_at(T0)
    }

    /// Acme Corp with its admin only, created at `start`.
    fn bare_at(start: i64) -> Env {
        let dir = tempdir();
        let db = dir.path().join("mfa.redb");
        let mailer = outbox(&dir);
        let clock = ManualClock::new(start);
        let core = Core::create_with_clock(
            &db,
            "Acme Corp",
            person("admin", "Ada Admin", Role::Admin, Some(ADMIN_PW)),
            Arc::clone(&mailer),
            Arc::new(clock.clone()),
        )
        .unwrap();
        Env {
            _dir: dir,
            db,
            clock,
            core: Arc::new(core),
            mailer,
        }
    }

    /// Acme Corp with the authenticator method on and a mixed roster: alice (configured,
    /// signed in), bob (not configured, signed in, two failed sign-ins), carol (invited),
    /// ci-bot (integration), dave (locked). The admin has not configured MFA.
    fn org() -> (Env, PendingAuthenticator) {
        let env = Env::bare_at(T0 - 10 * DAY);
        let c = &env.core;
        for u in [
            person("alice", "Alice Liddell", Role::Member, Some(ALICE_PW)),
            person("bob", "Bob Stone", Role::Member, Some(BOB_PW)),
            person("carol", "Carol Danvers", Role::Member, None),
            person(
                "ci-bot",
                "CI pipeline",
                Role::Integration,
                Some("integration secret 123"),
            ),
            person("dave", "Dave Lister", Role::Member, Some(DAVE_PW)),
        ] {
            c.add_user(Actor::Operator, u).unwrap();
        }
        // A failed sign-in three days ago, and one today.
        env.clock.set(T0 - 3 * DAY);
        assert!(
            c.sign_in("bob", "wrong password here", Channel::Console, None)
                .is_err()
        );
        env.clock.set(T0 - 2 * 3600);
        assert!(
            c.sign_in("bob", "wrong password again", Channel::Console, None)
                .is_err()
        );
        assert!(matches!(
            c.sign_in("bob", BOB_PW, Channel::Console, None),
            Ok(SignInStep::SignedIn(_))
        ));
        env.clock.set(T0 - 3600);
        c.set_method(Actor::Operator, Method::Authenticator, true, false)
            .unwrap();
        let alice = c
            .begin_authenticator(Actor::Operator, "alice", None, None)
            .unwrap();
        let code = alice.code_at(env.clock.now()).unwrap();
        c.confirm_authenticator(Actor::Operator, &alice, &code)
            .unwrap();
        env.clock.advance(60);
        let Ok(SignInStep::CodeRequired(p)) = c.sign_in("alice", ALICE_PW, Channel::Console, None)
        else {
            panic!("alice needs a code")
        };
        let code = alice.code_at(env.clock.now()).unwrap();
        assert!(matches!(
            c.submit_code(&p, &code, CodeKind::Authenticator),
            Ok(SignInStep::SignedIn(_))
        ));
        env.clock.set(T0 - 600);
        for _ in 0..5 {
            let _ = c.sign_in("dave", "not dave's password", Channel::Console, None);
        }
        env.clock.set(T0);
        (env, alice)
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

    /// The admin, signed in (password only: the admin has no MFA).
    fn admin(&self) -> App {
        let mut app = self.app();
        sign_in(&mut app, "admin", ADMIN_PW);
        assert!(
            matches!(app.screen, Screen::Main(_)),
            "{}",
            text(&app, 120, 40)
        );
        app
    }
}

/// Filters for what changes from run to run, each replaced by text of the same width.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(r"/tmp/\.tmp[A-Za-z0-9]{6}", "/tmp/.tmpXXXXXX");
    s.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "YYYY-MM-DD hh:mm UTC");
    s.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "YYYY-MM-DD hh:mm");
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
        "YYYY-MM-DDThh:mm:ssZ",
    );
    // Dates cut short by a column or a line wrap.
    s.add_filter(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD");
    // Recovery codes (six groups), then activation codes (four groups).
    s.add_filter(
        r"[a-z2-7]{4}(-[a-z2-7]{4}){5}",
        "xxxx-xxxx-xxxx-xxxx-xxxx-xxxx",
    );
    s.add_filter(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", "xxxx-xxxx-xxxx-xxxx");
    // The Base32 secret, in groups of four.
    s.add_filter(r"\b[A-Z2-7]{4}( [A-Z2-7]{4}){3,7}\b", "SSSS SSSS SSSS SSSS");
    // The QR code's half-block rows. Every cell of the code, quiet zone included, is an
    // upper half block (the modules are in its colours), so a row is one unbroken run; runs
    // of spaces elsewhere on the screen must not match.
    // A QR row: with colours, one run of half blocks; under NO_COLOR, blocks and gaps.
    s.add_filter(r"[▀▄█][▀▄█ ]{18,}[▀▄█]", "[qr]");
    s
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn sign_in(app: &mut App, user: &str, password: &str) {
    type_text(app, user);
    press(app, KeyCode::Enter);
    type_text(app, password);
    press(app, KeyCode::Enter);
}

fn draw(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    t
}

/// The screen as plain text (for finding things on it, not for snapshots).
fn text(app: &App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    buf.content
        .chunks(usize::from(buf.area.width))
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Snapshots `app` as `name_WxH` at both sizes.
fn snap(app: &App, name: &str) {
    snap_at(app, name, &SIZES);
}

fn snap_at(app: &App, name: &str, sizes: &[(u16, u16)]) {
    settings().bind(|| {
        for &(w, h) in sizes {
            let t = draw(app, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
        }
    });
}

/// Admin navigation with MFA on: Overview, Security Controls, Users, Audit log,
/// Clients, My account, Configure my MFA, Sign out.
fn open(app: &mut App, index: usize) {
    for _ in 0..index {
        press(app, KeyCode::Down);
    }
    press(app, KeyCode::Enter);
}

const CONTROLS: usize = 1;
const USERS: usize = 2;
const AUDIT: usize = 3;
const CLIENTS: usize = 4;
const MY_MFA: usize = 6;

/// The secret shown on the authenticator step, read off the screen.
fn secret_on_screen(app: &App) -> Vec<u8> {
    let screen = text(app, 120, 40);
    let lines: Vec<&str> = screen.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("Or type this secret:"))
        .expect("secret on screen");
    let b32: String = lines[at + 1..]
        .iter()
        .take_while(|l| !l.contains("account:"))
        .flat_map(|l| l.split_whitespace())
        .filter(|w| {
            w.len() == 4
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        })
        .collect();
    data_encoding::BASE32_NOPAD
        .decode(b32.as_bytes())
        .expect("Base32 secret")
}

// ---------------------------------------------------------------------------------------
// Before signing in
// ---------------------------------------------------------------------------------------

#[test]
fn first_run_setup() {
    let dir = tempdir();
    let app = App::new(
        dir.path().join("mfa.redb"),
        None,
        outbox(&dir),
        Theme { color: false },
        Runner::Inline,
    );
    assert!(matches!(app.screen, Screen::Setup(_)));
    snap(&app, "setup");

    // Partly filled in: the passwords are masked.
    let mut app = app;
    type_text(&mut app, "Acme Corp");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "admin");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "admin@acme.example");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Ada Admin");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, ADMIN_PW);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "granite harbor lamp 78");
    press(&mut app, KeyCode::Enter);
    snap(&app, "setup_passwords_differ");
}

#[test]
fn sign_in_screens() {
    let (env, alice) = Env::org();
    let mut app = env.app();
    snap(&app, "sign_in");
    type_text(&mut app, "admin");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "secret");
    snap(&app, "sign_in_typed");
    let mut app = env.app();

    sign_in(&mut app, "admin", "not the right password");
    snap(&app, "sign_in_refused");

    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    assert!(text(&app, 120, 40).contains("6-digit code"));
    snap(&app, "sign_in_code_step");

    press(&mut app, KeyCode::F(4));
    snap(&app, "sign_in_recovery_code");
    press(&mut app, KeyCode::F(4));

    // A wrong code: generic message, still on the code step.
    let right = alice.code_at(env.clock.now()).unwrap();
    type_text(
        &mut app,
        if right == "000000" {
            "111111"
        } else {
            "000000"
        },
    );
    press(&mut app, KeyCode::Enter);
    snap(&app, "sign_in_code_refused");

    let mut app = env.app();
    sign_in(&mut app, "dave", DAVE_PW);
    snap(&app, "sign_in_locked");

    let mut app = env.app();
    press(&mut app, KeyCode::F(2));
    snap(&app, "sign_in_activate");
}

#[test]
fn window_too_small() {
    let env = Env::bare();
    let app = env.app();
    snap_at(&app, "too_small", &[(60, 20)]);
    let app = env.admin();
    snap_at(&app, "too_small_main", &[(60, 20), (79, 24), (80, 23)]);
}

// ---------------------------------------------------------------------------------------
// Panes
// ---------------------------------------------------------------------------------------

#[test]
fn overview() {
    let (env, _) = Env::org();
    let app = env.admin();
    snap(&app, "overview");
    let env = Env::bare();
    let app = env.admin();
    snap(&app, "overview_mfa_off");
}

#[test]
fn help_popup() {
    let (env, _) = Env::org();
    let mut app = env.admin();
    press(&mut app, KeyCode::Char('?'));
    assert!(matches!(app.popups.as_slice(), [Popup::Help { .. }]));
    snap(&app, "help");
    for _ in 0..40 {
        press(&mut app, KeyCode::Down);
    }
    snap(&app, "help_scrolled");
}

#[test]
fn security_controls() {
    let (env, _) = Env::org();
    let mut app = env.admin();
    for _ in 0..CONTROLS {
        press(&mut app, KeyCode::Down);
    }
    snap(&app, "controls_locked");
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Reauth(_)]));
    snap(&app, "reauth");

    type_text(&mut app, "wrong password here");
    press(&mut app, KeyCode::Enter);
    snap(&app, "reauth_refused");
    press(&mut app, KeyCode::Esc);

    press(&mut app, KeyCode::Enter);
    type_text(&mut app, ADMIN_PW);
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty(), "{}", text(&app, 120, 40));
    snap(&app, "controls");

    // Turning the authenticator off (MFA would go off with it).
    press(&mut app, KeyCode::Char(' '));
    assert!(matches!(app.popups.as_slice(), [Popup::Confirm(_)]));
    snap(&app, "controls_method_off");
    press(&mut app, KeyCode::Char(' '));
    snap(&app, "controls_method_off_checked");
    press(&mut app, KeyCode::Esc);

    // Turning email codes on: the integration advisory and the email warning.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    assert!(matches!(app.popups.as_slice(), [Popup::Advisory(_)]));
    snap(&app, "controls_email_on_advisory");
    press(&mut app, KeyCode::Esc);

    // A policy value.
    for _ in 0..2 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Input(_)]));
    snap(&app, "controls_policy_input");
}

#[test]
fn reauthentication_with_a_code() {
    let (env, _) = Env::org();
    let admin = env
        .core
        .begin_authenticator(Actor::Operator, "admin", None, None)
        .unwrap();
    let code = admin.code_at(env.clock.now()).unwrap();
    env.core
        .confirm_authenticator(Actor::Operator, &admin, &code)
        .unwrap();
    env.clock.advance(30);
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    type_text(&mut app, &admin.code_at(env.clock.now()).unwrap());
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.screen, Screen::Main(_)),
        "{}",
        text(&app, 120, 40)
    );
    open(&mut app, CONTROLS);
    assert!(matches!(app.popups.as_slice(), [Popup::Reauth(_)]));
    snap(&app, "reauth_with_code");

    // A wrong password with the right code: refused, both fields cleared.
    type_text(&mut app, "wrong password here");
    press(&mut app, KeyCode::Enter);
    env.clock.advance(30);
    type_text(&mut app, &admin.code_at(env.clock.now()).unwrap());
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Reauth(_)]));
    snap(&app, "reauth_with_code_refused");
}

#[test]
fn security_controls_mfa_off() {
    let env = Env::bare();
    let mut app = env.admin();
    open(&mut app, CONTROLS);
    assert!(app.popups.is_empty());
    snap(&app, "controls_mfa_off");
    press(&mut app, KeyCode::Char(' '));
    snap(&app, "controls_authenticator_on_advisory");
}

#[test]
fn users_and_profiles() {
    let (env, _) = Env::org();
    let mut app = env.admin();
    open(&mut app, USERS);
    let screen = text(&app, 120, 40);
    assert!(screen.contains("not configured"), "{screen}");
    snap(&app, "users");

    press(&mut app, KeyCode::Char('n'));
    snap(&app, "users_not_configured");
    press(&mut app, KeyCode::Char('n'));

    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "li");
    snap(&app, "users_filter");
    press(&mut app, KeyCode::Esc);

    // alice's profile (second row), and the reset-MFA confirmation.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    snap(&app, "profile");
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Confirm(_)]));
    snap(&app, "profile_reset_mfa");
    press(&mut app, KeyCode::Esc);

    // The role choice.
    for _ in 0..2 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Choice(_)]));
    snap(&app, "profile_role");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);

    // dave: locked (the selection is still on alice).
    for _ in 0..4 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter);
    snap(&app, "profile_locked");
    press(&mut app, KeyCode::Esc);

    // Add user.
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.popups.as_slice(), [Popup::AddUser(_)]));
    snap(&app, "add_user");
    type_text(&mut app, "erin");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "erin@acme.example");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Erin Hart");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.popups.as_slice(), [Popup::Message { .. }]),
        "{}",
        text(&app, 120, 40)
    );
    snap(&app, "add_user_done");
}

#[test]
fn audit_log() {
    let (env, _) = Env::org();
    let mut app = env.admin();
    open(&mut app, AUDIT);
    snap(&app, "audit");
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "bob");
    snap(&app, "audit_filter");
}

#[test]
fn clients_pane() {
    let (env, _) = Env::org();
    let mut app = env.admin();
    open(&mut app, CLIENTS);
    let empty = text(&app, 80, 24);
    assert!(empty.contains("mfa-console client add NAME"), "{empty}");
    snap(&app, "clients_empty");
    use mfa_console::store::ClientMode;
    env.core
        .add_client(
            Actor::Operator,
            "vpn-gateway-frankfurt-01",
            ClientMode::CodeOnly,
        )
        .unwrap();
    env.core
        .add_client(Actor::Operator, "web-portal", ClientMode::PasswordAndCode)
        .unwrap();
    // Another process changed the database: the pane shows it on the next reload.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Down);
    let shown = text(&app, 80, 24);
    assert!(shown.contains("vpn-gateway-frankfurt-01"), "{shown}");
    assert!(shown.contains("password+code"), "{shown}");
    assert!(shown.contains("request never"), "{shown}");
    let wide = text(&app, 120, 40);
    assert!(wide.contains("password-and-code"), "{wide}");
    assert!(wide.contains("vpn-gateway-frankfurt-01 "), "{wide}");
    assert!(wide.contains("LAST REQUEST"), "{wide}");
    snap(&app, "clients");
}

#[test]
fn configure_my_mfa() {
    let (env, _) = Env::org();
    let mut app = env.admin();
    open(&mut app, MY_MFA);
    snap(&app, "my_mfa");

    press(&mut app, KeyCode::Char('a'));
    let screen = text(&app, 80, 24);
    assert!(screen.contains("Or type this secret:"), "{screen}");
    snap(&app, "my_mfa_authenticator");

    // A wrong code first.
    let secret = secret_on_screen(&app);
    let right = mfa_console::core::totp::code_at(&secret, env.clock.now()).unwrap();
    type_text(
        &mut app,
        if right == "000000" {
            "111111"
        } else {
            "000000"
        },
    );
    press(&mut app, KeyCode::Enter);
    snap(&app, "my_mfa_authenticator_wrong_code");

    type_text(&mut app, &right);
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.popups.as_slice(), [Popup::RecoveryCodes(_)]),
        "{}",
        text(&app, 120, 40)
    );
    snap(&app, "recovery_codes");

    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    snap(&app, "my_mfa_configured");
}

#[test]
fn member_home() {
    let (env, alice) = Env::org();
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    env.clock.advance(30);
    type_text(&mut app, &alice.code_at(env.clock.now()).unwrap());
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.screen, Screen::Main(_)),
        "{}",
        text(&app, 120, 40)
    );
    snap(&app, "member_home");
}
