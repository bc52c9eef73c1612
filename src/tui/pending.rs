//! Acts that go through a confirmation or a re-authentication first, and how they run.

use zeroize::Zeroizing;

use super::app::{Act, App, Ctx, Screen, Target};
use super::pane::Loaded;
use super::popups::Popup;
use super::strings;
use crate::core::controls::{PolicyKey, method_name};
use crate::core::{Actor, CoreError, UserChange};
use crate::store::{Method, Role};

#[derive(Clone, Debug)]
pub enum Pending {
    OpenControls,
    /// After re-authentication: the dialog that turns a method off.
    MethodOffDialog {
        method: Method,
        mfa_goes_off: bool,
    },
    SetMethod {
        method: Method,
        on: bool,
        forget: bool,
    },
    /// After re-authentication: the dialog that turns MFA off, with what it would forget.
    MfaOffDialog {
        apps: usize,
        emails: usize,
        users: usize,
    },
    /// Every method off at once.
    MfaOff {
        forget: bool,
    },
    SetPolicy {
        key: PolicyKey,
        value: String,
    },
    ResetMfa(String),
    Unlock(String),
    SetDisabled(String, bool),
    SetRole(String, Role),
    TempPassword(String, Zeroizing<String>),
    /// A generated temporary password, shown once.
    GenerateTempPassword(String),
    ResendActivation(String),
    DeleteUser(String),
    RemoveEnrollment(u64),
    RegenerateRecovery,
    TrustDevice,
    /// One act on several users (marked in the roster).
    Bulk(BulkAct, Vec<String>),
    /// The roster's filtered view, written to a CSV file.
    Export {
        path: std::path::PathBuf,
        csv: String,
    },
}

/// What a bulk action does to each user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAct {
    Unlock,
    ResetMfa,
    ResendActivation,
    Remind,
}

impl BulkAct {
    pub const ALL: [BulkAct; 4] = [
        BulkAct::Unlock,
        BulkAct::ResetMfa,
        BulkAct::ResendActivation,
        BulkAct::Remind,
    ];
    pub fn label(self) -> &'static str {
        match self {
            BulkAct::Unlock => "Unlock",
            BulkAct::ResetMfa => "Reset MFA",
            BulkAct::ResendActivation => "Resend the activation code",
            BulkAct::Remind => "Mail a reminder to configure MFA",
        }
    }
}

impl Pending {
    /// Starts the act in the background; its result lands on the main screen.
    pub fn run(self, ctx: &mut Ctx) {
        if let Pending::MethodOffDialog {
            method,
            mfa_goes_off,
        } = self
        {
            ctx.act(Act::Push(Popup::confirm_method_off(method, mfa_goes_off)));
            return;
        }
        if let Pending::MfaOffDialog {
            apps,
            emails,
            users,
        } = self
        {
            ctx.act(Act::Push(Popup::confirm_mfa_off(apps, emails, users)));
            return;
        }
        let Some(session) = ctx.session.clone() else {
            return;
        };
        let label = self.label();
        let again = self.clone();
        ctx.run(Target::Pending, "act", &label, move |core| {
            let actor = Actor::User(&session);
            let me = session.username().to_string();
            let result: Result<String, CoreError> = match &again {
                Pending::OpenControls
                | Pending::MethodOffDialog { .. }
                | Pending::MfaOffDialog { .. } => {
                    core.security_controls(actor).map(|_| String::new())
                }
                Pending::MfaOff { forget } => core.turn_mfa_off(actor, *forget).map(|c| {
                    let mut s = strings::MFA_NOW_OFF.to_string();
                    if *forget {
                        s.push_str(&strings::forgotten(c.forgotten_enrollments));
                    }
                    s
                }),
                Pending::SetMethod { method, on, forget } => {
                    core.set_method(actor, *method, *on, *forget).map(|c| {
                        let mut s = strings::method_now(method_name(*method), *on, c.mfa_enabled);
                        if *forget {
                            s.push_str(&strings::forgotten(c.forgotten_enrollments));
                        }
                        s
                    })
                }
                Pending::SetPolicy { key, value } => core
                    .set_policy(actor, *key, value)
                    .map(|p| strings::policy_now(key.name(), &key.value(&p))),
                Pending::ResetMfa(u) => core.reset_mfa_removing(actor, u).map(|r| {
                    if r.is_empty() {
                        strings::nothing_to_reset(u)
                    } else {
                        strings::mfa_reset(u)
                    }
                }),
                Pending::Unlock(u) => core.unlock(actor, u).map(|was| {
                    if was {
                        strings::unlocked(u)
                    } else {
                        strings::not_locked(u)
                    }
                }),
                Pending::SetDisabled(u, d) => core
                    .update_user(
                        actor,
                        u,
                        UserChange {
                            disabled: Some(*d),
                            ..Default::default()
                        },
                    )
                    .map(|_| strings::disabled_now(u, *d)),
                Pending::SetRole(u, r) => core
                    .update_user(
                        actor,
                        u,
                        UserChange {
                            role: Some(*r),
                            ..Default::default()
                        },
                    )
                    .map(|_| strings::role_now(u, crate::core::users::role_name(*r))),
                Pending::TempPassword(u, pw) => core
                    .set_temporary_password(actor, u, pw)
                    .map(|_| strings::temp_password_set(u)),
                Pending::DeleteUser(u) => core.remove_user(actor, u).map(|_| strings::deleted(u)),
                Pending::Bulk(act, users) => run_bulk(core, actor, *act, users),
                Pending::Export { path, csv } => write_export(path, csv),
                Pending::GenerateTempPassword(u) => core
                    .generate_temporary_password(actor, u)
                    .map(|pw| pw.to_string()),
                Pending::ResendActivation(u) => core.resend_activation(actor, u).map(|a| {
                    let code = a.activation_code.map(|c| c.to_string()).unwrap_or_default();
                    match a.mail_error {
                        None => format!(
                            "{code}\n{}",
                            strings::mailed_through(&core.mailer().describe())
                        ),
                        Some(e) => format!("{code}\n{}", strings::not_mailed(&e)),
                    }
                }),
                Pending::RemoveEnrollment(id) => core
                    .remove_enrollment(actor, &me, *id)
                    .map(|_| strings::ENROLLMENT_REMOVED.to_string()),
                Pending::TrustDevice => match core.trust_device(&session) {
                    Ok(Some(token)) => {
                        let db = core.store().path().to_path_buf();
                        super::trusted::save(&db, session.username(), &token)
                            .map(|()| strings::TERMINAL_REMEMBERED.to_string())
                            .map_err(|e| {
                                CoreError::Invalid(strings::not_remembered(&e.to_string()))
                            })
                    }
                    Ok(None) => Ok(strings::REMEMBERING_OFF.to_string()),
                    Err(e) => Err(e),
                },
                Pending::RegenerateRecovery => {
                    core.regenerate_recovery_codes(actor, &me).map(|codes| {
                        codes
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                }
            };
            (again, result)
        });
    }

    /// The confirmation an act asks for: title, what it will do, and whether it is
    /// destructive (then the dialog starts on Cancel).
    pub fn confirmation(&self) -> (String, Vec<String>, bool) {
        match self {
            Pending::ResetMfa(u) => (
                "Reset MFA".into(),
                vec![strings::reset_mfa_what(u), strings::RESET_MFA_EFFECT.into()],
                true,
            ),
            Pending::Unlock(u) => ("Unlock".into(), vec![strings::unlock_what(u)], false),
            Pending::SetDisabled(u, true) => (
                "Disable account".into(),
                vec![strings::disable_what(u)],
                true,
            ),
            Pending::SetDisabled(u, false) => (
                "Enable account".into(),
                vec![strings::enable_what(u)],
                false,
            ),
            Pending::SetRole(u, r) => (
                strings::TITLE_CHANGE_ROLE.into(),
                vec![strings::role_what(u, *r)],
                *r == Role::Admin,
            ),
            Pending::TempPassword(u, _) => (
                strings::TITLE_SET_TEMP_PASSWORD.into(),
                vec![strings::temp_password_what(u)],
                true,
            ),
            Pending::DeleteUser(u) => (
                strings::TITLE_DELETE_USER.into(),
                vec![strings::delete_what(u)],
                true,
            ),
            Pending::Bulk(act, users) => (
                act.label().into(),
                vec![strings::bulk_what(act.label(), users)],
                *act == BulkAct::ResetMfa,
            ),
            Pending::Export { path, .. } => (
                strings::TITLE_EXPORT.into(),
                vec![strings::export_what(&path.to_string_lossy())],
                false,
            ),
            Pending::GenerateTempPassword(u) => (
                strings::TITLE_GENERATE_TEMP_PASSWORD.into(),
                vec![strings::temp_password_what(u)],
                true,
            ),
            Pending::ResendActivation(u) => (
                strings::TITLE_RESEND_ACTIVATION.into(),
                vec![strings::resend_activation_what(u)],
                false,
            ),
            Pending::RemoveEnrollment(_) => (
                strings::TITLE_REMOVE_ENROLLMENT.into(),
                vec![strings::REMOVE_ENROLLMENT.into()],
                true,
            ),
            Pending::RegenerateRecovery => (
                strings::TITLE_NEW_RECOVERY.into(),
                vec![strings::REGENERATE_RECOVERY.into()],
                true,
            ),
            Pending::SetPolicy { key, value } => (
                strings::CHANGE_POLICY.into(),
                vec![strings::policy_change(key.name(), "", value)],
                false,
            ),
            Pending::SetMethod { method, on, .. } => (
                strings::method_on_title(*method).into(),
                vec![format!(
                    "{} → {}",
                    method_name(*method),
                    if *on { "on" } else { "off" }
                )],
                !*on,
            ),
            Pending::MfaOff { .. } => (
                strings::MFA_OFF_TITLE.into(),
                vec![strings::MFA_OFF_WHAT.into()],
                true,
            ),
            Pending::OpenControls
            | Pending::MethodOffDialog { .. }
            | Pending::MfaOffDialog { .. }
            | Pending::TrustDevice => ("Confirm".into(), Vec::new(), false),
        }
    }

    fn label(&self) -> String {
        match self {
            Pending::OpenControls => strings::OPENING_CONTROLS.into(),
            Pending::SetMethod { .. } => strings::SAVING_CONTROLS.into(),
            Pending::SetPolicy { .. } => strings::SAVING_POLICY.into(),
            Pending::TempPassword(..) => strings::SETTING_TEMP_PASSWORD.into(),
            _ => strings::WORKING.into(),
        }
    }
}

/// The end of an act: its message, the dialog it leads to, and the panes told.
pub fn finish(app: &mut App, r: Loaded) {
    let Some((done, result)) = r.take::<(Pending, Result<String, CoreError>)>() else {
        return;
    };
    match result {
        Ok(text) => {
            match &done {
                Pending::RegenerateRecovery => {
                    let codes = text.lines().map(str::to_string).collect();
                    app.ctx.act(Act::Push(Popup::recovery_codes(codes)));
                }
                // Shown once, in a dialog, to hand over.
                Pending::GenerateTempPassword(u) => app.ctx.act(Act::Push(Popup::message(
                    "Temporary password",
                    strings::temp_password_shown(u, &text),
                    false,
                ))),
                Pending::ResendActivation(u) => {
                    let mut lines = text.lines();
                    let code = lines.next().unwrap_or_default().to_string();
                    let mail = lines.next().unwrap_or_default().to_string();
                    app.ctx.act(Act::Push(Popup::message(
                        "Activation code",
                        strings::activation_shown(u, &code, &mail),
                        false,
                    )))
                }
                Pending::OpenControls
                | Pending::MethodOffDialog { .. }
                | Pending::MfaOffDialog { .. } => {}
                _ => app.ctx.act(Act::Notice(text)),
            }
            if let Screen::Main(m) = &mut app.screen {
                m.after(&done, &mut app.ctx);
            }
            // A dialog still open under it (the advisory) hears of it too.
            for p in &mut app.popups {
                p.after(&done);
            }
        }
        Err(CoreError::ReauthRequired) => app.ctx.act(Act::Push(Popup::reauth(done))),
        Err(e) => app.ctx.act(Act::Error(e.to_string())),
    }
}

/// Does `act` for each user; a re-authentication asked for stops it before anyone is
/// touched (the dialog then runs it again).
fn run_bulk(
    core: &crate::core::Core,
    actor: Actor,
    act: BulkAct,
    users: &[String],
) -> Result<String, CoreError> {
    type Each = fn(&crate::core::Core, Actor, &str) -> Result<(), CoreError>;
    let each: Each = match act {
        // One mail run for all, which counts who was skipped.
        BulkAct::Remind => {
            let (sent, skipped, failed) = core.remind_to_configure(actor, users)?;
            return Ok(strings::reminders_done(sent, skipped, failed));
        }
        BulkAct::Unlock => |c, a, u| match c.unlock(a, u) {
            Ok(true) => Ok(()),
            Ok(false) => Err(CoreError::Invalid("not locked".into())),
            Err(e) => Err(e),
        },
        BulkAct::ResetMfa => |c, a, u| c.reset_mfa_removing(a, u).map(drop),
        BulkAct::ResendActivation => |c, a, u| c.resend_activation(a, u).map(drop),
    };
    let (mut done, mut failed, mut first) = (0, 0, None);
    for u in users {
        match each(core, actor, u) {
            Ok(()) => done += 1,
            Err(CoreError::ReauthRequired) if done == 0 => return Err(CoreError::ReauthRequired),
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| format!("{u}: {e}"));
            }
        }
    }
    Ok(strings::bulk_done(
        act.label(),
        done,
        failed,
        first.as_deref(),
    ))
}

/// Writes the export, mode 0600, refusing to replace a file.
fn write_export(path: &std::path::Path, csv: &str) -> Result<String, CoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            CoreError::Invalid(format!(
                "cannot write {}: {e}; choose a new file in a folder you can write to",
                path.display()
            ))
        })?;
    f.write_all(csv.as_bytes())
        .map_err(|e| CoreError::Invalid(format!("cannot write {}: {e}", path.display())))?;
    Ok(strings::exported(&path.to_string_lossy()))
}
