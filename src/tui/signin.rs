//! Sign-in: username and password; then the code step when MFA applies (switch method,
//! send an email code, use a recovery code); a new password after a temporary one; and
//! activation of invited accounts. From the code step only the code or Esc lead anywhere.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use zeroize::Zeroizing;

use super::app::{Act, App, Ctx, Outcome, Target};
use super::input::TextInput;
use super::pane::Loaded;
use super::theme::Theme;
use super::widgets::{centered, frame};
use crate::core::controls::method_name;
use crate::core::{Channel, CodeKind, CoreError, PendingPasswordChange, PendingSignIn, SignInStep};
use crate::store::Method;

enum Step {
    Credentials,
    Code {
        pending: PendingSignIn,
        method: usize,
        recovery: bool,
    },
    NewPassword(PendingPasswordChange),
    Activate,
}

/// The other ways to finish the code step, for the `?` help.
pub const CODE_KEYS_HELP: &[(&str, &str)] = &[
    ("Ctrl-O / F2", "other method"),
    ("Ctrl-E / F3", "send email code"),
    ("Ctrl-R / F4", "recovery code"),
    ("Ctrl-A / F2", "activate an invited account (first step)"),
];

pub struct SignInScreen {
    step: Step,
    username: TextInput,
    password: TextInput,
    code: TextInput,
    new1: TextInput,
    new2: TextInput,
    focus: usize,
    error: Option<String>,
    info: Option<String>,
}

impl SignInScreen {
    pub fn new() -> Self {
        Self {
            step: Step::Credentials,
            username: TextInput::new(),
            password: TextInput::masked(),
            code: TextInput::new(),
            new1: TextInput::masked(),
            new2: TextInput::masked(),
            focus: 0,
            error: None,
            info: None,
        }
    }

    fn reset(&mut self) {
        let user = self.username.value().to_string();
        *self = Self::new();
        self.username.set(&user);
        self.focus = if user.is_empty() { 0 } else { 1 };
    }

    fn fields(&self) -> usize {
        match self.step {
            Step::Credentials => 2,
            Step::Code { .. } => 1,
            Step::NewPassword(_) => 2,
            Step::Activate => 4,
        }
    }

    fn field(&mut self, i: usize) -> &mut TextInput {
        match (&self.step, i) {
            (Step::Credentials, 0) | (Step::Activate, 0) => &mut self.username,
            (Step::Credentials, _) => &mut self.password,
            (Step::Code { .. }, _) => &mut self.code,
            (Step::NewPassword(_), 0) | (Step::Activate, 2) => &mut self.new1,
            (Step::NewPassword(_), _) | (Step::Activate, 3) => &mut self.new2,
            (Step::Activate, _) => &mut self.code,
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        let n = self.fields();
        // Function keys are unreliable over SSH and on macOS: each alternative also has a
        // Ctrl letter, shown beside it on screen.
        let code = match key.code {
            KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => match c {
                'a' | 'o' => KeyCode::F(2),
                'e' => KeyCode::F(3),
                'r' => KeyCode::F(4),
                _ => key.code,
            },
            other => other,
        };
        match code {
            KeyCode::Esc => match self.step {
                Step::Credentials => ctx.act(Act::Quit),
                _ => self.reset(),
            },
            KeyCode::F(2) if matches!(self.step, Step::Credentials) => {
                self.step = Step::Activate;
                self.focus = 0;
                self.error = None;
            }
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            KeyCode::Enter if self.focus + 1 < n => self.focus += 1,
            KeyCode::Enter => self.submit(ctx),
            KeyCode::F(2) => {
                if let Step::Code {
                    pending,
                    method,
                    recovery,
                } = &mut self.step
                    && pending.methods().len() > 1
                {
                    *method = (*method + 1) % pending.methods().len();
                    *recovery = false;
                    self.code.clear();
                }
            }
            KeyCode::F(3) => self.send_email_code(ctx),
            KeyCode::F(4) => {
                if let Step::Code { recovery, .. } = &mut self.step {
                    *recovery = !*recovery;
                    self.code.clear();
                }
            }
            _ => {
                let f = self.focus;
                self.field(f).handle_key(key);
            }
        }
        Outcome::Consumed
    }

    fn send_email_code(&mut self, ctx: &mut Ctx) {
        let Step::Code {
            pending, method, ..
        } = &self.step
        else {
            return;
        };
        if pending.methods().get(*method) != Some(&Method::Email) {
            return;
        }
        let pending = pending.clone();
        ctx.run(
            Target::SignIn,
            "sent",
            super::strings::SENDING_CODE,
            move |core| core.send_sign_in_code(&pending),
        );
    }

    /// A result of the sign-in's work.
    pub fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        if r.kind == "sent" {
            match r.take::<Result<(String, i64), CoreError>>() {
                Some(Ok((addr, exp))) => {
                    self.error = None;
                    self.info = Some(super::strings::sign_in_code_sent(
                        &crate::core::text::mask_email(&addr),
                        &crate::core::clock::format_time(exp),
                    ));
                }
                Some(Err(e)) => self.error = Some(e.to_string()),
                None => {}
            }
            return;
        }
        if let Some((r, offer)) = r.take::<Stepped>() {
            self.after(r, offer, ctx);
        }
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        self.info = None;
        match &self.step {
            Step::Credentials => {
                let user = self.username.value().trim().to_string();
                let pw = Zeroizing::new(self.password.value().to_string());
                self.password.clear();
                let token = super::trusted::load(&ctx.db_path, &user).map(Zeroizing::new);
                ctx.run(
                    Target::SignIn,
                    "step",
                    super::strings::SIGNING_IN,
                    move |core| {
                        stepped(
                            core,
                            core.sign_in(
                                &user,
                                &pw,
                                Channel::Console,
                                token.as_deref().map(|t| t.as_str()),
                            ),
                        )
                    },
                );
            }
            Step::Code {
                pending,
                method,
                recovery,
            } => {
                let kind = if *recovery {
                    CodeKind::Recovery
                } else {
                    match pending.methods().get(*method) {
                        Some(Method::Email) => CodeKind::Email,
                        _ => CodeKind::Authenticator,
                    }
                };
                let pending = pending.clone();
                let code = Zeroizing::new(self.code.value().to_string());
                self.code.clear();
                ctx.run(
                    Target::SignIn,
                    "step",
                    super::strings::CHECKING_CODE,
                    move |core| stepped(core, core.submit_code(&pending, &code, kind)),
                );
            }
            Step::NewPassword(pending) => {
                if self.new1.value() != self.new2.value() {
                    self.error = Some(super::strings::PASSWORDS_DIFFER.into());
                    self.new1.clear();
                    self.new2.clear();
                    self.focus = 0;
                    return;
                }
                let pending = pending.clone();
                let pw = Zeroizing::new(self.new1.value().to_string());
                ctx.run(
                    Target::SignIn,
                    "step",
                    super::strings::SAVING_PASSWORD,
                    move |core| {
                        let r = core
                            .finish_password_change(&pending, &pw)
                            .map(SignInStep::SignedIn);
                        stepped(core, r)
                    },
                );
            }
            Step::Activate => {
                if self.new1.value() != self.new2.value() {
                    self.error = Some(super::strings::PASSWORDS_DIFFER.into());
                    self.new1.clear();
                    self.new2.clear();
                    self.focus = 2;
                    return;
                }
                let user = self.username.value().trim().to_string();
                let code = Zeroizing::new(self.code.value().to_string());
                let pw = Zeroizing::new(self.new1.value().to_string());
                ctx.run(
                    Target::SignIn,
                    "step",
                    super::strings::ACTIVATING,
                    move |core| stepped(core, core.activate(&user, &code, &pw, Channel::Console)),
                );
            }
        }
    }

    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        app: &App,
        status: Option<(String, bool)>,
    ) {
        let org = app
            .ctx
            .core
            .as_ref()
            .and_then(|c| c.organization().ok())
            .map(|o| crate::core::text::escape_control(&o.name))
            .unwrap_or_default();
        let title = format!("{org} · sign in");
        let inner = frame(f, centered(area, 70, 18), &title, theme, false);
        let rows = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(3),
            Constraint::Length(2),
        ])
        .split(inner);
        let mut keys: Vec<Span> =
            vec![Span::styled("Enter", theme.key()), Span::raw(" continue  ")];
        match &self.step {
            Step::Credentials => {
                f.render_widget(
                    Paragraph::new("Sign in with your username and password."),
                    rows[0],
                );
                self.username
                    .render(f, rows[1], "Username", self.focus == 0, theme);
                self.password
                    .render(f, rows[2], "Password", self.focus == 1, theme);
                if let Some((u, p)) = &app.demo_credentials {
                    f.render_widget(
                        Paragraph::new(format!(
                            "Demo organization: sign in as {u} with the password {p}"
                        ))
                        .style(theme.warn())
                        .wrap(Wrap { trim: true }),
                        rows[5],
                    );
                }
                keys.extend([
                    Span::styled("Ctrl-A/F2", theme.key()),
                    Span::raw(" activate an invited account  "),
                    Span::styled("Esc", theme.key()),
                    Span::raw(" quit"),
                ]);
            }
            Step::Code {
                pending,
                method,
                recovery,
            } => {
                let m = pending
                    .methods()
                    .get(*method)
                    .copied()
                    .unwrap_or(Method::Authenticator);
                let (intro, label) = if *recovery {
                    (
                        "Type one of your recovery codes (each works once).".to_string(),
                        "Recovery code",
                    )
                } else {
                    match m {
                        Method::Authenticator => (
                            "Type the 6-digit code your authenticator app shows now.".to_string(),
                            "App code     ",
                        ),
                        Method::Email => (
                            format!(
                                "Press Ctrl-E (or F3) to email a code to {}, then type it.",
                                pending
                                    .email()
                                    .map(crate::core::text::mask_email)
                                    .unwrap_or_else(|| "your address".into())
                            ),
                            "Email code   ",
                        ),
                    }
                };
                f.render_widget(Paragraph::new(intro).wrap(Wrap { trim: true }), rows[0]);
                self.code.render(f, rows[2], label, true, theme);
                if pending.methods().len() > 1 {
                    let other = pending
                        .methods()
                        .get((*method + 1) % pending.methods().len())
                        .copied()
                        .unwrap_or(m);
                    keys.extend([
                        Span::styled("Ctrl-O/F2", theme.key()),
                        Span::raw(format!(" use {}  ", method_name(other))),
                    ]);
                }
                if m == Method::Email && !*recovery {
                    keys.extend([
                        Span::styled("Ctrl-E/F3", theme.key()),
                        Span::raw(" send code  "),
                    ]);
                }
                keys.extend([
                    Span::styled("Ctrl-R/F4", theme.key()),
                    Span::raw(if *recovery {
                        " use a code  "
                    } else {
                        " use a recovery code  "
                    }),
                    Span::styled("Esc", theme.key()),
                    Span::raw(" cancel"),
                ]);
            }
            Step::NewPassword(_) => {
                f.render_widget(
                    Paragraph::new("Your administrator gave you a temporary password. Choose your own (12 characters or more).")
                        .wrap(Wrap { trim: true }),
                    rows[0],
                );
                self.new1
                    .render(f, rows[1], "New password", self.focus == 0, theme);
                self.new2
                    .render(f, rows[2], "Again       ", self.focus == 1, theme);
                keys.extend([Span::styled("Esc", theme.key()), Span::raw(" cancel")]);
            }
            Step::Activate => {
                f.render_widget(
                    Paragraph::new("Invited? Enter your username, the activation code you were given, and choose a password.")
                        .wrap(Wrap { trim: true }),
                    rows[0],
                );
                self.username
                    .render(f, rows[1], "Username       ", self.focus == 0, theme);
                self.code
                    .render(f, rows[2], "Activation code", self.focus == 1, theme);
                self.new1
                    .render(f, rows[3], "New password   ", self.focus == 2, theme);
                self.new2
                    .render(f, rows[4], "Again          ", self.focus == 3, theme);
                keys.extend([Span::styled("Esc", theme.key()), Span::raw(" back")]);
            }
        }
        let mut msg = Vec::new();
        if let Some((s, err)) = status {
            msg.push(Line::styled(
                s,
                if err { theme.error() } else { theme.warn() },
            ));
        }
        if let Some(e) = &self.error {
            msg.push(Line::styled(e.clone(), theme.error()));
        }
        if let Some(i) = &self.info {
            msg.push(Line::styled(i.clone(), theme.ok()));
        }
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), rows[6]);
        f.render_widget(
            Paragraph::new(Line::from(keys)).wrap(Wrap { trim: true }),
            rows[7],
        );
    }
}

impl Default for SignInScreen {
    fn default() -> Self {
        Self::new()
    }
}

/// What a sign-in step's answer does to the screen.
/// A step of the sign-in, and (once signed in) whether the core offers to remember
/// this terminal, for how many days.
type Stepped = (Result<SignInStep, CoreError>, Option<u32>);

fn stepped(core: &crate::core::Core, r: Result<SignInStep, CoreError>) -> Stepped {
    let offer = match &r {
        Ok(SignInStep::SignedIn(session)) => core.remember_terminal_offer(session).unwrap_or(None),
        _ => None,
    };
    (r, offer)
}

impl SignInScreen {
    fn after(&mut self, r: Result<SignInStep, CoreError>, offer: Option<u32>, ctx: &mut Ctx) {
        let s = self;
        s.error = None;
        match r {
            Ok(SignInStep::SignedIn(session)) => {
                ctx.act(Act::SignedIn(session));
                if let Some(days) = offer {
                    ctx.act(Act::Push(super::popups::Popup::confirm(
                        super::strings::REMEMBER_TITLE,
                        vec![super::strings::remember_what(days)],
                        super::pending::Pending::TrustDevice,
                        true,
                    )));
                }
            }
            Ok(SignInStep::CodeRequired(pending)) => {
                s.step = Step::Code {
                    pending,
                    method: 0,
                    recovery: false,
                };
                s.focus = 0;
                s.code.clear();
            }
            Ok(SignInStep::PasswordChangeRequired(p)) => {
                s.step = Step::NewPassword(p);
                s.focus = 0;
            }
            Err(e @ (CoreError::Refused | CoreError::Locked { .. } | CoreError::Expired)) => {
                let back = matches!(e, CoreError::Locked { .. } | CoreError::Expired);
                if back || matches!(s.step, Step::Credentials) {
                    s.reset();
                }
                s.error = Some(e.to_string());
            }
            Err(e) => s.error = Some(e.to_string()),
        }
    }
}
