//! Sign-in: username and password; then the code step when MFA applies (switch method,
//! send an email code, use a recovery code); a new password after a temporary one; and
//! activation of invited accounts. From the code step only the code or Esc lead anywhere.

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

/// What a key does on the sign-in screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Next,
    Previous,
    Submit,
    /// Esc: quit from the first step, back to it from the others.
    Back,
    Activate,
    OtherMethod,
    SendCode,
    Recovery,
}

const NEXT: KeyBinding<Action> = keymap::next_field(Action::Next);
const PREVIOUS: KeyBinding<Action> = keymap::previous_field(Action::Previous);
const SUBMIT: KeyBinding<Action> = bind(
    keymap::ENTER,
    "Enter",
    strings::KEY_CONTINUE,
    true,
    Action::Submit,
);

// Function keys are unreliable over SSH and on macOS: each alternative also has a Ctrl
// letter, written first.
const CREDENTIALS: &[KeyBinding<Action>] = &[
    SUBMIT,
    bind(
        &[Key::Ctrl('a'), Key::Code(KeyCode::F(2))],
        "Ctrl-A/F2",
        strings::KEY_ACTIVATE,
        true,
        Action::Activate,
    ),
    bind(keymap::ESC, "Esc", strings::KEY_QUIT, true, Action::Back),
    NEXT,
    PREVIOUS,
];
const CODE: &[KeyBinding<Action>] = &[
    SUBMIT,
    bind(
        &[Key::Ctrl('o'), Key::Code(KeyCode::F(2))],
        "Ctrl-O/F2",
        strings::KEY_OTHER_METHOD,
        true,
        Action::OtherMethod,
    ),
    bind(
        &[Key::Ctrl('e'), Key::Code(KeyCode::F(3))],
        "Ctrl-E/F3",
        strings::KEY_SEND_CODE,
        true,
        Action::SendCode,
    ),
    bind(
        &[Key::Ctrl('r'), Key::Code(KeyCode::F(4))],
        "Ctrl-R/F4",
        strings::KEY_RECOVERY,
        true,
        Action::Recovery,
    ),
    bind(keymap::ESC, "Esc", strings::KEY_CANCEL, true, Action::Back),
];
const NEW_PASSWORD: &[KeyBinding<Action>] = &[
    SUBMIT,
    bind(keymap::ESC, "Esc", strings::KEY_CANCEL, true, Action::Back),
    NEXT,
    PREVIOUS,
];
const ACTIVATE: &[KeyBinding<Action>] = &[
    SUBMIT,
    bind(keymap::ESC, "Esc", strings::KEY_BACK, true, Action::Back),
    NEXT,
    PREVIOUS,
];

/// The sign-in's keys, titled, for the `?` help.
pub fn help() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (strings::HELP_SIGN_IN, keymap::help(CREDENTIALS)),
        (strings::HELP_SIGN_IN_CODE, keymap::help(CODE)),
    ]
}

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
    /// The organization's name for the title, read off the UI thread.
    org: String,
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
            org: String::new(),
        }
    }

    /// A new sign-in screen, reading the organization's name for its title.
    pub fn opened(ctx: &mut Ctx) -> Self {
        ctx.load_to(Target::SignIn, "org", |core| {
            core.organization()
                .map(|o| crate::core::text::escape_control(&o.name))
        });
        Self::new()
    }

    fn reset(&mut self) {
        let user = self.username.value().to_string();
        let org = std::mem::take(&mut self.org);
        *self = Self::new();
        self.org = org;
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

    /// Whether the footer offers `a` now, and what it says for it.
    fn offer(&self, a: Action, what: &'static str) -> Option<String> {
        let Step::Code {
            pending,
            method,
            recovery,
        } = &self.step
        else {
            return Some(what.to_string());
        };
        let methods = pending.methods();
        let m = methods
            .get(*method)
            .copied()
            .unwrap_or(Method::Authenticator);
        match a {
            Action::OtherMethod if methods.len() < 2 => None,
            Action::OtherMethod => {
                let other = methods
                    .get((*method + 1) % methods.len())
                    .copied()
                    .unwrap_or(m);
                Some(strings::use_method(method_name(other)))
            }
            Action::SendCode if m != Method::Email || *recovery => None,
            Action::Recovery if *recovery => Some(strings::KEY_USE_CODE.into()),
            _ => Some(what.to_string()),
        }
    }
}

impl Keyed for SignInScreen {
    type Action = Action;

    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        match self.step {
            Step::Credentials => CREDENTIALS,
            Step::Code { .. } => CODE,
            Step::NewPassword(_) => NEW_PASSWORD,
            Step::Activate => ACTIVATE,
        }
    }

    fn typing(&mut self) -> Option<&mut TextInput> {
        let f = self.focus;
        Some(self.field(f))
    }

    fn handle(&mut self, a: Action, ctx: &mut Ctx) -> Outcome {
        let n = self.fields();
        match a {
            Action::Back => match self.step {
                Step::Credentials => ctx.act(Act::Quit),
                _ => self.reset(),
            },
            Action::Activate => {
                self.step = Step::Activate;
                self.focus = 0;
                self.error = None;
            }
            Action::Next => self.focus = (self.focus + 1) % n,
            Action::Previous => self.focus = (self.focus + n - 1) % n,
            Action::Submit if self.focus + 1 < n => self.focus += 1,
            Action::Submit => self.submit(ctx),
            Action::OtherMethod => {
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
            Action::SendCode => self.send_email_code(ctx),
            Action::Recovery => {
                if let Step::Code { recovery, .. } = &mut self.step {
                    *recovery = !*recovery;
                    self.code.clear();
                }
            }
        }
        Outcome::Consumed
    }

    fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        self.finished(r, ctx)
    }
}

impl SignInScreen {
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
        ctx.run(Target::SignIn, "sent", strings::SENDING_CODE, move |core| {
            core.send_sign_in_code(&pending)
        });
    }

    /// A result of the sign-in's work.
    fn finished(&mut self, r: Loaded, ctx: &mut Ctx) {
        if r.kind == "org" {
            if let Some(Ok(name)) = r.take::<Result<String, CoreError>>() {
                self.org = name;
            }
            return;
        }
        if r.kind == "sent" {
            match r.take::<Result<(String, i64), CoreError>>() {
                Some(Ok((addr, exp))) => {
                    self.error = None;
                    self.info = Some(strings::sign_in_code_sent(
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
                let token = super::trusted::load(&ctx.db.identity(), &user).map(Zeroizing::new);
                ctx.run(Target::SignIn, "step", strings::SIGNING_IN, move |core| {
                    stepped(
                        core,
                        core.sign_in(
                            &user,
                            &pw,
                            Channel::Console,
                            token.as_deref().map(|t| t.as_str()),
                        ),
                    )
                });
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
                    strings::CHECKING_CODE,
                    move |core| stepped(core, core.submit_code(&pending, &code, kind)),
                );
            }
            Step::NewPassword(pending) => {
                if self.new1.value() != self.new2.value() {
                    self.error = Some(strings::PASSWORDS_DIFFER.into());
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
                    strings::SAVING_PASSWORD,
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
                    self.error = Some(strings::PASSWORDS_DIFFER.into());
                    self.new1.clear();
                    self.new2.clear();
                    self.focus = 2;
                    return;
                }
                let user = self.username.value().trim().to_string();
                let code = Zeroizing::new(self.code.value().to_string());
                let pw = Zeroizing::new(self.new1.value().to_string());
                ctx.run(Target::SignIn, "step", strings::ACTIVATING, move |core| {
                    stepped(core, core.activate(&user, &code, &pw, Channel::Console))
                });
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
        let title = strings::sign_in_title(&self.org);
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
        let keys: Vec<(&str, String)> = self
            .keymap()
            .iter()
            .filter(|b| b.footer)
            .filter_map(|b| Some((b.shown, self.offer(b.action, b.what)?)))
            .collect();
        let keys: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match &self.step {
            Step::Credentials => {
                f.render_widget(Paragraph::new(strings::SIGN_IN_INTRO), rows[0]);
                self.username
                    .render(f, rows[1], strings::LABEL_USERNAME, self.focus == 0, theme);
                self.password
                    .render(f, rows[2], strings::LABEL_PASSWORD, self.focus == 1, theme);
                if let Some((u, p)) = &app.demo_credentials {
                    f.render_widget(
                        Paragraph::new(strings::demo_sign_in(u, p))
                            .style(theme.warn())
                            .wrap(Wrap { trim: true }),
                        rows[5],
                    );
                }
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
                        strings::CODE_INTRO_RECOVERY.to_string(),
                        strings::LABEL_RECOVERY,
                    )
                } else {
                    match m {
                        Method::Authenticator => {
                            (strings::CODE_INTRO_APP.to_string(), strings::LABEL_APP_CODE)
                        }
                        Method::Email => (
                            strings::code_intro_email(
                                pending
                                    .email()
                                    .map(crate::core::text::mask_email)
                                    .as_deref(),
                            ),
                            strings::LABEL_EMAIL_CODE,
                        ),
                    }
                };
                f.render_widget(Paragraph::new(intro).wrap(Wrap { trim: true }), rows[0]);
                self.code.render(f, rows[2], label, true, theme);
            }
            Step::NewPassword(_) => {
                f.render_widget(
                    Paragraph::new(strings::NEW_PASSWORD_INTRO).wrap(Wrap { trim: true }),
                    rows[0],
                );
                self.new1.render(
                    f,
                    rows[1],
                    strings::LABEL_NEW_PASSWORD,
                    self.focus == 0,
                    theme,
                );
                self.new2
                    .render(f, rows[2], strings::LABEL_AGAIN, self.focus == 1, theme);
            }
            Step::Activate => {
                f.render_widget(
                    Paragraph::new(strings::ACTIVATE_INTRO).wrap(Wrap { trim: true }),
                    rows[0],
                );
                self.username.render(
                    f,
                    rows[1],
                    strings::ACTIVATE_LABELS[0],
                    self.focus == 0,
                    theme,
                );
                self.code.render(
                    f,
                    rows[2],
                    strings::ACTIVATE_LABELS[1],
                    self.focus == 1,
                    theme,
                );
                self.new1.render(
                    f,
                    rows[3],
                    strings::ACTIVATE_LABELS[2],
                    self.focus == 2,
                    theme,
                );
                self.new2.render(
                    f,
                    rows[4],
                    strings::ACTIVATE_LABELS[3],
                    self.focus == 3,
                    theme,
                );
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
            Paragraph::new(key_line(&keys, theme)).wrap(Wrap { trim: true }),
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
                        strings::REMEMBER_TITLE,
                        vec![strings::remember_what(days)],
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
