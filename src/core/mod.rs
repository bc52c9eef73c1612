//! The domain: Security Controls and policy, users, sign-in, enrollment, recovery codes,
//! trusted devices, re-authentication, audit. Every decision lives here; the console and
//! the command line only ask and show. Nothing in this module touches a terminal.

pub mod audit;
pub mod clients;
pub mod clock;
pub mod codes;
pub mod controls;
mod enroll;
mod error;
pub mod import;
pub mod password;
mod report;
mod service;
mod signin;
/// The text rules, a leaf module of their own (mail uses them too).
pub use crate::text;
pub mod totp;
pub mod users;

use std::sync::Arc;

pub use clients::check_client_name;
pub use clock::{Clock, ManualClock, SystemClock};
pub use controls::{ControlsChange, PolicyKey};
pub use enroll::{EnrollmentDone, PendingAuthenticator, PendingEmail};
pub use error::{CoreError, GENERIC_REFUSAL, Result};
pub use import::ImportReport;
pub use report::{CheckReport, UserDetail, UserRow, UserStatus};
pub use service::{Caller, MfaState, PasswordProof, Prepared, ServiceAnswer, ServiceRequest};
pub use signin::{Channel, CodeKind, PendingPasswordChange, PendingSignIn, SignInStep};
pub use users::{MfaRemoved, NewUser, SessionNow, UserChange};

use crate::mail::{Mailer, OutgoingMail, Template};
use crate::store::{Location, Lockout, Method, Organization, Role, Store, Tx, User};

/// How long a re-authentication lets sensitive acts through.
pub const REAUTH_SECONDS: i64 = 5 * 60;
/// How long the code step may wait after the password.
pub const PENDING_SECONDS: i64 = 5 * 60;
/// Activation codes for invited users.
pub const ACTIVATION_DAYS: i64 = 14;
/// At most one email code per user in this many seconds.
pub const EMAIL_RESEND_SECONDS: i64 = 30;
pub const MAX_AUTHENTICATORS: usize = 5;
pub const RECOVERY_CODE_COUNT: u32 = 10;
/// The longest a lockout lasts, however often it repeats.
pub const MAX_LOCK_SECONDS: i64 = 24 * 3600;
/// At most one "attempt while locked" audit event per account in this many seconds.
pub const LOCKED_AUDIT_SECONDS: i64 = 10;

/// A signed-in person. Only the core makes one; every act re-reads the user, so a role
/// change or a disabled account takes effect at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    user_id: u64,
    username: String,
    role: Role,
    scope: Scope,
    nonce: u64,
    /// This sign-in passed a second factor (not the password or a trusted device alone).
    second_factor: bool,
    /// Signed in with a recovery code: how many are left.
    pub recovery_codes_left: Option<usize>,
    /// Enforcement is `required` and this user has not configured MFA yet.
    pub must_enroll: bool,
    /// Days left to configure MFA, while `must_enroll`.
    pub grace_days_left: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything the role allows.
    Full,
    /// Past the grace period without MFA: only configuring MFA (and signing out).
    EnrollOnly,
}

impl Session {
    pub fn user_id(&self) -> u64 {
        self.user_id
    }
    pub fn username(&self) -> &str {
        &self.username
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn scope(&self) -> Scope {
        self.scope
    }
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && self.scope == Scope::Full
    }
}

/// Who is acting: a signed-in user, or the operator at the command line, who has the
/// authority of whoever can read the database file.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    Operator,
    User(&'a Session),
}

impl Actor<'_> {
    pub fn name(&self) -> String {
        match self {
            Actor::Operator => "operator".into(),
            Actor::User(s) => s.username.clone(),
        }
    }

    /// Whether this is the signed-in user `id` acting.
    pub fn is_user(&self, id: u64) -> bool {
        matches!(self, Actor::User(s) if s.user_id() == id)
    }
}

pub struct Core {
    store: Store,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
}

impl Core {
    /// Creates a database with its organization and first administrator.
    pub fn create(
        path: impl Into<Location>,
        org_name: &str,
        admin: NewUser,
        mailer: Arc<dyn Mailer>,
    ) -> Result<Core> {
        Self::create_with_clock(path, org_name, admin, mailer, Arc::new(SystemClock))
    }

    pub fn create_with_clock(
        path: impl Into<Location>,
        org_name: &str,
        admin: NewUser,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Core> {
        let org_name = org_name.trim();
        if org_name.is_empty()
            || org_name.chars().count() > 64
            || org_name.chars().any(text::is_hostile)
        {
            return Err(CoreError::Invalid(
                "the organization name needs 1 to 64 printable characters (no control or invisible characters)".into(),
            ));
        }
        if admin.role != Role::Admin {
            return Err(CoreError::Invalid("the first user must be an admin".into()));
        }
        let Some(pw) = admin.password.as_deref() else {
            return Err(CoreError::Invalid(
                "the first admin needs a password".into(),
            ));
        };
        users::validate_new(&admin)?;
        password::check_new(pw, &admin.username).map_err(CoreError::Invalid)?;
        let phc = password::hash(pw).map_err(CoreError::Invalid)?;
        let now = clock.now();
        let org = Organization {
            name: org_name.to_string(),
            controls: Default::default(),
            policy: Default::default(),
            required_since: None,
            created: now,
        };
        let mut created: Option<CoreError> = None;
        let store = Store::create(path, |tx| {
            tx.put_organization(&org)?;
            audit::append(tx, now, "operator", org_name, audit::kind::ORG_CREATED, "")?;
            if let Err(e) = users::insert_user(tx, now, "operator", &admin, Some(phc)) {
                match e {
                    CoreError::Store(s) => return Err(s),
                    other => created = Some(other),
                }
            }
            Ok(())
        })?;
        if let Some(e) = created {
            return Err(e);
        }
        Ok(Core {
            store,
            mailer,
            clock,
        })
    }

    pub fn open(path: impl Into<Location>, mailer: Arc<dyn Mailer>) -> Result<Core> {
        Ok(Core {
            store: Store::open(path)?,
            mailer,
            clock: Arc::new(SystemClock),
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Core {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn mailer(&self) -> &dyn Mailer {
        self.mailer.as_ref()
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The organization's name and controls: what any signed-in screen shows in its header.
    pub fn organization(&self) -> Result<Organization> {
        Ok(self.store.read(|tx| tx.organization())?)
    }

    /// A number that changes whenever anything is written; a console polls it to know
    /// when to reload.
    pub fn generation(&self) -> Result<u64> {
        Ok(self.store.read(|tx| tx.generation())?)
    }

    // ---- shared helpers ----

    /// Loads the acting user and checks they may do admin work.
    fn require_admin(&self, tx: &dyn Tx, actor: Actor) -> Result<()> {
        match actor {
            Actor::Operator => Ok(()),
            Actor::User(s) => {
                let u = self.live_user(tx, s)?;
                if u.role != Role::Admin {
                    return Err(CoreError::NotAllowed(
                        "only administrators can do this".into(),
                    ));
                }
                if s.scope != Scope::Full {
                    return Err(CoreError::NotAllowed(
                        "configure MFA for your account first".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The signed-in user as stored now; refuses when the account is gone or disabled.
    fn live_user(&self, tx: &dyn Tx, s: &Session) -> Result<User> {
        match tx.user(s.user_id)? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(CoreError::NotAllowed(
                "this account is no longer active: sign in again".into(),
            )),
        }
    }

    /// The user `username` names, or a clear error.
    fn find_user(&self, tx: &dyn Tx, username: &str) -> Result<User> {
        let norm = text::normalize_username(username);
        let id = tx
            .user_id_by_name(&norm)?
            .ok_or_else(|| CoreError::NoSuchUser(text::escape_control(username)))?;
        tx.user(id)?
            .ok_or_else(|| CoreError::NoSuchUser(text::escape_control(username)))
    }

    /// May `actor` act on `target`'s own MFA (enroll, remove, regenerate)? The user
    /// themself, or the operator.
    fn require_self(&self, tx: &dyn Tx, actor: Actor, target: &User) -> Result<()> {
        match actor {
            Actor::Operator => Ok(()),
            Actor::User(s) => {
                self.live_user(tx, s)?;
                if s.user_id != target.id {
                    return Err(CoreError::NotAllowed(
                        "you can change only your own MFA settings".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// A fresh re-authentication for users; the operator needs none.
    /// A fresh re-authentication, while MFA is on (with MFA off there is no second factor
    /// to confirm and the acts stay open, as Security Controls does).
    fn require_reauth_while_mfa(&self, tx: &dyn Tx, actor: Actor) -> Result<()> {
        if tx.organization()?.controls.mfa_enabled() {
            self.require_reauth(tx, actor)
        } else {
            Ok(())
        }
    }

    fn require_reauth(&self, tx: &dyn Tx, actor: Actor) -> Result<()> {
        match actor {
            Actor::Operator => Ok(()),
            Actor::User(s) => match tx.reauth_grant(s.user_id, s.nonce)? {
                Some(until) if until > self.now() => Ok(()),
                _ => Err(CoreError::ReauthRequired),
            },
        }
    }

    fn audit(
        &self,
        tx: &dyn Tx,
        actor: &str,
        subject: &str,
        kind: &str,
        details: &str,
    ) -> Result<()> {
        Ok(audit::append(
            tx,
            self.now(),
            actor,
            subject,
            kind,
            details,
        )?)
    }

    /// Methods this user has enrolled that are on now.
    fn active_methods(tx: &dyn Tx, org: &Organization, user: u64) -> Result<Vec<Method>> {
        let mut m: Vec<Method> = tx
            .enrollments_of(user)?
            .into_iter()
            .map(|e| e.method)
            .filter(|m| org.controls.is_on(*m))
            .collect();
        m.sort();
        m.dedup();
        Ok(m)
    }

    /// Sends one templated message; a failure is audited and returned.
    fn send_mail(&self, mail: &OutgoingMail, subject_user: &str) -> Result<()> {
        if let Err(e) = self.mailer.send(mail).map(drop) {
            let via = self.mailer.describe();
            let error = e.to_string();
            let details = if error.contains(&via) {
                error
            } else {
                format!("{via}: {error}")
            };
            let _ = self.store.write(|tx| {
                self.audit(
                    tx,
                    "system",
                    subject_user,
                    audit::kind::MAIL_FAILED,
                    &details,
                )
            });
            return Err(CoreError::Mail { via, source: e });
        }
        Ok(())
    }

    fn render(
        &self,
        org: &Organization,
        template: Template,
        user: &User,
        extra: &[(&str, &str)],
    ) -> OutgoingMail {
        let mut values: Vec<(&str, &str)> = vec![
            ("org", org.name.as_str()),
            ("username", user.username.as_str()),
            (
                "name",
                if user.name.is_empty() {
                    user.username.as_str()
                } else {
                    user.name.as_str()
                },
            ),
        ];
        values.extend_from_slice(extra);
        self.mailer
            .templates()
            .render(template, &user.email, &user.name, &values)
    }

    /// Counts one failure against `norm` and locks when the policy says so. Returns the
    /// end of a lockout that this failure started.
    fn register_failure(&self, tx: &dyn Tx, org: &Organization, norm: &str) -> Result<Option<i64>> {
        let now = self.now();
        let mut l = tx.count_failure(norm)?;
        let mut locked = None;
        if org.policy.lockout_threshold > 0 && l.failures >= org.policy.lockout_threshold {
            let base = i64::from(org.policy.lockout_minutes) * 60;
            let factor = 1i64 << l.lock_count.min(20);
            let secs = base.saturating_mul(factor).clamp(60, MAX_LOCK_SECONDS);
            let until = now + secs;
            l.locked_until = Some(until);
            l.lock_count += 1;
            l.failures = 0;
            locked = Some(until);
            self.audit(
                tx,
                "system",
                &text::escape_control(norm),
                audit::kind::LOCKOUT,
                &format!("until {}", clock::format_rfc3339(until)),
            )?;
            tx.put_lockout(norm, &l)?;
        }
        Ok(locked)
    }

    /// Records an attempt on a locked account in the caller's transaction. Every attempt
    /// is audited, but at most one event per account each [`LOCKED_AUDIT_SECONDS`]: the
    /// attempts in between are counted and told by the next event, so a flood of attempts
    /// cannot flood the log.
    fn note_locked_attempt(&self, tx: &dyn Tx, norm: &str, until: i64) -> Result<()> {
        let now = self.now();
        let mut l = tx.lockout(norm)?;
        l.locked_attempts = l.locked_attempts.saturating_add(1);
        let due = l
            .locked_audit_at
            .is_none_or(|t| now.saturating_sub(t) >= LOCKED_AUDIT_SECONDS || now < t);
        if due {
            let detail = if l.locked_attempts > 1 {
                format!(
                    "{} attempts since the last such event; locked until {}",
                    l.locked_attempts,
                    clock::format_rfc3339(until)
                )
            } else {
                format!("locked until {}", clock::format_rfc3339(until))
            };
            self.audit(
                tx,
                "system",
                &text::escape_control(norm),
                audit::kind::LOCKED_ATTEMPT,
                &detail,
            )?;
            l.locked_attempts = 0;
            l.locked_audit_at = Some(now);
        }
        Ok(tx.put_lockout(norm, &l)?)
    }

    /// The refusal for an attempt found locked outside a write: the attempt is recorded
    /// in one of its own (best effort: the refusal stands either way).
    fn refuse_locked(&self, norm: &str, until: i64) -> CoreError {
        let _ = self
            .store
            .write(|tx| self.note_locked_attempt(tx, norm, until));
        CoreError::Locked { until }
    }

    /// The end of a running lockout for `norm`, if any.
    fn locked_until(&self, tx: &dyn Tx, norm: &str) -> Result<Option<i64>> {
        let l: Lockout = tx.lockout(norm)?;
        Ok(l.locked_until.filter(|t| *t > self.now()))
    }

    /// Tells a newly locked user by mail, best effort (the lockout stands either way).
    fn notify_lockout(&self, norm: &str, until: i64) {
        let found = self.store.read(|tx| {
            let org = tx.organization()?;
            let user = match tx.user_id_by_name(norm)? {
                Some(id) => tx.user(id)?,
                None => None,
            };
            Ok::<_, CoreError>((org, user))
        });
        if let Ok((org, Some(user))) = found {
            let time = clock::format_time(self.now());
            let until = clock::format_time(until);
            let mail = self.render(
                &org,
                Template::Lockout,
                &user,
                &[("time", time.as_str()), ("until", until.as_str())],
            );
            let _ = self.send_mail(&mail, &user.username);
        }
    }
}
