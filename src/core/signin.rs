//! Sign-in: password → code step (when MFA applies) → password change (after a temporary
//! password) → signed in. Also activation of invited users and re-authentication.
//!
//! Every refusal is the one generic message; lockouts name their end. The code step is
//! only reachable with a [`PendingSignIn`], which grants nothing else.

use zeroize::Zeroizing;

use super::{
    Actor, Core, CoreError, EMAIL_RESEND_SECONDS, PENDING_SECONDS, REAUTH_SECONDS, Result, Scope,
    Session, audit, codes, password, text, totp,
};
use crate::mail::Template;
use crate::store::{
    EmailCode, EmailCodePurpose, Enforcement, Method, Organization, Role, TrustedDevice, Tx, User,
};

/// Where a sign-in comes from: the interactive console, or `verify` (integrations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Console,
    Api,
}

/// Which kind of code the person typed. `Any` tries the authenticator, then an emailed
/// code, then (by its shape) a recovery code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    Authenticator,
    Email,
    Recovery,
    Any,
}

/// The password was right and a code is due. Holds no authority of its own.
#[derive(Clone, Debug)]
pub struct PendingSignIn {
    user_id: u64,
    norm: String,
    channel: Channel,
    methods: Vec<Method>,
    email: Option<String>,
    expires: i64,
}

impl PendingSignIn {
    /// The methods this user can answer with (both when they have both).
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }
    /// The address an email code goes to, when the user has email.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// Signed in with a temporary password: a new password is due before anything else.
#[derive(Clone, Debug)]
pub struct PendingPasswordChange {
    user_id: u64,
    channel: Channel,
    expires: i64,
}

#[derive(Debug)]
pub enum SignInStep {
    SignedIn(Session),
    CodeRequired(PendingSignIn),
    PasswordChangeRequired(PendingPasswordChange),
}

/// What a unit of work decided, committed before it is turned into a result, so that a
/// failure's bookkeeping is never rolled back with it.
enum Decision<T> {
    Done(T),
    Refused {
        newly_locked: Option<i64>,
        norm: String,
    },
    Locked(i64),
}

/// Longest username or password looked at (bytes); anything longer is refused the
/// generic way. New passwords are held to the same bound.
const MAX_INPUT: usize = password::MAX_BYTES;
/// Longest username a sign-in looks up (bytes): above any name an account can have.
const MAX_USERNAME_BYTES: usize = 256;

impl Core {
    fn settle<T>(&self, d: Decision<T>) -> Result<T> {
        match d {
            Decision::Done(v) => Ok(v),
            Decision::Locked(until) => Err(CoreError::Locked { until }),
            Decision::Refused {
                newly_locked: Some(until),
                norm,
            } => {
                self.notify_lockout(&norm, until);
                Err(CoreError::Locked { until })
            }
            Decision::Refused {
                newly_locked: None, ..
            } => Err(CoreError::Refused),
        }
    }

    /// Step one: username and password.
    pub fn sign_in(
        &self,
        username: &str,
        password_in: &str,
        channel: Channel,
        device_token: Option<&str>,
    ) -> Result<SignInStep> {
        let norm = text::normalize_username(username);
        // No account has an empty or overlong name: such a name is refused with the same
        // cost and message, and never becomes an audit event or a lockout counter.
        if norm.is_empty() || norm.len() > MAX_USERNAME_BYTES || password_in.len() > MAX_INPUT {
            password::verify_dummy(password_in);
            return Err(CoreError::Refused);
        }
        let (user, locked) = self.store.read(|tx| {
            let user = match tx.user_id_by_name(&norm)? {
                Some(id) => tx.user(id)?,
                None => None,
            };
            Ok::<_, CoreError>((user, self.locked_until(tx, &norm)?))
        })?;
        // The hash runs on every path so that no path is faster than another.
        let password_ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(phc) => password::verify(password_in, phc),
            None => {
                password::verify_dummy(password_in);
                false
            }
        };
        if let Some(until) = locked {
            return Err(self.refuse_locked(&norm, until));
        }
        let user = user.filter(|u| password_ok && !u.disabled);
        let decision = self.store.write(|tx| -> Result<Decision<SignInStep>> {
            if let Some(until) = self.locked_until(tx, &norm)? {
                self.note_locked_attempt(tx, &norm, until)?;
                return Ok(Decision::Locked(until));
            }
            let org = tx.organization()?;
            let Some(user) = user else {
                let shown = text::escape_control(username);
                self.audit(tx, "system", &shown, audit::kind::SIGN_IN_FAILED, "")?;
                let newly_locked = self.register_failure(tx, &org, &norm)?;
                return Ok(Decision::Refused {
                    newly_locked,
                    norm: norm.clone(),
                });
            };
            if channel == Channel::Console && user.role == Role::Integration {
                // Integration accounts never open the console; the refusal is the generic
                // one, so it does not confirm the password.
                self.audit(
                    tx,
                    "system",
                    &user.username,
                    audit::kind::SIGN_IN_FAILED,
                    "integration account at the console",
                )?;
                return Ok(Decision::Refused {
                    newly_locked: None,
                    norm: norm.clone(),
                });
            }
            let methods = Self::mfa_methods(tx, &org, &user)?;
            let trusted = channel == Channel::Console
                && !methods.is_empty()
                && self.device_trusted(tx, &org, &user, device_token)?;
            if methods.is_empty() || trusted {
                let detail = if trusted {
                    "trusted device"
                } else {
                    "password"
                };
                return Ok(Decision::Done(
                    self.complete(tx, &org, user, channel, detail)?,
                ));
            }
            self.audit(
                tx,
                &user.username,
                &user.username,
                audit::kind::PASSWORD_OK_CODE_NEEDED,
                "",
            )?;
            let email = tx
                .enrollments_of(user.id)?
                .into_iter()
                .find(|e| e.method == Method::Email)
                .and_then(|e| e.email);
            Ok(Decision::Done(SignInStep::CodeRequired(PendingSignIn {
                user_id: user.id,
                norm: norm.clone(),
                channel,
                methods,
                email,
                expires: self.now() + PENDING_SECONDS,
            })))
        })?;
        self.settle(decision)
    }

    /// Step two: a code from the authenticator, an emailed code, or a recovery code.
    pub fn submit_code(
        &self,
        pending: &PendingSignIn,
        code: &str,
        kind: CodeKind,
    ) -> Result<SignInStep> {
        if self.now() > pending.expires {
            return Err(CoreError::Expired);
        }
        let decision = self.store.write(|tx| -> Result<Decision<SignInStep>> {
            // Locked is locked: the code is not even looked at, so a right one is not revealed.
            if let Some(until) = self.locked_until(tx, &pending.norm)? {
                self.note_locked_attempt(tx, &pending.norm, until)?;
                return Ok(Decision::Locked(until));
            }
            let org = tx.organization()?;
            let user = tx.user(pending.user_id)?.filter(|u| !u.disabled);
            let ok = match &user {
                Some(u) => self.verify_factor(tx, &org, u, code, kind)?,
                None => None,
            };
            match (user, ok) {
                (Some(user), Some(how)) => Ok(Decision::Done(self.complete(
                    tx,
                    &org,
                    user,
                    pending.channel,
                    how,
                )?)),
                (user, _) => {
                    let subject = user.map(|u| u.username).unwrap_or_default();
                    self.audit(tx, &subject, &subject, audit::kind::CODE_FAILED, "")?;
                    let newly_locked = self.register_failure(tx, &org, &pending.norm)?;
                    Ok(Decision::Refused {
                        newly_locked,
                        norm: pending.norm.clone(),
                    })
                }
            }
        })?;
        self.settle(decision)
    }

    /// Sends a fresh sign-in code to the user's verified address (replacing any earlier one).
    /// Returns the address and when the code expires.
    pub fn send_sign_in_code(&self, pending: &PendingSignIn) -> Result<(String, i64)> {
        if self.now() > pending.expires {
            return Err(CoreError::Expired);
        }
        let Some(address) = pending.email.clone() else {
            return Err(CoreError::Invalid(
                "this account has no email verification".into(),
            ));
        };
        if let Some(until) = self.store.read(|tx| self.locked_until(tx, &pending.norm))? {
            return Err(self.refuse_locked(&pending.norm, until));
        }
        let expires = self.send_email_code(pending.user_id, EmailCodePurpose::SignIn, &address)?;
        Ok((address, expires))
    }

    /// Makes, mails and (only once the mail is out) stores a six-digit code. A failed
    /// send leaves no valid code behind.
    pub(super) fn send_email_code(
        &self,
        user_id: u64,
        purpose: EmailCodePurpose,
        address: &str,
    ) -> Result<i64> {
        let now = self.now();
        // Check the throttle and reserve this send in one transaction, so that requests
        // racing each other send one message between them.
        let (org, user) = self.store.write(|tx| {
            let user = tx.user(user_id)?.ok_or(CoreError::Refused)?;
            let org = tx.organization()?;
            if !org.controls.email {
                return Err(CoreError::NotAllowed(
                    "the email method is turned off".into(),
                ));
            }
            if let Some(prev) = tx.email_code(user_id)? {
                let wait = prev.sent_at + EMAIL_RESEND_SECONDS - now;
                if wait > 0 {
                    return Err(CoreError::Throttled(wait));
                }
            }
            // No valid code while the message is on its way.
            tx.put_email_code(
                user_id,
                &EmailCode {
                    hash: String::new(),
                    purpose,
                    address: Some(address.to_string()),
                    sent_at: now,
                    expires: now,
                    used: true,
                },
            )?;
            Ok((org, user))
        })?;
        let code = Zeroizing::new(codes::email_code()?);
        let expires = now + i64::from(org.policy.email_code_minutes.max(1)) * 60;
        let mut to = user.clone();
        to.email = address.to_string();
        let expires_text = super::clock::format_time(expires);
        let mail = self.render(
            &org,
            Template::VerificationCode,
            &to,
            &[("code", code.as_str()), ("expires", expires_text.as_str())],
        );
        if let Err(e) = self.send_mail(&mail, &user.username) {
            // Nothing was sent: no code waits, and the person may ask again at once.
            self.store
                .write(|tx| tx.remove_email_code(user_id).map(|_| ()))?;
            return Err(e);
        }
        self.store.write(|tx| {
            tx.put_email_code(
                user_id,
                &EmailCode {
                    hash: codes::hash("email", user_id, &code),
                    purpose,
                    address: Some(address.to_string()),
                    sent_at: now,
                    expires,
                    used: false,
                },
            )?;
            self.audit(
                tx,
                &user.username,
                &user.username,
                audit::kind::EMAIL_CODE_SENT,
                "",
            )
        })?;
        Ok(expires)
    }

    /// An invited user's first sign-in: the activation code and a new password.
    pub fn activate(
        &self,
        username: &str,
        activation_code: &str,
        new_password: &str,
        channel: Channel,
    ) -> Result<SignInStep> {
        let norm = text::normalize_username(username);
        if let Some(until) = self.store.read(|tx| self.locked_until(tx, &norm))? {
            return Err(self.refuse_locked(&norm, until));
        }
        password::check_new(new_password, username).map_err(CoreError::Invalid)?;
        let phc = password::hash(new_password).map_err(CoreError::Invalid)?;
        let code = text::normalize_long_code(activation_code);
        let decision = self
            .store
            .write(|tx| -> Result<Decision<Result<SignInStep, ()>>> {
                if let Some(until) = self.locked_until(tx, &norm)? {
                    self.note_locked_attempt(tx, &norm, until)?;
                    return Ok(Decision::Locked(until));
                }
                let org = tx.organization()?;
                let user = match tx.user_id_by_name(&norm)? {
                    Some(id) => tx.user(id)?,
                    None => None,
                };
                let valid = match &user {
                    Some(u) if u.password_hash.is_none() && !u.disabled => {
                        match tx.activation_code(u.id)? {
                            Some(c) => {
                                c.expires > self.now()
                                    && codes::matches("activation", u.id, &code, &c.hash)
                            }
                            None => false,
                        }
                    }
                    _ => false,
                };
                match user {
                    Some(mut u) if valid => {
                        u.password_hash = Some(phc.clone());
                        tx.put_user(&u)?;
                        tx.remove_activation_code(u.id)?;
                        self.audit(tx, &u.username, &u.username, audit::kind::ACTIVATED, "")?;
                        if channel == Channel::Console && u.role == Role::Integration {
                            return Ok(Decision::Done(Err(())));
                        }
                        Ok(Decision::Done(Ok(self.complete(
                            tx,
                            &org,
                            u,
                            channel,
                            "activation code",
                        )?)))
                    }
                    _ => {
                        self.audit(
                            tx,
                            "system",
                            &text::escape_control(username),
                            audit::kind::SIGN_IN_FAILED,
                            "activation",
                        )?;
                        let newly_locked = self.register_failure(tx, &org, &norm)?;
                        Ok(Decision::Refused {
                            newly_locked,
                            norm: norm.clone(),
                        })
                    }
                }
            })?;
        match self.settle(decision)? {
            Ok(step) => Ok(step),
            Err(()) => Err(CoreError::NotAllowed(
                "Account activated. Integration accounts sign in through `mfa-console verify`, not the console.".into(),
            )),
        }
    }

    /// After a temporary password: the new one, then the session.
    pub fn finish_password_change(
        &self,
        pending: &PendingPasswordChange,
        new_password: &str,
    ) -> Result<Session> {
        if self.now() > pending.expires {
            return Err(CoreError::Expired);
        }
        let user = self
            .store
            .read(|tx| Ok::<_, CoreError>(tx.user(pending.user_id)?))?
            .ok_or(CoreError::Refused)?;
        password::check_new(new_password, &user.username).map_err(CoreError::Invalid)?;
        if user
            .password_hash
            .as_deref()
            .is_some_and(|phc| password::verify(new_password, phc))
        {
            return Err(CoreError::Invalid(
                "choose a password of your own, not the temporary one".into(),
            ));
        }
        let phc = password::hash(new_password).map_err(CoreError::Invalid)?;
        self.store.write(|tx| {
            let org = tx.organization()?;
            let mut user = tx
                .user(pending.user_id)?
                .filter(|u| !u.disabled)
                .ok_or(CoreError::Refused)?;
            user.password_hash = Some(phc);
            user.must_change_password = false;
            tx.put_user(&user)?;
            self.audit(
                tx,
                &user.username,
                &user.username,
                audit::kind::PASSWORD_CHANGED,
                "after temporary password",
            )?;
            match self.complete(tx, &org, user, pending.channel, "password changed")? {
                SignInStep::SignedIn(s) => Ok(s),
                _ => Err(CoreError::Refused),
            }
        })
    }

    /// A signed-in user changes their password; the current one is required.
    pub fn change_password(
        &self,
        session: &Session,
        current: &str,
        new_password: &str,
    ) -> Result<()> {
        let user = self.store.read(|tx| self.live_user(tx, session))?;
        let norm = text::normalize_username(&user.username);
        if let Some(until) = self.store.read(|tx| self.locked_until(tx, &norm))? {
            return Err(self.refuse_locked(&norm, until));
        }
        let ok = user
            .password_hash
            .as_deref()
            .is_some_and(|phc| password::verify(current, phc));
        if !ok {
            let d: Decision<()> = self.store.write(|tx| {
                let org = tx.organization()?;
                self.audit(
                    tx,
                    &user.username,
                    &user.username,
                    audit::kind::REAUTH_FAILED,
                    "password change",
                )?;
                let newly_locked = self.register_failure(tx, &org, &norm)?;
                Ok::<_, CoreError>(Decision::Refused {
                    newly_locked,
                    norm: norm.clone(),
                })
            })?;
            return self.settle(d);
        }
        password::check_new(new_password, &user.username).map_err(CoreError::Invalid)?;
        let phc = password::hash(new_password).map_err(CoreError::Invalid)?;
        self.store.write(|tx| {
            let mut u = self.live_user(tx, session)?;
            u.password_hash = Some(phc);
            u.must_change_password = false;
            tx.put_user(&u)?;
            self.audit(
                tx,
                &u.username,
                &u.username,
                audit::kind::PASSWORD_CHANGED,
                "",
            )
        })
    }

    /// Methods `session`'s user must answer with when re-authenticating (empty: the
    /// password alone will do).
    pub fn reauth_methods(&self, session: &Session) -> Result<Vec<Method>> {
        self.store.read(|tx| {
            let org = tx.organization()?;
            let user = self.live_user(tx, session)?;
            Self::mfa_methods(tx, &org, &user)
        })
    }

    /// Sends an email code for re-authentication.
    pub fn send_reauth_code(&self, session: &Session) -> Result<(String, i64)> {
        let address = self.store.read(|tx| {
            let user = self.live_user(tx, session)?;
            if let Some(until) = self.locked_until(tx, &text::normalize_username(&user.username))? {
                return Err(CoreError::Locked { until });
            }
            Ok::<_, CoreError>(
                tx.enrollments_of(session.user_id)?
                    .into_iter()
                    .find(|e| e.method == Method::Email)
                    .and_then(|e| e.email),
            )
        })?;
        let address = address
            .ok_or_else(|| CoreError::Invalid("this account has no email verification".into()))?;
        let expires = self.send_email_code(session.user_id, EmailCodePurpose::SignIn, &address)?;
        Ok((address, expires))
    }

    /// Password again, plus a code when the user has MFA: opens sensitive acts for a few
    /// minutes. Failures count toward lockout like any sign-in.
    pub fn reauthenticate(
        &self,
        session: &Session,
        password_in: &str,
        code: Option<(&str, CodeKind)>,
    ) -> Result<()> {
        // Nothing typed is no attempt: it neither counts towards the lockout nor is audited.
        if password_in.is_empty() {
            return Err(CoreError::Invalid(
                "type your password (and the code, when asked) to confirm it is you".into(),
            ));
        }
        let user = self.store.read(|tx| self.live_user(tx, session))?;
        let norm = text::normalize_username(&user.username);
        let password_ok = match user.password_hash.as_deref() {
            Some(phc) => password::verify(password_in, phc),
            None => false,
        };
        // Refused because the code's 30-second step was already used (typically the code
        // that just signed this user in): the user is signed in, so they are told.
        let mut replayed = false;
        let decision = self.store.write(|tx| -> Result<Decision<()>> {
            replayed = false;
            if let Some(until) = self.locked_until(tx, &norm)? {
                self.note_locked_attempt(tx, &norm, until)?;
                return Ok(Decision::Locked(until));
            }
            let org = tx.organization()?;
            let user = self.live_user(tx, session)?;
            let needs_code = !Self::mfa_methods(tx, &org, &user)?.is_empty();
            let ok = password_ok
                && (!needs_code
                    || match code {
                        Some((c, k)) => self.verify_factor(tx, &org, &user, c, k)?.is_some(),
                        None => false,
                    });
            if ok {
                let now = self.now();
                tx.prune_reauth_grants(now)?;
                tx.put_reauth_grant(user.id, session.nonce, now + REAUTH_SECONDS)?;
                let mut l = tx.lockout(&norm)?;
                l.failures = 0;
                tx.put_lockout(&norm, &l)?;
                self.audit(
                    tx,
                    &user.username,
                    &user.username,
                    audit::kind::REAUTH_OK,
                    "",
                )?;
                Ok(Decision::Done(()))
            } else {
                replayed = password_ok
                    && needs_code
                    && code.is_some_and(|(c, k)| {
                        matches!(k, CodeKind::Authenticator | CodeKind::Any)
                            && self
                                .totp_replayed(tx, &org, &user, c, self.now())
                                .unwrap_or(false)
                    });
                self.audit(
                    tx,
                    &user.username,
                    &user.username,
                    audit::kind::REAUTH_FAILED,
                    if replayed { "code already used" } else { "" },
                )?;
                let newly_locked = self.register_failure(tx, &org, &norm)?;
                Ok(Decision::Refused {
                    newly_locked,
                    norm: norm.clone(),
                })
            }
        })?;
        match self.settle(decision) {
            Err(CoreError::Refused) if replayed => Err(CoreError::CodeAlreadyUsed),
            other => other,
        }
    }

    /// Whether `code` is right for one of the user's authenticators but of a 30-second
    /// step at or before the last one accepted (a replay).
    fn totp_replayed(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        user: &User,
        code: &str,
        now: i64,
    ) -> Result<bool> {
        let short = text::normalize_code(code);
        let Some(last) = tx.last_totp_step(user.id)? else {
            return Ok(false);
        };
        Ok(Self::authenticator_match(tx, org, user, &short, now)?
            .is_some_and(|(_, step)| step <= last))
    }

    /// Does the session's account still exist and may it still sign in (not disabled)?
    pub fn session_active(&self, session: &Session) -> Result<bool> {
        self.store.read(|tx| match self.live_user(tx, session) {
            Ok(_) => Ok(true),
            Err(CoreError::NotAllowed(_)) => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// Is a re-authentication still fresh for this session?
    pub fn has_fresh_reauth(&self, session: &Session) -> Result<bool> {
        let actor = Actor::User(session);
        self.store.read(|tx| match self.require_reauth(tx, actor) {
            Ok(()) => Ok(true),
            Err(CoreError::ReauthRequired) => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// "Remember this terminal": a token for the caller to keep (the database keeps its
    /// hash), when the policy allows trusted devices.
    /// Whether this sign-in may offer to remember the terminal, and for how many days: it
    /// passed a code and the policy allows trusted devices.
    pub fn remember_terminal_offer(&self, session: &Session) -> Result<Option<u32>> {
        self.store.read(|tx| {
            let org = tx.organization()?;
            let user = self.live_user(tx, session)?;
            let days = org.policy.trusted_device_days;
            Ok((days > 0
                && session.second_factor
                && !Self::mfa_methods(tx, &org, &user)?.is_empty())
            .then_some(days))
        })
    }

    pub fn trust_device(&self, session: &Session) -> Result<Option<String>> {
        self.store.write(|tx| {
            let org = tx.organization()?;
            let user = self.live_user(tx, session)?;
            if org.policy.trusted_device_days == 0 {
                return Ok(None);
            }
            // Only a sign-in that passed MFA may spare later ones from it.
            if !session.second_factor || Self::mfa_methods(tx, &org, &user)?.is_empty() {
                return Err(CoreError::NotAllowed(
                    "a terminal can be remembered only after signing in with a code".into(),
                ));
            }
            let token = codes::device_token()?;
            let now = self.now();
            tx.put_trusted_device(
                user.id,
                &codes::hash("device", user.id, &token),
                &TrustedDevice {
                    created: now,
                    expires: now + i64::from(org.policy.trusted_device_days) * 86400,
                },
            )?;
            self.audit(
                tx,
                &user.username,
                &user.username,
                audit::kind::DEVICE_TRUSTED,
                "",
            )?;
            Ok(Some(token))
        })
    }

    // ---- internals ----

    /// The methods a code may come from at sign-in; empty when MFA does not apply.
    pub(super) fn mfa_methods(tx: &dyn Tx, org: &Organization, user: &User) -> Result<Vec<Method>> {
        if !org.controls.mfa_enabled() || user.role == Role::Integration {
            return Ok(Vec::new());
        }
        Self::active_methods(tx, org, user.id)
    }

    fn device_trusted(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        user: &User,
        token: Option<&str>,
    ) -> Result<bool> {
        let Some(token) = token else { return Ok(false) };
        if org.policy.trusted_device_days == 0 {
            return Ok(false);
        }
        let hash = codes::hash("device", user.id, token.trim());
        Ok(tx
            .trusted_device(user.id, &hash)?
            .is_some_and(|d| d.expires > self.now()))
    }

    /// Checks a code and, in the same transaction, records its use (TOTP step, spent
    /// email or recovery code). Returns how it matched, or `None`.
    pub(super) fn verify_factor(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        user: &User,
        code: &str,
        kind: CodeKind,
    ) -> Result<Option<&'static str>> {
        let now = self.now();
        let short = text::normalize_code(code);
        let is_digits = short.len() == 6 && short.bytes().all(|b| b.is_ascii_digit());
        if matches!(kind, CodeKind::Authenticator | CodeKind::Any)
            && is_digits
            && org.controls.authenticator
            && self.verify_totp(tx, org, user, &short, now)?
        {
            return Ok(Some("authenticator"));
        }
        if matches!(kind, CodeKind::Email | CodeKind::Any)
            && is_digits
            && org.controls.email
            && let Some(c) = tx.email_code(user.id)?
            && !c.used
            && c.purpose == EmailCodePurpose::SignIn
            && c.expires > now
            && codes::matches("email", user.id, &short, &c.hash)
        {
            tx.spend_email_code(user.id)?;
            for mut e in tx.enrollments_of(user.id)? {
                if e.method == Method::Email {
                    e.last_used = Some(now);
                    tx.put_enrollment(&e)?;
                }
            }
            return Ok(Some("email code"));
        }
        if matches!(kind, CodeKind::Recovery | CodeKind::Any) && !is_digits {
            let long = text::normalize_long_code(code);
            for (idx, mut rc) in tx.recovery_codes(user.id)? {
                if rc.used_at.is_none() && codes::matches("recovery", user.id, &long, &rc.hash) {
                    rc.used_at = Some(now);
                    tx.put_recovery_code(user.id, idx, &rc)?;
                    let left = tx
                        .recovery_codes(user.id)?
                        .iter()
                        .filter(|(_, r)| r.used_at.is_none())
                        .count();
                    self.audit(
                        tx,
                        &user.username,
                        &user.username,
                        audit::kind::RECOVERY_USED,
                        &format!("{left} left"),
                    )?;
                    return Ok(Some("recovery code"));
                }
            }
        }
        Ok(None)
    }

    /// TOTP with replay refusal: a step at or before the user's last accepted step fails;
    /// the new step is recorded in the caller's (durable) transaction.
    fn verify_totp(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        user: &User,
        code: &str,
        now: i64,
    ) -> Result<bool> {
        let Some((mut e, step)) = Self::authenticator_match(tx, org, user, code, now)? else {
            return Ok(false);
        };
        if !tx.claim_totp_step(user.id, step)? {
            return Ok(false);
        }
        e.last_used = Some(now);
        tx.put_enrollment(&e)?;
        Ok(true)
    }

    /// The first of the user's authenticators `code` is right for now, and its step.
    fn authenticator_match(
        tx: &dyn Tx,
        org: &Organization,
        user: &User,
        code: &str,
        now: i64,
    ) -> Result<Option<(crate::store::Enrollment, u64)>> {
        for e in tx.enrollments_of(user.id)? {
            if e.method != Method::Authenticator {
                continue;
            }
            let Some(sealed) = &e.secret else { continue };
            let secret = tx.key().open(sealed, &secret_context(e.user_id, e.id))?;
            if let Some(step) = totp::matched_step(&secret, org.policy.totp_skew, code, now) {
                return Ok(Some((e, step)));
            }
        }
        Ok(None)
    }

    /// All factors passed: clear the failure count, note the sign-in, and decide what
    /// comes next (password change, or the session with its scope).
    fn complete(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        mut user: User,
        channel: Channel,
        how: &str,
    ) -> Result<SignInStep> {
        let now = self.now();
        let norm = text::normalize_username(&user.username);
        let mut l = tx.lockout(&norm)?;
        l.failures = 0;
        l.lock_count = 0;
        l.locked_until = None;
        tx.put_lockout(&norm, &l)?;
        if user.must_change_password {
            return Ok(SignInStep::PasswordChangeRequired(PendingPasswordChange {
                user_id: user.id,
                channel,
                expires: now + PENDING_SECONDS,
            }));
        }
        user.last_sign_in = Some(now);
        match channel {
            Channel::Console => user.interactive_sign_ins += 1,
            Channel::Api => {
                user.api_sign_ins += 1;
                if how == "password" {
                    user.last_codeless_api_sign_in = Some(now);
                }
            }
        }
        tx.put_user(&user)?;
        let via = match channel {
            Channel::Console => "console",
            Channel::Api => "verify",
        };
        self.audit(
            tx,
            &user.username,
            &user.username,
            audit::kind::SIGN_IN_OK,
            &format!("{via}, {how}"),
        )?;
        let (must_enroll, grace_days_left, scope) = self.enforcement_state(tx, org, &user, now)?;
        Ok(SignInStep::SignedIn(Session {
            user_id: user.id,
            username: user.username,
            role: user.role,
            scope,
            nonce: crate::random::u64()?,
            second_factor: matches!(how, "authenticator" | "email code" | "recovery code"),
            recovery_codes_left: if how == "recovery code" {
                Some(
                    tx.recovery_codes(user.id)?
                        .iter()
                        .filter(|(_, c)| c.used_at.is_none())
                        .count(),
                )
            } else {
                None
            },
            must_enroll,
            grace_days_left,
        }))
    }

    /// Whether `required` enforcement applies to this user now, the days of grace left,
    /// and the scope that follows.
    pub(super) fn enforcement_state(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        user: &User,
        now: i64,
    ) -> Result<(bool, Option<i64>, Scope)> {
        if org.policy.enforcement != Enforcement::Required
            || !org.controls.mfa_enabled()
            || user.role == Role::Integration
            || !Self::active_methods(tx, org, user.id)?.is_empty()
        {
            return Ok((false, None, Scope::Full));
        }
        let left = grace_days_left(org, user, now);
        let scope = if left > 0 {
            Scope::Full
        } else {
            Scope::EnrollOnly
        };
        Ok((true, Some(left.max(0)), scope))
    }
}

/// Whole days (rounded up) until the user's grace period ends; ≤ 0 when it has.
pub(super) fn grace_days_left(org: &Organization, user: &User, now: i64) -> i64 {
    let start = org.required_since.unwrap_or(now).max(user.created);
    let end = start + i64::from(org.policy.grace_days) * 86400;
    let secs = end - now;
    if secs <= 0 { 0 } else { (secs + 86399) / 86400 }
}

/// Binds a sealed secret to its enrollment, so a sealed value moved to another record
/// does not decrypt.
pub(super) fn secret_context(user: u64, enrollment: u64) -> Vec<u8> {
    let mut v = b"mfa-console totp secret v1".to_vec();
    v.extend_from_slice(&user.to_le_bytes());
    v.extend_from_slice(&enrollment.to_le_bytes());
    v
}
