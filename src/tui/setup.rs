//! First run: no database yet. Asks for the organization and the first administrator,
//! creates the database, and signs the administrator in.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use zeroize::Zeroizing;

use super::app::{Act, App, Ctx, Outcome, Target};
use super::input::TextInput;
use super::keymap::{self, Key, KeyBinding, bind};
use super::pane::{Keyed, Loaded};
use super::strings;
use super::theme::Theme;
use super::widgets::{centered, frame, key_line};
use crate::core::{Channel, Core, CoreError, NewUser, SignInStep};
use crate::store::Role;

pub struct SetupScreen {
    fields: [TextInput; 6],
    focus: usize,
    error: Option<String>,
}

const LABELS: [&str; 6] = strings::SETUP_LABELS;

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

    fn submit(&mut self, ctx: &mut Ctx) {
        if self.fields[4].value() != self.fields[5].value() {
            self.error = Some(strings::PASSWORDS_DIFFER.into());
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
        let path = ctx.db.clone();
        let mailer = Arc::clone(&ctx.mailer);
        ctx.run_raw(Target::Setup, "created", strings::CREATING_ORG, move || {
            let pw = admin.password.clone().unwrap_or_default();
            let user = admin.username.clone();
            Core::create(&path, &org, admin, mailer).and_then(|core| {
                let step = core.sign_in(&user, &pw, Channel::Console, None)?;
                Ok((core, step))
            })
        });
    }
}

type Created = Result<(Core, SignInStep), CoreError>;

/// What a key does on the setup screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Next,
    Previous,
    Submit,
    Quit,
}

const KEYS: &[KeyBinding<Action>] = &[
    bind(
        keymap::ENTER,
        "Enter",
        strings::KEY_NEXT_OR_CREATE,
        true,
        Action::Submit,
    ),
    bind(
        &[Key::Code(KeyCode::Tab), Key::Code(KeyCode::Down)],
        "Tab",
        strings::KEY_MOVE,
        true,
        Action::Next,
    ),
    bind(
        &[Key::Code(KeyCode::BackTab), Key::Code(KeyCode::Up)],
        "",
        "",
        false,
        Action::Previous,
    ),
    bind(keymap::ESC, "Esc", strings::KEY_QUIT, true, Action::Quit),
];

impl Keyed for SetupScreen {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        Some(&mut self.fields[self.focus])
    }
    fn handle(&mut self, a: Action, ctx: &mut Ctx) -> Outcome {
        match a {
            Action::Quit => ctx.act(Act::Quit),
            Action::Next => self.focus = (self.focus + 1) % 6,
            Action::Previous => self.focus = (self.focus + 5) % 6,
            Action::Submit if self.focus < 5 => self.focus += 1,
            Action::Submit => self.submit(ctx),
        }
        Outcome::Consumed
    }
    /// The organization is created: the core is installed and the administrator is in.
    fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        match r.take::<Created>() {
            Some(Ok((core, step))) => {
                ctx.core = Some(Arc::new(core));
                if let SignInStep::SignedIn(s) = step {
                    ctx.act(Act::SignedIn(s));
                }
            }
            Some(Err(e)) => self.error = Some(e.to_string()),
            None => {}
        }
    }
}

impl SetupScreen {
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
            strings::SETUP_TITLE,
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
            Paragraph::new(strings::setup_intro(&app.ctx.db.shown())).wrap(Wrap { trim: true }),
            rows[0],
        );
        for (i, field) in self.fields.iter().enumerate() {
            field.render(f, rows[i + 1], LABELS[i], self.focus == i, theme);
        }
        f.render_widget(
            Paragraph::new(strings::setup_passwords(&app.ctx.mailer.describe()))
                .style(theme.dim())
                .wrap(Wrap { trim: true }),
            rows[8],
        );
        let line = match (&self.error, status) {
            (_, Some((s, err))) => Line::styled(s, if err { theme.error() } else { theme.warn() }),
            (Some(e), None) => Line::styled(e.clone(), theme.error()),
            (None, None) => key_line(&keymap::footer(KEYS), theme),
        };
        f.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), rows[9]);
    }
}

impl Default for SetupScreen {
    fn default() -> Self {
        Self::new()
    }
}
