//! Configure my MFA: the user's enrollments, and the wizard that adds one. For an
//! authenticator: the QR code of the `otpauth://` URI drawn in the console, the secret in
//! groups of four, and a code that must be right before anything is saved; then the
//! recovery codes, once. For email: the address, a code sent to it, the code typed back.
//! Esc leaves at any step without saving.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::{Act, App, Apply, Ctx, Outcome, Screen};
use super::input::TextInput;
use super::main_screen::pane_block;
use super::pending::Pending;
use super::popup::Popup;
use super::strings;
use super::theme::Theme;
use super::widgets::qr::QrWidget;
use crate::core::clock::{format_short, format_time};
use crate::core::controls::method_name;
use crate::core::{
    Actor, Core, CoreError, EnrollmentDone, PendingAuthenticator, PendingEmail, Session,
};
use crate::store::{Enrollment, Method};

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

impl WizardPane {
    pub fn load(&mut self, core: &Core, s: &Session, ctx: &mut Ctx) {
        self.refresh(core, s, ctx);
    }

    /// Reloads the enrollments; keeps a wizard in progress.
    pub fn refresh(&mut self, core: &Core, s: &Session, ctx: &mut Ctx) {
        let actor = Actor::User(s);
        match core.enrollments(actor, s.username()) {
            Ok(e) => self.enrollments = e,
            Err(e) => return ctx.act(Act::Error(e.to_string())),
        }
        self.recovery_left = core.recovery_codes_left(actor, s.username()).unwrap_or(0);
        if let Ok(org) = core.organization() {
            self.authenticator_on = org.controls.authenticator;
            self.email_on = org.controls.email;
        }
        self.address_on_file = core.users_email(actor, s.username()).unwrap_or_default();
        self.selected = self.selected.min(self.enrollments.len().saturating_sub(1));
    }

    pub fn in_progress(&self) -> bool {
        !matches!(self.step, Step::Overview)
    }

    pub fn wants_full_screen(&self) -> bool {
        matches!(self.step, Step::App { .. })
    }

    pub fn keys(&self) -> Vec<(&'static str, &'static str)> {
        match self.step {
            Step::Overview => {
                let mut k = Vec::new();
                if self.authenticator_on {
                    k.push(("a", "add app"));
                }
                if self.email_on {
                    k.push(("e", "email"));
                }
                if !self.enrollments.is_empty() {
                    k.extend([("d", "remove"), ("g", "new recovery codes")]);
                }
                k
            }
            _ => vec![("Enter", "continue"), ("Esc", "leave without saving")],
        }
    }

    pub fn all_keys() -> Vec<(&'static str, &'static str)> {
        vec![
            ("a", "add an authenticator app (QR code)"),
            ("e", "set up email codes"),
            ("d", "remove the selected method (re-authentication first)"),
            ("g", "regenerate recovery codes (re-authentication first)"),
            ("Esc", "leave the wizard without saving"),
        ]
    }

    pub fn handle_key(
        &mut self,
        key: KeyEvent,
        core: &Core,
        s: &Session,
        ctx: &mut Ctx,
    ) -> Outcome {
        if let Step::Overview = self.step {
            return self.overview_key(key, core, s, ctx);
        }
        // In the code steps only digits are typed: q and ? keep their global meaning.
        if matches!(self.step, Step::App { .. } | Step::EmailCode { .. })
            && matches!(key.code, KeyCode::Char('q') | KeyCode::Char('?'))
        {
            return Outcome::Ignored;
        }
        if key.code == KeyCode::Esc {
            self.step = Step::Overview;
            self.error = None;
            ctx.act(Act::Notice("Left the wizard; nothing was saved.".into()));
            return Outcome::Consumed;
        }
        let actor = Actor::User(s);
        match &mut self.step {
            Step::Overview => {}
            Step::EnrollmentCode { method, input } => {
                if key.code == KeyCode::Enter {
                    let code = input.value().to_string();
                    let m = *method;
                    self.begin(m, Some(code), core, s, ctx);
                } else {
                    input.handle_key(key);
                }
            }
            Step::App { pending, code, .. } => {
                if key.code == KeyCode::Enter {
                    let typed = code.value().to_string();
                    code.clear();
                    match core.confirm_authenticator(actor, pending, &typed) {
                        Ok(done) => self.saved(
                            done,
                            "Authenticator app saved: you will be asked for its code at sign-in.",
                            core,
                            s,
                            ctx,
                        ),
                        Err(e) => self.error = Some(e.to_string()),
                    }
                } else {
                    code.handle_key(key);
                }
            }
            Step::EmailAddress {
                input,
                enrollment_code,
            } => {
                if key.code == KeyCode::Enter {
                    let address = input.value().trim().to_string();
                    let ec = enrollment_code.clone();
                    let session = s.clone();
                    ctx.spawn("Sending a code…", move |core| {
                        let r = core.begin_email_enrollment(
                            Actor::User(&session),
                            session.username(),
                            Some(&address),
                            ec.as_deref(),
                        );
                        Box::new(move |app: &mut App| {
                            if let Some(w) = wizard(app) {
                                match r {
                                    Ok(p) => {
                                        w.error = None;
                                        w.step = Step::EmailCode {
                                            pending: p,
                                            code: TextInput::new(),
                                        };
                                    }
                                    Err(e) => w.error = Some(e.to_string()),
                                }
                            }
                        }) as Apply
                    });
                } else {
                    input.handle_key(key);
                }
            }
            Step::EmailCode { pending, code } => match key.code {
                KeyCode::Enter => {
                    let typed = code.value().to_string();
                    code.clear();
                    match core.confirm_email_enrollment(actor, pending, &typed) {
                        Ok(done) => self.saved(
                            done,
                            "Email verification saved: codes will go to this address.",
                            core,
                            s,
                            ctx,
                        ),
                        Err(e) => self.error = Some(e.to_string()),
                    }
                }
                KeyCode::F(3) => {
                    let p = pending.clone();
                    ctx.spawn("Sending a code…", move |core| {
                        let r = core.resend_email_enrollment(&p);
                        Box::new(move |app: &mut App| {
                            if let Some(w) = wizard(app) {
                                w.error = r.err().map(|e| e.to_string());
                            }
                        }) as Apply
                    });
                }
                _ => {
                    code.handle_key(key);
                }
            },
        }
        Outcome::Consumed
    }

    fn overview_key(&mut self, key: KeyEvent, core: &Core, s: &Session, ctx: &mut Ctx) -> Outcome {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.enrollments.len().saturating_sub(1))
            }
            KeyCode::Char('a') if self.authenticator_on => {
                self.begin(Method::Authenticator, None, core, s, ctx)
            }
            KeyCode::Char('e') if self.email_on => self.begin(Method::Email, None, core, s, ctx),
            KeyCode::Char('d') | KeyCode::Delete => {
                if let Some(e) = self.enrollments.get(self.selected) {
                    let what = format!("{} {:?}", method_name(e.method), e.label);
                    ctx.act(Act::Push(Popup::confirm(
                        "Remove enrollment",
                        vec![format!(
                            "Remove {what}? You will not be asked for its codes any more."
                        )],
                        Pending::RemoveEnrollment(e.id),
                        true,
                    )));
                }
            }
            KeyCode::Char('g') if !self.enrollments.is_empty() => {
                ctx.act(Act::Push(Popup::confirm(
                    "New recovery codes",
                    vec!["Make 10 new recovery codes? The old ones stop working at once.".into()],
                    Pending::RegenerateRecovery,
                    false,
                )))
            }
            _ => return Outcome::Ignored,
        }
        Outcome::Consumed
    }

    fn begin(
        &mut self,
        method: Method,
        enrollment_code: Option<String>,
        core: &Core,
        s: &Session,
        ctx: &mut Ctx,
    ) {
        self.error = None;
        let actor = Actor::User(s);
        match method {
            Method::Authenticator => {
                match core.begin_authenticator(
                    actor,
                    s.username(),
                    None,
                    enrollment_code.as_deref(),
                ) {
                    Ok(p) => {
                        let qr = QrWidget::new(p.uri())
                            .ok()
                            .map(|q| q.plain(!ctx.theme.color));
                        self.step = Step::App {
                            pending: Box::new(p),
                            qr,
                            code: TextInput::new(),
                        };
                    }
                    Err(CoreError::EnrollmentCodeRequired) => {
                        self.step = Step::EnrollmentCode {
                            method,
                            input: TextInput::new(),
                        }
                    }
                    Err(e) => {
                        if matches!(self.step, Step::EnrollmentCode { .. }) {
                            self.error = Some(e.to_string());
                        } else {
                            ctx.act(Act::Error(e.to_string()));
                        }
                    }
                }
            }
            Method::Email => {
                self.step = Step::EmailAddress {
                    input: TextInput::with_value(&self.address_on_file),
                    enrollment_code,
                };
            }
        }
        let _ = ctx;
    }

    fn saved(&mut self, done: EnrollmentDone, msg: &str, core: &Core, s: &Session, ctx: &mut Ctx) {
        self.step = Step::Overview;
        self.error = None;
        if let Some(codes) = done.recovery_codes {
            ctx.act(Act::Push(Popup::recovery_codes(
                codes.iter().map(|c| c.to_string()).collect(),
            )));
        }
        ctx.act(Act::Notice(msg.into()));
        self.refresh(core, s, ctx);
        if s.must_enroll {
            // Enforcement is met now: sign in again to get the full session.
            ctx.act(Act::Notice(format!(
                "{msg} Sign out and in again to continue."
            )));
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = pane_block("Configure my MFA", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mut lines: Vec<Line> = Vec::new();
        match &self.step {
            Step::Overview | Step::App { .. } => {
                if self.enrollments.is_empty() {
                    lines.push(Line::styled(
                        "You have not configured MFA yet.",
                        theme.warn(),
                    ));
                } else {
                    lines.push(Line::styled("Your methods", theme.title()));
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
                    lines.push(Line::from(vec![Span::styled("  a ", theme.key()), Span::raw("Add an authenticator app (Google/Microsoft Authenticator, Authy, Duo, Okta Verify…)")]));
                }
                if self.email_on {
                    lines.push(Line::from(vec![
                        Span::styled("  e ", theme.key()),
                        Span::raw("Set up email codes (weaker than an app)"),
                    ]));
                }
                if !self.enrollments.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled("  d ", theme.key()),
                        Span::raw("Remove the selected method"),
                    ]));
                    lines.push(Line::from(vec![
                        Span::styled("  g ", theme.key()),
                        Span::raw("Regenerate recovery codes"),
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
                    Paragraph::new("Your organization asks for an enrollment code from an administrator before your first method. Type it here.").wrap(Wrap { trim: true }),
                    a,
                );
                input.render(f, b, "Enrollment code", true, theme);
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
                    Paragraph::new(format!("Codes will go to this address; change it if needed. Enter sends a code to it. {}", strings::WIZARD_LEAVE))
                        .wrap(Wrap { trim: true }),
                    a,
                );
                input.render(f, b, "Email", true, theme);
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
                    Paragraph::new(format!(
                        "A code was sent to {}; it expires at {}. Type it to finish (F3 sends another). {}",
                        pending.address(),
                        format_time(pending.expires),
                        strings::WIZARD_LEAVE
                    ))
                    .wrap(Wrap { trim: true }),
                    a,
                );
                code.render(f, b, "Code", true, theme);
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
    pub fn render_full(
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
            None => f.render_widget(
                Paragraph::new("The QR code could not be drawn; type the secret instead."),
                left,
            ),
        }
        let block = Block::default()
            .borders(Borders::LEFT)
            .border_style(theme.border());
        let inner = block.inner(right);
        f.render_widget(block, right);
        let secret = pending.secret_grouped();
        let groups: Vec<&str> = secret.split(' ').collect();
        let mut lines = vec![
            Line::styled("Add an authenticator app", theme.title()),
            Line::raw(""),
            Line::raw("1. Scan the QR code with your app."),
            Line::raw("   Or type this secret:"),
        ];
        for chunk in groups.chunks(4) {
            lines.push(Line::styled(
                format!("   {}", chunk.join(" ")),
                theme.title(),
            ));
        }
        lines.push(Line::raw(format!("   account: {}", pending.username())));
        lines.push(Line::raw(""));
        lines.push(Line::raw("2. Type the 6-digit code it shows:"));
        let text_h = lines.len() as u16;
        let [text, field, rest] = Layout::vertical([
            Constraint::Length(text_h),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(inner);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
        code.render(f, field, "  Code", true, theme);
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
        tail.push(Line::from(vec![
            Span::styled("Enter", theme.key()),
            Span::raw(" save"),
        ]));
        tail.push(Line::from(vec![
            Span::styled("Esc", theme.key()),
            Span::raw(" leave, nothing saved"),
        ]));
        f.render_widget(Paragraph::new(tail).wrap(Wrap { trim: true }), rest);
    }
}

fn wizard(app: &mut App) -> Option<&mut WizardPane> {
    match &mut app.screen {
        Screen::Main(m) => Some(m.wizard_mut()),
        _ => None,
    }
}
