//! `cargo bench --bench scale`: builds organizations of 1k, 10k and 100k users in temporary
//! folders and prints one line per figure, `name value unit` (the size after `@`).
//! `SCALE_SIZES=100000 cargo bench --bench scale` runs one size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_console::core::import::{CodeDelivery, Phase};
use mfa_console::core::{
    Actor, Channel, Clock, CodeKind, Core, ManualClock, NewUser, SignInStep, password,
};
use mfa_console::mail::{Mailer, Outbox};
use mfa_console::store::{Location, Method, Role, Store};
use mfa_console::tui::app::{App, Runner, Screen};
use mfa_console::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use zeroize::Zeroizing;

#[path = "stats.rs"]
pub mod stats;
use stats::{median, ms, p99};

const PASSWORD: &str = "granite harbor lamp 77";

fn figure(size: usize, name: &str, value: String, unit: &str) {
    stats::figure(&format!("{name}@{size}"), value, unit);
}

fn mailer(dir: &Path) -> Arc<dyn Mailer> {
    Arc::new(Outbox::new(dir.join("outbox"), "MFA <mfa@localhost>"))
}

/// The organization, the time until the users were committed, and until every
/// activation mail was written too.
pub fn build(dir: &Path, size: usize, clock: &ManualClock) -> (Core, Duration, Duration) {
    let db = dir.join("org.redb");
    let core = Core::create_with_clock(
        &db,
        "Bench Corp",
        NewUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password: Some(Zeroizing::new(PASSWORD.into())),
        },
        mailer(dir),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut csv = String::from("username,email,name,role\n");
    for i in 0..size.saturating_sub(1) {
        csv.push_str(&format!(
            "user{i:06},user{i:06}@example.com,User Number {i},member\n"
        ));
    }
    let start = Instant::now();
    let rows = mfa_console::core::import::parse_csv(csv.as_bytes(), "bench.csv").unwrap();
    let mut committed = Duration::ZERO;
    core.import_users(
        Actor::Operator,
        rows,
        CodeDelivery::Mail,
        &mut |phase, done, total| {
            if phase == Phase::Writing && done == total {
                committed = start.elapsed();
            }
        },
    )
    .unwrap();
    (core, committed, start.elapsed())
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The console as a person starts it: open the database, draw the sign-in screen.
pub fn cold_start(db: &Location, dir: &Path) -> (App, Terminal<TestBackend>, Duration) {
    let t = Instant::now();
    let m = mailer(dir);
    let core = Arc::new(Core::open(db, Arc::clone(&m)).unwrap());
    let mut app = App::new(db, Some(core), m, Theme { color: true }, Runner::Inline);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    term.draw(|f| app.render(f)).unwrap();
    let first = t.elapsed();
    typed(&mut app, "admin");
    key(&mut app, KeyCode::Enter);
    typed(&mut app, PASSWORD);
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.screen, Screen::Main(_)));
    (app, term, first)
}

/// Redraw time of each key: handling plus drawing into a 120×40 buffer.
fn frames(app: &mut App, term: &mut Terminal<TestBackend>, keys: &[KeyCode]) -> Vec<Duration> {
    keys.iter()
        .map(|k| {
            let t = Instant::now();
            key(app, *k);
            term.draw(|f| app.render(f)).unwrap();
            t.elapsed()
        })
        .collect()
}

pub fn console_figures(size: usize, db: &Location, dir: &Path) {
    let (mut app, mut term, first) = cold_start(db, dir);
    figure(size, "first_frame", ms(first), "ms");
    // Users: the roster loads in the background in the console; here it runs inline.
    let t = Instant::now();
    for _ in 0..2 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Enter);
    term.draw(|f| app.render(f)).unwrap();
    figure(size, "roster_ready", ms(t.elapsed()), "ms");

    let mut moves = vec![KeyCode::Down; 800];
    moves.extend([KeyCode::PageDown; 100]);
    moves.extend([KeyCode::End, KeyCode::Home].repeat(50));
    let move_frames = frames(&mut app, &mut term, &moves);
    figure(
        size,
        "keystroke_move_median",
        ms(median(move_frames.clone())),
        "ms",
    );
    figure(size, "keystroke_move_p99", ms(p99(move_frames)), "ms");

    let mut filter_keys = vec![KeyCode::Char('/')];
    for _ in 0..20 {
        filter_keys.extend("user0".chars().map(KeyCode::Char));
        filter_keys.extend([KeyCode::Backspace; 5]);
    }
    let filter_frames = frames(&mut app, &mut term, &filter_keys[..100]);
    figure(
        size,
        "keystroke_filter_median",
        ms(median(filter_frames.clone())),
        "ms",
    );
    figure(size, "keystroke_filter_p99", ms(p99(filter_frames)), "ms");
    key(&mut app, KeyCode::Esc);

    let sort_frames = frames(&mut app, &mut term, &[KeyCode::Char('s'); 12]);
    figure(
        size,
        "keystroke_sort_median",
        ms(median(sort_frames.clone())),
        "ms",
    );
    figure(
        size,
        "keystroke_sort_max",
        ms(*sort_frames.iter().max().unwrap()),
        "ms",
    );
}

/// Peak resident memory of a console process: run in a child so the build above does
/// not count.
fn rss_child(db: &Path) {
    let dir = db.parent().unwrap();
    let (mut app, mut term, _) = cold_start(&Location::File(db.to_path_buf()), dir);
    for k in [
        KeyCode::Down,
        KeyCode::Down,
        KeyCode::Enter,
        KeyCode::End,
        KeyCode::Char('/'),
    ] {
        key(&mut app, k);
        term.draw(|f| app.render(f)).unwrap();
    }
    typed(&mut app, "user0");
    term.draw(|f| app.render(f)).unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    println!("{hwm}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        rss_child(Path::new(&args[i + 1]));
        return;
    }
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    for size in sizes {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(chrono::Utc::now().timestamp());
        let (core, committed, with_mail) = build(dir.path(), size, &clock);
        figure(size, "import_users_committed", ms(committed), "ms");
        figure(size, "import_with_activation_mails", ms(with_mail), "ms");
        let db = dir.path().join("org.redb");

        // Sign-in: the whole call, and the argon2id check alone; the difference is ours.
        let mut full = Vec::new();
        let mut hash_only = Vec::new();
        let phc = password::hash(PASSWORD).unwrap();
        for _ in 0..30 {
            let t = Instant::now();
            match core
                .sign_in("admin", PASSWORD, Channel::Console, None)
                .unwrap()
            {
                SignInStep::SignedIn(_) => {}
                other => panic!("unexpected {other:?}"),
            }
            full.push(t.elapsed());
            let t = Instant::now();
            assert!(password::verify(PASSWORD, &phc));
            hash_only.push(t.elapsed());
        }
        let (f, h) = (median(full), median(hash_only));
        figure(size, "sign_in_with_argon2", ms(f), "ms");
        figure(
            size,
            "sign_in_without_argon2",
            ms(f.saturating_sub(h)),
            "ms",
        );

        // TOTP verify + durable replay write: one fresh step per attempt.
        core.set_method(Actor::Operator, Method::Authenticator, true, false)
            .unwrap();
        let pending = core
            .begin_authenticator(Actor::Operator, "admin", None, None)
            .unwrap();
        core.confirm_authenticator(
            Actor::Operator,
            &pending,
            &pending.code_at(clock.now()).unwrap(),
        )
        .unwrap();
        let mut verify = Vec::new();
        for _ in 0..200 {
            clock.advance(30);
            let step = match core.sign_in("admin", PASSWORD, Channel::Api, None).unwrap() {
                SignInStep::CodeRequired(p) => p,
                other => panic!("unexpected {other:?}"),
            };
            let code = pending.code_at(clock.now()).unwrap();
            let t = Instant::now();
            core.submit_code(&step, &code, CodeKind::Authenticator)
                .unwrap();
            verify.push(t.elapsed());
        }
        figure(
            size,
            "totp_verify_durable_median",
            ms(median(verify.clone())),
            "ms",
        );
        figure(size, "totp_verify_durable_p99", ms(p99(verify)), "ms");
        // The console signs in without a code below.
        core.set_method(Actor::Operator, Method::Authenticator, false, true)
            .unwrap();
        drop(core);

        // Opening the file (nothing else holds it now in this process).
        let opens: Vec<Duration> = (0..20)
            .map(|_| {
                let t = Instant::now();
                let s = Store::open(&db).unwrap();
                let took = t.elapsed();
                drop(s);
                took
            })
            .collect();
        figure(size, "database_open", ms(median(opens)), "ms");

        console_figures(size, &Location::File(db.clone()), dir.path());

        let out = std::process::Command::new(&args[0])
            .args(["--rss-child", db.to_str().unwrap()])
            .output()
            .unwrap();
        let kib: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        figure(
            size,
            "console_peak_rss",
            format!("{:.1}", kib as f64 / 1024.0),
            "MiB",
        );
    }
}
