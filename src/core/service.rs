//! The decisions of the authentication service (`mfa-console serve`): is this code right
//! for this user, asked by an API client or a local PAM module.
//!
//! One verification is one write transaction: the lockout, the replay guard, the audit
//! event and the client's counters land together or not at all. The lockout, replay
//! guard and audit log are the console's and the CLI's, so a failure counted here counts
//! there too.

use zeroize::Zeroizing;

use super::{Core, Result, audit, password, text};
use crate::store::{ApiClient, ClientMode, Method, Role, Tx, User};

/// Who asks: a named API client (HTTP), or a local process on the Unix socket.
#[derive(Clone, Debug)]
pub enum Caller {
    Client(ApiClient),
    /// `label` is how the audit log names it, e.g. `pam@host uid 0`.
    Local {
        label: String,
        mode: ClientMode,
    },
}

impl Caller {
    pub fn mode(&self) -> ClientMode {
        match self {
            Caller::Client(c) => c.mode,
            Caller::Local { mode, .. } => *mode,
        }
    }
    /// How the audit log names the caller.
    pub fn label(&self) -> String {
        match self {
            Caller::Client(c) => format!("client {}", c.name),
            Caller::Local { label, .. } => label.clone(),
        }
    }
}

/// One request, as the caller sent it. `context` (service, remote host) goes into the
/// audit event and nowhere else.
#[derive(Clone, Debug, Default)]
pub struct ServiceRequest {
    pub username: String,
    pub password: Option<Zeroizing<String>>,
    pub code: Option<Zeroizing<String>>,
    pub context: String,
}

/// Why a user was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaState {
    /// A code was checked.
    Verified,
    /// MFA is off for the organization.
    Off,
    /// Enforcement is optional and the user has no method.
    NotConfigured,
    /// MFA is required; the user has not configured it and has this many days left.
    Grace { days_left: i64 },
    /// Integration accounts are never asked for a code.
    Integration,
}

impl MfaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaState::Verified => "verified",
            MfaState::Off => "mfa_off",
            MfaState::NotConfigured => "not_configured",
            MfaState::Grace { .. } => "grace",
            MfaState::Integration => "integration",
        }
    }
}

/// The service's answer. Every refusal that could tell an attacker something is the one
/// generic `Refused`; `unknown_user` is set only for code-only callers, which checked
/// the first factor themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceAnswer {
    Accepted {
        mfa: MfaState,
        /// "authenticator", "email" or "recovery", when a code was checked.
        method: Option<&'static str>,
        recovery_codes_left: Option<usize>,
    },
    CodeRequired {
        methods: Vec<Method>,
        /// The masked address an email code would go to.
        email: Option<String>,
    },
    Refused {
        unknown_user: bool,
    },
    Locked {
        until: i64,
    },
    EnrollRequired,
    CodeSent {
        email: String,
        expires: i64,
    },
    Throttled {
        retry_after: i64,
    },
}

impl ServiceAnswer {
    /// Counted as a refusal in the client's figures.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ServiceAnswer::Refused { .. }
                | ServiceAnswer::Locked { .. }
                | ServiceAnswer::EnrollRequired
        )
    }
}

/// Longest username, password or code looked at (bytes).
const MAX_FIELD: usize = password::MAX_BYTES;
const MAX_USERNAME_BYTES: usize = 256;

/// A request checked outside the write: its bounds, and the password (argon2 takes tens of
/// milliseconds and 19 MiB, so it never runs inside the one write transaction of the
/// moment). Only [`Core::service_prepare`] makes one.
#[derive(Debug)]
pub struct Prepared {
    /// `None`: refused before anything is looked up or written.
    checked: Option<(String, Option<PasswordCheck>)>,
}

impl Prepared {
    /// The password was right when it was checked: the proof a front end keeps between
    /// an answer that asks for the code (a RADIUS Access-Challenge) and the request that
    /// brings it. It holds the hash the password was checked against, never the password.
    pub fn password_proof(&self) -> Option<PasswordProof> {
        match &self.checked {
            Some((
                norm,
                Some(PasswordCheck {
                    ok: true,
                    against: Some(hash),
                }),
            )) => Some(PasswordProof {
                norm: norm.clone(),
                against: hash.clone(),
            }),
            _ => None,
        }
    }
}

/// A password found right for an account, without the password. Inside the write of
/// the request it is used for, it counts only if the account still has the same hash:
/// a password changed or reset meanwhile makes it worthless.
#[derive(Clone)]
pub struct PasswordProof {
    norm: String,
    against: String,
}

#[cfg(test)]
impl PasswordProof {
    pub(crate) fn for_tests(norm: &str) -> Self {
        Self {
            norm: norm.to_string(),
            against: "$argon2id$test".to_string(),
        }
    }
}

impl std::fmt::Debug for PasswordProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordProof")
            .field("user", &self.norm)
            .finish_non_exhaustive()
    }
}

/// A password checked outside the write, and the hash it was checked against: inside the
/// write the check counts only if the account still has that hash (a password changed
/// or reset meanwhile makes the old one wrong).
#[derive(Debug, Clone)]
struct PasswordCheck {
    ok: bool,
    against: Option<String>,
}

/// What the first factor decided inside the transaction.
enum First {
    User(User),
    Answer(ServiceAnswer, Option<i64>),
}

impl Core {
    /// Verifies one request: the first factor as the caller's mode needs, then a code
    /// when MFA applies.
    pub fn service_verify(&self, caller: &Caller, req: &ServiceRequest) -> Result<ServiceAnswer> {
        let prepared = self.service_prepare(caller, req)?;
        let mut answers = self.service_verify_prepared(&[(caller, req, &prepared)])?;
        Ok(answers.pop().unwrap_or(ServiceAnswer::Refused {
            unknown_user: false,
        }))
    }

    /// The part of a verification that runs before the write: bounds and the password.
    pub fn service_prepare(&self, caller: &Caller, req: &ServiceRequest) -> Result<Prepared> {
        Ok(Prepared {
            checked: self.service_prelude(caller, req)?,
        })
    }

    /// The second request of a challenge: the code, for the account whose password
    /// `proof` showed right in the first. Everything else is decided as for a request
    /// with the password (lockout, account state, replay guard, audit), inside the write.
    pub fn service_prepare_proven(
        &self,
        caller: &Caller,
        req: &ServiceRequest,
        proof: &PasswordProof,
    ) -> Result<Prepared> {
        let norm = text::normalize_username(&req.username);
        let too_long = req.code.as_ref().is_some_and(|c| c.len() > MAX_FIELD);
        if caller.mode() != ClientMode::PasswordAndCode || norm != proof.norm || too_long {
            return Ok(Prepared { checked: None });
        }
        Ok(Prepared {
            checked: Some((
                norm,
                Some(PasswordCheck {
                    ok: true,
                    against: Some(proof.against.clone()),
                }),
            )),
        })
    }

    /// Decides prepared requests in one write transaction, in order, as if one after the
    /// other: a code accepted for the first is a replay for the second. Each answer is
    /// durable before any is returned. A failure of the store fails them all (nothing of
    /// any is written); the caller may then try each alone.
    pub fn service_verify_prepared(
        &self,
        items: &[(&Caller, &ServiceRequest, &Prepared)],
    ) -> Result<Vec<ServiceAnswer>> {
        let decided = self.store.write(|tx| {
            let mut out = Vec::with_capacity(items.len());
            for (caller, req, prepared) in items {
                let Some((norm, password_ok)) = &prepared.checked else {
                    out.push((
                        ServiceAnswer::Refused {
                            unknown_user: caller.mode() == ClientMode::CodeOnly,
                        },
                        None,
                        String::new(),
                    ));
                    continue;
                };
                let label = caller.label();
                let (answer, newly_locked) = match self.service_first_factor(
                    tx,
                    caller,
                    req,
                    norm,
                    password_ok.as_ref(),
                    &label,
                )? {
                    First::Answer(a, locked) => (a, locked),
                    First::User(user) => {
                        self.service_second_factor(tx, caller, req, user, norm, &label)?
                    }
                };
                self.count_client_use(tx, caller, answer.is_refusal())?;
                out.push((answer, newly_locked, norm.clone()));
            }
            Ok::<_, super::CoreError>(out)
        })?;
        Ok(decided
            .into_iter()
            .map(|(answer, newly_locked, norm)| {
                if let Some(until) = newly_locked {
                    self.notify_lockout(&norm, until);
                }
                answer
            })
            .collect())
    }

    /// Sends a sign-in code by email, after the first factor (within the 30 s throttle).
    pub fn service_email_code(
        &self,
        caller: &Caller,
        req: &ServiceRequest,
    ) -> Result<ServiceAnswer> {
        let prepared = self.service_prepare(caller, req)?;
        self.service_email_code_prepared(caller, req, &prepared)
    }

    /// [`Core::service_email_code`] with the first factor already prepared (by
    /// [`Core::service_prepare`], or [`Core::service_prepare_proven`] for a challenge).
    pub fn service_email_code_prepared(
        &self,
        caller: &Caller,
        req: &ServiceRequest,
        prepared: &Prepared,
    ) -> Result<ServiceAnswer> {
        let Some((norm, password_ok)) = prepared.checked.clone() else {
            return Ok(ServiceAnswer::Refused {
                unknown_user: caller.mode() == ClientMode::CodeOnly,
            });
        };
        let label = caller.label();
        let (first, address) = self.store.write(|tx| {
            let first =
                self.service_first_factor(tx, caller, req, &norm, password_ok.as_ref(), &label)?;
            let address = match &first {
                First::User(u) => {
                    let org = tx.organization()?;
                    if org.controls.mfa_enabled()
                        && org.controls.email
                        && u.role != Role::Integration
                    {
                        Self::email_address(tx, u.id)?
                    } else {
                        None
                    }
                }
                First::Answer(..) => None,
            };
            let refused = match &first {
                First::Answer(a, _) => a.is_refusal(),
                First::User(_) => address.is_none(),
            };
            self.count_client_use(tx, caller, refused)?;
            Ok::<_, super::CoreError>((first, address))
        })?;
        let user = match first {
            First::Answer(answer, newly_locked) => {
                if let Some(until) = newly_locked {
                    self.notify_lockout(&norm, until);
                }
                return Ok(answer);
            }
            First::User(u) => u,
        };
        let Some(address) = address else {
            return Ok(ServiceAnswer::Refused {
                unknown_user: false,
            });
        };
        match self.send_email_code(user.id, crate::store::EmailCodePurpose::SignIn, &address) {
            Ok(expires) => Ok(ServiceAnswer::CodeSent {
                email: text::mask_email(&address),
                expires,
            }),
            Err(super::CoreError::Throttled(wait)) => {
                Ok(ServiceAnswer::Throttled { retry_after: wait })
            }
            Err(super::CoreError::NotAllowed(_)) => Ok(ServiceAnswer::Refused {
                unknown_user: false,
            }),
            Err(e) => Err(e),
        }
    }

    /// Bounds the input and, for password-and-code, checks the password outside any
    /// write (argon2 takes tens of milliseconds; the hash runs on every path). `None`:
    /// refused before anything is looked up or written.
    fn service_prelude(
        &self,
        caller: &Caller,
        req: &ServiceRequest,
    ) -> Result<Option<(String, Option<PasswordCheck>)>> {
        let norm = text::normalize_username(&req.username);
        let password_in = req.password.as_ref().map(|p| p.as_str()).unwrap_or("");
        let too_long =
            password_in.len() > MAX_FIELD || req.code.as_ref().is_some_and(|c| c.len() > MAX_FIELD);
        let pac = caller.mode() == ClientMode::PasswordAndCode;
        // No account has a control or invisible character in its name (they are refused
        // when users are made), so such a name is refused before any lookup: it is no
        // attempt on anyone, and no store has to hold it.
        let hostile = norm.chars().any(text::is_hostile);
        if norm.is_empty() || norm.len() > MAX_USERNAME_BYTES || too_long || hostile {
            if pac {
                password::verify_dummy(password_in);
            }
            return Ok(None);
        }
        if !pac {
            return Ok(Some((norm, None)));
        }
        let phc = self.store.read(|tx| {
            let user = match tx.user_id_by_name(&norm)? {
                Some(id) => tx.user(id)?,
                None => None,
            };
            Ok::<_, super::CoreError>(user.and_then(|u| u.password_hash))
        })?;
        let ok = match &phc {
            Some(phc) => password::verify(password_in, phc),
            None => {
                password::verify_dummy(password_in);
                false
            }
        };
        Ok(Some((norm, Some(PasswordCheck { ok, against: phc }))))
    }

    /// Inside the write: the lockout, the account, and the password when the mode needs it.
    fn service_first_factor(
        &self,
        tx: &dyn Tx,
        caller: &Caller,
        req: &ServiceRequest,
        norm: &str,
        password: Option<&PasswordCheck>,
        label: &str,
    ) -> Result<First> {
        if let Some(until) = self.locked_until(tx, norm)? {
            self.note_locked_attempt(tx, norm, until)?;
            return Ok(First::Answer(ServiceAnswer::Locked { until }, None));
        }
        let org = tx.organization()?;
        let user = match tx.user_id_by_name(norm)? {
            Some(id) => tx.user(id)?,
            None => None,
        };
        let detail = |why: &str| service_detail(label, &req.context, why);
        let pac = caller.mode() == ClientMode::PasswordAndCode;
        let refuse = |why: &str, count: bool, unknown_user: bool| -> Result<First> {
            let subject = match &user {
                Some(u) => u.username.clone(),
                None => text::escape_control(&req.username),
            };
            self.audit(
                tx,
                "system",
                &subject,
                audit::kind::SIGN_IN_FAILED,
                &detail(why),
            )?;
            let newly_locked = if count {
                self.register_failure(tx, &org, norm)?
            } else {
                None
            };
            Ok(First::Answer(
                match newly_locked {
                    Some(until) => ServiceAnswer::Locked { until },
                    None => ServiceAnswer::Refused { unknown_user },
                },
                newly_locked,
            ))
        };
        let Some(user) = user.clone() else {
            // With a password the count hides whether the name exists, as at the console;
            // a code-only caller vouched for the person, so it may learn the name is unknown.
            return refuse("unknown user", pac, !pac);
        };
        let password_ok = password
            .is_some_and(|p| p.ok && p.against.is_some() && p.against == user.password_hash);
        if pac && !password_ok {
            return refuse("wrong password", true, false);
        }
        // With a password, these refusals count like a wrong one: otherwise sending one
        // guess until the lockout would tell whether it is the account's password.
        if user.disabled {
            return refuse("account disabled", pac, false);
        }
        if pac && user.must_change_password {
            return refuse(
                "temporary password not yet changed in the console",
                true,
                false,
            );
        }
        Ok(First::User(user))
    }

    /// Inside the write, after the first factor: whether MFA applies, and the code.
    fn service_second_factor(
        &self,
        tx: &dyn Tx,
        caller: &Caller,
        req: &ServiceRequest,
        user: User,
        norm: &str,
        label: &str,
    ) -> Result<(ServiceAnswer, Option<i64>)> {
        let org = tx.organization()?;
        let detail = |why: &str| service_detail(label, &req.context, why);
        if user.role == Role::Integration {
            return self.service_accept(tx, user, norm, MfaState::Integration, None, &detail);
        }
        if !org.controls.mfa_enabled() {
            return self.service_accept(tx, user, norm, MfaState::Off, None, &detail);
        }
        let methods = Self::active_methods(tx, &org, user.id)?;
        if methods.is_empty() {
            let (must_enroll, left, scope) = self.enforcement_state(tx, &org, &user, self.now())?;
            if !must_enroll {
                return self.service_accept(tx, user, norm, MfaState::NotConfigured, None, &detail);
            }
            if scope == super::Scope::EnrollOnly {
                self.audit(
                    tx,
                    "system",
                    &user.username,
                    audit::kind::SIGN_IN_FAILED,
                    &detail("MFA is required and not configured; the grace period is over"),
                )?;
                return Ok((ServiceAnswer::EnrollRequired, None));
            }
            let days_left = left.unwrap_or(0);
            return self.service_accept(
                tx,
                user,
                norm,
                MfaState::Grace { days_left },
                None,
                &detail,
            );
        }
        let code = req
            .code
            .as_ref()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty());
        let Some(code) = code else {
            self.audit(
                tx,
                &user.username,
                &user.username,
                // A code-only caller checked the first factor itself: no password was seen.
                if caller.mode() == ClientMode::PasswordAndCode {
                    audit::kind::PASSWORD_OK_CODE_NEEDED
                } else {
                    audit::kind::CODE_ASKED
                },
                &detail(""),
            )?;
            let email = if methods.contains(&Method::Email) {
                Self::email_address(tx, user.id)?.map(|a| text::mask_email(&a))
            } else {
                None
            };
            return Ok((ServiceAnswer::CodeRequired { methods, email }, None));
        };
        match self.verify_factor(tx, &org, &user, code, super::CodeKind::Any)? {
            Some(how) => {
                self.service_accept(tx, user, norm, MfaState::Verified, Some(how), &detail)
            }
            None => {
                self.audit(
                    tx,
                    &user.username,
                    &user.username,
                    audit::kind::CODE_FAILED,
                    &detail(""),
                )?;
                let newly_locked = self.register_failure(tx, &org, norm)?;
                Ok(match newly_locked {
                    Some(until) => (ServiceAnswer::Locked { until }, Some(until)),
                    None => (
                        ServiceAnswer::Refused {
                            unknown_user: false,
                        },
                        None,
                    ),
                })
            }
        }
    }

    /// Let through: the failure count is cleared and the sign-in noted and audited.
    fn service_accept(
        &self,
        tx: &dyn Tx,
        mut user: User,
        norm: &str,
        mfa: MfaState,
        how: Option<&'static str>,
        detail: &dyn Fn(&str) -> String,
    ) -> Result<(ServiceAnswer, Option<i64>)> {
        let now = self.now();
        let mut l = tx.lockout(norm)?;
        if l.failures != 0 || l.lock_count != 0 || l.locked_until.is_some() {
            l.failures = 0;
            l.lock_count = 0;
            l.locked_until = None;
            tx.put_lockout(norm, &l)?;
        }
        user.last_sign_in = Some(now);
        user.api_sign_ins += 1;
        if how.is_none() {
            user.last_codeless_api_sign_in = Some(now);
        }
        tx.put_user(&user)?;
        let why = match (mfa, how) {
            (MfaState::Verified, Some(how)) => how.to_string(),
            (MfaState::Grace { days_left }, _) => {
                format!("MFA not configured, {days_left} days of grace left")
            }
            (MfaState::Off, _) => "MFA is off".into(),
            (MfaState::NotConfigured, _) => "MFA not configured (optional)".into(),
            (MfaState::Integration, _) => "integration account".into(),
            (MfaState::Verified, None) => String::new(),
        };
        self.audit(
            tx,
            &user.username,
            &user.username,
            audit::kind::SIGN_IN_OK,
            &detail(&why),
        )?;
        let method = how.map(|h| match h {
            "email code" => "email",
            "recovery code" => "recovery",
            _ => "authenticator",
        });
        let recovery_codes_left = if method == Some("recovery") {
            Some(
                tx.recovery_codes(user.id)?
                    .iter()
                    .filter(|(_, c)| c.used_at.is_none())
                    .count(),
            )
        } else {
            None
        };
        Ok((
            ServiceAnswer::Accepted {
                mfa,
                method,
                recovery_codes_left,
            },
            None,
        ))
    }

    /// The user's verified email address, when they have the email method.
    fn email_address(tx: &dyn Tx, user: u64) -> Result<Option<String>> {
        Ok(tx
            .enrollments_of(user)?
            .into_iter()
            .find(|e| e.method == Method::Email)
            .and_then(|e| e.email))
    }

    /// One more request (and perhaps refusal) today in the client's figures.
    fn count_client_use(&self, tx: &dyn Tx, caller: &Caller, refused: bool) -> Result<()> {
        let Caller::Client(c) = caller else {
            return Ok(());
        };
        // Re-read: the client may have been changed or removed since its key was checked.
        let Some(mut c) = tx.client(&c.name)? else {
            return Ok(());
        };
        let now = self.now();
        let day = now.div_euclid(86400);
        if c.day != day {
            c.day = day;
            c.requests_today = 0;
            c.refusals_today = 0;
        }
        c.requests_today += 1;
        if refused {
            c.refusals_today += 1;
        }
        c.last_request = Some(now);
        tx.put_client(&c)?;
        Ok(())
    }
}

/// "client web-portal (sshd from 10.0.0.5): wrong password"
fn service_detail(label: &str, context: &str, why: &str) -> String {
    let mut s = label.to_string();
    if !context.is_empty() {
        s.push_str(&format!(" ({})", text::escape_control(context)));
    }
    if !why.is_empty() {
        s.push_str(": ");
        s.push_str(why);
    }
    s
}
