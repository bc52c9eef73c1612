//! Security Controls: the two methods and the policy. While MFA is on, the pane opens
//! only after re-authentication; turning a method on shows the integration advisory,
//! turning one off asks about forgetting every device.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{Act, Ctx, Outcome};
use super::keymap::{self, KeyBinding};
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::pending::Pending;
use super::popups::Popup;
use super::strings;
use super::widgets::pane_block;
use crate::core::controls::{PolicyKey, totp_window_seconds};
use crate::core::{Actor, CoreError, Scope, Session, text};
use crate::store::{Method, Organization, User};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    Toggle,
    Edit,
    Reauthenticate,
    MfaOff,
}

const LOCKED: &[KeyBinding<Action>] = &[KeyBinding {
    keys: keymap::ENTER,
    shown: "Enter",
    what: "re-authenticate",
    footer: true,
    action: Action::Reauthenticate,
}];

const OPEN: &[KeyBinding<Action>] = &[
    KeyBinding {
        keys: keymap::UP,
        shown: "↑↓",
        what: "choose",
        footer: true,
        action: Action::Up,
    },
    KeyBinding {
        keys: keymap::DOWN,
        shown: "",
        what: "",
        footer: false,
        action: Action::Down,
    },
    KeyBinding {
        keys: keymap::SPACE,
        shown: "Space",
        what: "toggle",
        footer: true,
        action: Action::Toggle,
    },
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: "change",
        footer: true,
        action: Action::Edit,
    },
    KeyBinding {
        keys: &[super::keymap::Key::Char('o')],
        shown: "o",
        what: "MFA off",
        footer: true,
        action: Action::MfaOff,
    },
];

/// While MFA is off there is nothing to turn off at once.
const OPEN_MFA_OFF: &[KeyBinding<Action>] = OPEN.split_at(OPEN.len() - 1).0;

pub const ID: PaneId = "controls";

/// What Space or Enter on a method needs before its dialog shows, read in the background.
enum MethodInfo {
    /// Turning off: whether a re-authentication is still fresh.
    Off {
        method: Method,
        mfa_goes_off: bool,
        fresh: bool,
    },
    /// Turning MFA off: whether a re-authentication is still fresh, and what Forget all
    /// devices would unregister.
    AllOff {
        fresh: bool,
        impact: Result<(usize, usize, usize), CoreError>,
    },
    /// Turning on: the accounts that may be integrations.
    On {
        method: Method,
        candidates: Result<Vec<User>, CoreError>,
    },
}

/// Opens `dialog` at once after a recent re-authentication, else asks for one first.
fn reauth_unless_fresh(fresh: bool, dialog: Pending, cx: &mut Ctx) {
    if fresh {
        dialog.run(cx);
    } else {
        cx.act(Act::Push(Popup::reauth(dialog)));
    }
}

impl ControlsPane {
    fn ask_reauth(&self, cx: &mut Ctx) {
        cx.act(Act::Push(Popup::reauth(Pending::OpenControls)));
    }

    fn toggle_method(&self, m: Method, org: &Organization, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        let on = org.controls.is_on(m);
        let mut after = org.controls.clone();
        after.set(m, !on);
        let mfa_goes_off = !after.mfa_enabled();
        cx.load(ID, "method", move |core| {
            if on {
                MethodInfo::Off {
                    method: m,
                    mfa_goes_off,
                    fresh: core.has_fresh_reauth(&session).unwrap_or(false),
                }
            } else {
                MethodInfo::On {
                    method: m,
                    candidates: core.integration_candidates(Actor::User(&session)),
                }
            }
        });
    }

    fn method_dialog(&self, info: MethodInfo, cx: &mut Ctx) {
        match info {
            MethodInfo::AllOff { fresh, impact } => {
                let (apps, emails, users) = match impact {
                    Ok(i) => i,
                    Err(e) => return cx.act(Act::Error(e.to_string())),
                };
                let dialog = Pending::MfaOffDialog {
                    apps,
                    emails,
                    users,
                };
                reauth_unless_fresh(fresh, dialog, cx);
            }
            MethodInfo::Off {
                method,
                mfa_goes_off,
                fresh,
            } => {
                let dialog = Pending::MethodOffDialog {
                    method,
                    mfa_goes_off,
                };
                reauth_unless_fresh(fresh, dialog, cx);
            }
            MethodInfo::On { method, candidates } => {
                let mut intro = vec![strings::INTEGRATION_ADVISORY.to_string()];
                let listed = match candidates {
                    Ok(c) => c
                        .iter()
                        .map(|u| {
                            (
                                text::escape_control(&u.username),
                                crate::core::controls::candidate_reason(u),
                            )
                        })
                        .collect(),
                    Err(e) => {
                        intro.push(e.to_string());
                        Vec::new()
                    }
                };
                let mut after = Vec::new();
                if method == Method::Email {
                    after.push(strings::EMAIL_WEAKER.into());
                }
                after.push(strings::USERS_WILL_SEE_WIZARD.into());
                cx.act(Act::Push(Popup::Advisory(super::popups::Advisory {
                    title: strings::method_on_title(method).into(),
                    intro,
                    candidates: listed,
                    after,
                    selected: 0,
                    then: Pending::SetMethod {
                        method,
                        on: true,
                        forget: false,
                    },
                })));
            }
        }
    }

    /// Space or Enter on the selected row.
    fn change(&self, cx: &mut Ctx) {
        let Some(org) = &self.org else { return };
        match items().get(self.selected).copied() {
            Some(Item::Method(m)) => self.toggle_method(m, org, cx),
            Some(Item::Policy(k)) => {
                let current = k.value(&org.policy);
                match k.toggled(&org.policy) {
                    // A two-valued policy changes the whole organization: confirmed, with
                    // the old and the new value.
                    Some(new) => cx.act(Act::Push(Popup::confirm(
                        strings::CHANGE_POLICY,
                        vec![strings::policy_change(policy_label(k), &current, new)],
                        Pending::SetPolicy {
                            key: k,
                            value: new.into(),
                        },
                        false,
                    ))),
                    None => cx.act(Act::Push(Popup::policy(k, &current))),
                }
            }
            None => {}
        }
    }
}

type Read = Result<Organization, CoreError>;

impl Keyed for ControlsPane {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        match &self.org {
            Some(o) if o.controls.mfa_enabled() => OPEN,
            Some(_) => OPEN_MFA_OFF,
            None => LOCKED,
        }
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        let last = items().len() - 1;
        match a {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::Toggle | Action::Edit => self.change(cx),
            Action::Reauthenticate => self.ask_reauth(cx),
            Action::MfaOff => {
                if self.org.as_ref().is_some_and(|o| o.controls.mfa_enabled())
                    && let Some(session) = cx.session.clone()
                {
                    cx.load(ID, "method", move |core| MethodInfo::AllOff {
                        fresh: core.has_fresh_reauth(&session).unwrap_or(false),
                        impact: core.mfa_off_impact(Actor::User(&session)),
                    });
                }
            }
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        if r.kind == "method" {
            if let Some(info) = r.take::<MethodInfo>() {
                self.method_dialog(info, cx);
            }
            return;
        }
        match r.take::<Read>() {
            Some(Ok(org)) => self.org = Some(org),
            // MFA came on (or the re-authentication ran out): Enter asks for it.
            Some(Err(CoreError::ReauthRequired)) => self.org = None,
            Some(Err(e)) => {
                self.org = None;
                cx.act(Act::Error(e.to_string()));
            }
            None => {}
        }
    }
}

impl Pane for ControlsPane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "Security Controls"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full && s.is_admin()
    }
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<Action>])> {
        vec![(self.title(), OPEN)]
    }
    /// Reads the controls; the core says whether a re-authentication is needed first.
    fn load(&mut self, why: Load, cx: &mut Ctx) {
        if why == Load::Changed && self.org.is_none() {
            return;
        }
        let Some(session) = cx.session.clone() else {
            return;
        };
        cx.load(ID, "controls", move |core| -> Read {
            core.security_controls(Actor::User(&session))
        });
    }
    fn after(&mut self, done: &Pending, cx: &mut Ctx) {
        if matches!(done, Pending::OpenControls) {
            self.load(Load::Shown, cx);
        }
    }
    /// Hidden until re-authentication succeeds: Enter on the menu asks for it.
    fn enter(&mut self, cx: &mut Ctx) -> bool {
        if self.org.is_some() {
            return true;
        }
        self.ask_reauth(cx);
        false
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let (theme, focused, header_org) = (v.theme, v.focused, v.org);
        let block = pane_block(self.title(), theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some(org) = &self.org else {
            let mfa_on = header_org.is_some_and(|o| o.controls.mfa_enabled());
            let msg = if mfa_on {
                strings::CONTROLS_LOCKED
            } else {
                strings::LOADING
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
            Some(Item::Method(_)) => strings::METHOD_HINT.to_string(),
            Some(Item::Policy(k)) => strings::allowed(k.allowed()),
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
