//! Dialogs over the screen. They get keys first; the topmost one is in charge.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{Act, App, Apply, Ctx};
use super::input::TextInput;
use super::pending::Pending;
use super::strings;
use super::theme::Theme;
use super::widgets::{buttons, centered, frame};
use crate::core::controls::method_name;
use crate::core::{CodeKind, Core, CoreError, NewUser, Session};
use crate::store::{Method, Role};

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

/// Turning a method on: the accounts that act like integrations, each of which `i` makes
/// an integration user; Enter goes on to turn the method on.
pub struct Advisory {
    pub title: String,
    pub intro: Vec<String>,
    /// (username, why it is listed)
    pub candidates: Vec<(String, String)>,
    pub after: Vec<String>,
    pub selected: usize,
    pub then: Pending,
}

pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    /// A checkbox and its state (e.g. "Forget all devices").
    pub checkbox: Option<(String, bool)>,
    /// 0: the checkbox (when there is one), then Confirm, then Cancel.
    pub focus: usize,
    pub then: ConfirmThen,
    pub danger: bool,
}

pub enum ConfirmThen {
    Run(Pending),
    /// Turning a method off: the checkbox decides `forget`.
    MethodOff(Method),
    /// Turning MFA off (every method): the checkbox decides `forget`.
    MfaOff,
    Quit,
}

pub struct Reauth {
    password: TextInput,
    code: TextInput,
    methods: Vec<Method>,
    method: usize,
    focus: usize,
    error: Option<String>,
    then: Pending,
}

pub struct AddUser {
    username: TextInput,
    email: TextInput,
    name: TextInput,
    role: Role,
    focus: usize,
    error: Option<String>,
}

pub struct InputPopup {
    title: String,
    label: String,
    help: String,
    input: TextInput,
    then: InputThen,
}

pub enum InputThen {
    ImportCsv,
    /// The roster as shown, to write to the file typed.
    ExportCsv(String),
    TempPassword(String),
    Policy(crate::core::controls::PolicyKey),
}

pub struct Choice {
    title: String,
    options: Vec<(String, Pending)>,
    selected: usize,
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
                strings::FORGET_EXPLAINED.into(),
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

    pub fn reauth(core: Option<&Core>, session: Option<&Session>, then: Pending) -> Popup {
        let methods = match (core, session) {
            (Some(c), Some(s)) => c.reauth_methods(s).unwrap_or_default(),
            _ => Vec::new(),
        };
        Popup::Reauth(Reauth {
            password: TextInput::masked(),
            code: TextInput::new(),
            methods,
            method: 0,
            focus: 0,
            error: None,
            then,
        })
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
            Popup::Advisory(a) => match key.code {
                KeyCode::Esc => ctx.act(Act::Pop),
                KeyCode::Up | KeyCode::Char('k') => a.selected = a.selected.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => {
                    a.selected = (a.selected + 1).min(a.candidates.len().saturating_sub(1))
                }
                KeyCode::Char('i') => {
                    if let Some((u, _)) = a.candidates.get(a.selected) {
                        let p = Pending::SetRole(u.clone(), Role::Integration);
                        ctx.act(Act::Pop);
                        ctx.act(Act::Push(Popup::confirm_pending(p)));
                    }
                }
                KeyCode::Enter => {
                    ctx.act(Act::Pop);
                    a.then.clone().run(ctx);
                }
                _ => {}
            },
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
            Popup::Choice(c) => match key.code {
                KeyCode::Up | KeyCode::Char('k') => c.selected = c.selected.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => {
                    c.selected = (c.selected + 1).min(c.options.len().saturating_sub(1))
                }
                KeyCode::Esc => ctx.act(Act::Pop),
                KeyCode::Enter => {
                    if let Some((label, p)) = c.options.get(c.selected) {
                        let _ = label;
                        ctx.act(Act::Pop);
                        ctx.act(Act::Push(Popup::confirm_pending(p.clone())));
                    }
                }
                _ => {}
            },
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
            Popup::Advisory(a) => {
                let width = area.width.min(76).saturating_sub(2);
                let rows = |lines: &[String]| -> u16 {
                    lines
                        .iter()
                        .map(|l| super::widgets::wrapped_rows(l, width))
                        .sum()
                };
                let h = rows(&a.intro)
                    + a.candidates.len().max(1) as u16
                    + rows(&a.after)
                    + super::widgets::wrapped_rows(strings::ADVISORY_KEYS, width)
                    + 5;
                let r = centered(area, 76, h.min(area.height.saturating_sub(2)));
                let inner = frame(f, r, &a.title, theme, false);
                let mut text: Vec<Line> = a.intro.iter().map(|l| Line::raw(l.clone())).collect();
                text.push(Line::raw(""));
                if a.candidates.is_empty() {
                    text.push(Line::styled(strings::NO_INTEGRATIONS, theme.dim()));
                }
                for (i, (u, why)) in a.candidates.iter().enumerate() {
                    let line = format!("{u} · {why}");
                    text.push(if i == a.selected {
                        Line::styled(format!("▸ {line}"), theme.selected())
                    } else {
                        Line::raw(format!("  {line}"))
                    });
                }
                text.push(Line::raw(""));
                text.extend(a.after.iter().map(|l| Line::raw(l.clone())));
                text.push(Line::raw(""));
                let mut keys = vec![
                    Span::styled("Enter", theme.key()),
                    Span::raw(" turn it on   "),
                ];
                if !a.candidates.is_empty() {
                    keys.extend([
                        Span::styled("i", theme.key()),
                        Span::raw(" make the selected an integration user   "),
                    ]);
                }
                keys.extend([Span::styled("Esc", theme.key()), Span::raw(" cancel")]);
                text.push(Line::from(keys));
                f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
            }
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
            Popup::Choice(c) => {
                let r = centered(area, 40, c.options.len() as u16 + 4);
                let inner = frame(f, r, &c.title, theme, false);
                let lines: Vec<Line> = c
                    .options
                    .iter()
                    .enumerate()
                    .map(|(i, (label, _))| {
                        if i == c.selected {
                            Line::styled(format!("▸ {label}"), theme.selected())
                        } else {
                            Line::raw(format!("  {label}"))
                        }
                    })
                    .collect();
                f.render_widget(Paragraph::new(lines), inner);
            }
        }
    }
}

impl Confirm {
    fn slots(&self) -> usize {
        if self.checkbox.is_some() { 3 } else { 2 }
    }
    fn confirm_slot(&self) -> usize {
        if self.checkbox.is_some() { 1 } else { 0 }
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Esc => ctx.act(Act::Pop),
            KeyCode::Tab => self.focus = (self.focus + 1) % self.slots(),
            KeyCode::BackTab => self.focus = (self.focus + self.slots() - 1) % self.slots(),
            // Arrows stop at the ends: Right on Cancel stays on Cancel.
            KeyCode::Down | KeyCode::Right => self.focus = (self.focus + 1).min(self.slots() - 1),
            KeyCode::Up | KeyCode::Left => self.focus = self.focus.saturating_sub(1),
            KeyCode::Char(' ') if self.checkbox.is_some() && self.focus == 0 => {
                if let Some((_, v)) = &mut self.checkbox {
                    *v = !*v;
                }
            }
            KeyCode::Enter => {
                if self.checkbox.is_some() && self.focus == 0 {
                    if let Some((_, v)) = &mut self.checkbox {
                        *v = !*v;
                    }
                    return;
                }
                ctx.act(Act::Pop);
                if self.focus != self.confirm_slot() {
                    return;
                }
                match &self.then {
                    ConfirmThen::Run(p) => p.clone().run(ctx),
                    ConfirmThen::MethodOff(m) => Pending::SetMethod {
                        method: *m,
                        on: false,
                        forget: self.checkbox.as_ref().is_some_and(|(_, v)| *v),
                    }
                    .run(ctx),
                    ConfirmThen::MfaOff => Pending::MfaOff {
                        forget: self.checkbox.as_ref().is_some_and(|(_, v)| *v),
                    }
                    .run(ctx),
                    ConfirmThen::Quit => ctx.act(Act::Quit),
                }
            }
            _ => {}
        }
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let body_h: u16 = self
            .lines
            .iter()
            .map(|l| (l.chars().count() as u16 / 62) + 1)
            .sum();
        let h = body_h + if self.checkbox.is_some() { 7 } else { 5 };
        let r = centered(area, 68, h.min(area.height));
        let inner = frame(f, r, &self.title, theme, self.danger);
        let mut text: Vec<Line> = self.lines.iter().map(|l| Line::raw(l.clone())).collect();
        text.push(Line::raw(""));
        if let Some((label, on)) = &self.checkbox {
            let mark = if *on { "[x]" } else { "[ ]" };
            let style = if self.focus == 0 {
                theme.selected()
            } else {
                theme.text()
            };
            text.push(Line::styled(
                format!("{mark} {label}   (Space to toggle)"),
                style,
            ));
            text.push(Line::raw(""));
        }
        let cs = self.confirm_slot();
        text.push(buttons(
            self.focus == cs,
            self.focus == cs + 1,
            "Confirm",
            theme,
        ));
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
    }
}

impl Reauth {
    fn needs_code(&self) -> bool {
        !self.methods.is_empty()
    }
    /// The code may come from the app, an email, or be a recovery code.
    fn kind(&self) -> CodeKind {
        CodeKind::Any
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let fields = if self.needs_code() { 2 } else { 1 };
        match key.code {
            KeyCode::Esc => ctx.act(Act::Pop),
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % fields,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + fields - 1) % fields,
            KeyCode::F(2) if self.methods.len() > 1 => {
                self.method = (self.method + 1) % self.methods.len()
            }
            KeyCode::F(3) if self.methods.get(self.method) == Some(&Method::Email) => {
                let Some(session) = ctx.session.clone() else {
                    return;
                };
                ctx.spawn("Sending a code…", move |core| {
                    let r = core.send_reauth_code(&session);
                    Box::new(move |app: &mut App| match r {
                        Ok((addr, _)) => app
                            .ctx
                            .act(Act::Notice(format!("A code was sent to {addr}."))),
                        Err(e) => set_reauth_error(app, e.to_string()),
                    }) as Apply
                });
            }
            KeyCode::Enter => {
                if self.focus + 1 < fields {
                    self.focus += 1;
                    return;
                }
                let Some(session) = ctx.session.clone() else {
                    return;
                };
                let pw = zeroize::Zeroizing::new(self.password.value().to_string());
                let code = zeroize::Zeroizing::new(self.code.value().to_string());
                let kind = self.kind();
                let needs = self.needs_code();
                let then = self.then.clone();
                self.password.clear();
                self.code.clear();
                ctx.spawn("Checking…", move |core| {
                    let r =
                        core.reauthenticate(&session, &pw, needs.then_some((code.as_str(), kind)));
                    Box::new(move |app: &mut App| match r {
                        Ok(()) => {
                            app.ctx.act(Act::Pop);
                            then.run(&mut app.ctx);
                        }
                        Err(e @ CoreError::Locked { .. }) => {
                            app.ctx.act(Act::Pop);
                            app.ctx.act(Act::Push(Popup::message(
                                "Locked",
                                vec![e.to_string()],
                                true,
                            )));
                        }
                        Err(e) => set_reauth_error(app, e.to_string()),
                    }) as Apply
                });
            }
            _ => {
                let field = if self.focus == 0 {
                    &mut self.password
                } else {
                    &mut self.code
                };
                field.handle_key(key);
            }
        }
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 66, if self.needs_code() { 12 } else { 9 });
        let inner = frame(f, r, "Confirm it is you", theme, false);
        let rows = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .split(inner);
        f.render_widget(
            Paragraph::new(if self.needs_code() {
                "Re-enter your password and a code to continue; this lasts a few minutes."
            } else {
                "Re-enter your password to continue; this lasts a few minutes."
            })
            .wrap(Wrap { trim: true }),
            rows[0],
        );
        self.password
            .render(f, rows[1], "Password              ", self.focus == 0, theme);
        let mut hints = vec![
            Span::styled("Enter", theme.key()),
            Span::raw(" confirm  "),
            Span::styled("Esc", theme.key()),
            Span::raw(" cancel"),
        ];
        if self.needs_code() {
            let m = self
                .methods
                .get(self.method)
                .copied()
                .unwrap_or(Method::Authenticator);
            let label = match m {
                Method::Authenticator => "Code (app or recovery)",
                Method::Email => "Code (email or recovery)",
            };
            self.code.render(f, rows[2], label, self.focus == 1, theme);
            if self.methods.len() > 1 {
                hints.extend([
                    Span::raw("  "),
                    Span::styled("F2", theme.key()),
                    Span::raw(" other method"),
                ]);
            }
            if m == Method::Email {
                hints.extend([
                    Span::raw("  "),
                    Span::styled("F3", theme.key()),
                    Span::raw(" send code"),
                ]);
            }
        }
        let mut lines = vec![Line::from(hints)];
        if let Some(e) = &self.error {
            lines.insert(0, Line::styled(e.clone(), theme.error()));
        }
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), rows[4]);
    }
}

fn set_reauth_error(app: &mut App, e: String) {
    if let Some(Popup::Reauth(r)) = app.popups.last_mut() {
        r.error = Some(e);
        r.focus = 0;
    } else {
        app.ctx.act(Act::Error(e));
    }
}

impl AddUser {
    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Esc => ctx.act(Act::Pop),
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % 4,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + 3) % 4,
            KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right if self.focus == 3 => {
                self.role = match (self.role, key.code) {
                    (Role::Member, KeyCode::Left) => Role::Integration,
                    (Role::Member, _) => Role::Admin,
                    (Role::Admin, KeyCode::Left) => Role::Member,
                    (Role::Admin, _) => Role::Integration,
                    (Role::Integration, KeyCode::Left) => Role::Admin,
                    (Role::Integration, _) => Role::Member,
                }
            }
            KeyCode::Enter if self.focus < 3 => self.focus += 1,
            KeyCode::Enter => {
                let Some(session) = ctx.session.clone() else {
                    return;
                };
                let new = NewUser {
                    username: self.username.value().trim().to_string(),
                    email: self.email.value().trim().to_string(),
                    name: self.name.value().trim().to_string(),
                    role: self.role,
                    password: None,
                };
                ctx.spawn("Adding the user…", move |core| {
                    let r = core.add_user(crate::core::Actor::User(&session), new);
                    Box::new(move |app: &mut App| match r {
                        Ok(added) => {
                            app.ctx.act(Act::Pop);
                            let mut lines = vec![format!("{} was added as an invited user.", added.username)];
                            if let Some(code) = &added.activation_code {
                                lines.push(String::new());
                                lines.push(format!("Activation code: {}", code.as_str()));
                                lines.push("They sign in with it once (Ctrl-A or F2 on the sign-in screen) to choose a password.".into());
                            }
                            match &added.mail_error {
                                None => lines.push(format!("The code was also sent through {}.", app.ctx.mailer.describe())),
                                Some(e) => lines.push(format!("The code could not be mailed: {e}")),
                            }
                            app.ctx.act(Act::Push(Popup::message("User added", lines, false)));
                            if let super::app::Screen::Main(m) = &mut app.screen {
                                m.reload(&mut app.ctx);
                            }
                        }
                        Err(e) => {
                            if let Some(Popup::AddUser(a)) = app.popups.last_mut() {
                                a.error = Some(e.to_string());
                            }
                        }
                    }) as Apply
                });
            }
            _ => {
                let field = match self.focus {
                    0 => &mut self.username,
                    1 => &mut self.email,
                    2 => &mut self.name,
                    _ => return,
                };
                field.handle_key(key);
            }
        }
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 66, 13);
        let inner = frame(f, r, "Add user", theme, false);
        let rows = Layout::vertical([Constraint::Length(1); 8]).split(inner);
        f.render_widget(
            Paragraph::new("Invited: an activation code lets them choose a password.")
                .wrap(Wrap { trim: true }),
            rows[0],
        );
        self.username
            .render(f, rows[2], "Username", self.focus == 0, theme);
        self.email
            .render(f, rows[3], "Email   ", self.focus == 1, theme);
        self.name
            .render(f, rows[4], "Name    ", self.focus == 2, theme);
        let role = crate::core::users::role_name(self.role);
        let style = if self.focus == 3 {
            theme.selected()
        } else {
            theme.text()
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw(if self.focus == 3 {
                    "▸Role     "
                } else {
                    " Role     "
                }),
                Span::styled(format!("◂ {role} ▸"), style),
                Span::styled("  (Space / ←→ to change)", theme.dim()),
            ])),
            rows[5],
        );
        let msg = match &self.error {
            Some(e) => Line::styled(e.clone(), theme.error()),
            None => Line::from(vec![
                Span::styled("Enter", theme.key()),
                Span::raw(" next / add   "),
                Span::styled("Esc", theme.key()),
                Span::raw(" cancel"),
            ]),
        };
        f.render_widget(
            Paragraph::new(msg).wrap(Wrap { trim: true }),
            // The rest of the box: an error such as "database busy" names a process.
            Rect {
                height: inner.bottom().saturating_sub(rows[7].y).max(1),
                ..rows[7]
            },
        );
    }
}

impl InputPopup {
    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Esc => ctx.act(Act::Pop),
            KeyCode::Enter => {
                ctx.act(Act::Pop);
                let value = self.input.value().to_string();
                if matches!(self.then, InputThen::ImportCsv) {
                    self.input.clear();
                    start_import(ctx, std::path::PathBuf::from(value.trim()));
                    return;
                }
                let p = match &self.then {
                    InputThen::ImportCsv => return,
                    InputThen::ExportCsv(csv) => Pending::Export {
                        path: std::path::PathBuf::from(value.trim()),
                        csv: csv.clone(),
                    },
                    InputThen::TempPassword(u) => {
                        Pending::TempPassword(u.clone(), zeroize::Zeroizing::new(value))
                    }
                    InputThen::Policy(k) => Pending::SetPolicy { key: *k, value },
                };
                self.input.clear();
                // A temporary password is confirmed like the other acts on a user.
                if matches!(p, Pending::TempPassword(..)) {
                    ctx.act(Act::Push(Popup::confirm_pending(p)));
                    return;
                }
                p.run(ctx);
            }
            _ => {
                self.input.handle_key(key);
            }
        }
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 66, 8);
        let inner = frame(f, r, &self.title, theme, false);
        let rows = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(inner);
        f.render_widget(
            Paragraph::new(self.help.clone()).wrap(Wrap { trim: true }),
            rows[0],
        );
        self.input.render(f, rows[1], &self.label, true, theme);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("Enter", theme.key()),
                Span::raw(" save   "),
                Span::styled("Esc", theme.key()),
                Span::raw(" cancel"),
            ])),
            rows[3],
        );
    }
}

/// Imports a CSV file in the background, with its progress in the status line.
fn start_import(ctx: &mut Ctx, path: std::path::PathBuf) {
    use crate::core::import::{CodeDelivery, Phase, read_file};
    let Some(session) = ctx.session.clone() else {
        return;
    };
    ctx.spawn_with_progress("Reading the file…", move |core, report| {
        let result = read_file(&path).and_then(|rows| {
            core.import_users(
                crate::core::Actor::User(&session),
                rows,
                CodeDelivery::Mail,
                &mut |phase, done, total| {
                    let what = match phase {
                        Phase::Writing => "Adding users",
                        Phase::Mailing => "Mailing activation codes",
                    };
                    report(format!("{what}: {done} of {total}…"));
                },
            )
        });
        Box::new(move |app: &mut App| match result {
            Ok(r) => {
                let mut lines = vec![format!(
                    "{} user(s) imported as invited; activation codes went to {}.",
                    r.added,
                    app.ctx.mailer.describe()
                )];
                if r.mail_failures > 0 {
                    lines.push(format!(
                        "{} mail(s) could not be sent: {}",
                        r.mail_failures,
                        r.first_mail_error.unwrap_or_default()
                    ));
                }
                app.ctx.act(Act::Push(Popup::message(
                    "Import done",
                    lines,
                    r.mail_failures > 0,
                )));
                if let super::app::Screen::Main(m) = &mut app.screen {
                    m.reload(&mut app.ctx);
                }
            }
            // The path stays in its field, under the list of what to fix.
            Err(CoreError::ImportRejected { errors, total, .. }) => {
                let mut lines = vec![strings::import_rejected(total, errors.len()), String::new()];
                lines.extend(errors);
                app.ctx
                    .act(Act::Push(Popup::import_csv_from(&path.to_string_lossy())));
                app.ctx
                    .act(Act::Push(Popup::message("Nothing imported", lines, true)));
            }
            Err(e) => {
                app.ctx
                    .act(Act::Push(Popup::import_csv_from(&path.to_string_lossy())));
                app.ctx.act(Act::Push(Popup::message(
                    "Nothing imported",
                    vec![e.to_string()],
                    true,
                )));
            }
        }) as Apply
    });
}
