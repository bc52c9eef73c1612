//! Configure my MFA: the user's enrollments, and the wizard that adds one. For an
//! authenticator: the QR code of the `otpauth://` URI drawn in the console, the secret in
//! groups of four, and a code that must be right before anything is saved; then the
//! recovery codes, once. For email: the address, a code sent to it, the code typed back.
//! Esc leaves at any step without saving.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::{Act, Ctx, Outcome, Target};
use super::input::TextInput;
use super::keymap::{self, Key, KeyBinding, bind};
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::pending::Pending;
use super::popups::Popup;
use super::strings;
use super::theme::Theme;
use super::widgets::qr::QrWidget;
use super::widgets::{self, pane_block};
use crate::core::clock::{format_short, format_time};
use crate::core::controls::method_name;
use crate::core::{Actor, CoreError, EnrollmentDone, PendingAuthenticator, PendingEmail, Session};
use crate::store::{Enrollment, Method, Organization};

#[derive(Default)]
pub struct WizardPane {
    enrollments: Vec<Enrollment>,
    recovery_left: usize,
    selected: usize,
    authenticator_on: bool,
    email_on: bool,
    address_on_file: String,
    step: Step,
    error: Option<String>,
}

#[derive(Default)]
enum Step {
    #[default]
    Overview,
    EnrollmentCode {
        method: Method,
        input: TextInput,
    },
    App {
        pending: Box<PendingAuthenticator>,
        qr: Option<QrWidget>,
        code: TextInput,
    },
    EmailAddress {
        input: TextInput,
        enrollment_code: Option<String>,
    },
    EmailCode {
        pending: PendingEmail,
        code: TextInput,
    },
}

/// The pane's actions, from its keymaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    AddApp,
    AddEmail,
    Remove,
    Regenerate,
    Submit,
    Leave,
    Resend,
    /// `q` and `?` in a code step: digits are typed there, so these keep their meaning.
    Global,
}

const OVERVIEW: &[KeyBinding<Action>] = &[
    bind(keymap::UP, "↑↓", "choose", false, Action::Up),
    bind(keymap::DOWN, "", "", false, Action::Down),
    bind(&[Key::Char('a')], "a", "add app", true, Action::AddApp),
    bind(&[Key::Char('e')], "e", "email", true, Action::AddEmail),
    bind(
        &[Key::Char('d'), Key::Code(KeyCode::Delete)],
        "d",
        "remove",
        true,
        Action::Remove,
    ),
    bind(
        &[Key::Char('g')],
        "g",
        "new recovery codes",
        true,
        Action::Regenerate,
    ),
];

/// Esc in a step: back to the overview, nothing saved.
const LEAVE: KeyBinding<Action> = bind(
    keymap::ESC,
    "Esc",
    strings::KEY_LEAVE_UNSAVED,
    true,
    Action::Leave,
);

/// Steps where text is typed (an address, an enrollment code).
const TYPING: &[KeyBinding<Action>] = &[
    bind(keymap::ENTER, "Enter", "continue", true, Action::Submit),
    LEAVE,
];

/// Steps where a code is typed: only digits, so q and ? stay global.
const CODE: &[KeyBinding<Action>] = &[
    bind(keymap::ENTER, "Enter", "save", true, Action::Submit),
    LEAVE,
    bind(
        &[Key::Char('q'), Key::Char('?')],
        "",
        "",
        false,
        Action::Global,
    ),
];

const EMAIL_CODE: &[KeyBinding<Action>] = &[
    bind(keymap::ENTER, "Enter", "save", true, Action::Submit),
    LEAVE,
    bind(
        &[Key::Code(KeyCode::F(3)), Key::Ctrl('e')],
        "Ctrl-E/F3",
        "send another code",
        true,
        Action::Resend,
    ),
    bind(
        &[Key::Char('q'), Key::Char('?')],
        "",
        "",
        false,
        Action::Global,
    ),
];

pub const ID: PaneId = "my-mfa";

/// The user's own MFA, read in the background.
struct Mine {
    enrollments: Vec<Enrollment>,
    recovery_left: usize,
    authenticator_on: bool,
    email_on: bool,
    address: String,
}

type MineRead = Result<Mine, CoreError>;
type Begun = Result<PendingAuthenticator, CoreError>;
type EmailBegun = Result<PendingEmail, CoreError>;
type Saved = Result<EnrollmentDone, CoreError>;

impl WizardPane {
    fn refresh(&self, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        cx.load(ID, "mine", move |core| -> MineRead {
            let actor = Actor::User(&session);
            let org = core.organization()?;
            Ok(Mine {
                enrollments: core.enrollments(actor, session.username())?,
                recovery_left: core
                    .recovery_codes_left(actor, session.username())
                    .unwrap_or(0),
                authenticator_on: org.controls.authenticator,
                email_on: org.controls.email,
                address: core
                    .users_email(actor, session.username())
                    .unwrap_or_default(),
            })
        });
    }

    fn mine(&mut self, m: Mine, cx: &mut Ctx) {
        self.enrollments = m.enrollments;
        self.recovery_left = m.recovery_left;
        self.authenticator_on = m.authenticator_on;
        self.email_on = m.email_on;
        self.address_on_file = m.address;
        self.selected = self.selected.min(self.enrollments.len().saturating_sub(1));
        // The method being set up was turned off meanwhile: say so, not just close.
        let off = match &self.step {
            Step::App { .. } => !self.authenticator_on,
            Step::EmailAddress { .. } | Step::EmailCode { .. } => !self.email_on,
            Step::EnrollmentCode { method, .. } => match method {
                Method::Authenticator => !self.authenticator_on,
                Method::Email => !self.email_on,
            },
            Step::Overview => false,
        };
        if off {
            self.step = Step::Overview;
            self.error = None;
            cx.act(Act::Error(strings::WIZARD_METHOD_OFF.into()));
        }
    }

    fn begin(&mut self, method: Method, enrollment_code: Option<String>, cx: &mut Ctx) {
        self.error = None;
        match method {
            Method::Authenticator => {
                let Some(session) = cx.session.clone() else {
                    return;
                };
                cx.run(
                    Target::Pane(ID),
                    "begin",
                    strings::PREPARING_QR,
                    move |core| -> Begun {
                        core.begin_authenticator(
                            Actor::User(&session),
                            session.username(),
                            None,
                            enrollment_code.as_deref(),
                        )
                    },
                );
            }
            Method::Email => {
                self.step = Step::EmailAddress {
                    input: TextInput::with_value(&self.address_on_file),
                    enrollment_code,
                };
            }
        }
    }

    fn begun(&mut self, r: Begun, cx: &mut Ctx) {
        match r {
            Ok(p) => {
                let qr = QrWidget::new(p.uri())
                    .ok()
                    .map(|q| q.plain(!cx.theme.color));
                self.step = Step::App {
                    pending: Box::new(p),
                    qr,
                    code: TextInput::new(),
                };
            }
            Err(CoreError::EnrollmentCodeRequired) => {
                self.step = Step::EnrollmentCode {
                    method: Method::Authenticator,
                    input: TextInput::new(),
                }
            }
            Err(e) => {
                if matches!(self.step, Step::EnrollmentCode { .. }) {
                    self.error = Some(e.to_string());
                } else {
                    cx.act(Act::Error(e.to_string()));
                }
            }
        }
    }

    fn submit(&mut self, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        match &mut self.step {
            Step::Overview => {}
            Step::EnrollmentCode { method, input } => {
                let code = input.value().to_string();
                let m = *method;
                self.begin(m, Some(code), cx);
            }
            Step::App { pending, code, .. } => {
                let typed = code.value().to_string();
                code.clear();
                let p = pending.clone();
                cx.run(
                    Target::Pane(ID),
                    "saved-app",
                    strings::CHECKING_CODE,
                    move |core| -> Saved {
                        core.confirm_authenticator(Actor::User(&session), &p, &typed)
                    },
                );
            }
            Step::EmailAddress {
                input,
                enrollment_code,
            } => {
                let address = input.value().trim().to_string();
                let ec = enrollment_code.clone();
                cx.run(
                    Target::Pane(ID),
                    "email-begun",
                    strings::SENDING_CODE,
                    move |core| -> EmailBegun {
                        core.begin_email_enrollment(
                            Actor::User(&session),
                            session.username(),
                            Some(&address),
                            ec.as_deref(),
                        )
                    },
                );
            }
            Step::EmailCode { pending, code } => {
                let typed = code.value().to_string();
                code.clear();
                let p = pending.clone();
                cx.run(
                    Target::Pane(ID),
                    "saved-email",
                    strings::CHECKING_CODE,
                    move |core| -> Saved {
                        core.confirm_email_enrollment(Actor::User(&session), &p, &typed)
                    },
                );
            }
        }
    }

    fn saved(&mut self, done: EnrollmentDone, msg: &str, cx: &mut Ctx) {
        self.step = Step::Overview;
        self.error = None;
        if let Some(codes) = done.recovery_codes {
            cx.act(Act::Push(Popup::recovery_codes(
                codes.iter().map(|c| c.to_string()).collect(),
            )));
        }
        cx.act(Act::Notice(msg.into()));
        self.refresh(cx);
        if cx.session.as_ref().is_some_and(|s| s.must_enroll) {
            // Enforcement is met now: sign in again to get the full session.
            cx.act(Act::Notice(strings::sign_in_again_after(msg)));
        }
    }
}

impl Keyed for WizardPane {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        match self.step {
            Step::Overview => OVERVIEW,
            Step::EnrollmentCode { .. } | Step::EmailAddress { .. } => TYPING,
            Step::App { .. } => CODE,
            Step::EmailCode { .. } => EMAIL_CODE,
        }
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        match &mut self.step {
            Step::Overview => None,
            Step::EnrollmentCode { input, .. } | Step::EmailAddress { input, .. } => Some(input),
            Step::App { code, .. } | Step::EmailCode { code, .. } => Some(code),
        }
    }
    fn is_typing(&self) -> bool {
        !matches!(self.step, Step::Overview)
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => {
                self.selected = (self.selected + 1).min(self.enrollments.len().saturating_sub(1))
            }
            Action::AddApp if self.authenticator_on => self.begin(Method::Authenticator, None, cx),
            Action::AddEmail if self.email_on => self.begin(Method::Email, None, cx),
            Action::Remove => {
                if let Some(e) = self.enrollments.get(self.selected) {
                    let what = format!("{} {:?}", method_name(e.method), e.label);
                    cx.act(Act::Push(Popup::confirm_pending_about(
                        Pending::RemoveEnrollment(e.id),
                        &what,
                    )));
                }
            }
            Action::Regenerate if !self.enrollments.is_empty() => cx.act(Act::Push(
                Popup::confirm_pending(Pending::RegenerateRecovery),
            )),
            Action::Submit => self.submit(cx),
            Action::Leave => {
                self.step = Step::Overview;
                self.error = None;
                cx.act(Act::Notice(strings::LEFT_WIZARD.into()));
            }
            Action::Resend => {
                if let Step::EmailCode { pending, .. } = &self.step {
                    let p = pending.clone();
                    cx.run(
                        Target::Pane(ID),
                        "resent",
                        strings::SENDING_CODE,
                        move |core| core.resend_email_enrollment(&p),
                    );
                }
            }
            Action::Global | Action::AddApp | Action::AddEmail | Action::Regenerate => {
                return Outcome::Ignored;
            }
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        match r.kind {
            "mine" => match r.take::<MineRead>() {
                Some(Ok(m)) => self.mine(m, cx),
                Some(Err(e)) => cx.act(Act::Error(e.to_string())),
                None => {}
            },
            "begin" => {
                if let Some(b) = r.take::<Begun>() {
                    self.begun(b, cx);
                }
            }
            "email-begun" => match r.take::<EmailBegun>() {
                Some(Ok(p)) => {
                    self.error = None;
                    self.step = Step::EmailCode {
                        pending: p,
                        code: TextInput::new(),
                    };
                }
                Some(Err(e)) => self.error = Some(e.to_string()),
                None => {}
            },
            "resent" => {
                if let Some(r) = r.take::<Result<i64, CoreError>>() {
                    self.error = r.err().map(|e| e.to_string());
                }
            }
            kind => {
                let msg = if kind == "saved-app" {
                    strings::APP_SAVED
                } else {
                    strings::EMAIL_SAVED
                };
                match r.take::<Saved>() {
                    Some(Ok(done)) => self.saved(done, msg, cx),
                    Some(Err(e)) => self.error = Some(e.to_string()),
                    None => {}
                }
            }
        }
    }
}

impl Pane for WizardPane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "Configure my MFA"
    }
    fn shown(&self, _s: &Session, org: Option<&Organization>) -> bool {
        org.is_some_and(|o| o.controls.mfa_enabled())
    }
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<Action>])> {
        vec![
            (self.title(), OVERVIEW),
            (strings::WIZARD_EMAIL_CODE_HELP, EMAIL_CODE),
        ]
    }
    fn load(&mut self, _why: Load, cx: &mut Ctx) {
        self.refresh(cx);
    }
    fn unsaved(&self) -> bool {
        !matches!(self.step, Step::Overview)
    }
    fn full_screen(&self) -> bool {
        matches!(self.step, Step::App { .. })
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        if self.full_screen() {
            return self.render_full(f, area, v.theme, v.status.clone());
        }
        self.render_pane(f, area, v.theme, v.focused);
    }
}

impl WizardPane {
    fn render_pane(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = pane_block("Configure my MFA", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mut lines: Vec<Line> = Vec::new();
        match &self.step {
            Step::Overview | Step::App { .. } => {
                if self.enrollments.is_empty() {
                    lines.push(Line::styled(strings::WIZARD_NONE_YET, theme.warn()));
                } else {
                    lines.push(Line::styled(strings::WIZARD_YOUR_METHODS, theme.title()));
                }
                for (i, e) in self.enrollments.iter().enumerate() {
                    let text = format!(
                        "{:<13} {:<18} added {} · used {}",
                        method_name(e.method),
                        crate::core::text::escape_control(e.email.as_deref().unwrap_or(&e.label)),
                        format_short(e.created),
                        e.last_used
                            .map(format_short)
                            .unwrap_or_else(|| "never".into())
                    );
                    lines.push(if i == self.selected && focused {
                        Line::styled(format!("▸ {text}"), theme.selected())
                    } else {
                        Line::raw(format!("  {text}"))
                    });
                }
                if !self.enrollments.is_empty() {
                    lines.push(Line::raw(format!(
                        "  Recovery codes left: {}",
                        self.recovery_left
                    )));
                }
                lines.push(Line::raw(""));
                if self.authenticator_on {
                    lines.push(Line::from(vec![
                        Span::styled("  a ", theme.key()),
                        Span::raw(strings::WIZARD_ADD_APP),
                    ]));
                }
                if self.email_on {
                    lines.push(Line::from(vec![
                        Span::styled("  e ", theme.key()),
                        Span::raw(strings::WIZARD_ADD_EMAIL),
                    ]));
                }
                if !self.enrollments.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled("  d ", theme.key()),
                        Span::raw(strings::WIZARD_REMOVE),
                    ]));
                    lines.push(Line::from(vec![
                        Span::styled("  g ", theme.key()),
                        Span::raw(strings::WIZARD_REGENERATE),
                    ]));
                }
                f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
            }
            Step::EnrollmentCode { input, .. } => {
                let [a, b, c] = Layout::vertical([
                    Constraint::Length(3),
                    Constraint::Length(1),
                    Constraint::Min(1),
                ])
                .areas(inner);
                f.render_widget(
                    Paragraph::new(strings::WIZARD_ENROLLMENT_CODE).wrap(Wrap { trim: true }),
                    a,
                );
                input.render(f, b, strings::LABEL_ENROLLMENT_CODE, true, theme);
                self.render_error(f, c, theme);
            }
            Step::EmailAddress { input, .. } => {
                let [a, b, c] = Layout::vertical([
                    Constraint::Length(3),
                    Constraint::Length(1),
                    Constraint::Min(1),
                ])
                .areas(inner);
                f.render_widget(
                    Paragraph::new(strings::wizard_email_address()).wrap(Wrap { trim: true }),
                    a,
                );
                input.render(f, b, strings::LABEL_EMAIL, true, theme);
                self.render_error(f, c, theme);
            }
            Step::EmailCode { pending, code } => {
                let [a, b, c] = Layout::vertical([
                    Constraint::Length(3),
                    Constraint::Length(1),
                    Constraint::Min(1),
                ])
                .areas(inner);
                f.render_widget(
                    Paragraph::new(strings::wizard_code_sent(
                        pending.address(),
                        &format_time(pending.expires),
                    ))
                    .wrap(Wrap { trim: true }),
                    a,
                );
                code.render(f, b, strings::LABEL_CODE, true, theme);
                self.render_error(f, c, theme);
            }
        }
    }

    fn render_error(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if let Some(e) = &self.error {
            f.render_widget(
                Paragraph::new(Line::styled(e.clone(), theme.error())).wrap(Wrap { trim: true }),
                area,
            );
        }
    }

    /// The authenticator step takes the whole window, so the QR code fits 80×24.
    fn render_full(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        status: Option<(String, bool)>,
    ) {
        let Step::App { pending, qr, code } = &self.step else {
            return;
        };
        let qr_w = qr
            .as_ref()
            .map(|q| q.size().0)
            .unwrap_or(0)
            .min(area.width.saturating_sub(34));
        // On a wide window, keep the code and its text together in the middle.
        let used = (qr_w.max(20) + 50).min(area.width);
        let area = Rect {
            x: area.x + (area.width - used) / 2,
            width: used,
            ..area
        };
        let [left, right] =
            Layout::horizontal([Constraint::Length(qr_w.max(20)), Constraint::Min(30)]).areas(area);
        match qr {
            Some(q) => f.render_widget(q, left),
            None => f.render_widget(Paragraph::new(strings::QR_NOT_DRAWN), left),
        }
        let block = Block::default()
            .borders(Borders::LEFT)
            .border_style(theme.border());
        let inner = block.inner(right);
        f.render_widget(block, right);
        let secret = pending.secret_grouped();
        let groups: Vec<&str> = secret.split(' ').collect();
        let mut lines = vec![
            Line::styled(strings::WIZARD_APP_TITLE, theme.title()),
            Line::raw(""),
            Line::raw(strings::WIZARD_SCAN),
            Line::raw(strings::WIZARD_OR_TYPE),
        ];
        for chunk in groups.chunks(4) {
            lines.push(Line::styled(
                format!("   {}", chunk.join(" ")),
                theme.title(),
            ));
        }
        // A long account name is cut rather than wrapped, so the step below stays in view.
        let account_w = (inner.width as usize).saturating_sub(12).max(8);
        lines.push(Line::raw(format!(
            "{}{}",
            strings::WIZARD_ACCOUNT,
            widgets::fit(pending.username(), account_w)
        )));
        lines.push(Line::raw(""));
        lines.push(Line::raw(strings::TYPE_THE_CODE));
        let text_h = lines
            .iter()
            .map(|l| widgets::wrapped_rows(&l.to_string(), inner.width))
            .sum::<u16>();
        let [text, field, rest] = Layout::vertical([
            Constraint::Length(text_h),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(inner);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
        code.render(f, field, strings::LABEL_QR_CODE_FIELD, true, theme);
        let mut tail = Vec::new();
        if let Some(e) = &self.error {
            tail.push(Line::styled(e.clone(), theme.error()));
        }
        if let Some((s, err)) = status {
            tail.push(Line::styled(
                s,
                if err { theme.error() } else { theme.warn() },
            ));
        }
        tail.push(Line::raw(""));
        for (k, what) in keymap::footer(CODE) {
            tail.push(Line::from(vec![
                Span::styled(k, theme.key()),
                Span::raw(format!(" {what}")),
            ]));
        }
        f.render_widget(Paragraph::new(tail).wrap(Wrap { trim: true }), rest);
    }
}
