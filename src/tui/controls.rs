//! Security Controls: the two methods and the policy. While MFA is on, the pane opens
//! only after re-authentication; turning a method on shows the integration advisory,
//! turning one off asks about forgetting every device.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{Act, Ctx, Outcome};
use super::main_screen::pane_block;
use super::pending::Pending;
use super::popup::Popup;
use super::strings;
use super::theme::Theme;
use crate::core::controls::{PolicyKey, totp_window_seconds};
use crate::core::{Actor, Core, Session, text};
use crate::store::{Method, Organization};

#[derive(Default)]
pub struct ControlsPane {
    org: Option<Organization>,
    selected: usize,
}

#[derive(Clone, Copy)]
enum Item {
    Method(Method),
    Policy(PolicyKey),
}

fn items() -> Vec<Item> {
    let mut v = vec![
        Item::Method(Method::Authenticator),
        Item::Method(Method::Email),
    ];
    v.extend(PolicyKey::ALL.iter().map(|k| Item::Policy(*k)));
    v
}

pub fn policy_label(k: PolicyKey) -> &'static str {
    match k {
        PolicyKey::Enforcement => "Enforcement",
        PolicyKey::GraceDays => "Grace period (days)",
        PolicyKey::LockoutThreshold => "Lock after failures",
        PolicyKey::LockoutMinutes => "Lockout (minutes)",
        PolicyKey::EmailCodeMinutes => "Email code lifetime (min)",
        PolicyKey::TrustedDeviceDays => "Remember terminal (days)",
        PolicyKey::TotpSkew => "Authenticator time skew",
        PolicyKey::EnrollmentCodeRequired => "First method needs admin code",
    }
}

impl ControlsPane {
    pub fn load(&mut self, core: &Core, s: &Session, ctx: &mut Ctx) {
        match core.security_controls(Actor::User(s)) {
            Ok(org) => self.org = Some(org),
            // MFA came on (or the re-authentication ran out): Enter asks for it.
            Err(crate::core::CoreError::ReauthRequired) => self.org = None,
            Err(e) => {
                self.org = None;
                ctx.act(Act::Error(e.to_string()));
            }
        }
    }

    /// Hidden until re-authentication succeeds.
    pub fn locked(&mut self) {
        self.org = None;
    }

    pub fn is_loaded(&self) -> bool {
        self.org.is_some()
    }

    pub fn keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.org.is_none() {
            return vec![("Enter", "re-authenticate")];
        }
        vec![("↑↓", "choose"), ("Space", "toggle"), ("Enter", "edit")]
    }

    pub fn all_keys() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Space", "turn a method on/off; toggle a yes/no policy"),
            ("Enter", "edit a policy value"),
        ]
    }

    pub fn handle_key(
        &mut self,
        key: KeyEvent,
        core: &Core,
        s: &Session,
        ctx: &mut Ctx,
    ) -> Outcome {
        let Some(org) = self.org.clone() else {
            if key.code == KeyCode::Enter {
                ctx.act(Act::Push(Popup::reauth(
                    Some(core),
                    Some(s),
                    Pending::OpenControls,
                )));
                return Outcome::Consumed;
            }
            return Outcome::Ignored;
        };
        let list = items();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(list.len() - 1)
            }
            KeyCode::Char(' ') | KeyCode::Enter => match list.get(self.selected).copied() {
                Some(Item::Method(m)) => self.toggle_method(m, &org, core, s, ctx),
                Some(Item::Policy(k)) => {
                    let current = k.value(&org.policy);
                    match k {
                        PolicyKey::Enforcement => Pending::SetPolicy {
                            key: k,
                            value: if current == "optional" {
                                "required"
                            } else {
                                "optional"
                            }
                            .into(),
                        }
                        .run(ctx),
                        PolicyKey::EnrollmentCodeRequired => Pending::SetPolicy {
                            key: k,
                            value: if current == "no" { "yes" } else { "no" }.into(),
                        }
                        .run(ctx),
                        _ => ctx.act(Act::Push(Popup::policy(k, &current))),
                    }
                }
                None => {}
            },
            _ => return Outcome::Ignored,
        }
        Outcome::Consumed
    }

    fn toggle_method(
        &self,
        m: Method,
        org: &Organization,
        core: &Core,
        s: &Session,
        ctx: &mut Ctx,
    ) {
        let on = org.controls.is_on(m);
        if on {
            let mut after = org.controls.clone();
            after.set(m, false);
            let dialog = Pending::MethodOffDialog {
                method: m,
                mfa_goes_off: !after.mfa_enabled(),
            };
            if core.has_fresh_reauth(s).unwrap_or(false) {
                dialog.run(ctx);
            } else {
                ctx.act(Act::Push(Popup::reauth(Some(core), Some(s), dialog)));
            }
            return;
        }
        let mut lines = vec![strings::INTEGRATION_ADVISORY.to_string()];
        match core.integration_candidates(Actor::User(s)) {
            Ok(c) if c.is_empty() => lines.push("  (no account looks like an integration)".into()),
            Ok(c) => {
                for u in c.iter().take(6) {
                    lines.push(format!("  • {}", text::escape_control(&u.username)));
                }
                if c.len() > 6 {
                    lines.push(format!("  … and {} more (see Users)", c.len() - 6));
                }
            }
            Err(e) => lines.push(e.to_string()),
        }
        if m == Method::Email {
            lines.push(String::new());
            lines.push(strings::EMAIL_WEAKER.into());
        }
        lines.push(String::new());
        lines.push("Users will then see \"Configure my MFA\".".into());
        let title = match m {
            Method::Authenticator => "Turn on the authenticator app method",
            Method::Email => "Turn on email codes",
        };
        ctx.act(Act::Push(Popup::confirm(
            title,
            lines,
            Pending::SetMethod {
                method: m,
                on: true,
                forget: false,
            },
            false,
        )));
    }

    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        focused: bool,
        header_org: Option<&Organization>,
    ) {
        let block = pane_block("Security Controls", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some(org) = &self.org else {
            let mfa_on = header_org.is_some_and(|o| o.controls.mfa_enabled());
            let msg = if mfa_on {
                "MFA is on: confirm it is you (your password, and a code if you have MFA) to open Security Controls. Press Enter."
            } else {
                "Loading…"
            };
            f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), inner);
            return;
        };
        let [status, list, help] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(10),
            Constraint::Length(3),
        ])
        .areas(inner);
        let mfa = if org.controls.mfa_enabled() {
            Span::styled("MFA is ENABLED for the organization", theme.ok())
        } else {
            Span::styled("MFA is DISABLED: nobody is asked for a code", theme.warn())
        };
        f.render_widget(Paragraph::new(Line::from(vec![mfa])), status);
        let mut lines = Vec::new();
        for (i, item) in items().iter().enumerate() {
            let (label, value) = match item {
                Item::Method(m) => {
                    let on = org.controls.is_on(*m);
                    let label = match m {
                        Method::Authenticator => "Authenticator app (TOTP)",
                        Method::Email => "Email codes",
                    };
                    (
                        label.to_string(),
                        format!(
                            "[{}] {}",
                            if on { "x" } else { " " },
                            if on { "on" } else { "off" }
                        ),
                    )
                }
                Item::Policy(k) => {
                    let mut v = k.value(&org.policy);
                    if *k == PolicyKey::TotpSkew {
                        v = format!(
                            "±{v} = {} s window",
                            totp_window_seconds(org.policy.totp_skew)
                        );
                    }
                    (policy_label(*k).to_string(), v)
                }
            };
            if i == 2 {
                lines.push(Line::raw(""));
                lines.push(Line::styled("Policy", theme.title()));
            }
            let text = format!("{label:<29} {value}");
            lines.push(if i == self.selected && focused {
                Line::styled(format!("▸ {text}"), theme.selected())
            } else {
                Line::raw(format!("  {text}"))
            });
        }
        f.render_widget(Paragraph::new(lines), list);
        let hint = match items().get(self.selected) {
            Some(Item::Method(Method::Email)) => strings::EMAIL_WEAKER.to_string(),
            Some(Item::Method(_)) => "Space turns the method on or off.".to_string(),
            Some(Item::Policy(k)) => format!("Allowed: {}.", k.allowed()),
            None => String::new(),
        };
        f.render_widget(
            Paragraph::new(hint)
                .style(theme.dim())
                .wrap(Wrap { trim: true }),
            help,
        );
    }
}
