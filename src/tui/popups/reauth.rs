//! Re-authentication: the password again, and a code when the user has MFA.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Popup;
use crate::core::{CodeKind, CoreError};
use crate::store::Method;
use crate::tui::app::{Act, App, Apply, Ctx};
use crate::tui::input::TextInput;
use crate::tui::pending::Pending;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct Reauth {
    pub(super) password: TextInput,
    pub(super) code: TextInput,
    pub(super) methods: Vec<Method>,
    pub(super) method: usize,
    pub(super) focus: usize,
    pub(super) error: Option<String>,
    pub(super) then: Pending,
}

impl Reauth {
    fn needs_code(&self) -> bool {
        !self.methods.is_empty()
    }
    /// The code may come from the app, an email, or be a recovery code.
    fn kind(&self) -> CodeKind {
        CodeKind::Any
    }

    pub(super) fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
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

    pub(super) fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
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
