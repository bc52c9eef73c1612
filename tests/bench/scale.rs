//! `cargo bench --bench scale`: builds organizations of 1k, 10k and 100k users in temporary
//! folders and prints one line per figure: `name value unit`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_console::core::{
    Actor, Channel, Clock, CodeKind, Core, ManualClock, NewUser, SignInStep, password,
};
use mfa_console::mail::Outbox;
use mfa_console::store::{Method, Role, Store};
use zeroize::Zeroizing;

const PASSWORD: &str = "granite harbor lamp 77";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn figure(size: usize, name: &str, value: String, unit: &str) {
    println!("{name}@{size} {value} {unit}");
}

fn build(dir: &Path, size: usize, clock: &ManualClock) -> (Core, Duration) {
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
        Arc::new(Outbox::new(dir.join("outbox"), "MFA <mfa@localhost>")),
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
    core.import_users(Actor::Operator, rows, &mut |_, _| {})
        .unwrap();
    (core, start.elapsed())
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    for size in sizes {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(chrono::Utc::now().timestamp());
        let (core, import) = build(dir.path(), size, &clock);
        figure(size, "import", ms(import), "ms");

        let db = dir.path().join("org.redb");
        let opens: Vec<Duration> = (0..50)
            .map(|_| {
                let t = Instant::now();
                drop(Store::open(&db).unwrap());
                t.elapsed()
            })
            .collect();
        figure(size, "database_open", ms(median(opens)), "ms");

        let roster: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let rows = core.users(Actor::Operator).unwrap();
                assert_eq!(rows.len(), size.max(1));
                t.elapsed()
            })
            .collect();
        figure(size, "roster_load", ms(median(roster)), "ms");

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
            "totp_verify_durable",
            ms(median(verify.clone())),
            "ms",
        );
        figure(size, "totp_verify_durable_p99", ms(p99(verify)), "ms");
    }
}
