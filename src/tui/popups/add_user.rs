//! Adding a user: username, email, name and role; the user is invited.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Dialog, Popup};
use crate::core::CoreError;
use crate::core::NewUser;
use crate::store::Role;
use crate::tui::app::{Act, Ctx, Outcome, Target};
use crate::tui::input::TextInput;
use crate::tui::keymap::{self, Key, KeyBinding, bind};
use crate::tui::pane::{Keyed, Loaded};
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame, key_line};

pub struct AddUser {
    pub(super) username: TextInput,
    pub(super) email: TextInput,
    pub(super) name: TextInput,
    pub(super) role: Role,
    pub(super) focus: usize,
    pub(super) error: Option<String>,
}

impl AddUser {
    fn finished(&mut self, r: Loaded, ctx: &mut Ctx) {
        match r.take::<Result<crate::core::users::AddedUser, CoreError>>() {
            Some(Ok(added)) => {
                ctx.act(Act::Pop);
                let mut lines = vec![strings::user_added(&added.username)];
                if let Some(code) = &added.activation_code {
                    lines.push(String::new());
                    lines.push(strings::activation_code_line(code.as_str()));
                    lines.push(strings::ACTIVATE_HOW.into());
                }
                match &added.mail_error {
                    None => lines.push(strings::mailed_through(&ctx.mailer.describe())),
                    Some(e) => lines.push(strings::not_mailed(e)),
                }
                ctx.act(Act::Push(Popup::message(
                    strings::USER_ADDED_TITLE,
                    lines,
                    false,
                )));
                ctx.act(Act::Reload);
            }
            Some(Err(e)) => self.error = Some(e.to_string()),
            None => {}
        }
    }

    fn submit(&mut self, ctx: &mut Ctx) {
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
        ctx.run(Target::Popup, "added", strings::ADDING_USER, move |core| {
            core.add_user(crate::core::Actor::User(&session), new)
        });
    }
}

/// The role field's place among the fields.
const ROLE: usize = 3;

/// What a key does in the add-user dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Next,
    Previous,
    NextRole,
    PreviousRole,
    Submit,
    Cancel,
}

const SUBMIT: KeyBinding<Action> = bind(
    keymap::ENTER,
    "Enter",
    strings::KEY_NEXT_OR_ADD,
    true,
    Action::Submit,
);
const CANCEL: KeyBinding<Action> = bind(
    keymap::ESC,
    "Esc",
    strings::KEY_CANCEL,
    true,
    Action::Cancel,
);
const NEXT: KeyBinding<Action> = keymap::next_field(Action::Next);
const PREVIOUS: KeyBinding<Action> = keymap::previous_field(Action::Previous);

/// In the text fields, Space and the arrows are text and cursor.
pub const KEYS: &[KeyBinding<Action>] = &[SUBMIT, CANCEL, NEXT, PREVIOUS];

/// On the role, they change it.
pub const ROLE_KEYS: &[KeyBinding<Action>] = &[
    SUBMIT,
    CANCEL,
    NEXT,
    PREVIOUS,
    bind(
        &[Key::Char(' '), Key::Code(KeyCode::Right)],
        "Space / ←→",
        strings::KEY_CHANGE_ROLE,
        false,
        Action::NextRole,
    ),
    bind(
        &[Key::Code(KeyCode::Left)],
        "",
        "",
        false,
        Action::PreviousRole,
    ),
];

impl Keyed for AddUser {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        if self.focus == ROLE { ROLE_KEYS } else { KEYS }
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        match self.focus {
            0 => Some(&mut self.username),
            1 => Some(&mut self.email),
            2 => Some(&mut self.name),
            _ => None,
        }
    }
    /// A field is being mended: the complaint about the last try goes.
    fn typed(&mut self, _cx: &mut Ctx) {
        self.error = None;
    }
    fn handle(&mut self, a: Action, ctx: &mut Ctx) -> Outcome {
        match a {
            Action::Cancel => ctx.act(Act::Pop),
            Action::Next => self.focus = (self.focus + 1) % 4,
            Action::Previous => self.focus = (self.focus + 3) % 4,
            Action::NextRole => {
                self.role = match self.role {
                    Role::Member => Role::Admin,
                    Role::Admin => Role::Integration,
                    Role::Integration => Role::Member,
                }
            }
            Action::PreviousRole => {
                self.role = match self.role {
                    Role::Member => Role::Integration,
                    Role::Admin => Role::Member,
                    Role::Integration => Role::Admin,
                }
            }
            Action::Submit if self.focus < ROLE => self.focus += 1,
            Action::Submit => self.submit(ctx),
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        self.finished(r, ctx)
    }
}

impl Dialog for AddUser {
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 66, 13);
        let inner = frame(f, r, strings::ADD_USER_TITLE, theme, false);
        let rows = Layout::vertical([Constraint::Length(1); 8]).split(inner);
        f.render_widget(
            Paragraph::new(strings::ADD_USER_INVITED).wrap(Wrap { trim: true }),
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
                Span::styled(strings::ROLE_HINT, theme.dim()),
            ])),
            rows[5],
        );
        let msg = match &self.error {
            Some(e) => Line::styled(e.clone(), theme.error()),
            None => key_line(&keymap::footer(KEYS), theme),
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
