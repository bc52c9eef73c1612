//! The notices mailed to users, read back from the outbox's `.eml` files: which message a
//! change sends (and when it sends none), and that no message carries a control character
//! from the text it was filled with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use mailparse::MailHeaderMap;
use tempfile::TempDir;
use zeroize::Zeroizing;

use mfa_console::core::{Actor, Clock, Core, ManualClock, NewUser};
use mfa_console::mail::{Mailer, Outbox, Template};
use mfa_console::store::{Method, Role};

const T0: i64 = 1_800_000_001;
const ADMIN_PW: &str = "river stone lantern 42";

struct Env {
    _dir: TempDir,
    outbox: PathBuf,
    clock: ManualClock,
    core: Core,
    seen: HashSet<PathBuf>,
}

struct Mail {
    to: String,
    subject: String,
    body: String,
    raw: String,
}

fn user(name: &str, role: Role, password: Option<&str>) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        name: format!("{name} Example"),
        role,
        password: password.map(|p| Zeroizing::new(p.into())),
    }
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mailer: Arc<dyn Mailer> = Arc::new(Outbox::new(&outbox, "MFA <mfa@acme.test>"));
        let clock = ManualClock::new(T0);
        let core = Core::create_with_clock(
            dir.path().join("org.redb"),
            "Acme",
            user("admin", Role::Admin, Some(ADMIN_PW)),
            mailer,
            Arc::new(clock.clone()),
        )
        .unwrap();
        Env {
            _dir: dir,
            outbox,
            clock,
            core,
            seen: HashSet::new(),
        }
    }

    /// Messages written since the last call.
    fn new_mail(&mut self) -> Vec<Mail> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(&self.outbox) else {
            return out;
        };
        for e in dir {
            let p = e.unwrap().path();
            if self.seen.insert(p.clone()) {
                let raw = fs::read(&p).unwrap();
                let m = mailparse::parse_mail(&raw).unwrap();
                out.push(Mail {
                    to: m.headers.get_first_value("To").unwrap_or_default(),
                    subject: m.headers.get_first_value("Subject").unwrap_or_default(),
                    body: m.get_body().unwrap(),
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                });
            }
        }
        out
    }

    fn enroll_authenticator(&self, name: &str) {
        let p = self
            .core
            .begin_authenticator(Actor::Operator, name, None, None)
            .unwrap();
        self.clock.advance(30);
        let code = p.code_at(self.clock.now()).unwrap();
        self.core
            .confirm_authenticator(Actor::Operator, &p, &code)
            .unwrap();
    }

    fn enroll_email(&mut self, name: &str) {
        self.clock.advance(31);
        let p = self
            .core
            .begin_email_enrollment(Actor::Operator, name, None, None)
            .unwrap();
        let mail = self.new_mail();
        let code = mail
            .iter()
            .flat_map(|m| m.body.lines())
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .unwrap()
            .to_string();
        self.core
            .confirm_email_enrollment(Actor::Operator, &p, &code)
            .unwrap();
    }
}

#[test]
fn one_method_off_names_the_method_and_the_last_one_off_says_mfa_is_off() {
    let mut env = Env::new();
    env.core
        .add_user(
            Actor::Operator,
            user("alice", Role::Member, Some("quiet meadow lantern 9")),
        )
        .unwrap();
    for m in [Method::Authenticator, Method::Email] {
        env.core
            .set_method(Actor::Operator, m, true, false)
            .unwrap();
    }
    env.enroll_authenticator("alice");
    env.enroll_email("alice");
    env.new_mail();

    // Email off, the authenticator stays on: MFA as a whole is still on.
    let change = env
        .core
        .set_method(Actor::Operator, Method::Email, false, false)
        .unwrap();
    assert!(change.mfa_enabled);
    let mail = env.new_mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "Acme turned off sign-in codes by email");
    assert!(!mail[0].subject.contains("multi-factor authentication"));
    assert!(
        mail[0].body.contains("Other MFA methods stay on"),
        "{}",
        mail[0].body
    );
    assert!(!mail[0].body.contains("needs only"), "{}", mail[0].body);

    // The authenticator off too: now MFA is off.
    let change = env
        .core
        .set_method(Actor::Operator, Method::Authenticator, false, true)
        .unwrap();
    assert!(!change.mfa_enabled);
    let mail = env.new_mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, "\"alice Example\" <alice@example.com>");
    assert_eq!(
        mail[0].subject,
        "Acme turned off multi-factor authentication"
    );
    assert!(mail[0].body.contains("needs only"), "{}", mail[0].body);
    assert!(
        mail[0].body.contains("authenticator apps"),
        "{}",
        mail[0].body
    );
    assert!(mail[0].body.contains("was removed"), "{}", mail[0].body);
}

#[test]
fn mfa_reset_mail_goes_out_only_when_something_was_removed() {
    let mut env = Env::new();
    env.core
        .add_user(
            Actor::Operator,
            user("alice", Role::Member, Some("quiet meadow lantern 9")),
        )
        .unwrap();
    env.core
        .add_user(
            Actor::Operator,
            user("bob", Role::Member, Some("amber harbor compass 7")),
        )
        .unwrap();
    env.core
        .set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    env.enroll_authenticator("alice");
    env.new_mail();

    // Bob has nothing to reset: no message tells him his settings were reset.
    let removed = env.core.reset_mfa_removing(Actor::Operator, "bob").unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    assert!(env.new_mail().is_empty());

    let removed = env
        .core
        .reset_mfa_removing(Actor::Operator, "alice")
        .unwrap();
    assert_eq!(removed.enrollments, 1, "{removed:?}");
    assert_eq!(removed.recovery_codes, 10, "{removed:?}");
    let mail = env.new_mail();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].subject.contains("MFA settings were reset"));
    // Twice: the second time there is nothing left.
    assert!(
        env.core
            .reset_mfa_removing(Actor::Operator, "alice")
            .unwrap()
            .is_empty()
    );
    assert!(env.new_mail().is_empty());
}

/// No character below U+0020 except the line feeds (and the CRs of CRLF) that the
/// template itself has; no DEL, C1 or invisible format characters.
fn assert_clean(s: &str) {
    for c in s.chars() {
        let bad = (c.is_control() && c != '\n' && c != '\r')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!bad, "{:?} in {s:?}", c);
    }
}

#[test]
fn placeholder_values_never_add_lines_or_control_characters() {
    let hostile = "Eve\r\nBcc: everyone@example.com\n\n\u{1b}[2J\u{202e}gro\u{7}\u{9b}";
    let plain = mfa_console::mail::render(
        Template::ActivationCode,
        "eve@example.com",
        "Eve",
        &[
            ("org", "Acme"),
            ("name", "Eve"),
            ("username", "eve"),
            ("code", "abcd"),
            ("expires", "noon"),
        ],
    );
    let m = mfa_console::mail::render(
        Template::ActivationCode,
        "eve@example.com",
        hostile,
        &[
            ("org", hostile),
            ("name", hostile),
            ("username", hostile),
            ("code", "abcd"),
            ("expires", "noon"),
        ],
    );
    assert_clean(&m.body);
    assert_clean(&m.subject);
    assert_eq!(
        m.body.lines().count(),
        plain.body.lines().count(),
        "{}",
        m.body
    );
    assert!(!m.body.lines().any(|l| l.starts_with("Bcc:")), "{}", m.body);
    assert!(
        m.body.contains("Eve Bcc: everyone@example.com"),
        "{}",
        m.body
    );
}

#[test]
fn a_stored_name_with_control_characters_reaches_the_outbox_clean() {
    // A record from before such names were refused at input.
    let mut env = Env::new();
    env.core
        .add_user(
            Actor::Operator,
            user("eve", Role::Member, Some("amber harbor compass 7")),
        )
        .unwrap();
    env.core
        .store()
        .write(|tx| {
            let id = tx.user_id_by_name("eve")?.unwrap();
            let mut u = tx.user(id)?.unwrap();
            u.name = "Eve\r\nBcc: everyone@example.com\n\u{1b}[31mRed".into();
            tx.put_user(&u)
        })
        .unwrap();
    env.core
        .set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    env.enroll_authenticator("eve");
    env.new_mail();
    assert!(
        !env.core
            .reset_mfa_removing(Actor::Operator, "eve")
            .unwrap()
            .is_empty()
    );
    let mail = env.new_mail();
    assert_eq!(mail.len(), 1);
    assert!(!mail[0].raw.contains('\u{1b}'), "{}", mail[0].raw);
    assert!(
        !mail[0].raw.lines().any(|l| l.starts_with("Bcc:")),
        "{}",
        mail[0].raw
    );
    assert_clean(&mail[0].body);
    assert!(
        mail[0]
            .body
            .contains("Hello Eve Bcc: everyone@example.com [31mRed"),
        "{}",
        mail[0].body
    );
}
