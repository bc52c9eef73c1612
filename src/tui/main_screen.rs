//! Signed in: header, the menu, the pane chosen in it, and a footer with the keys that
//! work. The panes are listed once, in [`panes`]; the menu, the routing of keys and
//! results, the footer and the help all come from that list.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use super::app::{Act, Ctx, Outcome, Target};
use super::keymap::{self, Key, KeyBinding};
use super::pane::{AnyPane, Load, Loaded, PaneId, View};
use super::pending::Pending;
use super::strings;
use super::theme::Theme;
use super::widgets::key_line;
use super::{audit, clients, controls, home, overview, sign_out, users, wizard};
use crate::core::users::role_name;
use crate::core::{CoreError, Scope, Session, SessionNow, text};
use crate::store::Organization;

/// Every pane, in menu order; the menu shows those a session may use. Adding a pane is
/// its file and one line here.
fn panes() -> Vec<Box<dyn AnyPane>> {
    vec![
        Box::new(overview::OverviewPane::default()),
        Box::new(controls::ControlsPane::default()),
        Box::new(users::UsersPane::default()),
        Box::new(audit::AuditPane::default()),
        Box::new(clients::ClientsPane::default()),
        Box::new(home::HomePane::default()),
        Box::new(wizard::WizardPane::default()),
        Box::new(sign_out::SignOutPane),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Nav,
    Pane,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NavAction {
    Up,
    Down,
    Open,
    Switch,
    Back,
}

const NAV_KEYS: &[KeyBinding<NavAction>] = &[
    KeyBinding {
        keys: keymap::UP,
        shown: "↑↓",
        what: "choose",
        footer: true,
        action: NavAction::Up,
    },
    KeyBinding {
        keys: keymap::DOWN,
        shown: "",
        what: "",
        footer: false,
        action: NavAction::Down,
    },
    KeyBinding {
        keys: &[
            Key::Code(KeyCode::Enter),
            Key::Code(KeyCode::Right),
            Key::Code(KeyCode::Tab),
            Key::Code(KeyCode::BackTab),
        ],
        shown: "Enter/Tab",
        what: "open pane",
        footer: true,
        action: NavAction::Open,
    },
];

/// Keys of a focused pane that the screen answers when the pane does not.
const PANE_KEYS: &[KeyBinding<NavAction>] = &[
    KeyBinding {
        keys: &[Key::Code(KeyCode::Tab), Key::Code(KeyCode::BackTab)],
        shown: "Tab",
        what: "menu",
        footer: true,
        action: NavAction::Switch,
    },
    KeyBinding {
        keys: keymap::ESC,
        shown: "",
        what: "",
        footer: false,
        action: NavAction::Back,
    },
];

/// The session and the organization, read again.
type Reloaded = (Result<SessionNow, CoreError>, Option<Organization>);

pub struct MainScreen {
    pub session: Session,
    org: Option<Organization>,
    panes: Vec<Box<dyn AnyPane>>,
    /// The panes the menu shows, as indices into `panes`.
    nav: Vec<usize>,
    nav_index: usize,
    focus: Focus,
    /// The first read of the organization is in: the first pane was chosen.
    opened: bool,
}

impl MainScreen {
    pub fn new(session: Session, ctx: &mut Ctx) -> Self {
        let mut m = Self {
            session,
            org: None,
            panes: panes(),
            nav: Vec::new(),
            nav_index: 0,
            focus: Focus::Nav,
            opened: false,
        };
        // The menu from the session alone until the organization is read; the first pane
        // is chosen then (the wizard needs to know which methods are on).
        m.rebuild_nav();
        m.reload(ctx);
        if let Some(left) = m.session.recovery_codes_left {
            ctx.act(Act::Notice(strings::signed_in_with_recovery(left)));
        }
        m
    }

    /// The first pane, once the organization is known: the wizard for a user who must
    /// configure MFA, else the first entry.
    fn open_first(&mut self, ctx: &mut Ctx) {
        self.opened = true;
        if self.session.must_enroll && self.select(wizard::ID) {
            self.load_current(Load::Shown, ctx);
            self.focus = Focus::Pane;
            let days = self.session.grace_days_left.unwrap_or(0);
            ctx.act(Act::Notice(if self.session.scope() == Scope::EnrollOnly {
                strings::MUST_ENROLL_NOW.into()
            } else {
                strings::must_enroll(days)
            }));
        } else {
            self.nav_index = 0;
            self.load_current(Load::Shown, ctx);
        }
    }

    fn rebuild_nav(&mut self) {
        let current = self.current_id();
        self.nav = (0..self.panes.len())
            .filter(|i| self.panes[*i].shown(&self.session, self.org.as_ref()))
            .collect();
        self.nav_index = current
            .and_then(|c| self.nav.iter().position(|i| self.panes[*i].id() == c))
            .unwrap_or(0);
    }

    fn current_id(&self) -> Option<PaneId> {
        self.nav.get(self.nav_index).map(|i| self.panes[*i].id())
    }

    fn current(&self) -> Option<&dyn AnyPane> {
        self.nav.get(self.nav_index).map(|i| &*self.panes[*i])
    }

    fn current_mut(&mut self) -> Option<&mut Box<dyn AnyPane>> {
        let i = *self.nav.get(self.nav_index)?;
        self.panes.get_mut(i)
    }

    /// Puts the menu on the pane `id`, when the menu shows it.
    fn select(&mut self, id: PaneId) -> bool {
        match self.nav.iter().position(|i| self.panes[*i].id() == id) {
            Some(p) => {
                self.nav_index = p;
                true
            }
            None => false,
        }
    }

    fn load_current(&mut self, why: Load, ctx: &mut Ctx) {
        if let Some(p) = self.current_mut() {
            p.load(why, ctx);
        }
    }

    /// The pane `id` itself, to look at its state (tests, snapshots).
    pub fn pane<P: 'static>(&self, id: PaneId) -> Option<&P> {
        self.panes
            .iter()
            .find(|p| p.id() == id)
            .and_then(|p| p.as_any().downcast_ref::<P>())
    }

    /// Whether the pane showing has the keys.
    pub fn pane_focused(&self) -> bool {
        self.focus == Focus::Pane
    }

    /// A result of background work, for the pane that asked.
    pub fn on_result(&mut self, id: PaneId, result: Loaded, ctx: &mut Ctx) {
        if let Some(p) = self.panes.iter_mut().find(|p| p.id() == id) {
            p.on_result(result, ctx);
        }
    }

    /// Another process (or this one) changed something: the session and organization are
    /// read again, then what shows.
    pub fn reload(&mut self, ctx: &mut Ctx) {
        let session = self.session.clone();
        ctx.load_to(Target::Main, "reloaded", move |core| -> Reloaded {
            (core.refreshed_session(&session), core.organization().ok())
        });
    }

    /// The session and organization as read again.
    pub fn reloaded(&mut self, r: Loaded, ctx: &mut Ctx) {
        let Some((now, org)) = r.take::<Reloaded>() else {
            return;
        };
        // An account disabled or deleted meanwhile is signed out at once; one whose role
        // changed goes on with the panes of its new role.
        match now {
            Ok(SessionNow::Ended) => {
                ctx.act(Act::SignOut);
                ctx.act(Act::Error(strings::ACCOUNT_ENDED.into()));
                return;
            }
            Ok(SessionNow::NoConsole) => {
                ctx.act(Act::SignOut);
                ctx.act(Act::Error(strings::NOW_INTEGRATION.into()));
                return;
            }
            Ok(SessionNow::Active(now)) if now.role() != self.session.role() => {
                let notice = strings::role_changed(role_name(now.role()));
                self.session = now.clone();
                ctx.session = Some(now);
                // Dialogs opened under the old role (a profile, a confirmation) close.
                ctx.act(Act::CloseAll);
                ctx.act(Act::Notice(notice));
                self.focus = Focus::Nav;
            }
            _ => {}
        }
        self.org = org;
        self.rebuild_nav();
        if self.opened {
            self.load_current(Load::Changed, ctx);
        } else {
            self.open_first(ctx);
        }
    }

    /// A confirmed act has been carried out: every pane hears of it, then what shows is
    /// read again.
    pub fn after(&mut self, done: &Pending, ctx: &mut Ctx) {
        for p in &mut self.panes {
            p.after(done, ctx);
        }
        if matches!(done, Pending::OpenControls) {
            self.focus = Focus::Pane;
            return;
        }
        self.reload(ctx);
    }

    /// A change is being typed that quitting would lose.
    pub fn unsaved(&self) -> bool {
        self.current().is_some_and(|p| p.unsaved())
    }

    /// Text pasted: into the field of the pane that has the keys, if it is typing.
    pub fn paste(&mut self, text: &str, ctx: &mut Ctx) {
        if self.focus == Focus::Pane
            && let Some(p) = self.current_mut()
        {
            p.paste(text, ctx);
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        if self.focus == Focus::Pane {
            let out = match self.current_mut() {
                Some(p) => p.key(key, ctx),
                None => Outcome::Ignored,
            };
            if matches!(out, Outcome::Consumed) {
                return out;
            }
            return match keymap::resolve(PANE_KEYS, &key) {
                Some(NavAction::Switch | NavAction::Back) => {
                    self.focus = Focus::Nav;
                    Outcome::Consumed
                }
                _ => Outcome::Ignored,
            };
        }
        let Some(action) = keymap::resolve(NAV_KEYS, &key) else {
            return Outcome::Ignored;
        };
        match action {
            NavAction::Up if self.nav_index > 0 => {
                self.nav_index -= 1;
                self.load_current(Load::Shown, ctx);
            }
            NavAction::Down if self.nav_index + 1 < self.nav.len() => {
                self.nav_index += 1;
                self.load_current(Load::Shown, ctx);
            }
            NavAction::Open if self.current_mut().is_some_and(|p| p.enter(ctx)) => {
                self.focus = Focus::Pane;
            }
            _ => {}
        }
        Outcome::Consumed
    }

    fn footer_keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.focus == Focus::Nav {
            let mut k = keymap::footer(NAV_KEYS);
            k.extend([("?", "help"), ("q", "quit")]);
            return k;
        }
        let mut k = self.current().map(|p| p.footer()).unwrap_or_default();
        k.extend(keymap::footer(PANE_KEYS));
        // While `?` would be typed into a field, the footer does not offer it as help.
        if !self.current().is_some_and(|p| p.question_mark_is_text()) {
            k.push(("?", "help"));
        }
        k
    }

    /// The `?` help: every key of every pane this session has, from the panes' keymaps.
    pub fn help(&self) -> Vec<(String, String)> {
        let current = self.nav.get(self.nav_index).copied();
        let mut out = self.help_of(current.into_iter());
        if out
            .first()
            .is_some_and(|(k, v)| k.is_empty() && v.is_empty())
        {
            out.remove(0);
        }
        // The keys everywhere, then the other panes in menu order and the dialogs.
        if !out.is_empty() {
            out.push((String::new(), String::new()));
        }
        out.extend(
            strings::GLOBAL_KEYS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        out.extend(self.help_of(self.nav.iter().copied().filter(|i| Some(*i) != current)));
        let sections = super::popups::help(self.session.is_admin())
            .into_iter()
            .chain(super::signin::help());
        for (title, keys) in sections {
            out.push((String::new(), String::new()));
            out.push((title.to_string(), String::new()));
            out.extend(
                keys.into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        out
    }

    /// The help sections of the panes `which`, titled.
    fn help_of(&self, which: impl Iterator<Item = usize>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for i in which {
            for (title, keys) in self.panes[i].help() {
                if keys.is_empty() {
                    continue;
                }
                out.push((String::new(), String::new()));
                out.push((title.to_string(), String::new()));
                out.extend(
                    keys.into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                );
            }
        }
        out
    }

    /// Draws the screen; `dialog_keys` are the footer's keys when a dialog is on top.
    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        status: Option<(String, bool)>,
        dialog_keys: Option<Vec<(&'static str, &'static str)>>,
    ) {
        let focused = self.focus == Focus::Pane;
        let view = View {
            theme,
            focused,
            session: &self.session,
            org: self.org.as_ref(),
            status: status.clone(),
        };
        if let Some(p) = self.current()
            && p.full_screen()
        {
            p.render(f, area, &view);
            return;
        }
        // A notice longer than the window takes a second line rather than being cut.
        let status_rows = status
            .as_ref()
            .map(|(s, _)| super::widgets::wrapped_rows(&format!(" {s}"), area.width).clamp(1, 2))
            .unwrap_or(1);
        let [header, body, status_row, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(5),
            Constraint::Length(status_rows),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_header(f, header, theme);
        let [nav, pane] =
            Layout::horizontal([Constraint::Length(21), Constraint::Min(40)]).areas(body);
        self.render_nav(f, nav, theme);
        if let Some(p) = self.current() {
            p.render(f, pane, &view);
        }
        if let Some((s, err)) = status {
            f.render_widget(
                Paragraph::new(Line::styled(
                    format!(" {s}"),
                    if err { theme.error() } else { theme.warn() },
                ))
                .wrap(Wrap { trim: false }),
                status_row,
            );
        }
        // A dialog on top has the keys: the footer is its.
        let keys = dialog_keys.unwrap_or_else(|| self.footer_keys());
        f.render_widget(
            Paragraph::new(key_line(&keys, theme)).style(theme.dim()),
            footer,
        );
    }

    fn render_header(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let org = self
            .org
            .as_ref()
            .map(|o| text::escape_control(&o.name))
            .unwrap_or_default();
        let mfa = match &self.org {
            Some(o) if o.controls.mfa_enabled() => {
                let mut m = Vec::new();
                if o.controls.authenticator {
                    m.push("app");
                }
                if o.controls.email {
                    m.push("email");
                }
                format!("MFA on ({})", m.join(" + "))
            }
            _ => "MFA off".to_string(),
        };
        let role = role_name(self.session.role());
        let left = format!(" {org}  │  {} ({role})", self.session.username());
        let right = format!("{mfa} ");
        let pad =
            (area.width as usize).saturating_sub(left.chars().count() + right.chars().count());
        f.render_widget(
            Paragraph::new(format!("{left}{}{right}", " ".repeat(pad))).style(theme.header()),
            area,
        );
    }

    fn render_nav(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let focused = self.focus == Focus::Nav;
        let items: Vec<ListItem> = self
            .nav
            .iter()
            .map(|i| ListItem::new(format!(" {}", self.panes[*i].title())))
            .collect();
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(if focused {
                        theme.focus_border()
                    } else {
                        theme.border()
                    })
                    .title(if focused { " ▶ Menu " } else { " Menu " }),
            )
            // The menu's choice stays marked but dim while the pane has the keys.
            .highlight_style(if focused {
                theme.selected()
            } else {
                theme.dim()
            })
            .highlight_symbol("▸");
        let mut state = ListState::default().with_selected(Some(self.nav_index));
        f.render_stateful_widget(list, area, &mut state);
    }
}
