//! Re-authentication: the password again, and a code when the user has MFA.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Popup;
use crate::core::{CodeKind, CoreError};
use crate::store::Method;
use crate::tui::app::{Act, Ctx, Target};
use crate::tui::input::TextInput;
use crate::tui::pane::Loaded;
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct Reauth {
    pub(super) password: TextInput,
    pub(super) code: TextInput,
    pub(super) methods: Vec<Method>,
    /// The methods have been read (until then Enter waits).
    pub(super) loaded: bool,
    pub(super) method: usize,
    pub(super) focus: usize,
    pub(super) error: Option<String>,
    pub(super) then: Pending,
}

impl Reauth {
    pub(super) fn opened(&mut self, ctx: &mut Ctx) {
        let Some(session) = ctx.session.clone() else {
            self.loaded = true;
            return;
        };
        ctx.run(Target::Popup, "methods", strings::CHECKING, move |core| {
            core.reauth_methods(&session)
        });
    }

    pub(super) fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        match r.kind {
            "methods" => match r.take::<Result<Vec<Method>, CoreError>>() {
                Some(Ok(m)) => {
                    self.methods = m;
                    self.loaded = true;
                }
                Some(Err(e)) => {
                    self.loaded = true;
                    self.error = Some(e.to_string());
                }
                None => {}
            },
            "sent" => match r.take::<Result<String, CoreError>>() {
                Some(Ok(addr)) => ctx.act(Act::Notice(strings::code_sent_to(&addr))),
                Some(Err(e)) => self.refused(e.to_string()),
                None => {}
            },
            _ => match r.take::<Result<(), CoreError>>() {
                Some(Ok(())) => {
                    ctx.act(Act::Pop);
                    self.then.clone().run(ctx);
                }
                Some(Err(e @ CoreError::Locked { .. })) => {
                    ctx.act(Act::Pop);
                    ctx.act(Act::Push(Popup::message(
                        "Locked",
                        vec![e.to_string()],
                        true,
                    )));
                }
                Some(Err(e)) => self.refused(e.to_string()),
                None => {}
            },
        }
    }

    fn refused(&mut self, e: String) {
        self.error = Some(e);
        self.focus = 0;
    }

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
                ctx.run(Target::Popup, "sent", strings::SENDING_CODE, move |core| {
                    core.send_reauth_code(&session).map(|(addr, _)| addr)
                });
            }
            KeyCode::Enter => {
                if !self.loaded {
                    return;
                }
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
                self.password.clear();
                self.code.clear();
                ctx.run(Target::Popup, "checked", strings::CHECKING, move |core| {
                    core.reauthenticate(&session, &pw, needs.then_some((code.as_str(), kind)))
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
