//! Re-authentication: the password again, and a code when the user has MFA.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Dialog, Popup};
use crate::core::{CodeKind, CoreError};
use crate::store::Method;
use crate::tui::app::{Act, Ctx, Outcome, Target};
use crate::tui::input::TextInput;
use crate::tui::keymap::{self, Key, KeyBinding, bind};
use crate::tui::pane::{Keyed, Loaded};
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame, key_line};

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
    fn start(&mut self, ctx: &mut Ctx) {
        let Some(session) = ctx.session.clone() else {
            self.loaded = true;
            return;
        };
        ctx.run(Target::Popup, "methods", strings::CHECKING, move |core| {
            core.reauth_methods(&session)
        });
    }

    fn finished(&mut self, r: Loaded, ctx: &mut Ctx) {
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
                // Locked by these attempts: whoever is at this console is signed out, so
                // guessing cannot go on here.
                Some(Err(e @ CoreError::Locked { .. })) => {
                    ctx.act(Act::SignOut);
                    ctx.act(Act::Push(Popup::message(
                        strings::LOCKED_TITLE,
                        vec![
                            e.to_string(),
                            String::new(),
                            strings::LOCKED_SIGNED_OUT.into(),
                        ],
                        true,
                    )));
                }
                Some(Err(e)) => self.refused(strings::reauth_refusal(&e)),
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

    fn submit(&mut self, ctx: &mut Ctx) {
        let fields = if self.needs_code() { 2 } else { 1 };
        if !self.loaded {
            // The methods were not read (their answer went astray): read them again.
            self.start(ctx);
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

    /// Whether the footer offers `a` now.
    fn offers(&self, a: Action) -> bool {
        match a {
            Action::OtherMethod => self.methods.len() > 1,
            Action::SendCode => self.methods.get(self.method) == Some(&Method::Email),
            _ => true,
        }
    }
}

/// What a key does in the re-authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Next,
    Previous,
    OtherMethod,
    SendCode,
    Submit,
    Cancel,
}

/// Function keys are unreliable over SSH and on macOS: each has a Ctrl letter too, as on
/// the sign-in screen.
pub const KEYS: &[KeyBinding<Action>] = &[
    bind(
        keymap::ENTER,
        "Enter",
        strings::KEY_CONFIRM,
        true,
        Action::Submit,
    ),
    bind(
        keymap::ESC,
        "Esc",
        strings::KEY_CANCEL,
        true,
        Action::Cancel,
    ),
    keymap::next_field(Action::Next),
    keymap::previous_field(Action::Previous),
    bind(
        &[Key::Code(KeyCode::F(2)), Key::Ctrl('o')],
        "F2 / Ctrl-O",
        strings::KEY_OTHER_METHOD,
        true,
        Action::OtherMethod,
    ),
    bind(
        &[Key::Code(KeyCode::F(3)), Key::Ctrl('e')],
        "F3 / Ctrl-E",
        strings::KEY_SEND_CODE,
        true,
        Action::SendCode,
    ),
];

impl Keyed for Reauth {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        Some(if self.focus == 0 {
            &mut self.password
        } else {
            &mut self.code
        })
    }
    fn handle(&mut self, a: Action, ctx: &mut Ctx) -> Outcome {
        let fields = if self.needs_code() { 2 } else { 1 };
        match a {
            Action::Cancel => ctx.act(Act::Pop),
            Action::Next => self.focus = (self.focus + 1) % fields,
            Action::Previous => self.focus = (self.focus + fields - 1) % fields,
            Action::OtherMethod if self.offers(a) => {
                self.method = (self.method + 1) % self.methods.len()
            }
            Action::SendCode if self.offers(a) => {
                if let Some(session) = ctx.session.clone() {
                    ctx.run(Target::Popup, "sent", strings::SENDING_CODE, move |core| {
                        core.send_reauth_code(&session).map(|(addr, _)| addr)
                    });
                }
            }
            Action::OtherMethod | Action::SendCode => {}
            Action::Submit => self.submit(ctx),
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        self.finished(r, ctx)
    }
}

impl Dialog for Reauth {
    fn footer(&self) -> Vec<(&'static str, &'static str)> {
        KEYS.iter()
            .filter(|b| b.footer && self.offers(b.action))
            .map(|b| (b.shown, b.what))
            .collect()
    }

    fn opened(&mut self, ctx: &mut Ctx) {
        self.start(ctx)
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 66, if self.needs_code() { 12 } else { 9 });
        let inner = frame(f, r, strings::REAUTH_TITLE, theme, false);
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
                strings::REAUTH_WITH_CODE
            } else {
                strings::REAUTH_PASSWORD
            })
            .wrap(Wrap { trim: true }),
            rows[0],
        );
        self.password.render(
            f,
            rows[1],
            strings::REAUTH_PASSWORD_LABEL,
            self.focus == 0,
            theme,
        );
        let hints = Dialog::footer(self);
        if self.needs_code() {
            let m = self
                .methods
                .get(self.method)
                .copied()
                .unwrap_or(Method::Authenticator);
            let label = match m {
                Method::Authenticator => strings::REAUTH_CODE_APP,
                Method::Email => strings::REAUTH_CODE_EMAIL,
            };
            self.code.render(f, rows[2], label, self.focus == 1, theme);
        }
        let mut lines = vec![key_line(&hints, theme)];
        if let Some(e) = &self.error {
            lines.insert(0, Line::styled(e.clone(), theme.error()));
        }
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), rows[4]);
    }
}
