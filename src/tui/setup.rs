//! First run: no database yet. Asks for the organization and the first administrator,
//! creates the database, and signs the administrator in.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use zeroize::Zeroizing;

use super::app::{Act, App, Apply, Ctx, Outcome};
use super::input::TextInput;
use super::theme::Theme;
use super::widgets::{centered, frame};
use crate::core::{Channel, Core, NewUser, SignInStep};
use crate::store::Role;

pub struct SetupScreen {
    fields: [TextInput; 6],
    focus: usize,
    error: Option<String>,
}

const LABELS: [&str; 6] = [
    "Organization ",
    "Admin user   ",
    "Admin email  ",
    "Admin name   ",
    "Password     ",
    "Again        ",
];

impl SetupScreen {
    pub fn new() -> Self {
        Self {
            fields: [
                TextInput::new(),
                TextInput::new(),
                TextInput::new(),
                TextInput::new(),
                TextInput::masked(),
                TextInput::masked(),
            ],
            focus: 0,
            error: None,
        }
    }

    pub fn set_error(&mut self, e: String) {
        self.error = Some(e);
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        match key.code {
            KeyCode::Esc => ctx.act(Act::Quit),
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % 6,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + 5) % 6,
            KeyCode::Enter if self.focus < 5 => self.focus += 1,
            KeyCode::Enter => self.submit(ctx),
            _ => {
                self.fields[self.focus].handle_key(key);
            }
        }
        Outcome::Consumed
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        if self.fields[4].value() != self.fields[5].value() {
            self.error = Some(super::strings::PASSWORDS_DIFFER.into());
            self.fields[4].clear();
            self.fields[5].clear();
            self.focus = 4;
            return;
        }
        let org = self.fields[0].value().trim().to_string();
        let admin = NewUser {
            username: self.fields[1].value().trim().to_string(),
            email: self.fields[2].value().trim().to_string(),
            name: self.fields[3].value().trim().to_string(),
            role: Role::Admin,
            password: Some(Zeroizing::new(self.fields[4].value().to_string())),
        };
        let path = ctx.db_path.clone();
        let mailer = Arc::clone(&ctx.mailer);
        ctx.spawn_raw("Creating the organization…", move || {
            let pw = admin.password.clone().unwrap_or_default();
            let user = admin.username.clone();
            let made = Core::create(&path, &org, admin, mailer).and_then(|core| {
                let step = core.sign_in(&user, &pw, Channel::Console, None)?;
                Ok((core, step))
            });
            Box::new(move |app: &mut App| match made {
                Ok((core, step)) => {
                    app.set_core(Arc::new(core));
                    if let SignInStep::SignedIn(s) = step {
                        app.ctx.act(Act::SignedIn(s));
                    }
                }
                Err(e) => {
                    if let super::app::Screen::Setup(s) = &mut app.screen {
                        s.set_error(e.to_string());
                    }
                }
            }) as Apply
        });
    }

    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        app: &App,
        status: Option<(String, bool)>,
    ) {
        let inner = frame(
            f,
            centered(area, 72, 20),
            "mfa-console · first run",
            theme,
            false,
        );
        let rows = Layout::vertical([
            Constraint::Length(3),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(1),
        ])
        .split(inner);
        f.render_widget(
            Paragraph::new(format!(
                "No database at {} yet. Name your organization (authenticator apps show it) and create the first administrator.",
                app.ctx.db_path.display()
            ))
            .wrap(Wrap { trim: true }),
            rows[0],
        );
        for (i, field) in self.fields.iter().enumerate() {
            field.render(f, rows[i + 1], LABELS[i], self.focus == i, theme);
        }
        f.render_widget(
            Paragraph::new(format!(
                "Passwords: 12 characters or more; a few words make a good one. Mail (activation and verification codes) goes to {}.",
                app.ctx.mailer.describe()
            ))
            .style(theme.dim())
            .wrap(Wrap { trim: true }),
            rows[8],
        );
        let line = match (&self.error, status) {
            (_, Some((s, err))) => Line::styled(s, if err { theme.error() } else { theme.warn() }),
            (Some(e), None) => Line::styled(e.clone(), theme.error()),
            (None, None) => Line::from(vec![
                Span::styled("Enter", theme.key()),
                Span::raw(" next / create   "),
                Span::styled("Tab", theme.key()),
                Span::raw(" move   "),
                Span::styled("Esc", theme.key()),
                Span::raw(" quit"),
            ]),
        };
        f.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), rows[9]);
    }
}

impl Default for SetupScreen {
    fn default() -> Self {
        Self::new()
    }
}
