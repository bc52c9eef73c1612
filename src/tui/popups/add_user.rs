//! Adding a user: username, email, name and role; the user is invited.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Popup;
use crate::core::CoreError;
use crate::core::NewUser;
use crate::store::Role;
use crate::tui::app::{Act, Ctx, Target};
use crate::tui::input::TextInput;
use crate::tui::pane::Loaded;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct AddUser {
    pub(super) username: TextInput,
    pub(super) email: TextInput,
    pub(super) name: TextInput,
    pub(super) role: Role,
    pub(super) focus: usize,
    pub(super) error: Option<String>,
}

impl AddUser {
    pub(super) fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
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
                ctx.act(Act::Push(Popup::message("User added", lines, false)));
                ctx.act(Act::Reload);
            }
            Some(Err(e)) => self.error = Some(e.to_string()),
            None => {}
        }
    }

    pub(super) fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
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
                ctx.run(Target::Popup, "added", strings::ADDING_USER, move |core| {
                    core.add_user(crate::core::Actor::User(&session), new)
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

    pub(super) fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
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
