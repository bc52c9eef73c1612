//! My account: who is signed in, their methods and recovery codes left, and changing
//! their own password (the current one, then the new one twice).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{Act, Ctx, Outcome, Target};
use super::input::TextInput;
use super::keymap::{self, Key, KeyBinding};
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::strings;
use super::widgets::pane_block;
use crate::core::clock::format_short;
use crate::core::controls::method_name;
use crate::core::{Actor, CoreError, Scope, Session};
use crate::store::{Enrollment, Organization};

pub const ID: PaneId = "home";

#[derive(Default)]
pub struct HomePane {
    mine: Option<Mine>,
    /// Changing the password: current, new, new again; the field typed into.
    form: Option<PasswordForm>,
}

struct Mine {
    enrollments: Vec<Enrollment>,
    recovery_left: usize,
}

#[derive(Default)]
struct PasswordForm {
    fields: [TextInput; 3],
    focus: usize,
    error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ChangePassword,
    Next,
    Previous,
    Submit,
    Cancel,
}

const SHOWING: &[KeyBinding<Action>] = &[KeyBinding {
    keys: &[Key::Char('p')],
    shown: "p",
    what: "change my password",
    footer: true,
    action: Action::ChangePassword,
}];

const FORM: &[KeyBinding<Action>] = &[
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: "next / save",
        footer: true,
        action: Action::Submit,
    },
    KeyBinding {
        keys: &[Key::Code(ratatui::crossterm::event::KeyCode::Down)],
        shown: "↑↓",
        what: "field",
        footer: true,
        action: Action::Next,
    },
    KeyBinding {
        keys: &[Key::Code(ratatui::crossterm::event::KeyCode::Up)],
        shown: "",
        what: "",
        footer: false,
        action: Action::Previous,
    },
    KeyBinding {
        keys: keymap::ESC,
        shown: "Esc",
        what: "cancel",
        footer: true,
        action: Action::Cancel,
    },
];

type MineRead = Result<Mine, CoreError>;

impl HomePane {
    fn submit(&mut self, cx: &mut Ctx) {
        let Some(form) = &mut self.form else { return };
        if form.focus < 2 {
            form.focus += 1;
            return;
        }
        let [current, new, again] = &form.fields;
        if new.value() != again.value() {
            form.error = Some(strings::PASSWORDS_DIFFER.into());
            form.fields[1].clear();
            form.fields[2].clear();
            form.focus = 1;
            return;
        }
        let Some(session) = cx.session.clone() else {
            return;
        };
        let current = zeroize::Zeroizing::new(current.value().to_string());
        let new = zeroize::Zeroizing::new(new.value().to_string());
        cx.run(
            Target::Pane(ID),
            "password",
            strings::SAVING_PASSWORD,
            move |core| core.change_password(&session, &current, &new),
        );
    }
}

impl Keyed for HomePane {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        if self.form.is_some() { FORM } else { SHOWING }
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        self.form.as_mut().map(|f| &mut f.fields[f.focus])
    }
    fn is_typing(&self) -> bool {
        self.form.is_some()
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::ChangePassword => {
                let mut form = PasswordForm::default();
                for f in &mut form.fields {
                    *f = TextInput::masked();
                }
                self.form = Some(form);
            }
            Action::Next => {
                if let Some(f) = &mut self.form {
                    f.focus = (f.focus + 1).min(2);
                }
            }
            Action::Previous => {
                if let Some(f) = &mut self.form {
                    f.focus = f.focus.saturating_sub(1);
                }
            }
            Action::Submit => self.submit(cx),
            Action::Cancel => self.form = None,
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        if r.kind == "password" {
            match r.take::<Result<(), CoreError>>() {
                Some(Ok(())) => {
                    self.form = None;
                    cx.act(Act::Notice(strings::PASSWORD_CHANGED.into()));
                }
                Some(Err(e @ CoreError::Locked { .. })) => {
                    cx.act(Act::SignOut);
                    cx.act(Act::Push(super::popups::Popup::message(
                        strings::LOCKED_TITLE,
                        vec![
                            e.to_string(),
                            String::new(),
                            strings::LOCKED_SIGNED_OUT.into(),
                        ],
                        true,
                    )));
                }
                Some(Err(e)) => {
                    if let Some(f) = &mut self.form {
                        for i in &mut f.fields {
                            i.clear();
                        }
                        f.focus = 0;
                        f.error = Some(strings::reauth_refusal(&e));
                    }
                }
                None => {}
            }
            return;
        }
        match r.take::<MineRead>() {
            Some(Ok(m)) => self.mine = Some(m),
            Some(Err(e)) => cx.act(Act::Error(e.to_string())),
            None => {}
        }
    }
}

impl Pane for HomePane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "My account"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full
    }
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<Action>])> {
        vec![(self.title(), SHOWING)]
    }
    fn load(&mut self, _why: Load, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        cx.load(ID, "mine", move |core| -> MineRead {
            let actor = Actor::User(&session);
            Ok(Mine {
                enrollments: core.enrollments(actor, session.username())?,
                recovery_left: core.recovery_codes_left(actor, session.username())?,
            })
        });
    }
    fn unsaved(&self) -> bool {
        self.form
            .as_ref()
            .is_some_and(|f| f.fields.iter().any(|i| !i.is_empty()))
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let theme = v.theme;
        let block = pane_block(self.title(), theme, v.focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mfa_on = v.org.is_some_and(|o| o.controls.mfa_enabled());
        let mut lines = vec![
            Line::raw(strings::signed_in_as(v.session.username())),
            Line::raw(""),
            Line::raw(if mfa_on {
                strings::HOME_MFA_ON
            } else {
                strings::HOME_MFA_OFF
            }),
            Line::raw(""),
        ];
        // Required and not yet configured: the deadline, where the user looks for it.
        if v.session.must_enroll {
            let days = v.session.grace_days_left.unwrap_or(0);
            lines.insert(
                3,
                Line::styled(
                    if days > 0 {
                        strings::must_enroll(days)
                    } else {
                        strings::MUST_ENROLL_NOW.to_string()
                    },
                    theme.warn(),
                ),
            );
        }
        if let Some(m) = &self.mine {
            lines.push(Line::styled(strings::MY_METHODS, theme.title()));
            if m.enrollments.is_empty() {
                lines.push(Line::raw(strings::NO_METHODS));
            }
            for e in &m.enrollments {
                lines.push(Line::raw(format!(
                    "  {} {} · added {}",
                    method_name(e.method),
                    crate::core::text::escape_control(e.email.as_deref().unwrap_or(&e.label)),
                    format_short(e.created)
                )));
            }
            if !m.enrollments.is_empty() {
                lines.push(Line::raw(strings::recovery_left(m.recovery_left)));
            }
        }
        let Some(form) = &self.form else {
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
            return;
        };
        let [top, fields, error] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(4),
            Constraint::Length(2),
        ])
        .areas(inner);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), top);
        let rows = Layout::vertical([Constraint::Length(1); 4]).split(fields);
        f.render_widget(
            Paragraph::new(Line::styled(strings::CHANGE_PASSWORD_TITLE, theme.title())),
            rows[0],
        );
        for (i, label) in strings::PASSWORD_FIELDS.iter().enumerate() {
            form.fields[i].render(f, rows[i + 1], label, form.focus == i, theme);
        }
        if let Some(e) = &form.error {
            f.render_widget(
                Paragraph::new(Line::styled(e.clone(), theme.error())).wrap(Wrap { trim: true }),
                error,
            );
        }
    }
}
