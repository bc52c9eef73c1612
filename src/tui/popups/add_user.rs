//! Adding a user: username, email, name and role; the user is invited.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Popup;
use crate::core::NewUser;
use crate::store::Role;
use crate::tui::app::{Act, App, Apply, Ctx};
use crate::tui::input::TextInput;
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
                            if let crate::tui::app::Screen::Main(m) = &mut app.screen {
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
