//! Accounts: adding (with a password, or invited with an activation code), changing,
//! unlocking, temporary passwords, MFA reset and removal. All admin acts, all audited.

use zeroize::Zeroizing;

use super::{Actor, Core, CoreError, Result, audit, codes, password, text};
use crate::mail::Template;
use crate::store::{Lockout, OneTimeCode, Role, Tx, User};

#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `None`: the user is invited and sets a password with an activation code.
    pub password: Option<Zeroizing<String>>,
}

/// What became of a session since it began, as the next refresh finds it.
#[derive(Debug)]
pub enum SessionNow {
    /// The account is still there and may sign in; its role may have changed.
    Active(super::Session),
    /// The account was disabled or removed.
    Ended,
    /// The account became an integration account, which never uses the console.
    NoConsole,
}

#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub disabled: Option<bool>,
    /// Clear a lockout.
    pub unlock: bool,
    /// A one-time password the user must replace at their next sign-in.
    pub temporary_password: Option<Zeroizing<String>>,
}

impl UserChange {
    pub fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.email.is_none()
            && self.name.is_none()
            && self.disabled.is_none()
            && !self.unlock
            && self.temporary_password.is_none()
    }
}

/// The result of adding a user: for an invited user, the activation code (to show the
/// admin once) and whether it could be mailed.
#[derive(Debug)]
pub struct AddedUser {
    pub username: String,
    pub activation_code: Option<Zeroizing<String>>,
    pub mail_error: Option<String>,
}

pub(super) fn validate_new(u: &NewUser) -> Result<()> {
    text::check_username(&u.username).map_err(CoreError::Invalid)?;
    text::check_email(&u.email).map_err(CoreError::Invalid)?;
    text::check_display_name(&u.name).map_err(CoreError::Invalid)?;
    Ok(())
}

/// Inserts a user inside the caller's transaction; refuses a taken username.
pub(super) fn insert_user(
    tx: &dyn Tx,
    now: i64,
    actor: &str,
    u: &NewUser,
    phc: Option<String>,
) -> Result<User> {
    let norm = text::normalize_username(&u.username);
    if let Some(id) = tx.user_id_by_name(&norm)? {
        let existing = tx.user(id)?.map(|o| o.username).unwrap_or_default();
        let also = if existing == u.username.trim() {
            String::new()
        } else {
            format!(" as {:?}", text::escape_control(&existing))
        };
        return Err(CoreError::Conflict(format!(
            "a user named {:?} already exists{also} (usernames ignore case): choose another name",
            text::escape_control(&u.username)
        )));
    }
    // One that only looks the same (`pаul` with a Cyrillic а, `pau1`) would let someone
    // pass for another user in lists, logs and mail.
    let skeleton = text::username_skeleton(&u.username);
    let id = tx.next_id("user")?;
    if let Some(other) = tx.claim_username_skeleton(&skeleton, id)? {
        let other = tx.user(other)?.map(|o| o.username).unwrap_or_default();
        return Err(CoreError::Conflict(format!(
            "{:?} looks like the existing user {:?} (letters from other scripts or look-alike characters): choose a name that cannot be mistaken for it",
            text::escape_control(&u.username),
            text::escape_control(&other)
        )));
    }
    let user = User {
        id,
        username: u.username.trim().to_string(),
        name: u.name.trim().to_string(),
        email: u.email.trim().to_string(),
        role: u.role,
        password_hash: phc,
        must_change_password: false,
        disabled: false,
        created: now,
        last_sign_in: None,
        interactive_sign_ins: 0,
        api_sign_ins: 0,
        last_codeless_api_sign_in: None,
    };
    tx.put_user(&user)?;
    tx.put_username(&norm, user.id)?;
    let state = if user.password_hash.is_some() {
        "active"
    } else {
        "invited"
    };
    audit::append(
        tx,
        now,
        actor,
        &user.username,
        audit::kind::USER_CREATED,
        &format!("role {}, {state}", role_name(user.role)),
    )?;
    Ok(user)
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Admin => "admin",
        Role::Member => "member",
        Role::Integration => "integration",
    }
}

pub fn parse_role(s: &str) -> Result<Role> {
    match s.trim().to_ascii_lowercase().as_str() {
        "admin" => Ok(Role::Admin),
        "member" | "" => Ok(Role::Member),
        "integration" => Ok(Role::Integration),
        other => Err(CoreError::Invalid(format!(
            "{:?} is not a role: use admin, member or integration",
            text::escape_control(other)
        ))),
    }
}

impl Core {
    pub fn add_user(&self, actor: Actor, new: NewUser) -> Result<AddedUser> {
        self.store.read(|tx| self.require_admin(tx, actor))?;
        validate_new(&new)?;
        let phc = match new.password.as_deref() {
            Some(pw) => {
                password::check_new(pw, &new.username).map_err(CoreError::Invalid)?;
                Some(password::hash(pw).map_err(CoreError::Invalid)?)
            }
            None => None,
        };
        let invited = phc.is_none();
        let code = Zeroizing::new(codes::long_code()?);
        let now = self.now();
        let (org, user) = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let user = insert_user(tx, now, &actor.name(), &new, phc.clone())?;
            if invited {
                tx.put_activation_code(
                    user.id,
                    &OneTimeCode {
                        hash: codes::hash("activation", user.id, &text::normalize_long_code(&code)),
                        expires: now + super::ACTIVATION_DAYS * 86400,
                    },
                )?;
            }
            Ok::<_, CoreError>((tx.organization()?, user))
        })?;
        let mut mail_error = None;
        if invited {
            let expires = super::clock::format_time(now + super::ACTIVATION_DAYS * 86400);
            let mail = self.render(
                &org,
                Template::ActivationCode,
                &user,
                &[("code", code.as_str()), ("expires", expires.as_str())],
            );
            if let Err(e) = self.send_mail(&mail, &user.username) {
                mail_error = Some(e.to_string());
            }
        }
        Ok(AddedUser {
            username: user.username,
            activation_code: invited.then_some(code),
            mail_error,
        })
    }

    /// Applies every part of `change` in one transaction, or none of it.
    pub fn update_user(&self, actor: Actor, username: &str, change: UserChange) -> Result<User> {
        self.store.read(|tx| self.require_admin(tx, actor))?;
        if let Some(e) = &change.email {
            text::check_email(e).map_err(CoreError::Invalid)?;
        }
        if let Some(n) = &change.name {
            text::check_display_name(n).map_err(CoreError::Invalid)?;
        }
        let temp_phc = match change.temporary_password.as_deref() {
            Some(pw) => {
                password::check_new(pw, username).map_err(CoreError::Invalid)?;
                Some(password::hash(pw).map_err(CoreError::Invalid)?)
            }
            None => None,
        };
        self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            // Making someone admin (or any role change), a temporary password and
            // disabling an account are sensitive: the one re-authentication covers them.
            if change.role.is_some()
                || change.temporary_password.is_some()
                || change.disabled == Some(true)
            {
                self.require_reauth_while_mfa(tx, actor)?;
            }
            let mut user = self.find_user(tx, username)?;
            let mut what = Vec::new();
            if change.unlock {
                self.lift_lockout(tx, actor, &user)?;
            }
            if let Some(phc) = temp_phc.clone() {
                user.password_hash = Some(phc);
                user.must_change_password = true;
                tx.remove_activation_code(user.id)?;
                tx.clear_reauth_grants(user.id)?;
                tx.put_user(&user)?;
                self.audit(
                    tx,
                    &actor.name(),
                    &user.username,
                    audit::kind::TEMP_PASSWORD,
                    "",
                )?;
            }
            if let Some(r) = change.role.filter(|r| *r != user.role) {
                if user.role == Role::Admin {
                    self.guard_last_admin(tx, &user)?;
                }
                what.push(format!("role {} → {}", role_name(user.role), role_name(r)));
                user.role = r;
            }
            if let Some(e) = change.email.as_ref().filter(|e| **e != user.email) {
                what.push("email changed".to_string());
                user.email = e.trim().to_string();
            }
            if let Some(n) = change.name.as_ref().filter(|n| **n != user.name) {
                what.push("name changed".to_string());
                user.name = n.trim().to_string();
            }
            if let Some(d) = change.disabled.filter(|d| *d != user.disabled) {
                if d && user.role == Role::Admin {
                    self.guard_last_admin(tx, &user)?;
                }
                if d {
                    tx.clear_reauth_grants(user.id)?;
                    tx.clear_trusted_devices(user.id)?;
                }
                what.push(if d { "disabled" } else { "enabled" }.to_string());
                user.disabled = d;
            }
            if !what.is_empty() {
                tx.put_user(&user)?;
                self.audit(
                    tx,
                    &actor.name(),
                    &user.username,
                    audit::kind::USER_CHANGED,
                    &what.join(", "),
                )?;
            }
            Ok(user)
        })
    }

    /// Refuses to leave the organization without an active administrator.
    fn guard_last_admin(&self, tx: &dyn Tx, user: &User) -> Result<()> {
        // Stops at the first other active admin rather than reading everyone.
        let mut other = false;
        tx.for_each_user(|u| {
            other = u.id != user.id && u.role == Role::Admin && !u.disabled;
            Ok::<_, CoreError>(!other)
        })?;
        if !other {
            return Err(CoreError::Conflict(format!(
                "{} is the last active administrator: make another user admin first",
                user.username
            )));
        }
        Ok(())
    }

    /// The session as the database has it now: `None` once the account is disabled or
    /// deleted, else the same sign-in with the user's current role, so that a role changed
    /// by another process (or another admin) takes effect in an open console.
    pub fn refreshed_session(&self, session: &super::Session) -> Result<SessionNow> {
        self.store.read(|tx| match self.live_user(tx, session) {
            // Integration accounts never hold a console session.
            Ok(u) if u.role == Role::Integration => Ok(SessionNow::NoConsole),
            Ok(u) => {
                let mut s = session.clone();
                s.role = u.role;
                Ok(SessionNow::Active(s))
            }
            Err(CoreError::NotAllowed(_)) => Ok(SessionNow::Ended),
            Err(e) => Err(e),
        })
    }

    /// Lifts a lockout; whether there was one (failures counted or a lock) to lift.
    pub fn unlock(&self, actor: Actor, username: &str) -> Result<bool> {
        self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let user = self.find_user(tx, username)?;
            let l = tx.lockout(&text::normalize_username(&user.username))?;
            // Nothing to lift: nothing changes and nothing is audited.
            if l.failures == 0 && l.lock_count == 0 && l.locked_until.is_none() {
                return Ok(false);
            }
            self.lift_lockout(tx, actor, &user).map(|()| true)
        })
    }

    /// Clears `user`'s failure count and lock, audited. A lockout stops guessing; the one
    /// it locked may not lift it, or anyone at their console could go on guessing in the
    /// re-authentication.
    fn lift_lockout(&self, tx: &dyn Tx, actor: Actor, user: &User) -> Result<()> {
        if let Actor::User(s) = actor
            && s.user_id() == user.id
        {
            return Err(CoreError::NotAllowed(
                "you cannot unlock your own account: another administrator can, or `mfa-console user set NAME --unlock` on the server".into(),
            ));
        }
        let norm = text::normalize_username(&user.username);
        tx.put_lockout(&norm, &Lockout::default())?;
        self.audit(tx, &actor.name(), &user.username, audit::kind::UNLOCK, "")
    }

    /// A one-time password the user must replace at their next sign-in.
    pub fn set_temporary_password(&self, actor: Actor, username: &str, temp: &str) -> Result<()> {
        let change = UserChange {
            temporary_password: Some(Zeroizing::new(temp.to_string())),
            ..Default::default()
        };
        self.update_user(actor, username, change).map(|_| ())
    }

    /// A new activation code for an invited user (the old one stops working), mailed to
    /// them and returned to show once.
    pub fn resend_activation(&self, actor: Actor, username: &str) -> Result<AddedUser> {
        let code = Zeroizing::new(codes::long_code()?);
        let now = self.now();
        let expires_at = now + super::ACTIVATION_DAYS * 86400;
        let (org, user) = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let user = self.find_user(tx, username)?;
            if user.password_hash.is_some() {
                return Err(CoreError::Conflict(format!(
                    "{} has already activated the account: set a temporary password instead",
                    user.username
                )));
            }
            tx.put_activation_code(
                user.id,
                &OneTimeCode {
                    hash: codes::hash("activation", user.id, &text::normalize_long_code(&code)),
                    expires: expires_at,
                },
            )?;
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::ACTIVATION_RESENT,
                "",
            )?;
            Ok::<_, CoreError>((tx.organization()?, user))
        })?;
        let expires = super::clock::format_time(expires_at);
        let mail = self.render(
            &org,
            Template::ActivationCode,
            &user,
            &[("code", code.as_str()), ("expires", expires.as_str())],
        );
        let mail_error = self
            .send_mail(&mail, &user.username)
            .err()
            .map(|e| e.to_string());
        Ok(AddedUser {
            username: user.username,
            activation_code: Some(code),
            mail_error,
        })
    }

    /// Mails each of `usernames` who has not configured MFA a reminder to do it; returns
    /// (sent, skipped because configured or unknown, failed). Audited once.
    pub fn remind_to_configure(
        &self,
        actor: Actor,
        usernames: &[String],
    ) -> Result<(usize, usize, usize)> {
        let (org, users, skipped) = self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let org = tx.organization()?;
            let mut users = Vec::new();
            let mut skipped = 0;
            for name in usernames {
                let Ok(u) = self.find_user(tx, name) else {
                    skipped += 1;
                    continue;
                };
                let configured = !Self::active_methods(tx, &org, u.id)?.is_empty();
                // An invited user cannot sign in to configure anything before activating:
                // the activation code is what they need (`resend_activation`).
                let invited = u.password_hash.is_none();
                if configured || u.disabled || invited || u.role == Role::Integration {
                    skipped += 1;
                } else {
                    users.push(u);
                }
            }
            Ok::<_, CoreError>((org, users, skipped))
        })?;
        let (mut sent, mut failed) = (0, 0);
        for u in &users {
            let mail = self.render(&org, Template::ConfigureReminder, u, &[]);
            match self.send_mail(&mail, &u.username) {
                Ok(()) => sent += 1,
                Err(_) => failed += 1,
            }
        }
        self.store.write(|tx| {
            self.audit(
                tx,
                &actor.name(),
                "organization",
                audit::kind::REMINDERS_SENT,
                &format!("{sent} sent, {failed} failed, {skipped} skipped"),
            )
        })?;
        Ok((sent, skipped, failed))
    }

    /// Everyone who should configure MFA and has not: active people (not integrations,
    /// not disabled).
    pub fn not_configured(&self, actor: Actor) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.visit_users(actor, &mut |r| {
            // Invited users cannot sign in yet: they are sent their activation code, not
            // a reminder.
            if !r.configured
                && !r.is_integration()
                && !matches!(
                    r.status,
                    super::UserStatus::Disabled | super::UserStatus::Invited
                )
            {
                out.push(r.username.clone());
            }
        })?;
        Ok(out)
    }

    /// Sets a generated temporary password (80 random bits in four groups, to be shown
    /// once and handed over) and returns it.
    pub fn generate_temporary_password(
        &self,
        actor: Actor,
        username: &str,
    ) -> Result<Zeroizing<String>> {
        let pw = Zeroizing::new(codes::long_code()?);
        self.set_temporary_password(actor, username, &pw)?;
        Ok(pw)
    }

    /// Removes every MFA credential of the user at once: enrollments (secrets), recovery
    /// codes, pending email codes, trusted devices, replay state. The user is told by mail.
    pub fn reset_mfa(&self, actor: Actor, username: &str) -> Result<()> {
        self.reset_mfa_removing(actor, username).map(drop)
    }

    /// [`Core::reset_mfa`], saying what it removed. The user is told by mail only when
    /// something was removed: a reset of nothing changes nothing for them.
    pub fn reset_mfa_removing(&self, actor: Actor, username: &str) -> Result<MfaRemoved> {
        let (org, user, removed) = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            self.require_reauth_while_mfa(tx, actor)?;
            let user = self.find_user(tx, username)?;
            let removed = forget_user_mfa(tx, user.id)?;
            if !actor.is_user(user.id) {
                tx.clear_reauth_grants(user.id)?;
            }
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::MFA_RESET,
                &removed.describe(),
            )?;
            Ok::<_, CoreError>((tx.organization()?, user, removed))
        })?;
        if !removed.is_empty() {
            let time = super::clock::format_time(self.now());
            let mail = self.render(&org, Template::MfaReset, &user, &[("time", time.as_str())]);
            let _ = self.send_mail(&mail, &user.username);
        }
        Ok(removed)
    }

    pub fn remove_user(&self, actor: Actor, username: &str) -> Result<()> {
        self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            self.require_reauth_while_mfa(tx, actor)?;
            let user = self.find_user(tx, username)?;
            if let Actor::User(s) = actor
                && s.user_id() == user.id
            {
                return Err(CoreError::Conflict(
                    "you cannot delete your own account while signed in to it".into(),
                ));
            }
            if user.role == Role::Admin {
                self.guard_last_admin(tx, &user)?;
            }
            forget_user_mfa(tx, user.id)?;
            tx.clear_reauth_grants(user.id)?;
            tx.remove_activation_code(user.id)?;
            let norm = text::normalize_username(&user.username);
            tx.put_lockout(&norm, &Lockout::default())?;
            tx.remove_username(&norm)?;
            tx.remove_username_skeleton(&text::username_skeleton(&user.username), user.id)?;
            tx.remove_user_record(user.id)?;
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::USER_DELETED,
                "",
            )
        })
    }

    /// A one-time code that lets the user enroll a first factor when the policy asks
    /// for one. It is mailed to the user and returned for the admin to hand over.
    pub fn issue_enrollment_code(&self, actor: Actor, username: &str) -> Result<Zeroizing<String>> {
        let code = Zeroizing::new(codes::long_code()?);
        let now = self.now();
        let expires = now + super::ACTIVATION_DAYS * 86400;
        let (org, user) = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let user = self.find_user(tx, username)?;
            tx.put_enrollment_code(
                user.id,
                &OneTimeCode {
                    hash: codes::hash("enrollment", user.id, &text::normalize_long_code(&code)),
                    expires,
                },
            )?;
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::ENROLLMENT_CODE_ISSUED,
                "",
            )?;
            Ok::<_, CoreError>((tx.organization()?, user))
        })?;
        let exp = super::clock::format_time(expires);
        let mail = self.render(
            &org,
            Template::EnrollmentCode,
            &user,
            &[("code", code.as_str()), ("expires", exp.as_str())],
        );
        let _ = self.send_mail(&mail, &user.username);
        Ok(code)
    }
}

/// What removing a user's MFA took away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfaRemoved {
    pub enrollments: usize,
    pub recovery_codes: usize,
    /// A waiting email code or enrollment code.
    pub pending_codes: usize,
    pub trusted_devices: usize,
}

impl MfaRemoved {
    /// Nothing the user had set up or was about to use.
    pub fn is_empty(&self) -> bool {
        *self == MfaRemoved::default()
    }

    /// For the audit log and the command line.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "nothing to remove".into();
        }
        format!(
            "{} enrollment(s), {} recovery code(s), {} pending code(s), {} trusted device(s) removed",
            self.enrollments, self.recovery_codes, self.pending_codes, self.trusted_devices
        )
    }
}

/// Deletes every MFA credential of one user; says what went. A re-authentication the user
/// holds stays: callers end those of other people (see [`Core::reset_mfa_removing`]), and
/// an admin forgetting their own authenticator keeps the one they made for doing so.
pub(super) fn forget_user_mfa(tx: &dyn Tx, user: u64) -> crate::store::Result<MfaRemoved> {
    let enrollments = tx.enrollments_of(user)?;
    for e in &enrollments {
        tx.remove_enrollment(user, e.id)?;
    }
    let recovery_codes = tx.clear_recovery_codes(user)?;
    let email_code = tx
        .email_code(user)?
        .is_some_and(|c| !c.used && !c.hash.is_empty());
    tx.remove_email_code(user)?;
    let enrollment_code = tx.remove_enrollment_code(user)?;
    let trusted_devices = tx.clear_trusted_devices(user)?;
    tx.remove_last_totp_step(user)?;
    Ok(MfaRemoved {
        enrollments: enrollments.len(),
        recovery_codes,
        pending_codes: usize::from(email_code) + usize::from(enrollment_code),
        trusted_devices,
    })
}
