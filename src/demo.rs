//! `--demo`: a throw-away organization in a temporary folder, filled from the sample in
//! `assets/demo/users.csv` (plus generated users for `--users N`), with a realistic mix:
//! configured and not, integrations, invited, locked and disabled accounts, and two weeks
//! of audit history.

use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::core::import::{CodeDelivery, parse_csv};
use crate::core::{
    Actor, Channel, Clock, CodeKind, Core, CoreError, ManualClock, NewUser, SignInStep, UserChange,
};
use crate::mail::Outbox;
use crate::store::{Method, Role};

pub const ORG: &str = "Northwind Traders";
pub const ADMIN: &str = "demo";
pub const PASSWORD: &str = "northwind trading console";
/// The password every active sample user has.
const USER_PASSWORD: &str = "sample user passphrase";

pub struct Demo {
    /// Removed, with everything in it, when dropped.
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

/// Builds the demo organization. `users`: how many users in all (at least the sample's).
pub fn build(users: usize, progress: &mut dyn FnMut(&str)) -> Result<Demo, CoreError> {
    let dir = tempfile::Builder::new()
        .prefix("mfa-console-demo-")
        .tempdir()
        .map_err(|e| {
            CoreError::Invalid(format!(
                "cannot create a temporary folder for the demo: {e}"
            ))
        })?;
    let db = dir.path().join("demo.redb");
    let now = chrono::Utc::now().timestamp();
    let start = now - 14 * 86400;
    let clock = ManualClock::new(start);
    progress("creating the organization");
    let core = Core::create_with_clock(
        &db,
        ORG,
        NewUser {
            username: ADMIN.into(),
            email: "demo-admin@northwind.example".into(),
            name: "Demo Administrator".into(),
            role: Role::Admin,
            password: Some(Zeroizing::new(PASSWORD.into())),
        },
        Arc::new(Outbox::beside(&db)),
        Arc::new(clock.clone()),
    )?;
    let op = Actor::Operator;
    core.set_method(op, Method::Authenticator, true, false)?;
    core.set_method(op, Method::Email, true, false)?;

    let sample = parse_csv(
        include_str!("../assets/demo/users.csv").as_bytes(),
        "assets/demo/users.csv",
    )?;
    let is_service = |u: &NewUser| u.role == Role::Integration || u.username.contains('-');
    let mut active: Vec<NewUser> = Vec::new();
    let mut invited: Vec<NewUser> = Vec::new();
    for (i, u) in sample.into_iter().enumerate() {
        if i < 110 || is_service(&u) {
            active.push(u);
        } else {
            invited.push(u);
        }
    }
    // Active users get a password (hashing is the slow part: two threads share it).
    progress("adding active users");
    for u in &mut active {
        u.password = Some(Zeroizing::new(USER_PASSWORD.into()));
    }
    let (a, b) = active.split_at(active.len() / 2);
    std::thread::scope(|s| -> Result<(), CoreError> {
        let t = s.spawn(|| -> Result<(), CoreError> {
            for u in a {
                core.add_user(op, u.clone())?;
            }
            Ok(())
        });
        for u in b {
            core.add_user(op, u.clone())?;
        }
        t.join()
            .map_err(|_| CoreError::Invalid("demo builder thread failed".into()))?
    })?;

    progress("configuring authenticator apps");
    let people: Vec<&NewUser> = active.iter().filter(|u| !is_service(u)).collect();
    let mut apps = Vec::new();
    for (i, u) in people.iter().enumerate() {
        if i % 5 == 4 {
            continue; // a fifth of the active users have not configured MFA
        }
        let p = core.begin_authenticator(op, &u.username, Some("phone"), None)?;
        let code = p.code_at(clock.now()).unwrap_or_default();
        core.confirm_authenticator(op, &p, &code)?;
        apps.push(p);
    }

    progress("writing two weeks of history");
    let failures = [2u32, 0, 1, 4, 3, 0, 0, 6, 2, 1, 9, 3, 2, 4];
    for (day, n) in failures.iter().enumerate() {
        clock.set(start + day as i64 * 86400 + 9 * 3600);
        for k in 0..*n {
            let who = people[(day * 7 + k as usize) % people.len()];
            let _ = core.sign_in(&who.username, "wrong password here", Channel::Console, None);
        }
        // A few sign-ins that go all the way, with the app's code.
        for app in apps.iter().skip(day * 3).take(3) {
            clock.advance(600);
            if let Ok(SignInStep::CodeRequired(pending)) =
                core.sign_in(app.username(), USER_PASSWORD, Channel::Console, None)
            {
                let code = app.code_at(clock.now()).unwrap_or_default();
                let _ = core.submit_code(&pending, &code, CodeKind::Authenticator);
            }
        }
    }
    for svc in active.iter().filter(|u| is_service(u)) {
        let _ = core.sign_in(&svc.username, USER_PASSWORD, Channel::Api, None);
    }

    clock.set(now - 600);
    // Invited now, so their activation codes are good for the days they are meant to be.
    progress("inviting the others");
    let extra = users.saturating_sub(invited.len() + active.len() + 1);
    let mut rows = invited;
    for i in 0..extra {
        rows.push(NewUser {
            username: format!("user{i:06}"),
            email: format!("user{i:06}@northwind.example"),
            name: format!("Sample User {i}"),
            role: Role::Member,
            password: None,
        });
    }
    core.import_users(op, rows, CodeDelivery::Mail, &mut |_, _, _| {})?;

    progress("locking and disabling a few accounts");
    for who in people.iter().rev().take(3) {
        for _ in 0..5 {
            let _ = core.sign_in(
                &who.username,
                "not the password at all",
                Channel::Console,
                None,
            );
        }
    }
    for who in people.iter().skip(40).take(2) {
        core.update_user(
            op,
            &who.username,
            UserChange {
                disabled: Some(true),
                ..Default::default()
            },
        )?;
    }
    Ok(Demo { dir, db })
}
