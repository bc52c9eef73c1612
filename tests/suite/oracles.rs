//! What an attacker can learn from the outside: by timing `verify` (does this user exist?),
//! from the lockout count (was that password right?), and what a flood of attempts on a
//! locked account or of absurd usernames leaves in the audit log and the lockout table.
//! The database is set up through the library on a real store (a file, or a PostgreSQL
//! database: the entry file chooses with `store_at`); the attempts are made by the real
//! binary in fresh processes, and by a long-running `Core`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_console::core::{
    Actor, Channel, Core, CoreError, ManualClock, NewUser, PendingAuthenticator, PolicyKey,
    SignInStep, UserChange,
};
use mfa_console::mail::Outbox;
use mfa_console::store::{Location, Method, Role, StoreError};
use zeroize::Zeroizing;

const ADMIN_PW: &str = "correct horse battery staple";
const ALICE_PW: &str = "violet tangerine harbor 7";
const WRONG_PW: &str = "definitely not the password";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mfa-console"))
}

fn new_user(name: &str, role: Role, password: Option<&str>) -> NewUser {
    NewUser {
        username: name.to_string(),
        email: format!("{name}@example.com"),
        name: format!("{name} Example"),
        role,
        password: password.map(|p| Zeroizing::new(p.to_string())),
    }
}

struct Org {
    _dir: tempfile::TempDir,
    db: Db,
    core: Core,
    clock: ManualClock,
}

/// Admin, alice (member with a password), carol (invited), dave (disabled), svc
/// (integration); the lockout threshold as given.
fn org(threshold: &str) -> Org {
    let dir = tempfile::tempdir().unwrap();
    let db = Db {
        location: super::store_at(dir.path()),
        config: dir.path().join("config.toml"),
    };
    std::fs::write(&db.config, "").unwrap();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = ManualClock::new(started as i64);
    let core = Core::create_with_clock(
        &db.location,
        "Acme",
        new_user("admin", Role::Admin, Some(ADMIN_PW)),
        Arc::new(Outbox::new(
            dir.path().join("outbox"),
            "MFA <mfa@localhost>",
        )),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let add = |u| core.add_user(Actor::Operator, u).unwrap();
    add(new_user("alice", Role::Member, Some(ALICE_PW)));
    add(new_user("carol", Role::Member, None));
    add(new_user("dave", Role::Member, Some(ALICE_PW)));
    add(new_user("svc", Role::Integration, Some(ALICE_PW)));
    core.update_user(
        Actor::Operator,
        "dave",
        UserChange {
            disabled: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    core.set_policy(Actor::Operator, PolicyKey::LockoutThreshold, threshold)
        .unwrap();
    Org {
        _dir: dir,
        db,
        core,
        clock,
    }
}

/// The database and the config file beside it, as the binary is pointed at them.
#[derive(Clone)]
struct Db {
    location: Location,
    config: PathBuf,
}

/// One `verify` in a fresh process; stdin is the given lines.
fn verify(db: &Db, user: &str, lines: &str) -> std::process::Output {
    let mut child = Command::new(bin())
        .arg("--db")
        .arg(db.location.shown())
        .arg("--config")
        .arg(&db.config)
        .args(["verify", user])
        .env_remove("MFA_CONSOLE_DB")
        .env_remove("MFA_CONSOLE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Medians of interleaved samples, one per path: the known user with a wrong password first.
fn medians(
    rounds: usize,
    paths: &[&str],
    mut sample: impl FnMut(&str) -> Duration,
) -> Vec<Duration> {
    let mut all = vec![Vec::new(); paths.len()];
    for _ in 0..rounds {
        for (i, p) in paths.iter().enumerate() {
            all[i].push(sample(p));
        }
    }
    all.into_iter().map(median).collect()
}

/// Unknown, invited, disabled and integration accounts cost what a known user with a wrong
/// password costs, within noise: the ratio of medians stays near 1.
fn assert_equal_cost(paths: &[&str], m: &[Duration], context: &str) {
    let base = m[0].as_secs_f64();
    for (p, d) in paths.iter().zip(m).skip(1) {
        let ratio = d.as_secs_f64() / base;
        eprintln!("{context}: {p} {d:?} / alice {:?} = {ratio:.2}", m[0]);
        assert!(
            (0.67..=1.5).contains(&ratio),
            "{context}: {p} costs {d:?}, a wrong password for alice {:?} (ratio {ratio:.2})",
            m[0]
        );
    }
}

const PATHS: [&str; 5] = ["alice", "nobody", "carol", "dave", "svc"];

#[test]
fn verify_in_a_fresh_process_costs_the_same_for_every_kind_of_account() {
    let Org { _dir, db, core, .. } = org("100");
    drop(core);
    let input = format!("{WRONG_PW}\n123456\n");
    let m = medians(15, &PATHS, |user| {
        let t = Instant::now();
        let out = verify(&db, user, &input);
        let took = t.elapsed();
        assert_eq!(out.status.code(), Some(1), "{user}");
        took
    });
    assert_equal_cost(&PATHS, &m, "fresh process");
}

#[test]
fn sign_in_in_a_long_running_process_costs_the_same_for_every_kind_of_account() {
    let o = org("100");
    let m = medians(15, &PATHS, |user| {
        let t = Instant::now();
        let r = o.core.sign_in(user, WRONG_PW, Channel::Api, None);
        let took = t.elapsed();
        assert!(matches!(r, Err(CoreError::Refused)), "{user}");
        took
    });
    assert_equal_cost(&PATHS, &m, "long-running");
}

#[test]
fn the_dummy_hash_has_the_parameters_of_real_ones() {
    assert!(mfa_console::core::password::same_parameters(
        mfa_console::core::password::DUMMY_PHC
    ));
}

/// alice with an authenticator, enrolled through the library.
fn enroll_alice(o: &Org) -> PendingAuthenticator {
    o.core
        .set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    let s = match o.core.sign_in("alice", ALICE_PW, Channel::Console, None) {
        Ok(SignInStep::SignedIn(s)) => s,
        other => panic!("{other:?}"),
    };
    let pa = o
        .core
        .begin_authenticator(Actor::User(&s), s.username(), None, None)
        .unwrap();
    let code = pa.code_at(o.core.now()).unwrap();
    o.core
        .confirm_authenticator(Actor::User(&s), &pa, &code)
        .unwrap();
    let enrolled = o
        .core
        .store()
        .read(|tx| {
            let id = tx.user_id_by_name("alice")?.unwrap();
            Ok::<_, StoreError>(tx.enrollments_of(id)?.len())
        })
        .unwrap();
    assert_eq!(enrolled, 1);
    pa
}

fn failures(o: &Org, name: &str) -> u32 {
    o.core.store().read(|tx| tx.lockout(name)).unwrap().failures
}

#[test]
fn a_right_password_with_no_code_counts_as_a_failure_like_a_wrong_one() {
    let o = org("5");
    enroll_alice(&o);
    let db = o.db.clone();
    // Right password, code line missing; right password, code line empty; wrong password.
    for (lines, expect) in [
        (format!("{ALICE_PW}\n"), 1),
        (format!("{ALICE_PW}\n\n"), 2),
        (format!("{WRONG_PW}\n123456\n"), 3),
    ] {
        let out = verify(&db, "alice", &lines);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(failures(&o, "alice"), expect, "after {lines:?}");
    }
}

#[test]
fn attempts_while_locked_are_audited_without_flooding_the_log() {
    let o = org("3");
    for _ in 0..3 {
        let _ = o.core.sign_in("alice", WRONG_PW, Channel::Api, None);
    }
    let locked_events = |o: &Org| {
        o.core
            .store()
            .read(|tx| tx.audit_events())
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "sign-in.while-locked" && e.subject == "alice")
            .collect::<Vec<_>>()
    };
    // Two hundred attempts in a burst: the first is told at once, the rest are counted.
    for _ in 0..200 {
        let r = o.core.sign_in("alice", ALICE_PW, Channel::Api, None);
        assert!(matches!(r, Err(CoreError::Locked { .. })));
    }
    let events = locked_events(&o);
    assert!(
        (1..=3).contains(&events.len()),
        "one event per ten seconds, not one per attempt: {}",
        events.len()
    );
    // Ten seconds on, the next attempt is told with the count of those in between.
    o.clock.advance(11);
    let _ = o.core.sign_in("alice", ALICE_PW, Channel::Api, None);
    let events = locked_events(&o);
    let last = events.last().unwrap();
    assert!(
        last.details.contains("attempts since the last"),
        "{}",
        last.details
    );
}

#[test]
fn empty_and_overlong_usernames_leave_no_audit_event_or_lockout_counter() {
    let o = org("5");
    let before = o.core.store().read(|tx| tx.audit_events()).unwrap().len();
    let long = "x".repeat(10_000);
    for name in ["", "   ", long.as_str()] {
        let out = verify(&o.db, name, &format!("{WRONG_PW}\n123456\n"));
        assert_eq!(out.status.code(), Some(1), "{name:.20}");
        let r = o.core.sign_in(name, WRONG_PW, Channel::Api, None);
        assert!(matches!(r, Err(CoreError::Refused)));
    }
    let events = o.core.store().read(|tx| tx.audit_events()).unwrap();
    assert_eq!(events.len(), before, "{:#?}", &events[before..]);
    for name in ["", long.as_str()] {
        assert_eq!(failures(&o, name), 0);
    }
    let log =
        std::fs::read_to_string(o.db.config.with_file_name("mfa-console.log")).unwrap_or_default();
    assert!(
        !log.contains(&long[..300]),
        "the long name reached the log file"
    );
}
