//! Key handling of the console on its state: a real database in a temporary folder, the
//! real outbox mailer, a manual clock, and `Runner::Inline` so that background work (argon2,
//! mail) finishes before `on_key` returns. Assertions are on `app.screen`, `app.popups`,
//! `app.quit`, `app.notice` and the core; where the state is private to a pane (a sign-in
//! step, pane focus, the roster's view) the screen is drawn into a `TestBackend` and read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use mfa_console::core::{
    Actor, Clock, Core, GENERIC_REFUSAL, ManualClock, NewUser, PendingAuthenticator,
};
use mfa_console::mail::{Mailer, Outbox};
use mfa_console::store::{Method, Role};
use mfa_console::tui::app::{App, Msg, Runner, Screen, Target};
use mfa_console::tui::popups::Popup;
use mfa_console::tui::theme::Theme;
use mfa_console::tui::users;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tempfile::TempDir;
use zeroize::Zeroizing;

/// Mid-step, so that a code computed at "now" is not at the edge of its 30-second window.
const T0: i64 = 1_800_000_001;
const ADMIN_PW: &str = "granite harbor lamp 77";
const ALICE_PW: &str = "violet tangerine harbor 7";
const BOB_PW: &str = "quiet meadow lantern 9";

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

fn new_user(name: &str, role: Role, password: Option<&str>) -> NewUser {
    NewUser {
        username: name.to_string(),
        email: format!("{name}@example.com"),
        name: format!("{} Example", name[..1].to_uppercase() + &name[1..]),
        role,
        password: password.map(|p| Zeroizing::new(p.to_string())),
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
        let clock = ManualClock::new(T0);
        let core = Core::create_with_clock(
            &db,
            "Acme Corp",
            new_user("admin", Role::Admin, Some(ADMIN_PW)),
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

    fn app(&self) -> App {
        self.app_with(Runner::Inline)
    }

    fn app_with(&self, runner: Runner) -> App {
        App::new(
            self.db.clone(),
            Some(Arc::clone(&self.core)),
            Arc::clone(&self.mailer),
            Theme { color: false },
            runner,
        )
    }

    /// An app whose work runs on real threads; its messages arrive on the receiver.
    fn threaded_app(&self) -> (App, std::sync::mpsc::Receiver<Msg>) {
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        (self.app_with(Runner::Threads(tx)), rx)
    }

    fn add(&self, name: &str, role: Role, password: Option<&str>) {
        self.core
            .add_user(Actor::Operator, new_user(name, role, password))
            .unwrap();
    }

    fn authenticator_on(&self) {
        self.core
            .set_method(Actor::Operator, Method::Authenticator, true, false)
            .unwrap();
    }

    /// Enrolls an authenticator for `name` (as the operator) and keeps its secret to
    /// compute codes with.
    fn enroll(&self, name: &str) -> PendingAuthenticator {
        let p = self
            .core
            .begin_authenticator(Actor::Operator, name, None, None)
            .unwrap();
        let code = p.code_at(self.clock.now()).unwrap();
        self.core
            .confirm_authenticator(Actor::Operator, &p, &code)
            .unwrap();
        p
    }

    /// A code of a later 30-second step than any used so far (the core refuses replays).
    fn next_code(&self, p: &PendingAuthenticator) -> String {
        self.clock.advance(30);
        p.code_at(self.clock.now()).unwrap()
    }

    /// Admin, alice (authenticator), bob (nothing), ci-bot (integration); the
    /// authenticator method on. Returns alice's authenticator.
    fn with_mfa() -> (Env, PendingAuthenticator) {
        let env = Env::new();
        env.add("alice", Role::Member, Some(ALICE_PW));
        env.add("bob", Role::Member, Some(BOB_PW));
        env.add("ci-bot", Role::Integration, Some("integration secret 123"));
        env.authenticator_on();
        let alice = env.enroll("alice");
        (env, alice)
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(key(code));
}

fn release(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    app.on_key(KeyEvent::new_with_kind(
        code,
        modifiers,
        KeyEventKind::Release,
    ));
}

fn ctrl(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
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

/// The screen as text, one line per row, at 120×40.
/// Signs in with the password and the next code of `p`, and checks the main screen shows.
fn sign_in_with_code(
    env: &Env,
    app: &mut App,
    user: &str,
    password: &str,
    p: &PendingAuthenticator,
) {
    sign_in(app, user, password);
    assert!(is_sign_in(app), "MFA applies to {user}");
    let code = env.next_code(p);
    type_text(app, &code);
    press(app, KeyCode::Enter);
    assert!(is_main(app), "{}", screen(app));
}

/// Types the next code of `p` and Enter.
fn enter_code(env: &Env, app: &mut App, p: &PendingAuthenticator) {
    let code = env.next_code(p);
    type_text(app, &code);
    press(app, KeyCode::Enter);
}

/// Delivers messages until none comes for half a second (the work started has ended).
fn pump(app: &mut App, rx: &std::sync::mpsc::Receiver<Msg>) {
    while let Ok(m) = rx.recv_timeout(std::time::Duration::from_millis(500)) {
        app.update(m);
    }
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    let w = usize::from(buf.area.width);
    buf.content
        .chunks(w)
        .map(|row| {
            row.iter()
                .map(|c| c.symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The roster's username column holds `name` (as a whole word, in any row).
fn roster_shows(app: &App, name: &str) -> bool {
    screen(app)
        .lines()
        .any(|l| l.split_whitespace().any(|w| w == name))
}

fn is_main(app: &App) -> bool {
    matches!(app.screen, Screen::Main(_))
}

fn is_sign_in(app: &App) -> bool {
    matches!(app.screen, Screen::SignIn(_))
}

fn signed_in_user(app: &App) -> String {
    match &app.screen {
        Screen::Main(m) => m.session.username().to_string(),
        _ => panic!("not on the main screen"),
    }
}

fn notice(app: &App) -> String {
    app.notice
        .as_ref()
        .map(|(s, _)| s.clone())
        .unwrap_or_default()
}

/// Navigation order for an admin with MFA on: Overview, Security Controls, Users,
/// Audit log, Clients, My account, Configure my MFA, Sign out.
fn nav_down(app: &mut App, n: usize) {
    for _ in 0..n {
        press(app, KeyCode::Down);
    }
}

// ---------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------

#[test]
fn right_password_reaches_main() {
    let env = Env::new();
    let mut app = env.app();
    assert!(is_sign_in(&app));
    sign_in(&mut app, "admin", ADMIN_PW);
    assert!(is_main(&app), "{}", screen(&app));
    assert_eq!(signed_in_user(&app), "admin");
    assert!(app.popups.is_empty());
    assert!(app.busy.is_none());
    assert!(!app.quit);
}

#[test]
fn wrong_password_stays_on_sign_in_with_generic_message() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", "not the right password at all");
    assert!(is_sign_in(&app));
    assert!(!app.quit);
    let s = screen(&app);
    assert!(s.contains(GENERIC_REFUSAL), "{s}");
    assert!(!s.contains("6-digit code"), "{s}");

    // The username stays, the password is cleared and has the focus: typing the right
    // one now signs in.
    type_text(&mut app, ADMIN_PW);
    press(&mut app, KeyCode::Enter);
    assert!(is_main(&app), "{}", screen(&app));

    // The same words for a user who does not exist.
    let mut app = env.app();
    sign_in(&mut app, "nobody", "not the right password at all");
    assert!(is_sign_in(&app));
    let s = screen(&app);
    assert!(s.contains(GENERIC_REFUSAL), "{s}");
    assert!(!s.to_lowercase().contains("no user"), "{s}");
}

#[test]
fn code_step_only_the_code_or_esc_lead_anywhere() {
    let (env, alice) = Env::with_mfa();
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    assert!(is_sign_in(&app));
    assert!(screen(&app).contains("6-digit code"), "{}", screen(&app));

    // Navigation, function keys and what would be global keys elsewhere lead nowhere.
    for k in [
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::F(2),
        KeyCode::F(3),
        KeyCode::F(4),
        KeyCode::F(4),
        KeyCode::Char('q'),
        KeyCode::Char('?'),
        KeyCode::Char('/'),
        KeyCode::Char('x'),
    ] {
        press(&mut app, k);
        assert!(is_sign_in(&app), "{k:?} left the code step");
        assert!(!app.quit, "{k:?} quit");
        assert!(app.popups.is_empty(), "{k:?} opened a popup");
    }
    assert!(screen(&app).contains("6-digit code"));

    // A wrong code: the generic message, still on the code step.
    ctrl(&mut app, 'u');
    let right = env.next_code(&alice);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    type_text(&mut app, wrong);
    press(&mut app, KeyCode::Enter);
    assert!(is_sign_in(&app));
    let s = screen(&app);
    assert!(s.contains(GENERIC_REFUSAL), "{s}");
    assert!(s.contains("6-digit code"), "{s}");

    // The right code signs in.
    type_text(&mut app, &right);
    press(&mut app, KeyCode::Enter);
    assert!(is_main(&app), "{}", screen(&app));
    assert_eq!(signed_in_user(&app), "alice");
}

#[test]
fn esc_on_the_code_step_goes_back_to_the_password() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    assert!(screen(&app).contains("6-digit code"));
    press(&mut app, KeyCode::Esc);
    assert!(is_sign_in(&app));
    assert!(!app.quit);
    let s = screen(&app);
    assert!(
        s.contains("Sign in with your username and password."),
        "{s}"
    );
    assert!(!s.contains("6-digit code"), "{s}");
    // Back there, a wrong password does not reach the code step again.
    type_text(&mut app, "wrong password here");
    press(&mut app, KeyCode::Enter);
    assert!(!screen(&app).contains("6-digit code"));
}

// ---------------------------------------------------------------------------------------
// Quitting and key kinds
// ---------------------------------------------------------------------------------------

#[test]
fn ctrl_c_quits_anywhere() {
    let env = Env::new();

    // While typing on the sign-in screen.
    let mut app = env.app();
    type_text(&mut app, "adm");
    ctrl(&mut app, 'c');
    assert!(app.quit);

    // On the main screen, with a popup open.
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.popups.len(), 1);
    ctrl(&mut app, 'c');
    assert!(app.quit);
}

#[test]
fn key_releases_are_ignored() {
    let env = Env::new();
    let mut app = env.app();
    type_text(&mut app, "admin");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, ADMIN_PW);
    // Releases of typed keys and of Enter do nothing.
    release(&mut app, KeyCode::Char('x'), KeyModifiers::NONE);
    release(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(is_sign_in(&app));
    press(&mut app, KeyCode::Enter);
    assert!(is_main(&app), "a released 'x' went into the password");

    release(&mut app, KeyCode::Char('q'), KeyModifiers::NONE);
    assert!(!app.quit);
    release(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(!app.quit);
    release(&mut app, KeyCode::Char('?'), KeyModifiers::NONE);
    assert!(app.popups.is_empty());
    release(&mut app, KeyCode::Tab, KeyModifiers::NONE);
    assert!(
        screen(&app).contains("open pane"),
        "focus moved on a release"
    );
}

#[test]
fn q_quits_on_the_main_screen() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    assert!(!app.quit);
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn q_in_the_authenticator_step_asks_first_and_esc_leaves_the_wizard() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    assert!(is_main(&app));
    nav_down(&mut app, 6); // Configure my MFA
    press(&mut app, KeyCode::Enter);
    assert!(
        screen(&app).contains("You have not configured MFA yet."),
        "{}",
        screen(&app)
    );
    press(&mut app, KeyCode::Char('a'));
    let s = screen(&app);
    assert!(
        s.contains("Add an authenticator app") && s.contains("6-digit code"),
        "{s}"
    );

    // The code field takes digits only: q asks to quit (a wizard is open), it does not
    // quit at once; Cancel goes back to the wizard.
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.quit, "q quit at once with a wizard open");
    assert_eq!(app.popups.len(), 1, "q asks first");
    assert!(screen(&app).contains("without saving"), "{}", screen(&app));
    press(&mut app, KeyCode::Esc);
    assert!(app.popups.is_empty());
    assert!(!app.quit);
    assert!(screen(&app).contains("6-digit code"), "still in the wizard");

    press(&mut app, KeyCode::Esc);
    assert!(is_main(&app));
    assert_eq!(notice(&app), "Left the wizard; nothing was saved.");
    let s = screen(&app);
    assert!(!s.contains("6-digit code"), "{s}");
    assert!(s.contains("You have not configured MFA yet."), "{s}");
    assert!(
        env.core
            .enrollments(Actor::Operator, "admin")
            .unwrap()
            .is_empty()
    );

    // Out of the wizard, q quits again.
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

// ---------------------------------------------------------------------------------------
// Help and focus
// ---------------------------------------------------------------------------------------

#[test]
fn question_mark_opens_help_and_any_key_closes_it() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    for closer in [
        KeyCode::Char('x'),
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Char('q'),
        KeyCode::Tab,
    ] {
        press(&mut app, KeyCode::Char('?'));
        assert!(
            matches!(app.popups.as_slice(), [Popup::Help { .. }]),
            "no help for ?"
        );
        press(&mut app, closer);
        assert!(app.popups.is_empty(), "{closer:?} did not close help");
        assert!(!app.quit, "{closer:?} closing help also quit");
        // The closing key did nothing else: focus is still on the navigation.
        assert!(
            screen(&app).contains("Enter/Tab open pane"),
            "{closer:?} went through"
        );
    }
    // Arrows scroll the help instead of closing it.
    press(&mut app, KeyCode::Char('?'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.popups.len(), 1);
}

#[test]
fn tab_toggles_focus_between_navigation_and_pane() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    let nav_footer = "Enter/Tab open pane";
    let pane_footer = "Tab menu";
    assert!(screen(&app).contains(nav_footer));
    press(&mut app, KeyCode::Tab);
    let s = screen(&app);
    assert!(s.contains(pane_footer) && !s.contains(nav_footer), "{s}");
    press(&mut app, KeyCode::Tab);
    assert!(screen(&app).contains(nav_footer));
    press(&mut app, KeyCode::BackTab);
    assert!(screen(&app).contains(pane_footer));
    press(&mut app, KeyCode::BackTab);
    assert!(screen(&app).contains(nav_footer));
    // Esc from the pane also goes back to the navigation.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Esc);
    assert!(screen(&app).contains(nav_footer));
    assert!(!app.quit);
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

#[test]
fn users_filter_as_you_type_and_only_not_configured() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2); // Users
    press(&mut app, KeyCode::Enter);
    for u in ["admin", "alice", "bob", "ci-bot"] {
        assert!(roster_shows(&app, u), "{u} missing:\n{}", screen(&app));
    }

    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "ali");
    assert!(roster_shows(&app, "alice"), "{}", screen(&app));
    assert!(!roster_shows(&app, "bob"), "{}", screen(&app));
    assert!(!roster_shows(&app, "ci-bot"));

    // While filtering, q and n are letters of the filter.
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    assert!(
        !roster_shows(&app, "alice"),
        "filter 'aliq' still shows alice"
    );
    press(&mut app, KeyCode::Backspace);
    assert!(roster_shows(&app, "alice"));

    // Esc clears the filter.
    press(&mut app, KeyCode::Esc);
    assert!(
        roster_shows(&app, "bob") && roster_shows(&app, "alice"),
        "{}",
        screen(&app)
    );
    assert!(is_main(&app));

    // n: only users who have not configured MFA; integrations never count as such.
    press(&mut app, KeyCode::Char('n'));
    let s = screen(&app);
    assert!(roster_shows(&app, "bob"), "{s}");
    assert!(roster_shows(&app, "admin"), "{s}");
    assert!(!roster_shows(&app, "alice"), "{s}");
    assert!(!roster_shows(&app, "ci-bot"), "{s}");
    assert!(s.contains("not configured"), "{s}");
    press(&mut app, KeyCode::Char('n'));
    assert!(
        roster_shows(&app, "alice") && roster_shows(&app, "ci-bot"),
        "{}",
        screen(&app)
    );

    // Enter filtering and Enter again keeps the filter but gives keys back to the roster.
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "bo");
    press(&mut app, KeyCode::Enter);
    assert!(!roster_shows(&app, "alice"));
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit, "after Enter the filter no longer takes keys");
}

// ---------------------------------------------------------------------------------------
// Security Controls
// ---------------------------------------------------------------------------------------

/// Admin with an authenticator, signed in with password and code, in Security Controls
/// after re-authentication. Returns the admin's authenticator.
fn open_controls(env: &Env, app: &mut App) -> PendingAuthenticator {
    let admin = env.enroll("admin");
    sign_in_with_code(env, app, "admin", ADMIN_PW, &admin);

    nav_down(app, 1); // Security Controls
    let s = screen(app);
    assert!(
        !s.contains("Authenticator app (TOTP)"),
        "controls shown before re-auth:\n{s}"
    );
    press(app, KeyCode::Enter);
    assert!(
        matches!(app.popups.as_slice(), [Popup::Reauth(_)]),
        "no re-auth popup"
    );

    // A wrong password keeps the popup up and the pane closed.
    type_text(app, "wrong password entirely");
    press(app, KeyCode::Enter);
    enter_code(env, app, &admin);
    assert!(
        matches!(app.popups.as_slice(), [Popup::Reauth(_)]),
        "wrong password let through"
    );
    assert!(!screen(app).contains("Authenticator app (TOTP)"));

    // The refusal clears both fields but leaves the focus on the code field (see the
    // reauth_with_code_refused snapshot); start over from a fresh popup instead.
    press(app, KeyCode::Esc);
    assert!(app.popups.is_empty());
    press(app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Reauth(_)]));
    type_text(app, ADMIN_PW);
    press(app, KeyCode::Enter); // to the code field
    enter_code(env, app, &admin);
    assert!(
        app.popups.is_empty(),
        "re-auth popup still up:\n{}",
        screen(app)
    );
    admin
}

#[test]
fn security_controls_open_after_reauthentication() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    open_controls(&env, &mut app);
    let s = screen(&app);
    assert!(s.contains("MFA is ENABLED"), "{s}");
    assert!(s.contains("Authenticator app (TOTP)"), "{s}");
    assert!(s.contains("Email codes"), "{s}");
    assert!(s.contains("Enforcement"), "{s}");
    // The pane has the focus: its keys are in the footer.
    assert!(s.contains("Space toggle"), "{s}");
}

#[test]
fn security_controls_open_without_reauthentication_while_mfa_is_off() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    let s = screen(&app);
    assert!(s.contains("MFA is DISABLED"), "{s}");
    // Turning a method on shows the advisory first; Esc changes nothing.
    press(&mut app, KeyCode::Char(' '));
    assert!(matches!(app.popups.as_slice(), [Popup::Advisory(_)]));
    press(&mut app, KeyCode::Esc);
    assert!(!env.core.organization().unwrap().controls.mfa_enabled());
    // Confirm (a non-dangerous dialog starts on Confirm) turns it on.
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    assert!(env.core.organization().unwrap().controls.authenticator);
    assert!(notice(&app).contains("now on"), "{}", notice(&app));
}

#[test]
fn method_off_dialog_cancel_changes_nothing() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    open_controls(&env, &mut app);
    press(&mut app, KeyCode::Char(' '));
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("no dialog")
    };
    assert_eq!(c.checkbox, Some(("Forget all devices".to_string(), false)));
    // Enter on the box does not tick it: it goes to Cancel, and a second Enter cancels.
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("no dialog")
    };
    assert_eq!(c.checkbox, Some(("Forget all devices".to_string(), false)));
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    assert!(env.core.organization().unwrap().controls.authenticator);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Esc);
    assert!(app.popups.is_empty());
    // Cancel with Enter on Cancel too.
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char(' ')); // check the box
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab); // Cancel
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    assert!(env.core.organization().unwrap().controls.authenticator);
    let rows = env.core.users(Actor::Operator).unwrap();
    assert!(rows.iter().any(|r| r.username == "alice" && r.configured));
}

#[test]
fn method_off_with_forget_all_devices_removes_every_enrollment() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    open_controls(&env, &mut app);
    let configured: Vec<String> = env
        .core
        .users(Actor::Operator)
        .unwrap()
        .into_iter()
        .filter(|r| r.configured)
        .map(|r| r.username)
        .collect();
    assert_eq!(configured, ["admin", "alice"]);

    // The authenticator is the selected row; Space asks, with the checkbox unchecked.
    press(&mut app, KeyCode::Char(' '));
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("no dialog")
    };
    assert_eq!(c.checkbox, Some(("Forget all devices".to_string(), false)));
    assert_eq!(c.focus, 0, "focus starts on the checkbox");
    assert!(screen(&app).contains("Forget all devices"));

    press(&mut app, KeyCode::Char(' '));
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("dialog closed")
    };
    assert_eq!(c.checkbox.as_ref().map(|(_, v)| *v), Some(true));
    assert!(screen(&app).contains("[x] Forget all devices"));

    press(&mut app, KeyCode::Tab); // Confirm
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty(), "{}", screen(&app));
    assert!(is_main(&app));

    let rows = env.core.users(Actor::Operator).unwrap();
    assert!(
        rows.iter().all(|r| !r.configured),
        "still configured: {rows:?}"
    );
    assert!(
        env.core
            .enrollments(Actor::Operator, "alice")
            .unwrap()
            .is_empty()
    );
    assert!(
        env.core
            .enrollments(Actor::Operator, "admin")
            .unwrap()
            .is_empty()
    );
    assert!(!env.core.organization().unwrap().controls.mfa_enabled());
    let n = notice(&app);
    assert!(n.contains("2 enrollment(s) forgotten"), "{n}");
    assert!(screen(&app).contains("MFA is DISABLED"), "{}", screen(&app));
}

#[test]
fn a_user_disabled_while_signed_in_is_signed_out_at_the_next_refresh() {
    let env = Env::new();
    env.add("alice", Role::Member, Some(ALICE_PW));
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    assert!(is_main(&app));
    env.core
        .update_user(
            Actor::Operator,
            "alice",
            mfa_console::core::UserChange {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    app.update(mfa_console::tui::app::Msg::Tick);
    assert!(is_sign_in(&app), "{}", screen(&app));
    assert!(
        screen(&app).contains("disabled or removed"),
        "{}",
        screen(&app)
    );
}

#[test]
fn users_i_imports_a_csv_file_and_the_roster_shows_the_new_users() {
    let env = Env::new();
    let csv = env.db.parent().unwrap().join("people.csv");
    std::fs::write(
        &csv,
        "username,email,name,role\nzed,zed@example.com,Zed Zulu,member\nyan,yan@example.com,Yan,member\n",
    )
    .unwrap();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2); // Users
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('i'));
    type_text(&mut app, csv.to_str().unwrap());
    press(&mut app, KeyCode::Enter);
    assert!(screen(&app).contains("Import done"), "{}", screen(&app));
    press(&mut app, KeyCode::Enter);
    assert!(roster_shows(&app, "zed"), "{}", screen(&app));
    assert!(roster_shows(&app, "yan"), "{}", screen(&app));
    // A bad file imports nothing and says why.
    let bad = env.db.parent().unwrap().join("bad.csv");
    std::fs::write(
        &bad,
        "username,email,name,role\nxavier,not-an-address,X,member\n",
    )
    .unwrap();
    press(&mut app, KeyCode::Char('i'));
    type_text(&mut app, bad.to_str().unwrap());
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(
        s.contains("Nothing imported") && s.contains("line 2"),
        "{s}"
    );
}

// ---------------------------------------------------------------------------------------
// The event flow
// ---------------------------------------------------------------------------------------

fn draw_at(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    buf.content
        .chunks(usize::from(w))
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Users → bob's profile → Delete user: the dialog is up.
fn delete_dialog_for_bob(app: &mut App) {
    nav_down(app, 2); // Users
    press(app, KeyCode::Enter);
    press(app, KeyCode::Down);
    press(app, KeyCode::Down); // bob
    press(app, KeyCode::Enter);
    assert!(screen(app).contains("Profile · bob"), "{}", screen(app));
    for _ in 0..5 {
        press(app, KeyCode::Down); // to "Delete user", the last action
    }
    press(app, KeyCode::Enter);
    assert!(
        matches!(app.popups.as_slice(), [Popup::Confirm(_)]),
        "{}",
        screen(app)
    );
}

#[test]
fn no_key_reaches_a_dialog_while_the_window_is_too_small() {
    let (env, _alice) = Env::with_mfa();
    env.core
        .set_method(Actor::Operator, Method::Authenticator, false, false)
        .unwrap();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    delete_dialog_for_bob(&mut app);
    // Confirm has the focus now; then the window shrinks.
    press(&mut app, KeyCode::Left);
    assert!(draw_at(&app, 60, 20).contains("Please enlarge it"));
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "typed while hidden");
    assert_eq!(app.popups.len(), 1, "a hidden dialog took a key");
    assert!(
        env.core
            .users(Actor::Operator)
            .unwrap()
            .iter()
            .any(|r| r.username == "bob")
    );
    // Back to a usable size: the same dialog works again (and Cancel is safe).
    draw_at(&app, 80, 24);
    press(&mut app, KeyCode::Esc);
    assert!(app.popups.is_empty());
    assert!(
        env.core
            .users(Actor::Operator)
            .unwrap()
            .iter()
            .any(|r| r.username == "bob")
    );
}

#[test]
fn a_destructive_dialog_starts_on_cancel_and_arrows_do_not_wrap() {
    let (env, _alice) = Env::with_mfa();
    env.core
        .set_method(Actor::Operator, Method::Authenticator, false, false)
        .unwrap();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    delete_dialog_for_bob(&mut app);
    // Right on Cancel stays on Cancel (it used to wrap to Delete).
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    assert!(
        env.core
            .users(Actor::Operator)
            .unwrap()
            .iter()
            .any(|r| r.username == "bob")
    );
    // Left stops on Confirm: Left twice, Enter deletes.
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Enter);
    assert!(
        !env.core
            .users(Actor::Operator)
            .unwrap()
            .iter()
            .any(|r| r.username == "bob")
    );
}

#[test]
fn a_temporary_password_is_confirmed_before_it_is_set() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Down); // bob
    press(&mut app, KeyCode::Enter);
    for _ in 0..3 {
        press(&mut app, KeyCode::Down); // Reset MFA, Disable, Change role, Temporary password
    }
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "a fresh temporary secret 42");
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("not confirmed: {}", screen(&app))
    };
    assert!(c.lines.iter().any(|l| l.contains("bob")), "{:?}", c.lines);
    // Cancel (the default): bob's own password still works.
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty());
    let mut other = env.app();
    sign_in(&mut other, "bob", BOB_PW);
    assert!(is_main(&other), "{}", screen(&other));
}

#[test]
fn a_two_valued_policy_change_is_confirmed_with_old_and_new_value() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down); // Enforcement
    press(&mut app, KeyCode::Char(' '));
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("Space changed the policy at once: {}", screen(&app))
    };
    assert!(
        c.lines.iter().any(|l| l.contains("optional → required")),
        "{:?}",
        c.lines
    );
    let before = env.core.organization().unwrap().policy.enforcement;
    press(&mut app, KeyCode::Esc);
    assert_eq!(env.core.organization().unwrap().policy.enforcement, before);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Enter);
    assert_ne!(env.core.organization().unwrap().policy.enforcement, before);
}

#[test]
fn the_focused_pane_is_marked_and_the_menu_dims() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    let s = screen(&app);
    assert!(s.contains("▶ Menu") && !s.contains("▶ Overview"), "{s}");
    press(&mut app, KeyCode::Tab);
    let s = screen(&app);
    assert!(s.contains("▶ Overview") && !s.contains("▶ Menu"), "{s}");
}

#[test]
fn a_wizard_whose_method_is_turned_off_elsewhere_says_why_it_closed() {
    let env = Env::new();
    env.add("alice", Role::Member, Some(ALICE_PW));
    env.authenticator_on();
    env.core
        .set_method(Actor::Operator, Method::Email, true, false)
        .unwrap();
    let mut app = env.app();
    sign_in(&mut app, "alice", ALICE_PW);
    // A member without a method lands in Configure my MFA.
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('a'));
    assert!(
        screen(&app).contains("Scan the QR code"),
        "{}",
        screen(&app)
    );
    env.core
        .set_method(Actor::Operator, Method::Authenticator, false, false)
        .unwrap();
    app.update(Msg::Tick);
    let s = screen(&app);
    assert!(!s.contains("Scan the QR code"), "{s}");
    assert!(
        notice(&app).contains("turned this method off"),
        "{}",
        notice(&app)
    );
}

/// Results of background work: an older load that arrives after a newer one is dropped.
#[test]
fn an_older_load_never_overwrites_a_newer_one() {
    let env = Env::new();
    let (mut app, rx) = env.threaded_app();
    sign_in(&mut app, "admin", ADMIN_PW);
    pump(&mut app, &rx);
    nav_down(&mut app, 2); // Users: its roster loads
    pump(&mut app, &rx);
    // The next roster read on its way back, with the work before it (the change noticed,
    // the session read again) delivered.
    let next_roster = |app: &mut App| loop {
        let m = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        if matches!(&m, Msg::Loaded(_, t) if t.target == Target::Pane(users::ID)) {
            return m;
        }
        app.update(m);
    };
    // A change, then two reloads: the first (older) result is held back.
    env.add("zoe", Role::Member, None);
    app.update(Msg::Tick);
    let older = next_roster(&mut app);
    env.add("yann", Role::Member, None);
    app.update(Msg::Tick);
    let newer = next_roster(&mut app);
    app.update(newer);
    assert!(roster_shows(&app, "yann"), "{}", screen(&app));
    app.update(older);
    assert!(
        roster_shows(&app, "yann"),
        "the older roster replaced the newer:\n{}",
        screen(&app)
    );
}

#[test]
fn the_code_step_stays_in_view_beside_a_long_account_name() {
    let env = Env::new();
    let long = "alexandra.konstantinopoulou-whitfield";
    env.add(long, Role::Member, Some(ALICE_PW));
    env.authenticator_on();
    let mut app = env.app();
    sign_in(&mut app, long, ALICE_PW);
    assert!(is_main(&app), "{}", screen(&app));
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('a'));
    for (w, h) in [(80, 24), (100, 30), (200, 60)] {
        let s = draw_at(&app, w, h);
        assert!(s.contains("2. Type the 6-digit code"), "{w}×{h}:\n{s}");
        assert!(s.contains("Code"), "{w}×{h}:\n{s}");
    }
}

#[test]
fn sign_in_alternatives_work_on_ctrl_letters_shown_on_the_code_screen() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    type_text(&mut app, "alice");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, ALICE_PW);
    press(&mut app, KeyCode::Enter);
    let s = draw_at(&app, 80, 24);
    assert!(s.contains("Ctrl-R/F4"), "{s}");
    ctrl(&mut app, 'r');
    let s = draw_at(&app, 80, 24);
    assert!(s.contains("recovery codes"), "Ctrl-R did not switch:\n{s}");
    assert!(is_sign_in(&app));
    ctrl(&mut app, 'r');
    assert!(draw_at(&app, 80, 24).contains("authenticator app shows"));
    // On the first step, Ctrl-A opens the activation of an invited account.
    press(&mut app, KeyCode::Esc);
    ctrl(&mut app, 'a');
    assert!(
        draw_at(&app, 80, 24)
            .to_lowercase()
            .contains("activation code")
    );
}

/// A signed-in user who re-authenticates with the code that just signed them in is told
/// it was used, and to wait for the next one (at sign-in the answer stays generic).
#[test]
fn reauthentication_with_the_code_just_used_says_so() {
    let (env, _alice) = Env::with_mfa();
    let admin = env.enroll("admin");
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    let code = env.next_code(&admin);
    type_text(&mut app, &code);
    press(&mut app, KeyCode::Enter);
    assert!(is_main(&app), "{}", screen(&app));
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Reauth(_)]));
    type_text(&mut app, ADMIN_PW);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, &code);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(s.contains("was just used"), "{s}");
    assert!(!s.contains(GENERIC_REFUSAL), "{s}");
}

/// One re-authentication covers every sensitive act of an admin while it is fresh:
/// deleting a user asks for it, the role change right after does not.
#[test]
fn one_reauthentication_covers_the_sensitive_admin_acts() {
    let (env, _alice) = Env::with_mfa();
    let admin = env.enroll("admin");
    let mut app = env.app();
    sign_in_with_code(&env, &mut app, "admin", ADMIN_PW, &admin);
    delete_dialog_for_bob(&mut app);
    press(&mut app, KeyCode::Left); // Delete
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.popups.as_slice(), [Popup::Reauth(_)]),
        "deleting a user did not ask to re-authenticate:\n{}",
        screen(&app)
    );
    assert!(
        env.core
            .users(Actor::Operator)
            .unwrap()
            .iter()
            .any(|r| r.username == "bob")
    );
    type_text(&mut app, ADMIN_PW);
    press(&mut app, KeyCode::Enter);
    enter_code(&env, &mut app, &admin);
    assert!(
        !env.core
            .users(Actor::Operator)
            .unwrap()
            .iter()
            .any(|r| r.username == "bob")
    );
    // alice: Change role → admin, confirmed, with no second re-authentication.
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Down); // alice
    press(&mut app, KeyCode::Enter);
    assert!(screen(&app).contains("Profile · alice"), "{}", screen(&app));
    for _ in 0..2 {
        press(&mut app, KeyCode::Down); // Reset MFA, Disable, Change role
    }
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Home); // admin is the first role
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Enter);
    // Making someone admin starts on Cancel: Left to Confirm.
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty(), "{}", screen(&app));
    let alice = env.core.users(Actor::Operator).unwrap();
    assert!(
        alice
            .iter()
            .any(|r| r.username == "alice" && r.role == "admin"),
        "{}",
        screen(&app)
    );
}

/// A file with many bad rows: every one is listed in a dialog that scrolls, with the
/// count; the path stays in its field underneath.
#[test]
fn import_errors_are_a_scrollable_list_and_the_path_stays() {
    let env = Env::new();
    let bad = env.db.parent().unwrap().join("many-bad.csv");
    let mut csv = String::from("username,email,name,role\n");
    for i in 0..300 {
        csv.push_str(&format!("user{i},not-an-address,User {i},member\n"));
    }
    std::fs::write(&bad, csv).unwrap();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('i'));
    type_text(&mut app, bad.to_str().unwrap());
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Message(m)) = app.popups.last() else {
        panic!("no list: {}", screen(&app))
    };
    let lines = &m.lines;
    assert!(lines[0].contains("300 row(s) with errors"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("line 301:")),
        "the last bad row is listed"
    );
    let s = draw_at(&app, 80, 24);
    assert!(s.contains("line 1 of 302"), "{s}");
    press(&mut app, KeyCode::End);
    assert!(draw_at(&app, 80, 24).contains("line 301:"));
    press(&mut app, KeyCode::Enter);
    // The path is still there: Enter tries the same file again.
    assert!(screen(&app).contains("many-bad.csv"), "{}", screen(&app));
}

fn message_lines(app: &App) -> Vec<String> {
    match app.popups.last() {
        Some(Popup::Message(m)) => m.lines.clone(),
        _ => panic!("no message: {}", screen(app)),
    }
}

#[test]
fn an_admin_resends_an_activation_code_and_generates_a_temporary_password() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    env.add("carol", Role::Member, None);
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    // carol (third row), invited: Resend activation code is the second action.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert!(
        screen(&app).contains("Resend activation code"),
        "{}",
        screen(&app)
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter); // confirm (not destructive: starts on Confirm)
    let lines = message_lines(&app);
    let code = lines[2].trim().to_string();
    assert_eq!(code.len(), 19, "{lines:?}");
    press(&mut app, KeyCode::Enter);
    // The new code activates carol's account.
    let mut other = env.app();
    ctrl(&mut other, 'a');
    type_text(&mut other, "carol");
    press(&mut other, KeyCode::Enter);
    type_text(&mut other, &code);
    press(&mut other, KeyCode::Enter);
    assert!(
        screen(&other).to_lowercase().contains("new password"),
        "{}",
        screen(&other)
    );
    // bob: Generate temporary password, confirmed (starts on Cancel), shown once.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Up); // bob
    press(&mut app, KeyCode::Enter);
    for _ in 0..4 {
        press(&mut app, KeyCode::Down); // Reset MFA, Disable, Role, Temp, Generate
    }
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Enter);
    let lines = message_lines(&app);
    let pw = lines[2].trim().to_string();
    assert!(pw.len() >= 12, "{lines:?}");
    let mut bob = env.app();
    sign_in(&mut bob, "bob", &pw);
    assert!(
        screen(&bob).to_lowercase().contains("new password"),
        "the temporary password did not work:\n{}",
        screen(&bob)
    );
}

#[test]
fn my_account_changes_my_own_password() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "bob", BOB_PW);
    press(&mut app, KeyCode::Enter); // My account is the first entry
    press(&mut app, KeyCode::Char('p'));
    let new_pw = "silver orchard compass 12";
    // The two new ones differ: said, nothing changed.
    type_text(&mut app, BOB_PW);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, new_pw);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "something else entirely 9");
    press(&mut app, KeyCode::Enter);
    assert!(
        screen(&app).contains("The two passwords differ"),
        "{}",
        screen(&app)
    );
    type_text(&mut app, new_pw);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, new_pw);
    press(&mut app, KeyCode::Enter);
    assert!(
        notice(&app).contains("password is changed"),
        "{}",
        screen(&app)
    );
    let mut again = env.app();
    sign_in(&mut again, "bob", new_pw);
    assert!(is_main(&again), "{}", screen(&again));
    let mut old = env.app();
    sign_in(&mut old, "bob", BOB_PW);
    assert!(!is_main(&old));
}

/// Turning MFA off is one act: one dialog with one Forget all devices for every method,
/// the count up front, and no second re-authentication.
#[test]
fn mfa_goes_off_for_the_organization_in_one_act() {
    let (env, _alice) = Env::with_mfa();
    env.core
        .set_method(Actor::Operator, Method::Email, true, false)
        .unwrap();
    let mut app = env.app();
    open_controls(&env, &mut app);
    press(&mut app, KeyCode::Char('o'));
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("no dialog: {}", screen(&app))
    };
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("2 authenticator(s) and 0 email address(es) of 2 user(s)")),
        "{:?}",
        c.lines
    );
    press(&mut app, KeyCode::Char(' ')); // Forget all devices
    press(&mut app, KeyCode::Tab); // Confirm
    press(&mut app, KeyCode::Enter);
    assert!(app.popups.is_empty(), "{}", screen(&app));
    let org = env.core.organization().unwrap();
    assert!(!org.controls.mfa_enabled(), "MFA still on");
    assert!(!org.controls.authenticator && !org.controls.email);
    let rows = env.core.users(Actor::Operator).unwrap();
    assert!(rows.iter().all(|r| r.methods.is_empty()), "devices left");
    assert!(notice(&app).contains("MFA is now off"), "{}", notice(&app));
}

/// The advisory lists the accounts that act like integrations (a codeless sign-in through
/// the API in the last 30 days, or a service's name), not the admin herself; `i` makes the
/// selected one an integration user.
#[test]
fn the_integration_advisory_lists_accounts_that_act_like_integrations() {
    let env = Env::new();
    env.add("dana", Role::Member, Some(ALICE_PW));
    env.add("svc-ldap-sync", Role::Member, Some(BOB_PW));
    env.add("erin", Role::Member, Some("quiet meadow lantern 10"));
    // dana signs in through `verify` while MFA is off: no code, like an integration.
    env.core
        .sign_in("dana", ALICE_PW, mfa_console::core::Channel::Api, None)
        .unwrap();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char(' ')); // turn the authenticator method on
    let Some(Popup::Advisory(a)) = app.popups.last() else {
        panic!("no advisory: {}", screen(&app))
    };
    let names: Vec<&str> = a.candidates.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names, vec!["dana", "svc-ldap-sync"], "{:?}", a.candidates);
    assert!(
        a.candidates[0].1.contains("without a code"),
        "{:?}",
        a.candidates
    );
    // At 80×24 the dialog's own key line stays inside it, below the wrapped entries, and
    // the footer fits.
    let s = draw_at(&app, 80, 24);
    let inside = s
        .lines()
        .filter(|l| l.contains("i make it an integration user") && l.contains('│'))
        .count();
    assert_eq!(inside, 1, "{s}");
    assert!(
        s.lines().last().unwrap_or_default().contains("Esc cancel"),
        "{s}"
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('i'));
    press(&mut app, KeyCode::Enter); // confirm the role change
    let rows = env.core.users(Actor::Operator).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.username == "svc-ldap-sync" && r.role == "integration"),
        "{}",
        screen(&app)
    );
    assert!(!env.core.organization().unwrap().controls.authenticator);
    // Back in the advisory, without the account made an integration user; Enter then
    // turns the method on.
    let Some(Popup::Advisory(a)) = app.popups.last() else {
        panic!("the advisory is gone: {}", screen(&app))
    };
    let names: Vec<&str> = a.candidates.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names, vec!["dana"]);
    press(&mut app, KeyCode::Enter);
    assert!(env.core.organization().unwrap().controls.authenticator);
}

/// The audit log filters by kind (e goes through the kinds present; k moves up, as in every list) and by time range (t).
#[test]
fn the_audit_log_filters_by_kind_and_time() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    env.clock.advance(3 * 86400);
    let mut wrong = env.app();
    sign_in(&mut wrong, "bob", "not the password at all");
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 3); // Audit log
    press(&mut app, KeyCode::Enter);
    let all = screen(&app);
    assert!(
        all.contains("user.created") && all.contains("sign-in.failed"),
        "{all}"
    );
    // Last hour: the users created three days ago are gone.
    press(&mut app, KeyCode::Char('t'));
    let s = screen(&app);
    assert!(s.contains("last hour"), "{s}");
    assert!(
        !s.contains("user.created") && s.contains("sign-in.failed"),
        "{s}"
    );
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('t')); // back to all time
    // Kinds in order: k until only sign-in.failed shows.
    let mut found = false;
    for _ in 0..30 {
        press(&mut app, KeyCode::Char('e'));
        let s = screen(&app);
        if s.contains("· sign-in.failed ·") {
            assert!(!s.contains("user.created"), "{s}");
            found = true;
            break;
        }
    }
    assert!(found, "k never reached sign-in.failed: {}", screen(&app));
}

/// Bulk actions from the roster: Space marks, b acts on the marked; R reminds everyone
/// not configured; x exports the view.
#[test]
fn bulk_actions_reminders_and_export_from_the_roster() {
    let (env, _alice) = Env::with_mfa();
    env.enroll("bob");
    // MFA off for the organization keeps re-authentication out of this test.
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    // MFA applies to admin? She has no method: sign-in asks nothing more.
    assert!(is_main(&app), "{}", screen(&app));
    env.core
        .set_method(Actor::Operator, Method::Authenticator, false, false)
        .unwrap();
    app.update(Msg::Tick);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    // Rows: admin, alice, bob, ci-bot. Mark alice and bob.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char(' '));
    assert!(screen(&app).contains("2 marked"), "{}", screen(&app));
    press(&mut app, KeyCode::Char('b'));
    press(&mut app, KeyCode::Down); // Reset MFA
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("not confirmed: {}", screen(&app))
    };
    assert!(
        c.lines[0].contains("2 user(s): alice, bob"),
        "{:?}",
        c.lines
    );
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Enter);
    assert!(notice(&app).contains("done for 2"), "{}", notice(&app));
    env.authenticator_on();
    let rows = env.core.users(Actor::Operator).unwrap();
    assert!(rows.iter().all(|r| r.methods.is_empty()), "MFA left");
    // R: everyone not configured (admin, alice, bob) gets a reminder, after a count.
    let before = std::fs::read_dir(env.db.parent().unwrap().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    press(&mut app, KeyCode::Char('R'));
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("no count: {}", screen(&app))
    };
    assert!(c.lines[0].contains("3 user(s)"), "{:?}", c.lines);
    press(&mut app, KeyCode::Enter);
    let after: Vec<String> = std::fs::read_dir(env.db.parent().unwrap().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(after.len(), before + 3, "{after:?}");
    assert!(
        after
            .iter()
            .any(|n| n.contains("alice@example.com-configure-reminder")),
        "{after:?}"
    );
    // x: the view as CSV, to a new file.
    let out = env.db.parent().unwrap().join("roster.csv");
    press(&mut app, KeyCode::Char('x'));
    type_text(&mut app, out.to_str().unwrap());
    press(&mut app, KeyCode::Enter);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.starts_with("username,name,email,role,status,mfa,methods,last_sign_in"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // The MFA column in words a spreadsheet filters on.
    assert!(csv.contains(",not configured,"), "{csv}");
    assert!(!csv.contains('✓') && !csv.contains('⚠'), "{csv}");
}

/// The Clients pane lists the RADIUS clients of config.toml below the API clients.
#[test]
fn the_clients_pane_shows_the_radius_clients_of_the_config() {
    let env = Env::new();
    let mut app = env.app();
    app.ctx.radius_clients = vec![mfa_console::tui::app::NasRow {
        name: "vpn-gw1".into(),
        mode: "password-and-code",
        address: "10.0.0.0/24".into(),
    }];
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 4); // Clients
    let s = draw_at(&app, 80, 24);
    assert!(s.contains("RADIUS clients"), "{s}");
    assert!(s.contains("vpn-gw1  password-and-code  10.0.0.0/24"), "{s}");
}

/// In the add-user dialog, Space is text in the name and changes the role on the role
/// field; both reach the user added.
#[test]
fn add_user_takes_spaces_in_the_name_and_space_changes_the_role() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.popups.as_slice(), [Popup::AddUser(_)]));
    type_text(&mut app, "erin");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "erin@acme.example");
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "Erin Hart");
    // ← and → move the cursor in a text field: the role stays.
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Enter);
    let row = env
        .core
        .user_detail(Actor::Operator, "erin")
        .expect("erin was added")
        .row;
    assert_eq!(row.name, "Erin Hart");
    assert_eq!(row.role, "admin");
}

/// The dialogs' footers are written from their keymaps: a re-authentication for a user
/// with one method offers no "other method", and F2 there changes nothing.
#[test]
fn reauthentication_offers_only_the_keys_that_work() {
    let (env, _alice) = Env::with_mfa();
    let admin = env.enroll("admin");
    let mut app = env.app();
    sign_in_with_code(&env, &mut app, "admin", ADMIN_PW, &admin);
    assert!(app.popups.is_empty(), "{}", screen(&app));
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.popups.as_slice(), [Popup::Reauth(_)]),
        "{}",
        screen(&app)
    );
    let s = screen(&app);
    assert!(s.contains("Enter confirm"), "{s}");
    assert!(!s.contains("other method"), "{s}");
    // The footer is the dialog's while it is up, not the pane's under it.
    let footer = s.lines().last().unwrap_or_default();
    assert!(
        footer.contains("Esc cancel") && !footer.contains("Tab menu"),
        "{footer}"
    );
    press(&mut app, KeyCode::F(2));
    // Text typed into the password field, including characters that are keys elsewhere.
    type_text(&mut app, "q?x");
    assert!(
        matches!(app.popups.as_slice(), [Popup::Reauth(_)]),
        "{}",
        screen(&app)
    );
    press(&mut app, KeyCode::Esc);
    assert!(app.popups.is_empty());
}

/// The sign-in screen's keys come from its keymap per step: Ctrl-A opens activation from
/// the first step only, and the `?` help lists the sign-in's keys.
#[test]
fn sign_in_keys_resolve_per_step_and_the_help_lists_them() {
    let env = Env::new();
    let mut app = env.app();
    ctrl(&mut app, 'a');
    assert!(screen(&app).contains("Activation code"), "{}", screen(&app));
    press(&mut app, KeyCode::Esc);
    assert!(screen(&app).contains("Sign in with your username"));
    // The organization's name, read in the background, titles the screen.
    assert!(screen(&app).contains("· sign in"), "{}", screen(&app));
    sign_in(&mut app, "admin", ADMIN_PW);
    press(&mut app, KeyCode::Char('?'));
    let Some(Popup::Help(h)) = app.popups.last() else {
        panic!("no help: {}", screen(&app))
    };
    let rows: Vec<String> = h.keys.iter().map(|(k, v)| format!("{k} {v}")).collect();
    for want in [
        "Sign-in (code step)",
        "Ctrl-R/F4 use a recovery code",
        "Ctrl-A/F2 activate an invited account",
        "Confirming it is you (re-authentication)",
        "A message",
    ] {
        assert!(
            rows.iter().any(|r| r.trim() == want || r.starts_with(want)),
            "{want} in {rows:#?}"
        );
    }
}

/// `T` types a range of time: the events of that range are read (not only the newest
/// ones held), a range that does not parse says what to write and keeps the text.
#[test]
fn the_audit_log_shows_a_range_of_time_typed() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    env.clock.advance(3 * 86400);
    let mut wrong = env.app();
    sign_in(&mut wrong, "bob", "not the password at all");
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 3); // Audit log
    press(&mut app, KeyCode::Enter);
    let first_day = mfa_console::core::clock::format_short(T0);
    let first_day = &first_day[..10];

    press(&mut app, KeyCode::Char('T'));
    type_text(&mut app, "the day before yesterday");
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(s.contains("is not a date or time"), "{s}");
    // The text stays to be mended.
    for _ in 0.."the day before yesterday".len() {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, first_day);
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(
        s.contains(&format!("{first_day} 00:00 .. {first_day} 23:59")),
        "{s}"
    );
    assert!(
        s.contains("user.created") && !s.contains("sign-in.failed"),
        "{s}"
    );
    // t goes back to the newest events.
    press(&mut app, KeyCode::Char('t'));
    let s = screen(&app);
    assert!(s.contains("sign-in.failed"), "{s}");
    // Esc leaves the range being typed without a change.
    press(&mut app, KeyCode::Char('T'));
    press(&mut app, KeyCode::Esc);
    assert!(screen(&app).contains("sign-in.failed"));
}

/// Two accounts that share a 12-character prefix are told apart: the roster shows whole
/// usernames at 80 and at 200 columns.
#[test]
fn the_roster_shows_whole_usernames_at_80_and_200_columns() {
    let env = Env::new();
    env.add("svc-ldap-sync-eu", Role::Member, Some(BOB_PW));
    env.add("svc-ldap-sync-us", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    for (w, h) in [(80, 24), (200, 60)] {
        let s = draw_at(&app, w, h);
        assert!(
            s.contains("svc-ldap-sync-eu") && s.contains("svc-ldap-sync-us"),
            "{w}x{h}:\n{s}"
        );
    }
}

/// The once-a-second change check runs off the UI thread, one at a time: while one is on
/// its way (a slow store), further ticks start no other.
#[test]
fn one_change_check_at_a_time_however_slow_the_store() {
    let env = Env::new();
    let (mut app, rx) = env.threaded_app();
    sign_in(&mut app, "admin", ADMIN_PW);
    pump(&mut app, &rx);
    assert!(is_main(&app), "{}", screen(&app));
    for _ in 0..3 {
        app.update(Msg::Tick);
    }
    let mut checks = Vec::new();
    while let Ok(m) = rx.recv_timeout(std::time::Duration::from_millis(500)) {
        if matches!(&m, Msg::Loaded(_, t) if t.target == Target::App) {
            checks.push(m);
        }
    }
    assert_eq!(checks.len(), 1, "three ticks, one check on its way");
    // Once it is in, the next tick checks again.
    for m in checks {
        app.update(m);
    }
    pump(&mut app, &rx);
    app.update(Msg::Tick);
    let again = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert!(matches!(&again, Msg::Loaded(_, t) if t.target == Target::App));
}

/// A user who must configure MFA lands in Configure my MFA with the keys, and is told
/// why, once the organization (which says which methods are on) is read.
#[test]
fn a_user_who_must_configure_mfa_lands_in_the_wizard() {
    let env = Env::new();
    env.authenticator_on();
    for (key, value) in [("grace-days", "0"), ("enforcement", "required")] {
        let k = mfa_console::core::controls::PolicyKey::parse(key).unwrap();
        env.core.set_policy(Actor::Operator, k, value).unwrap();
    }
    env.add("bob", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "bob", BOB_PW);
    assert!(is_main(&app), "{}", screen(&app));
    let s = screen(&app);
    assert!(s.contains("▶ Configure my MFA"), "{s}");
    assert!(notice(&app).contains("MFA is required"), "{}", notice(&app));
    // The wizard has the keys: `a` starts adding an authenticator app.
    press(&mut app, KeyCode::Char('a'));
    assert!(
        screen(&app).contains("Scan the QR code"),
        "{}",
        screen(&app)
    );
}

/// Ctrl-U clears the field being typed into, on the sign-in screen as in the panes.
#[test]
fn ctrl_u_clears_the_field_being_typed_into() {
    let env = Env::new();
    let mut app = env.app();
    type_text(&mut app, "admin");
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "a mistyped password");
    ctrl(&mut app, 'u');
    type_text(&mut app, ADMIN_PW);
    press(&mut app, KeyCode::Enter);
    assert!(is_main(&app), "{}", screen(&app));
}

/// A range of the audit log says when it holds more events than were read.
#[test]
fn an_audit_range_read_says_when_it_holds_more() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    env.add("carol", Role::Member, Some(BOB_PW));
    let (events, more) = env
        .core
        .audit_events_between(Actor::Operator, T0 - 60, T0 + 60, 1)
        .unwrap();
    assert_eq!(events.len(), 1);
    assert!(more, "three users created in the range, one read");
    let (events, more) = env
        .core
        .audit_events_between(Actor::Operator, T0 - 60, T0 + 60, 100)
        .unwrap();
    assert!(events.len() >= 3 && !more, "{events:?}");
    // Newest first, and nothing outside the range.
    assert!(events.windows(2).all(|w| w[0].seq > w[1].seq));
    let (none, _) = env
        .core
        .audit_events_between(Actor::Operator, T0 + 60, T0 + 120, 100)
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

/// Failures in the re-authentication lock the account like sign-in failures; the lock
/// signs out whoever is at the console, so guessing cannot go on there. An empty Enter
/// is no attempt.
#[test]
fn a_lockout_reached_in_the_reauthentication_signs_out() {
    let (env, _alice) = Env::with_mfa();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    assert!(is_main(&app), "{}", screen(&app));
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popups.as_slice(), [Popup::Reauth(_)]));
    for _ in 0..8 {
        press(&mut app, KeyCode::Enter);
    }
    assert!(
        screen(&app).contains("type your password"),
        "{}",
        screen(&app)
    );
    for _ in 0..5 {
        type_text(&mut app, "not the password at all");
        press(&mut app, KeyCode::Enter);
    }
    assert!(is_sign_in(&app), "{}", screen(&app));
    let s = screen(&app);
    assert!(s.contains("locked") && s.contains("signed out"), "{s}");
}

/// In the audit log `k` moves up as in every list (the help says j/k move); `e` goes
/// through the event kinds.
#[test]
fn in_the_audit_log_k_moves_up_and_e_filters_by_kind() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 3); // Audit log
    press(&mut app, KeyCode::Enter);
    let first = screen(&app);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(
        screen(&app),
        first,
        "j then k is back where it was, no kind filter"
    );
    press(&mut app, KeyCode::Char('e'));
    assert!(screen(&app).contains(" of "), "{}", screen(&app));
    // One kind now, named on the summary line.
    let s = screen(&app);
    assert!(s.contains(" events · ") && !s.contains("every kind"), "{s}");
}

/// Pasted text goes into the field in use as text: a line break or Tab in it neither
/// submits the form nor moves to the next field.
#[test]
fn pasted_text_stays_in_the_field() {
    let env = Env::new();
    let mut app = env.app();
    // The password pasted with a trailing line break: nothing is submitted yet.
    type_text(&mut app, "admin");
    press(&mut app, KeyCode::Tab);
    app.update(Msg::Paste(format!("{ADMIN_PW}\n")));
    assert!(is_sign_in(&app), "the paste submitted the sign-in");
    press(&mut app, KeyCode::Enter);
    assert!(is_main(&app), "{}", screen(&app));
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('a'));
    app.update(Msg::Paste("line one\nline two\tünïcödé\n".into()));
    let s = screen(&app);
    assert!(s.contains("Username line one line two ünïcödé"), "{s}");
    assert!(
        matches!(app.popups.as_slice(), [Popup::AddUser(_)]),
        "the dialog is still open"
    );
    // Nothing is typed where there is no field.
    press(&mut app, KeyCode::Esc);
    app.update(Msg::Paste("q".into()));
    assert!(!app.quit);
}

/// A value that cannot be right is refused in its dialog, before any confirmation, and
/// what was typed stays to be mended.
#[test]
fn a_bad_value_is_refused_in_its_dialog_and_kept() {
    let env = Env::new();
    env.add("bob", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    // A policy value.
    nav_down(&mut app, 1);
    press(&mut app, KeyCode::Enter);
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter); // Grace period (days)
    assert!(
        matches!(app.popups.as_slice(), [Popup::Input(_)]),
        "{}",
        screen(&app)
    );
    ctrl(&mut app, 'u');
    type_text(&mut app, "abc");
    press(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(matches!(app.popups.as_slice(), [Popup::Input(_)]), "{s}");
    assert!(
        s.contains("\"abc\" is not allowed for Grace period (days)"),
        "{s}"
    );
    assert!(s.contains("Value abc"), "{s}");
    // Typing clears the complaint.
    press(&mut app, KeyCode::Backspace);
    assert!(!screen(&app).contains("is not allowed"));
    press(&mut app, KeyCode::Esc);
}

/// The profile's chosen action stays chosen when the list of actions changes under it
/// (an invited user got a password elsewhere: "Resend activation code" goes).
#[test]
fn the_chosen_profile_action_stays_when_the_list_changes() {
    let env = Env::new();
    env.add("carol", Role::Member, None);
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "carol");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(
        screen(&app).contains("Resend activation code"),
        "{}",
        screen(&app)
    );
    for _ in 0..4 {
        press(&mut app, KeyCode::Down);
    }
    assert!(
        screen(&app).contains("▸ Set temporary password"),
        "{}",
        screen(&app)
    );
    env.core
        .set_temporary_password(Actor::Operator, "carol", "granite tide window 48")
        .unwrap();
    app.update(Msg::Tick);
    let s = screen(&app);
    assert!(!s.contains("Resend activation code"), "{s}");
    assert!(s.contains("▸ Set temporary password"), "{s}");
}

/// The `?` help starts with the keys of the pane in view, then the keys everywhere.
#[test]
fn the_help_starts_with_the_pane_in_view() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2); // Users
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('?'));
    let Some(Popup::Help(h)) = app.popups.last() else {
        panic!("no help: {}", screen(&app))
    };
    assert_eq!(h.keys[0].0, "Users", "{:?}", &h.keys[..3]);
    assert!(h.keys.iter().any(|(k, _)| k == "Ctrl-C"));
}

/// Within the grace period of a required MFA, My account says how many days are left.
#[test]
fn my_account_says_how_long_the_grace_period_has_left() {
    let env = Env::new();
    env.authenticator_on();
    for (key, value) in [("grace-days", "3"), ("enforcement", "required")] {
        let k = mfa_console::core::controls::PolicyKey::parse(key).unwrap();
        env.core.set_policy(Actor::Operator, k, value).unwrap();
    }
    env.add("bob", Role::Member, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "bob", BOB_PW);
    assert!(
        screen(&app).contains("▶ Configure my MFA"),
        "{}",
        screen(&app)
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Up);
    let s = screen(&app);
    assert!(s.contains("My account"), "{s}");
    assert!(s.contains("day(s) of grace left"), "{s}");
}

/// While `?` would be typed into a field (a filter), the footer does not offer it as help.
#[test]
fn the_footer_offers_help_only_where_question_mark_opens_it() {
    let env = Env::new();
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    let footer = |app: &App| screen(app).lines().last().unwrap_or_default().to_string();
    assert!(footer(&app).contains("? help"), "{}", footer(&app));
    press(&mut app, KeyCode::Char('/'));
    assert!(!footer(&app).contains("? help"), "{}", footer(&app));
    type_text(&mut app, "?");
    assert!(app.popups.is_empty(), "? typed into the filter");
    press(&mut app, KeyCode::Enter);
    assert!(footer(&app).contains("? help"), "{}", footer(&app));
}

/// Disabling one's own account says it signs one out at once.
#[test]
fn disabling_ones_own_account_says_it_signs_one_out() {
    let env = Env::new();
    env.add("boss", Role::Admin, Some(BOB_PW));
    let mut app = env.app();
    sign_in(&mut app, "admin", ADMIN_PW);
    nav_down(&mut app, 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "admin");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Down); // Disable account
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = app.popups.last() else {
        panic!("no confirmation: {}", screen(&app))
    };
    assert!(
        c.lines.iter().any(|l| l.contains("you are signed out")),
        "{:?}",
        c.lines
    );
}
