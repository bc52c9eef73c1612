//! Configuring MFA: an authenticator app (secret, `otpauth://` URI, confirmed by a code)
//! or the email address on file (confirmed by an emailed code); recovery codes; removal.
//! Nothing is saved until the confirming code is right.

use zeroize::Zeroizing;

use super::signin::secret_context;
use super::{
    Actor, Core, CoreError, MAX_AUTHENTICATORS, RECOVERY_CODE_COUNT, Result, audit, codes, text,
    totp,
};
use crate::store::{
    EmailCodePurpose, Enrollment, FirstFactorEnrollment, Method, Organization, RecoveryCode, Tx,
    User,
};

/// A fresh authenticator secret waiting for its first code. Lives only in memory.
#[derive(Clone)]
pub struct PendingAuthenticator {
    user_id: u64,
    username: String,
    secret: Zeroizing<Vec<u8>>,
    uri: Zeroizing<String>,
    label: String,
    enrollment_code: Option<String>,
}

impl PendingAuthenticator {
    /// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer`, for the QR code.
    pub fn uri(&self) -> &str {
        &self.uri
    }
    /// The secret in Base32, groups of four, for typing by hand.
    pub fn secret_grouped(&self) -> Zeroizing<String> {
        totp::grouped_secret(&self.secret)
    }
    pub fn label(&self) -> &str {
        &self.label
    }
    pub fn username(&self) -> &str {
        &self.username
    }
    /// The current code for this secret (tests and demos only compute what an app would).
    #[doc(hidden)]
    pub fn code_at(&self, now: i64) -> Option<String> {
        totp::code_at(&self.secret, now)
    }
}

/// An email address waiting for the code sent to it.
#[derive(Clone, Debug)]
pub struct PendingEmail {
    user_id: u64,
    address: String,
    enrollment_code: Option<String>,
    pub expires: i64,
}

impl PendingEmail {
    pub fn address(&self) -> &str {
        &self.address
    }
}

/// A saved enrollment. `recovery_codes` is set when these are the user's first: show
/// them once, they are never shown again.
#[derive(Debug)]
pub struct EnrollmentDone {
    pub enrollment_id: u64,
    pub recovery_codes: Option<Vec<Zeroizing<String>>>,
}

impl Core {
    /// Starts an authenticator enrollment: a new secret and its URI, nothing stored yet.
    pub fn begin_authenticator(
        &self,
        actor: Actor,
        username: &str,
        label: Option<&str>,
        enrollment_code: Option<&str>,
    ) -> Result<PendingAuthenticator> {
        let label = clean_label(label)?;
        let (org, user) = self.store.read(|tx| {
            let org = tx.organization()?;
            let user = self.find_user(tx, username)?;
            self.require_self(tx, actor, &user)?;
            if !org.controls.authenticator {
                return Err(CoreError::NotAllowed(
                    "the authenticator method is turned off in Security Controls".into(),
                ));
            }
            let count = tx
                .enrollments_of(user.id)?
                .iter()
                .filter(|e| e.method == Method::Authenticator)
                .count();
            if count >= MAX_AUTHENTICATORS {
                return Err(CoreError::Conflict(format!(
                    "{} already has {MAX_AUTHENTICATORS} authenticators: remove one first",
                    user.username
                )));
            }
            self.check_enrollment_code(tx, &org, actor, &user, enrollment_code)?;
            Ok((org, user))
        })?;
        let secret = totp::new_secret()?;
        let issuer = totp::issuer_of(&org.name);
        let uri = Zeroizing::new(
            totp::uri(&secret, &issuer, &user.username).map_err(CoreError::Invalid)?,
        );
        let existing = self.store.read(|tx| {
            Ok::<_, CoreError>(
                tx.enrollments_of(user.id)?
                    .iter()
                    .filter(|e| e.method == Method::Authenticator)
                    .count(),
            )
        })?;
        let label = label.unwrap_or_else(|| match existing {
            0 => "Authenticator app".to_string(),
            n => format!("Authenticator app {}", n + 1),
        });
        Ok(PendingAuthenticator {
            user_id: user.id,
            username: user.username,
            secret,
            uri,
            label,
            enrollment_code: enrollment_code.map(text::normalize_long_code),
        })
    }

    /// Saves the authenticator if `code` is a current code of its secret. The code's step
    /// is recorded, so the same code cannot also sign in.
    pub fn confirm_authenticator(
        &self,
        actor: Actor,
        pending: &PendingAuthenticator,
        code: &str,
    ) -> Result<EnrollmentDone> {
        let now = self.now();
        let code = text::normalize_code(code);
        self.store.write(|tx| {
            let org = tx.organization()?;
            let user = tx
                .user(pending.user_id)?
                .ok_or_else(|| CoreError::NoSuchUser(pending.username.clone()))?;
            self.require_self(tx, actor, &user)?;
            if !org.controls.authenticator {
                return Err(CoreError::NotAllowed(
                    "the authenticator method was turned off meanwhile".into(),
                ));
            }
            self.check_enrollment_code(tx, &org, actor, &user, pending.enrollment_code.as_deref())?;
            let step = totp::matched_step(&pending.secret, org.policy.totp_skew, &code, now)
                .ok_or(CoreError::WrongCode)?;
            if !tx.claim_totp_step(user.id, step)? {
                return Err(CoreError::CodeAlreadyUsed);
            }
            if tx.enrollments_of(user.id)?.is_empty() {
                // Devices remembered before MFA existed never passed it.
                tx.clear_trusted_devices(user.id)?;
            }
            let id = tx.next_id("enrollment")?;
            let sealed = tx
                .key()
                .seal(&pending.secret, &secret_context(user.id, id))?;
            tx.put_enrollment(&Enrollment {
                id,
                user_id: user.id,
                method: crate::store::Method::Authenticator,
                label: pending.label.clone(),
                created: now,
                last_used: Some(now),
                secret: Some(sealed),
                email: None,
            })?;
            tx.remove_enrollment_code(user.id)?;
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::ENROLLMENT_ADDED,
                &format!("authenticator {:?}", pending.label),
            )?;
            let recovery_codes = first_recovery_codes(tx, &user)?;
            Ok(EnrollmentDone {
                enrollment_id: id,
                recovery_codes,
            })
        })
    }

    /// Starts an email enrollment: sends a code to `address` (default: the address on file).
    pub fn begin_email_enrollment(
        &self,
        actor: Actor,
        username: &str,
        address: Option<&str>,
        enrollment_code: Option<&str>,
    ) -> Result<PendingEmail> {
        let user = self.store.read(|tx| {
            let org = tx.organization()?;
            let user = self.find_user(tx, username)?;
            self.require_self(tx, actor, &user)?;
            if !org.controls.email {
                return Err(CoreError::NotAllowed(
                    "the email method is turned off in Security Controls".into(),
                ));
            }
            self.check_enrollment_code(tx, &org, actor, &user, enrollment_code)?;
            Ok(user)
        })?;
        let address = address.map(str::trim).unwrap_or(&user.email).to_string();
        text::check_email(&address).map_err(CoreError::Invalid)?;
        let expires = self.send_email_code(user.id, EmailCodePurpose::Enrollment, &address)?;
        Ok(PendingEmail {
            user_id: user.id,
            address,
            enrollment_code: enrollment_code.map(text::normalize_long_code),
            expires,
        })
    }

    /// Sends the enrollment code again (throttled like every email code).
    pub fn resend_email_enrollment(&self, pending: &PendingEmail) -> Result<i64> {
        self.send_email_code(
            pending.user_id,
            EmailCodePurpose::Enrollment,
            &pending.address,
        )
    }

    pub fn confirm_email_enrollment(
        &self,
        actor: Actor,
        pending: &PendingEmail,
        code: &str,
    ) -> Result<EnrollmentDone> {
        let now = self.now();
        let code = text::normalize_code(code);
        self.store.write(|tx| {
            let org = tx.organization()?;
            let mut user = tx.user(pending.user_id)?.ok_or(CoreError::Expired)?;
            self.require_self(tx, actor, &user)?;
            self.check_enrollment_code(tx, &org, actor, &user, pending.enrollment_code.as_deref())?;
            let ok = tx.email_code(user.id)?.is_some_and(|c| {
                !c.used
                    && c.purpose == EmailCodePurpose::Enrollment
                    && c.expires > now
                    && c.address.as_deref() == Some(pending.address.as_str())
                    && codes::matches("email", user.id, &code, &c.hash)
            });
            if !ok {
                return Err(CoreError::WrongCode);
            }
            tx.spend_email_code(user.id)?;
            if tx.enrollments_of(user.id)?.is_empty() {
                tx.clear_trusted_devices(user.id)?;
            }
            for e in tx.enrollments_of(user.id)? {
                if e.method == Method::Email {
                    tx.remove_enrollment(user.id, e.id)?;
                }
            }
            let id = tx.next_id("enrollment")?;
            tx.put_enrollment(&Enrollment {
                id,
                user_id: user.id,
                method: Method::Email,
                label: "Email".into(),
                created: now,
                last_used: Some(now),
                secret: None,
                email: Some(pending.address.clone()),
            })?;
            if user.email != pending.address {
                user.email = pending.address.clone();
                tx.put_user(&user)?;
            }
            tx.remove_enrollment_code(user.id)?;
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::ENROLLMENT_ADDED,
                "email",
            )?;
            let recovery_codes = first_recovery_codes(tx, &user)?;
            Ok(EnrollmentDone {
                enrollment_id: id,
                recovery_codes,
            })
        })
    }

    /// The user's enrollments (never a secret): for "Configure my MFA" and profiles.
    pub fn enrollments(&self, actor: Actor, username: &str) -> Result<Vec<Enrollment>> {
        self.store.read(|tx| {
            let user = self.find_user(tx, username)?;
            if self.require_self(tx, actor, &user).is_err() {
                self.require_admin(tx, actor)?;
            }
            Ok(tx
                .enrollments_of(user.id)?
                .into_iter()
                .map(|mut e| {
                    e.secret = None;
                    e
                })
                .collect())
        })
    }

    /// The address on file, which email enrollment offers first.
    pub fn users_email(&self, actor: Actor, username: &str) -> Result<String> {
        self.store.read(|tx| {
            let user = self.find_user(tx, username)?;
            if self.require_self(tx, actor, &user).is_err() {
                self.require_admin(tx, actor)?;
            }
            Ok(user.email)
        })
    }

    /// Removes one of the user's own enrollments (re-authentication first).
    pub fn remove_enrollment(
        &self,
        actor: Actor,
        username: &str,
        enrollment_id: u64,
    ) -> Result<()> {
        self.store.write(|tx| {
            let user = self.find_user(tx, username)?;
            self.require_self(tx, actor, &user)?;
            self.require_reauth(tx, actor)?;
            let e = tx
                .enrollments_of(user.id)?
                .into_iter()
                .find(|e| e.id == enrollment_id)
                .ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "{} has no enrollment {enrollment_id}",
                        user.username
                    ))
                })?;
            tx.remove_enrollment(user.id, e.id)?;
            if tx.enrollments_of(user.id)?.is_empty() {
                super::users::forget_user_mfa(tx, user.id)?;
            }
            let what = match e.method {
                Method::Authenticator => format!("authenticator {:?}", e.label),
                Method::Email => "email".to_string(),
            };
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::ENROLLMENT_REMOVED,
                &what,
            )
        })
    }

    /// A new set of recovery codes; the old set stops working. Re-authentication first.
    pub fn regenerate_recovery_codes(
        &self,
        actor: Actor,
        username: &str,
    ) -> Result<Vec<Zeroizing<String>>> {
        self.store.write(|tx| {
            let user = self.find_user(tx, username)?;
            self.require_self(tx, actor, &user)?;
            self.require_reauth(tx, actor)?;
            if tx.enrollments_of(user.id)?.is_empty() {
                return Err(CoreError::Conflict(
                    "configure a verification method first: recovery codes come with it".into(),
                ));
            }
            tx.clear_recovery_codes(user.id)?;
            let codes = new_recovery_codes(tx, &user)?;
            self.audit(
                tx,
                &actor.name(),
                &user.username,
                audit::kind::RECOVERY_REGENERATED,
                "",
            )?;
            Ok(codes)
        })
    }

    /// Unused recovery codes left for the user.
    pub fn recovery_codes_left(&self, actor: Actor, username: &str) -> Result<usize> {
        self.store.read(|tx| {
            let user = self.find_user(tx, username)?;
            if self.require_self(tx, actor, &user).is_err() {
                self.require_admin(tx, actor)?;
            }
            Ok(tx
                .recovery_codes(user.id)?
                .iter()
                .filter(|(_, c)| c.used_at.is_none())
                .count())
        })
    }

    /// With the policy `with-enrollment-code`, a user enrolling a first factor needs a
    /// code an admin issued. The operator is trusted as the admin would be.
    fn check_enrollment_code(
        &self,
        tx: &dyn Tx,
        org: &Organization,
        actor: Actor,
        user: &User,
        code: Option<&str>,
    ) -> Result<()> {
        if matches!(actor, Actor::Operator)
            || org.policy.first_enrollment != FirstFactorEnrollment::WithEnrollmentCode
            || !tx.enrollments_of(user.id)?.is_empty()
        {
            return Ok(());
        }
        let Some(code) = code else {
            return Err(CoreError::EnrollmentCodeRequired);
        };
        let code = text::normalize_long_code(code);
        let ok = tx.enrollment_code(user.id)?.is_some_and(|c| {
            c.expires > self.now() && codes::matches("enrollment", user.id, &code, &c.hash)
        });
        if ok {
            Ok(())
        } else {
            Err(CoreError::WrongCode)
        }
    }
}

fn clean_label(label: Option<&str>) -> Result<Option<String>> {
    let Some(l) = label.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if l.chars().count() > 40 || l.chars().any(char::is_control) {
        return Err(CoreError::Invalid(
            "a label has at most 40 printable characters".into(),
        ));
    }
    Ok(Some(l.to_string()))
}

/// The first recovery codes, when the user has none yet.
fn first_recovery_codes(
    tx: &dyn Tx,
    user: &User,
) -> crate::store::Result<Option<Vec<Zeroizing<String>>>> {
    if !tx.recovery_codes(user.id)?.is_empty() {
        return Ok(None);
    }
    new_recovery_codes(tx, user).map(Some)
}

fn new_recovery_codes(tx: &dyn Tx, user: &User) -> crate::store::Result<Vec<Zeroizing<String>>> {
    let mut out = Vec::new();
    for i in 0..RECOVERY_CODE_COUNT {
        let code = Zeroizing::new(codes::recovery_code()?);
        tx.put_recovery_code(
            user.id,
            i,
            &RecoveryCode {
                hash: codes::hash("recovery", user.id, &text::normalize_long_code(&code)),
                used_at: None,
            },
        )?;
        out.push(code);
    }
    Ok(out)
}
