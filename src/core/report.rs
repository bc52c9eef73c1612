//! What admins read: the roster (who has configured MFA), a user's profile, the audit
//! log, and the database check.

use std::collections::HashMap;

use serde::Serialize;

use super::controls::method_name;
use super::signin::{grace_days_left, secret_context};
use super::users::role_name;
use super::{Actor, Core, CoreError, Result, audit, text};
use crate::store::{AuditEvent, Enforcement, Enrollment, Method, Role, StoreError, User};

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Invited,
    Active,
    Disabled,
    Locked,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
            UserStatus::Locked => "locked",
        }
    }
}

/// One line of the roster and of `report`.
#[derive(Clone, Debug, Serialize)]
pub struct UserRow {
    pub username: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub status: UserStatus,
    /// At least one verified enrollment for a method that is on. Integration users are
    /// never "not configured": they are exempt.
    pub configured: bool,
    pub methods: Vec<&'static str>,
    pub last_sign_in: Option<i64>,
    pub locked_until: Option<i64>,
    /// Days left to configure MFA while enforcement is `required`.
    pub grace_days_left: Option<i64>,
    pub created: i64,
}

impl UserRow {
    pub fn is_integration(&self) -> bool {
        self.role == "integration"
    }
    /// The roster's marker: not configured, and MFA applies to this user.
    pub fn needs_mfa(&self) -> bool {
        !self.configured && !self.is_integration()
    }
}

/// A profile: the row, the enrollments (no secrets), recovery codes left, recent events.
#[derive(Clone, Debug)]
pub struct UserDetail {
    pub row: UserRow,
    pub enrollments: Vec<Enrollment>,
    pub recovery_codes_left: usize,
    pub recent_events: Vec<AuditEvent>,
    pub must_change_password: bool,
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub integrity_ok: bool,
    pub users: u64,
    pub audit_events: usize,
    pub audit_problem: Option<String>,
    pub secrets_checked: usize,
    pub secret_problems: Vec<String>,
    pub index_problems: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.integrity_ok
            && self.audit_problem.is_none()
            && self.secret_problems.is_empty()
            && self.index_problems.is_empty()
    }
}

impl Core {
    /// Every user as a roster row, in username order.
    pub fn users(&self, actor: Actor) -> Result<Vec<UserRow>> {
        let mut rows = Vec::new();
        self.visit_users(actor, &mut |r| rows.push(r))?;
        rows.sort_by_key(|r| r.username.to_lowercase());
        Ok(rows)
    }

    /// Every user as a roster row, one at a time in id order, without holding them all:
    /// for large organizations.
    pub fn visit_users(&self, actor: Actor, f: &mut dyn FnMut(UserRow)) -> Result<()> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let org = tx.organization()?;
            let mut methods: HashMap<u64, Vec<Method>> = HashMap::new();
            for e in tx.all_enrollments()? {
                if org.controls.is_on(e.method) {
                    methods.entry(e.user_id).or_default().push(e.method);
                }
            }
            let locks: HashMap<String, i64> = tx
                .lockouts()?
                .into_iter()
                .filter_map(|(n, l)| l.locked_until.filter(|t| *t > self.now()).map(|t| (n, t)))
                .collect();
            tx.for_each_user(|u| {
                let m = methods.remove(&u.id).unwrap_or_default();
                let lock = if locks.is_empty() {
                    None
                } else {
                    locks.get(&text::normalize_username(&u.username)).copied()
                };
                f(self.row(&org, u, m, lock));
                Ok::<_, CoreError>(true)
            })
        })
    }

    fn row(
        &self,
        org: &crate::store::Organization,
        u: User,
        mut methods: Vec<Method>,
        locked_until: Option<i64>,
    ) -> UserRow {
        methods.sort();
        methods.dedup();
        let configured = org.controls.mfa_enabled() && !methods.is_empty();
        let status = if u.disabled {
            UserStatus::Disabled
        } else if locked_until.is_some() {
            UserStatus::Locked
        } else if u.password_hash.is_none() {
            UserStatus::Invited
        } else {
            UserStatus::Active
        };
        let grace = (org.policy.enforcement == Enforcement::Required
            && org.controls.mfa_enabled()
            && !configured
            && u.role != Role::Integration)
            .then(|| grace_days_left(org, &u, self.now()));
        // The real values: each view escapes for its own medium (screens and terminal
        // tables escape control characters; CSV and JSON writers quote and escape).
        UserRow {
            name: u.name,
            email: u.email,
            username: u.username,
            role: role_name(u.role),
            status,
            configured,
            methods: methods.into_iter().map(method_name).collect(),
            last_sign_in: u.last_sign_in,
            locked_until,
            grace_days_left: grace,
            created: u.created,
        }
    }

    pub fn user_detail(&self, actor: Actor, username: &str) -> Result<UserDetail> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let org = tx.organization()?;
            let user = self.find_user(tx, username)?;
            let enrollments: Vec<Enrollment> = tx
                .enrollments_of(user.id)?
                .into_iter()
                .map(|mut e| {
                    e.secret = None;
                    e
                })
                .collect();
            let methods = enrollments
                .iter()
                .map(|e| e.method)
                .filter(|m| org.controls.is_on(*m))
                .collect();
            let lock = self.locked_until(tx, &text::normalize_username(&user.username))?;
            let recovery_codes_left = tx
                .recovery_codes(user.id)?
                .iter()
                .filter(|(_, c)| c.used_at.is_none())
                .count();
            let name = user.username.clone();
            let recent_events = tx
                .recent_audit_events(5000)?
                .into_iter()
                .filter(|e| e.subject == name || e.actor == name)
                .take(20)
                .collect();
            let must_change_password = user.must_change_password;
            Ok(UserDetail {
                row: self.row(&org, user, methods, lock),
                enrollments,
                recovery_codes_left,
                recent_events,
                must_change_password,
            })
        })
    }

    /// The audit log, newest first; `user` keeps events whose actor or subject it is.
    pub fn audit_events(&self, actor: Actor, user: Option<&str>) -> Result<Vec<AuditEvent>> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let mut v = tx.audit_events()?;
            v.reverse();
            if let Some(u) = user {
                let n = text::normalize_username(u);
                v.retain(|e| {
                    text::normalize_username(&e.subject) == n
                        || text::normalize_username(&e.actor) == n
                });
            }
            Ok(v)
        })
    }

    /// The newest `limit` audit events, newest first, and how many there are in all.
    pub fn recent_audit_events(
        &self,
        actor: Actor,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, u64)> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let total = tx.audit_head()?.map(|e| e.seq).unwrap_or(0);
            Ok((tx.recent_audit_events(limit)?, total))
        })
    }

    /// The newest `limit` audit events from `from` up to (not including) `to`, newest
    /// first, and whether the range holds more than `limit`. Events are appended in time
    /// order, so the scan from the newest back stops at the first one before `from`.
    pub fn audit_events_between(
        &self,
        actor: Actor,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, bool)> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let mut out = Vec::new();
            let mut more = false;
            tx.for_each_audit_newest_first(|e| {
                if e.time < from {
                    return Ok(false);
                }
                if e.time < to {
                    if out.len() == limit {
                        more = true;
                        return Ok(false);
                    }
                    out.push(e);
                }
                Ok(true)
            })?;
            Ok((out, more))
        })
    }

    /// Failed sign-ins (password or code) per day for the last `days` days, oldest first.
    pub fn failed_sign_ins_per_day(&self, actor: Actor, days: usize) -> Result<Vec<u64>> {
        self.store.read(|tx| {
            self.require_admin(tx, actor)?;
            let today = self.now().div_euclid(86400);
            let first = today - days as i64 + 1;
            let mut out = vec![0u64; days];
            // Newest first, stopping at the first event older than the window.
            tx.for_each_audit_newest_first(|e| {
                let day = e.time.div_euclid(86400);
                if day < first {
                    return Ok(false);
                }
                if matches!(
                    e.kind.as_str(),
                    audit::kind::SIGN_IN_FAILED
                        | audit::kind::CODE_FAILED
                        | audit::kind::REAUTH_FAILED
                ) && let Some(slot) = out.get_mut((day - first) as usize)
                {
                    *slot += 1;
                }
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// The database's structure, the audit chain, the username index, and that every
    /// sealed secret opens with the key file.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport {
            integrity_ok: self.store.check_integrity()?,
            ..Default::default()
        };
        self.store.read(|tx| {
            let events = tx.audit_events()?;
            report.audit_events = events.len();
            report.audit_problem =
                audit::verify_chain(tx.audit_key()?, &events, tx.chain_head()?.as_ref())
                    .map(|(_, why)| why);
            let users = tx.users()?;
            report.users = users.len() as u64;
            for u in &users {
                match tx.user_id_by_name(&text::normalize_username(&u.username))? {
                    Some(id) if id == u.id => {}
                    _ => report.index_problems.push(format!(
                        "user {} is missing from the username index",
                        u.username
                    )),
                }
            }
            for e in tx.all_enrollments()? {
                if let Some(sealed) = &e.secret {
                    report.secrets_checked += 1;
                    if tx
                        .key()
                        .open(sealed, &secret_context(e.user_id, e.id))
                        .is_err()
                    {
                        report.secret_problems.push(format!(
                            "enrollment {} of user #{} does not decrypt with the key file",
                            e.id, e.user_id
                        ));
                    }
                }
            }
            Ok::<_, CoreError>(())
        })?;
        Ok(report)
    }

    /// Re-encrypts every secret under a new key file in one transaction.
    pub fn rotate_key(&mut self, actor: Actor) -> Result<usize> {
        self.store.read(|tx| self.require_admin(tx, actor))?;
        let now = self.now();
        let who = actor.name();
        let n = self.store.rotate_key(|tx, new_key| {
            let mut n = 0;
            for mut e in tx.all_enrollments()? {
                if let Some(sealed) = &e.secret {
                    let ctx = secret_context(e.user_id, e.id);
                    let plain = tx.key().open(sealed, &ctx)?;
                    e.secret = Some(new_key.seal(&plain, &ctx)?);
                    tx.put_enrollment(&e)?;
                    n += 1;
                }
            }
            audit::append(
                tx,
                now,
                &who,
                "key file",
                audit::kind::KEY_ROTATED,
                &format!("{n} secret(s) re-encrypted"),
            )?;
            Ok::<_, StoreError>(n)
        })?;
        Ok(n)
    }
}
