//! Dialogs over the screen. They get keys first; the topmost one is in charge. One file
//! per dialog; this one holds the list of them and hands keys and drawing to each.

mod add_user;
mod advisory;
mod choice;
mod confirm;
mod input;
mod reauth;

pub use add_user::AddUser;
pub use advisory::Advisory;
pub use choice::Choice;
pub use confirm::{Confirm, ConfirmThen};

/// The keys of a confirmation, for the `?` help.
pub fn confirm_keys() -> &'static [crate::tui::keymap::KeyBinding<confirm::Action>] {
    confirm::KEYS
}

/// The keys of the integration advisory, for the `?` help.
pub fn advisory_keys() -> &'static [crate::tui::keymap::KeyBinding<advisory::Action>] {
    advisory::KEYS
}
pub use input::{InputPopup, InputThen, import_done};
pub use reauth::Reauth;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::core::controls::method_name;
use crate::core::{Core, Session};
use crate::store::{Method, Role};
use crate::tui::app::{Act, Ctx};
use crate::tui::input::TextInput;
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub enum Popup {
    Help {
        keys: Vec<(String, String)>,
        scroll: u16,
    },
    Message {
        title: String,
        lines: Vec<String>,
        error: bool,
        /// The first line shown, when there are more lines than fit.
        scroll: usize,
    },
    Confirm(Confirm),
    Reauth(Reauth),
    AddUser(AddUser),
    Input(InputPopup),
    Choice(Choice),
    RecoveryCodes(Vec<String>),
    Advisory(Advisory),
}

impl Popup {
    pub fn help(keys: Vec<(String, String)>) -> Popup {
        Popup::Help { keys, scroll: 0 }
    }

    pub fn message(title: &str, lines: Vec<String>, error: bool) -> Popup {
        Popup::Message {
            title: title.into(),
            lines,
            error,
            scroll: 0,
        }
    }

    /// A dangerous act starts on Cancel, so a stray Enter changes nothing.
    pub fn confirm(title: &str, lines: Vec<String>, then: Pending, danger: bool) -> Popup {
        Popup::Confirm(Confirm {
            title: title.into(),
            lines,
            checkbox: None,
            focus: usize::from(danger),
            then: ConfirmThen::Run(then),
            danger,
        })
    }

    /// The confirmation of `p`, its text from the act itself.
    pub fn confirm_pending(p: Pending) -> Popup {
        let (title, lines, danger) = p.confirmation();
        Popup::confirm(&title, lines, p, danger)
    }

    /// The same, naming what the act is about ("Authenticator app \"phone\"").
    pub fn confirm_pending_about(p: Pending, what: &str) -> Popup {
        let (title, mut lines, danger) = p.confirmation();
        lines.insert(0, strings::about(what));
        Popup::confirm(&title, lines, p, danger)
    }

    pub fn confirm_method_off(method: Method, mfa_goes_off: bool) -> Popup {
        let what = if mfa_goes_off {
            format!(
                "Turn off the {} method? MFA will be disabled for the organization: nobody is asked for a code.",
                method_name(method)
            )
        } else {
            format!("Turn off the {} method?", method_name(method))
        };
        Popup::Confirm(Confirm {
            title: if mfa_goes_off {
                "Turn MFA off".into()
            } else {
                format!("Turn the {} method off", method_name(method))
            },
            lines: vec![what, String::new(), strings::FORGET_EXPLAINED.into()],
            checkbox: Some(("Forget all devices".into(), false)),
            focus: 0,
            then: ConfirmThen::MethodOff(method),
            danger: true,
        })
    }

    /// Turning MFA off for the organization: one dialog, one Forget all devices for
    /// every method, and what it would unregister up front.
    pub fn confirm_mfa_off(apps: usize, emails: usize, users: usize) -> Popup {
        Popup::Confirm(Confirm {
            title: strings::MFA_OFF_TITLE.into(),
            lines: vec![
                strings::MFA_OFF_WHAT.into(),
                String::new(),
                strings::mfa_off_forget_count(apps, emails, users),
                strings::FORGET_ALL_EXPLAINED.into(),
            ],
            checkbox: Some(("Forget all devices".into(), false)),
            focus: 0,
            then: ConfirmThen::MfaOff,
            danger: true,
        })
    }

    pub fn confirm_quit() -> Popup {
        Popup::Confirm(Confirm {
            title: "Quit".into(),
            lines: vec![
                "The MFA wizard is open; quitting leaves it without saving. Quit anyway?".into(),
            ],
            checkbox: None,
            focus: 0,
            then: ConfirmThen::Quit,
            danger: false,
        })
    }

    /// Re-authentication before `then`; the methods it asks for are read when it opens.
    pub fn reauth(_core: Option<&Core>, _session: Option<&Session>, then: Pending) -> Popup {
        Popup::Reauth(Reauth {
            password: TextInput::masked(),
            code: TextInput::new(),
            methods: Vec::new(),
            loaded: false,
            method: 0,
            focus: 0,
            error: None,
            then,
        })
    }

    /// Starts the work a dialog needs as it opens (the methods a re-authentication asks
    /// for), so that no core call runs on the UI thread.
    pub fn opened(&mut self, ctx: &mut Ctx) {
        if let Popup::Reauth(r) = self {
            r.opened(ctx);
        }
    }

    /// A result of the work the topmost dialog started.
    pub fn on_result(&mut self, r: crate::tui::pane::Loaded, ctx: &mut Ctx) {
        match self {
            Popup::Reauth(x) => x.on_result(r, ctx),
            Popup::AddUser(x) => x.on_result(r, ctx),
            _ => {}
        }
    }

    pub fn add_user() -> Popup {
        Popup::AddUser(AddUser {
            username: TextInput::new(),
            email: TextInput::new(),
            name: TextInput::new(),
            role: Role::Member,
            focus: 0,
            error: None,
        })
    }

    pub fn temp_password(user: &str) -> Popup {
        Popup::Input(InputPopup {
            title: format!("Temporary password for {user}"),
            label: "Password".into(),
            help: "12 characters or more, shown as you type so you can hand it over; the user must change it at their next sign-in.".into(),
            input: TextInput::new(),
            then: InputThen::TempPassword(user.into()),
        })
    }

    pub fn import_csv() -> Popup {
        Popup::import_csv_from("")
    }

    /// The import dialog with `path` filled in (again, after a failed import).
    pub fn import_csv_from(path: &str) -> Popup {
        Popup::Input(InputPopup {
            title: "Import users from a CSV file".into(),
            label: "File".into(),
            help: strings::IMPORT_HELP.into(),
            input: TextInput::with_value(path),
            then: InputThen::ImportCsv,
        })
    }

    pub fn policy(key: crate::core::controls::PolicyKey, current: &str) -> Popup {
        Popup::Input(InputPopup {
            title: crate::tui::controls::policy_label(key).to_string(),
            label: "Value".into(),
            help: format!("Allowed: {}.", key.allowed()),
            input: TextInput::with_value(current),
            then: InputThen::Policy(key),
        })
    }

    /// The bulk acts for `users` (each is confirmed).
    pub fn bulk_choice(users: Vec<String>) -> Popup {
        Popup::Choice(Choice {
            title: format!("{} · {} user(s)", strings::BULK_TITLE, users.len()),
            options: crate::tui::pending::BulkAct::ALL
                .iter()
                .map(|a| (a.label().to_string(), Pending::Bulk(*a, users.clone())))
                .collect(),
            selected: 0,
        })
    }

    /// Where to write the roster as shown.
    pub fn export_csv(csv: String) -> Popup {
        Popup::Input(InputPopup {
            title: "Export the roster to a CSV file".into(),
            label: "File".into(),
            help: strings::EXPORT_HELP.into(),
            input: TextInput::new(),
            then: InputThen::ExportCsv(csv),
        })
    }

    pub fn role_choice(user: &str, current: Role) -> Popup {
        let roles = [Role::Admin, Role::Member, Role::Integration];
        Popup::Choice(Choice {
            title: format!("Role of {user}"),
            options: roles
                .iter()
                .map(|r| {
                    (
                        crate::core::users::role_name(*r).to_string(),
                        Pending::SetRole(user.into(), *r),
                    )
                })
                .collect(),
            selected: roles.iter().position(|r| *r == current).unwrap_or(0),
        })
    }

    pub fn recovery_codes(codes: Vec<String>) -> Popup {
        Popup::RecoveryCodes(codes)
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match self {
            Popup::Help { scroll, .. } => match key.code {
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                _ => ctx.act(Act::Pop),
            },
            Popup::Message { lines, scroll, .. } => {
                let last = lines.len().saturating_sub(1);
                match key.code {
                    KeyCode::Enter | KeyCode::Esc | KeyCode::Char(' ') | KeyCode::Char('q') => {
                        ctx.act(Act::Pop)
                    }
                    KeyCode::Down | KeyCode::Char('j') => *scroll = (*scroll + 1).min(last),
                    KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                    KeyCode::PageDown => *scroll = (*scroll + 10).min(last),
                    KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                    KeyCode::Home => *scroll = 0,
                    KeyCode::End => *scroll = last,
                    _ => {}
                }
            }
            Popup::Advisory(a) => a.handle_key(key, ctx),
            Popup::RecoveryCodes(_) => {
                if matches!(key.code, KeyCode::Enter) {
                    ctx.act(Act::Pop);
                    ctx.act(Act::Notice(
                        "Keep the recovery codes somewhere safe: they are not shown again.".into(),
                    ));
                }
            }
            Popup::Confirm(c) => c.handle_key(key, ctx),
            Popup::Reauth(r) => r.handle_key(key, ctx),
            Popup::AddUser(a) => a.handle_key(key, ctx),
            Popup::Input(i) => i.handle_key(key, ctx),
            Popup::Choice(c) => c.handle_key(key, ctx),
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        match self {
            Popup::Help { keys, scroll } => {
                let h = (keys.len() as u16 + 4).min(area.height.saturating_sub(2));
                let r = centered(area, 80, h);
                let inner = frame(
                    f,
                    r,
                    "Keys · ↑↓ scroll · any other key closes",
                    theme,
                    false,
                );
                let lines: Vec<Line> = keys
                    .iter()
                    .map(|(k, v)| {
                        Line::from(vec![
                            Span::styled(format!("{k:<20}"), theme.key()),
                            Span::raw(v.clone()),
                        ])
                    })
                    .collect();
                let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
                f.render_widget(
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .scroll(((*scroll).min(max_scroll), 0)),
                    inner,
                );
            }
            Popup::Message {
                title,
                lines,
                error,
                scroll,
            } => {
                let r = centered(area, 76, (lines.len() as u16 + 6).min(area.height - 2));
                let inner = frame(f, r, title, theme, *error);
                let [body, foot] =
                    Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
                let text: Vec<Line> = lines
                    .iter()
                    .skip(*scroll)
                    .map(|l| Line::raw(l.clone()))
                    .collect();
                f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
                let more = lines.len() > body.height as usize;
                f.render_widget(
                    Paragraph::new(vec![
                        Line::raw(""),
                        Line::styled(
                            if more {
                                strings::message_scroll(*scroll + 1, lines.len())
                            } else {
                                strings::ENTER_TO_CLOSE.to_string()
                            },
                            theme.dim(),
                        ),
                    ]),
                    foot,
                );
            }
            Popup::Advisory(a) => a.render(f, area, theme),
            Popup::RecoveryCodes(codes) => {
                let r = centered(area, 60, codes.len() as u16 + 8);
                let inner = frame(f, r, "Recovery codes", theme, false);
                let mut text = vec![Line::raw(strings::RECOVERY_EXPLAINED), Line::raw("")];
                for c in codes {
                    text.push(Line::styled(format!("    {c}"), theme.title()));
                }
                text.push(Line::raw(""));
                text.push(Line::styled("Enter: I have saved them", theme.key()));
                f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
            }
            Popup::Confirm(c) => c.render(f, area, theme),
            Popup::Reauth(r) => r.render(f, area, theme),
            Popup::AddUser(a) => a.render(f, area, theme),
            Popup::Input(i) => i.render(f, area, theme),
            Popup::Choice(c) => c.render(f, area, theme),
        }
    }
}
