//! Security Controls: the two methods and the policy. Changing them while MFA is on needs
//! a fresh re-authentication; turning a method off can forget every device enrolled for it.

use super::{Actor, Core, CoreError, Result, audit, clock, users::forget_user_mfa};
use crate::mail::Template;
use crate::store::Tx;
use crate::store::{Enforcement, FirstFactorEnrollment, Method, Organization, Policy, Role, User};

/// Whom to tell that a method was turned off: the organization as committed, and the
/// active users who had the method set up.
type Notice = (Organization, Vec<User>);

/// What a change to the controls did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ControlsChange {
    pub changed: bool,
    pub forgotten_enrollments: usize,
    pub mfa_enabled: bool,
    /// Users told by mail that the method was turned off.
    pub notices_sent: usize,
    /// Notices that could not be sent (each failure is in the audit log).
    pub notices_failed: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKey {
    Enforcement,
    GraceDays,
    LockoutThreshold,
    LockoutMinutes,
    EmailCodeMinutes,
    TrustedDeviceDays,
    TotpSkew,
    EnrollmentCodeRequired,
}

impl PolicyKey {
    pub const ALL: [PolicyKey; 8] = [
        PolicyKey::Enforcement,
        PolicyKey::GraceDays,
        PolicyKey::LockoutThreshold,
        PolicyKey::LockoutMinutes,
        PolicyKey::EmailCodeMinutes,
        PolicyKey::TrustedDeviceDays,
        PolicyKey::TotpSkew,
        PolicyKey::EnrollmentCodeRequired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKey::Enforcement => "enforcement",
            PolicyKey::GraceDays => "grace-days",
            PolicyKey::LockoutThreshold => "lockout-threshold",
            PolicyKey::LockoutMinutes => "lockout-minutes",
            PolicyKey::EmailCodeMinutes => "email-code-minutes",
            PolicyKey::TrustedDeviceDays => "trusted-device-days",
            PolicyKey::TotpSkew => "totp-skew",
            PolicyKey::EnrollmentCodeRequired => "enrollment-code-required",
        }
    }

    pub fn parse(s: &str) -> Result<PolicyKey> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                CoreError::Invalid(format!(
                    "{:?} is not a policy key: use one of {}",
                    super::text::escape_control(s),
                    Self::ALL.map(|k| k.name()).join(", ")
                ))
            })
    }

    /// What values the key takes, in words.
    pub fn allowed(self) -> &'static str {
        match self {
            PolicyKey::Enforcement => "optional or required",
            PolicyKey::GraceDays => "a whole number of days from 0 to 365",
            PolicyKey::LockoutThreshold => "a number of failures from 1 to 100",
            PolicyKey::LockoutMinutes => "minutes from 1 to 1440",
            PolicyKey::EmailCodeMinutes => "minutes from 1 to 60",
            PolicyKey::TrustedDeviceDays => "days from 0 (off) to 90",
            PolicyKey::TotpSkew => "0, 1 or 2 steps of 30 s",
            PolicyKey::EnrollmentCodeRequired => "yes or no",
        }
    }

    /// The current value as text.
    pub fn value(self, p: &Policy) -> String {
        match self {
            PolicyKey::Enforcement => match p.enforcement {
                Enforcement::Optional => "optional".into(),
                Enforcement::Required => "required".into(),
            },
            PolicyKey::GraceDays => p.grace_days.to_string(),
            PolicyKey::LockoutThreshold => p.lockout_threshold.to_string(),
            PolicyKey::LockoutMinutes => p.lockout_minutes.to_string(),
            PolicyKey::EmailCodeMinutes => p.email_code_minutes.to_string(),
            PolicyKey::TrustedDeviceDays => p.trusted_device_days.to_string(),
            PolicyKey::TotpSkew => p.totp_skew.to_string(),
            PolicyKey::EnrollmentCodeRequired => match p.first_enrollment {
                FirstFactorEnrollment::AnyoneSignedIn => "no".into(),
                FirstFactorEnrollment::WithEnrollmentCode => "yes".into(),
            },
        }
    }

    /// For a setting with two values, the other one (what toggling it sets); `None` for
    /// a number, which is typed.
    pub fn toggled(self, p: &Policy) -> Option<&'static str> {
        match self {
            PolicyKey::Enforcement => Some(match p.enforcement {
                Enforcement::Optional => "required",
                Enforcement::Required => "optional",
            }),
            PolicyKey::EnrollmentCodeRequired => Some(match p.first_enrollment {
                FirstFactorEnrollment::AnyoneSignedIn => "yes",
                FirstFactorEnrollment::WithEnrollmentCode => "no",
            }),
            _ => None,
        }
    }

    /// Applies `value` to `p`, or says what is allowed.
    pub fn apply(self, p: &mut Policy, value: &str) -> Result<()> {
        let v = value.trim().to_ascii_lowercase();
        let bad = || {
            CoreError::Invalid(format!(
                "{:?} is not a valid value for {}: use {}",
                super::text::escape_control(value),
                self.name(),
                self.allowed()
            ))
        };
        let num = |lo: u32, hi: u32| -> Result<u32> {
            v.parse::<u32>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(bad)
        };
        match self {
            PolicyKey::Enforcement => {
                p.enforcement = match v.as_str() {
                    "optional" => Enforcement::Optional,
                    "required" => Enforcement::Required,
                    _ => return Err(bad()),
                }
            }
            PolicyKey::GraceDays => p.grace_days = num(0, 365)?,
            PolicyKey::LockoutThreshold => p.lockout_threshold = num(1, 100)?,
            PolicyKey::LockoutMinutes => p.lockout_minutes = num(1, 1440)?,
            PolicyKey::EmailCodeMinutes => p.email_code_minutes = num(1, 60)?,
            PolicyKey::TrustedDeviceDays => p.trusted_device_days = num(0, 90)?,
            PolicyKey::TotpSkew => p.totp_skew = num(0, 2)? as u8,
            PolicyKey::EnrollmentCodeRequired => {
                p.first_enrollment = match v.as_str() {
                    "yes" | "true" | "on" => FirstFactorEnrollment::WithEnrollmentCode,
                    "no" | "false" | "off" => FirstFactorEnrollment::AnyoneSignedIn,
                    _ => return Err(bad()),
                }
            }
        }
        Ok(())
    }
}

/// The effective TOTP acceptance window in seconds for a skew (±skew steps of 30 s).
pub fn totp_window_seconds(skew: u8) -> u32 {
    (2 * u32::from(skew) + 1) * 30
}

impl Core {
    /// The organization as an admin sees it in Security Controls. Needs a fresh
    /// re-authentication while MFA is on.
    pub fn security_controls(&self, actor: Actor) -> Result<Organization> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let org = tx.organization()?;
            if org.controls.mfa_enabled() {
                self.require_reauth(tx, actor)?;
            }
            Ok(org)
        })
    }

    /// Turns a method on or off. Off with `forget_all_devices` unregisters every
    /// enrollment of that method (and all trusted devices) in the same transaction.
    /// Turning a method off tells every active user who had it set up, by mail, once the
    /// change is committed (best effort: failures are audited, the change stands).
    pub fn set_method(
        &self,
        actor: Actor,
        method: Method,
        on: bool,
        forget_all_devices: bool,
    ) -> Result<ControlsChange> {
        let (mut change, notice) = self
            .store
            .write(|tx| self.apply_method(tx, actor, method, on, forget_all_devices))?;
        if let Some((org, users)) = notice {
            let (sent, failed) = self.notify_method_off(
                &org,
                &users,
                methods_text(&[method]),
                forget_all_devices,
                change.mfa_enabled,
            );
            change.notices_sent = sent;
            change.notices_failed = failed;
        }
        Ok(change)
    }

    /// The transaction of [`Core::set_method`]; also returns, when the method went from on
    /// to off, whom to tell.
    fn apply_method(
        &self,
        tx: &dyn Tx,
        actor: Actor,
        method: Method,
        on: bool,
        forget_all_devices: bool,
    ) -> Result<(ControlsChange, Option<Notice>)> {
        {
            self.require_admin(tx, actor)?;
            let mut org = tx.organization()?;
            if org.controls.mfa_enabled() {
                self.require_reauth(tx, actor)?;
            }
            let was_enabled = org.controls.mfa_enabled();
            let mut change = ControlsChange::default();
            let who = actor.name();
            let mname = method_name(method);
            let turning_off = org.controls.is_on(method) && !on;
            // Read before any enrollment is forgotten: these users had the method.
            let mut enrolled_users = Vec::new();
            let mut enrollments = Vec::new();
            if turning_off || (!on && forget_all_devices) {
                enrollments = tx.all_enrollments()?;
                enrollments.retain(|e| e.method == method);
            }
            if turning_off {
                // Enrollments come in user order, so equal ids are neighbours.
                enrolled_users = enrollments.iter().map(|e| e.user_id).collect::<Vec<_>>();
                enrolled_users.dedup();
            }
            if org.controls.is_on(method) != on {
                change.changed = true;
                org.controls.set(method, on);
                if on && !was_enabled && org.policy.enforcement == Enforcement::Required {
                    org.required_since = Some(self.now());
                }
                tx.put_organization(&org)?;
                let kind = if on {
                    audit::kind::METHOD_ON
                } else {
                    audit::kind::METHOD_OFF
                };
                self.audit(tx, &who, mname, kind, "")?;
                if was_enabled && !org.controls.mfa_enabled() {
                    self.audit(tx, &who, "organization", audit::kind::MFA_DISABLED, "")?;
                }
            }
            if !on && forget_all_devices {
                let mut users_touched = Vec::new();
                for e in &enrollments {
                    tx.remove_enrollment(e.user_id, e.id)?;
                    change.forgotten_enrollments += 1;
                    users_touched.push(e.user_id);
                }
                users_touched.dedup();
                for u in users_touched {
                    if tx.enrollments_of(u)?.is_empty() {
                        forget_user_mfa(tx, u)?;
                        if !actor.is_user(u) {
                            tx.clear_reauth_grants(u)?;
                        }
                    }
                }
                tx.clear_all_trusted_devices()?;
                self.audit(
                    tx,
                    &who,
                    mname,
                    audit::kind::FORGET_ALL_DEVICES,
                    &format!(
                        "{} enrollment(s) removed, trusted devices cleared",
                        change.forgotten_enrollments
                    ),
                )?;
                change.changed = true;
            }
            change.mfa_enabled = org.controls.mfa_enabled();
            let notice = if turning_off {
                let mut users = Vec::with_capacity(enrolled_users.len());
                for id in enrolled_users {
                    if let Some(u) = tx.user(id)?
                        && !u.disabled
                        && u.password_hash.is_some()
                    {
                        users.push(u);
                    }
                }
                Some((org, users))
            } else {
                None
            };
            Ok((change, notice))
        }
    }

    /// Turns MFA off for the organization as one act: every method that is on goes off
    /// in one transaction (one re-authentication), with Forget all devices covering them
    /// all; each user who had a method is told once.
    pub fn turn_mfa_off(&self, actor: Actor, forget_all_devices: bool) -> Result<ControlsChange> {
        let (change, notice, off) = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let org = tx.organization()?;
            let on: Vec<Method> = [Method::Authenticator, Method::Email]
                .into_iter()
                .filter(|m| org.controls.is_on(*m))
                .collect();
            let mut total = ControlsChange::default();
            let mut told: Option<(Organization, Vec<User>)> = None;
            for m in &on {
                let (c, n) = self.apply_method(tx, actor, *m, false, forget_all_devices)?;
                total.changed |= c.changed;
                total.forgotten_enrollments += c.forgotten_enrollments;
                if let Some((o, users)) = n {
                    match &mut told {
                        Some((_, all)) => all.extend(users),
                        None => told = Some((o, users)),
                    }
                }
            }
            if let Some((_, users)) = &mut told {
                users.sort_by_key(|u| u.id);
                users.dedup_by_key(|u| u.id);
            }
            total.mfa_enabled = false;
            Ok::<_, CoreError>((total, told, on))
        })?;
        let mut change = change;
        if let Some((org, users)) = notice {
            let (sent, failed) =
                self.notify_method_off(&org, &users, methods_text(&off), forget_all_devices, false);
            change.notices_sent = sent;
            change.notices_failed = failed;
        }
        Ok(change)
    }

    /// What turning MFA off with Forget all devices would unregister: authenticators,
    /// email addresses, and the users they belong to.
    pub fn mfa_off_impact(&self, actor: Actor) -> Result<(usize, usize, usize)> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let all = tx.all_enrollments()?;
            let apps = all
                .iter()
                .filter(|e| e.method == Method::Authenticator)
                .count();
            let emails = all.len() - apps;
            let mut users: Vec<u64> = all.iter().map(|e| e.user_id).collect();
            users.dedup();
            Ok((apps, emails, users.len()))
        })
    }

    /// Mails the "MFA was turned off" notice to each of `users`; returns (sent, failed).
    /// Stops at the first failure that every further message would repeat (relay down),
    /// rather than wait for a timeout per user, and audits how many were skipped.
    fn notify_method_off(
        &self,
        org: &Organization,
        users: &[User],
        methods: &'static str,
        forgotten: bool,
        mfa_enabled: bool,
    ) -> (usize, usize) {
        let time = clock::format_time(self.now());
        // MFA as a whole went off, or only this method: two different messages, so that
        // nobody reads "MFA turned off" while another method still asks for a code.
        let template = if mfa_enabled {
            Template::MethodTurnedOff
        } else {
            Template::MfaTurnedOff
        };
        let after = if forgotten {
            "Your registration for it was removed, along with remembered devices:\n\
             if the method is turned on again, set it up again in \"Configure my MFA\".\n"
        } else {
            "Your registration was kept: it works again if the method is turned back on.\n"
        };
        let (mut sent, mut failed) = (0, 0);
        for (i, user) in users.iter().enumerate() {
            let mail = self.render(
                org,
                template,
                user,
                &[
                    ("methods", methods),
                    ("time", time.as_str()),
                    ("forgotten", after),
                ],
            );
            match self.send_mail(&mail, &user.username) {
                Ok(()) => sent += 1,
                Err(e) => {
                    failed += 1;
                    if let CoreError::Mail { source, .. } = &e
                        && source.affects_every_message()
                    {
                        let skipped = users.len() - i - 1;
                        if skipped > 0 {
                            failed += skipped;
                            let details = format!(
                                "\"{methods} turned off\" notice not sent to {skipped} more user(s): {source}"
                            );
                            let _ = self.store.write(|tx| {
                                self.audit(
                                    tx,
                                    "system",
                                    "organization",
                                    audit::kind::MAIL_FAILED,
                                    &details,
                                )
                            });
                        }
                        break;
                    }
                }
            }
        }
        (sent, failed)
    }

    pub fn set_policy(&self, actor: Actor, key: PolicyKey, value: &str) -> Result<Policy> {
        self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let mut org = tx.organization()?;
            if org.controls.mfa_enabled() {
                self.require_reauth(tx, actor)?;
            }
            let before = key.value(&org.policy);
            let was_required = org.policy.enforcement == Enforcement::Required;
            key.apply(&mut org.policy, value)?;
            let after = key.value(&org.policy);
            if before != after {
                if !was_required && org.policy.enforcement == Enforcement::Required {
                    org.required_since = Some(self.now());
                }
                tx.put_organization(&org)?;
                self.audit(
                    tx,
                    &actor.name(),
                    "organization",
                    audit::kind::POLICY_CHANGED,
                    &format!("{}: {before} → {after}", key.name()),
                )?;
            }
            Ok(org.policy)
        })
    }

    /// Accounts that look like integrations signing in as a person: not marked
    /// `integration`, with a password, never signed in through the console. Shown as an
    /// advisory before a method is turned on.
    pub fn integration_candidates(&self, actor: Actor) -> Result<Vec<User>> {
        let since = self.now() - 30 * 86400;
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let mut v: Vec<User> = tx
                .users()?
                .into_iter()
                .filter(|u| {
                    u.role != Role::Integration
                        && !u.disabled
                        && !actor.is_user(u.id)
                        && (u.last_codeless_api_sign_in.is_some_and(|t| t >= since)
                            || looks_like_a_service(&u.username))
                })
                .collect();
            // Those that signed in like an integration first, the most recent first.
            v.sort_by_key(|u| std::cmp::Reverse(u.last_codeless_api_sign_in));
            Ok(v)
        })
    }
}

/// Names services are given: `svc-*`, `ci-*`, `*-bot`, `*-svc`, `*-service`.
pub fn looks_like_a_service(username: &str) -> bool {
    let n = username.to_ascii_lowercase();
    ["svc-", "svc_", "ci-", "ci_", "bot-"]
        .iter()
        .any(|p| n.starts_with(p))
        || ["-bot", "_bot", "-svc", "_svc", "-service", "-ci"]
            .iter()
            .any(|s| n.ends_with(s))
}

/// Why an account is on the integration advisory, with its last sign-in.
pub fn candidate_reason(u: &User) -> String {
    match u.last_codeless_api_sign_in {
        Some(t) => format!(
            "signed in through verify or the API without a code, last {}",
            clock::format_short(t)
        ),
        None => format!(
            "the name looks like a service; last sign-in {}",
            u.last_sign_in
                .map(clock::format_short)
                .unwrap_or_else(|| "never".into())
        ),
    }
}

pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Authenticator => "authenticator",
        Method::Email => "email",
    }
}

pub fn parse_method(s: &str) -> Result<Method> {
    match s.trim().to_ascii_lowercase().as_str() {
        "authenticator" | "totp" | "app" => Ok(Method::Authenticator),
        "email" => Ok(Method::Email),
        other => Err(CoreError::Invalid(format!(
            "{:?} is not a method: use authenticator or email",
            super::text::escape_control(other)
        ))),
    }
}

/// The words for the methods that went off, as the notices say them.
fn methods_text(methods: &[Method]) -> &'static str {
    match methods {
        [Method::Email] => "sign-in codes by email",
        [Method::Authenticator] => "sign-in codes from authenticator apps",
        _ => "sign-in codes from authenticator apps and by email",
    }
}
