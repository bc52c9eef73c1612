//! Signed in: header, navigation, the active pane, and a footer with the keys that work.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};

use super::app::{Act, Ctx, Outcome};
use super::audit::AuditPane;
use super::clients::ClientsPane;
use super::controls::ControlsPane;
use super::overview::OverviewPane;
use super::pending::Pending;
use super::popup::Popup;
use super::strings;
use super::theme::Theme;
use super::users::UsersPane;
use super::wizard::WizardPane;
use crate::core::users::role_name;
use crate::core::{Core, Scope, Session, SessionNow, text};
use crate::store::Organization;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NavItem {
    Overview,
    Controls,
    Users,
    Audit,
    Clients,
    MyMfa,
    Home,
    SignOut,
}

impl NavItem {
    fn label(self) -> &'static str {
        match self {
            NavItem::Overview => "Overview",
            NavItem::Controls => "Security Controls",
            NavItem::Users => "Users",
            NavItem::Audit => "Audit log",
            NavItem::Clients => "Clients",
            NavItem::MyMfa => "Configure my MFA",
            NavItem::Home => "My account",
            NavItem::SignOut => "Sign out",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Nav,
    Pane,
}

pub struct MainScreen {
    pub session: Session,
    org: Option<Organization>,
    nav: Vec<NavItem>,
    nav_index: usize,
    focus: Focus,
    overview: OverviewPane,
    controls: ControlsPane,
    users: UsersPane,
    wizard: WizardPane,
    audit: AuditPane,
    clients: ClientsPane,
}

impl MainScreen {
    pub fn new(session: Session, core: &Core, ctx: &mut Ctx) -> Self {
        let mut m = Self {
            session,
            org: None,
            nav: Vec::new(),
            nav_index: 0,
            focus: Focus::Nav,
            overview: OverviewPane::default(),
            controls: ControlsPane::default(),
            users: UsersPane::default(),
            wizard: WizardPane::default(),
            audit: AuditPane::default(),
            clients: ClientsPane::default(),
        };
        m.org = core.organization().ok();
        m.rebuild_nav();
        if m.session.must_enroll && m.nav.contains(&NavItem::MyMfa) {
            m.select(NavItem::MyMfa, ctx);
            m.focus = Focus::Pane;
            let days = m.session.grace_days_left.unwrap_or(0);
            ctx.act(Act::Notice(if m.session.scope() == Scope::EnrollOnly {
                "MFA is required and your grace period has ended: set up a method now.".into()
            } else {
                format!("MFA is required: set it up now ({days} day(s) of grace left).")
            }));
        } else {
            let first = m.nav.first().copied().unwrap_or(NavItem::SignOut);
            m.select(first, ctx);
        }
        if let Some(left) = m.session.recovery_codes_left {
            ctx.act(Act::Notice(format!(
                "Signed in with a recovery code: {left} left. Make new ones in Configure my MFA (g)."
            )));
        }
        m
    }

    fn rebuild_nav(&mut self) {
        let mfa_on = self.org.as_ref().is_some_and(|o| o.controls.mfa_enabled());
        let mut nav = Vec::new();
        if self.session.scope() == Scope::Full {
            if self.session.is_admin() {
                nav.extend([
                    NavItem::Overview,
                    NavItem::Controls,
                    NavItem::Users,
                    NavItem::Audit,
                    NavItem::Clients,
                ]);
            } else {
                nav.push(NavItem::Home);
            }
        }
        if mfa_on {
            nav.push(NavItem::MyMfa);
        }
        nav.push(NavItem::SignOut);
        let current = self.nav.get(self.nav_index).copied();
        self.nav = nav;
        self.nav_index = current
            .and_then(|c| self.nav.iter().position(|n| *n == c))
            .unwrap_or(0);
    }

    fn current(&self) -> NavItem {
        self.nav
            .get(self.nav_index)
            .copied()
            .unwrap_or(NavItem::SignOut)
    }

    fn select(&mut self, item: NavItem, ctx: &mut Ctx) {
        if let Some(i) = self.nav.iter().position(|n| *n == item) {
            self.nav_index = i;
        }
        self.load_current(ctx);
    }

    /// Loads the data of the pane now showing.
    fn load_current(&mut self, ctx: &mut Ctx) {
        let Some(core) = ctx.core.clone() else { return };
        let s = &self.session;
        match self.current() {
            NavItem::Overview => self.overview.load(&core, s, ctx),
            NavItem::Users => self.users.load(&core, s, ctx),
            NavItem::Audit => self.audit.load(&core, s, ctx),
            NavItem::Clients => self.clients.load(&core, s, ctx),
            NavItem::MyMfa => self.wizard.load(&core, s, ctx),
            NavItem::Controls => {
                let mfa_on = self.org.as_ref().is_some_and(|o| o.controls.mfa_enabled());
                if mfa_on && !core.has_fresh_reauth(s).unwrap_or(false) {
                    // Opening the pane (Enter) asks for re-authentication.
                    self.controls.locked();
                } else {
                    self.controls.load(&core, s, ctx);
                }
            }
            NavItem::Home | NavItem::SignOut => {}
        }
    }

    /// Another process (or this one) changed something: reload what shows.
    pub fn reload(&mut self, ctx: &mut Ctx) {
        let Some(core) = ctx.core.clone() else { return };
        // An account disabled or deleted meanwhile is signed out at once; one whose role
        // changed goes on with the panes of its new role.
        match core.refreshed_session(&self.session) {
            Ok(SessionNow::Ended) => {
                ctx.act(Act::SignOut);
                ctx.act(Act::Error(
                    "Signed out: this account was disabled or removed.".into(),
                ));
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
        self.org = core.organization().ok();
        self.rebuild_nav();
        let s = &self.session;
        match self.current() {
            NavItem::Overview => self.overview.load(&core, s, ctx),
            NavItem::Users => self.users.reload(&core, s, ctx),
            NavItem::Audit => self.audit.load(&core, s, ctx),
            NavItem::Clients => self.clients.load(&core, s, ctx),
            NavItem::MyMfa => self.wizard.refresh(&core, s, ctx),
            NavItem::Controls => {
                if self.controls.is_loaded() {
                    self.controls.load(&core, s, ctx)
                }
            }
            NavItem::Home | NavItem::SignOut => {}
        }
    }

    /// A confirmed act has been carried out.
    pub fn after(&mut self, done: &Pending, ctx: &mut Ctx) {
        if matches!(done, Pending::DeleteUser(_)) {
            self.users.close_profile();
        }
        if matches!(done, Pending::OpenControls) {
            if let Some(core) = ctx.core.clone() {
                self.controls.load(&core, &self.session, ctx);
            }
            self.focus = Focus::Pane;
            return;
        }
        self.reload(ctx);
    }

    pub fn users_mut(&mut self) -> &mut UsersPane {
        &mut self.users
    }

    pub fn audit_mut(&mut self) -> &mut AuditPane {
        &mut self.audit
    }

    pub fn clients_mut(&mut self) -> &mut ClientsPane {
        &mut self.clients
    }

    pub fn overview_mut(&mut self) -> &mut OverviewPane {
        &mut self.overview
    }

    pub fn wizard_mut(&mut self) -> &mut WizardPane {
        &mut self.wizard
    }

    pub fn controls_denied(&mut self) {
        self.controls.locked();
    }

    pub fn wizard_open(&self) -> bool {
        self.current() == NavItem::MyMfa && self.wizard.in_progress()
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        if self.focus == Focus::Pane {
            let Some(core) = ctx.core.clone() else {
                return Outcome::Ignored;
            };
            let s = self.session.clone();
            let out = match self.current() {
                NavItem::Overview => self.overview.handle_key(key, ctx),
                NavItem::Controls => self.controls.handle_key(key, &core, &s, ctx),
                NavItem::Users => self.users.handle_key(key, &core, &s, ctx),
                NavItem::Audit => self.audit.handle_key(key, ctx),
                NavItem::Clients => self.clients.handle_key(key, ctx),
                NavItem::MyMfa => self.wizard.handle_key(key, &core, &s, ctx),
                NavItem::Home | NavItem::SignOut => Outcome::Ignored,
            };
            if matches!(out, Outcome::Consumed) {
                return out;
            }
        }
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Nav => Focus::Pane,
                    Focus::Pane => Focus::Nav,
                };
                Outcome::Consumed
            }
            KeyCode::Esc if self.focus == Focus::Pane => {
                self.focus = Focus::Nav;
                Outcome::Consumed
            }
            KeyCode::Up | KeyCode::Char('k') if self.focus == Focus::Nav => {
                if self.nav_index > 0 {
                    self.nav_index -= 1;
                    self.load_current(ctx);
                }
                Outcome::Consumed
            }
            KeyCode::Down | KeyCode::Char('j') if self.focus == Focus::Nav => {
                if self.nav_index + 1 < self.nav.len() {
                    self.nav_index += 1;
                    self.load_current(ctx);
                }
                Outcome::Consumed
            }
            KeyCode::Enter | KeyCode::Right if self.focus == Focus::Nav => {
                if self.current() == NavItem::SignOut {
                    ctx.act(Act::SignOut);
                } else if self.current() == NavItem::Controls && !self.controls.is_loaded() {
                    if let Some(core) = ctx.core.clone() {
                        ctx.act(Act::Push(Popup::reauth(
                            Some(&core),
                            Some(&self.session),
                            Pending::OpenControls,
                        )));
                    }
                } else {
                    self.focus = Focus::Pane;
                }
                Outcome::Consumed
            }
            _ => Outcome::Ignored,
        }
    }

    fn pane_keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.focus == Focus::Nav {
            return vec![
                ("↑↓", "choose"),
                ("Enter/Tab", "open pane"),
                ("?", "help"),
                ("q", "quit"),
            ];
        }
        let mut k = match self.current() {
            NavItem::Overview => vec![],
            NavItem::Controls => self.controls.keys(),
            NavItem::Users => self.users.keys(),
            NavItem::Audit => self.audit.keys(),
            NavItem::Clients => self.clients.keys(),
            NavItem::MyMfa => self.wizard.keys(),
            NavItem::Home | NavItem::SignOut => vec![],
        };
        k.extend([("Tab", "navigation"), ("?", "help")]);
        k
    }

    pub fn all_keys(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |title: &str, keys: Vec<(&str, &str)>| {
            if !keys.is_empty() {
                out.push((String::new(), String::new()));
                out.push((title.to_string(), String::new()));
                out.extend(
                    keys.into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                );
            }
        };
        if self.session.is_admin() {
            add("Users", UsersPane::all_keys());
            add("Profile", UsersPane::profile_keys());
            add("Security Controls", ControlsPane::all_keys());
            add("Audit log", AuditPane::all_keys());
            add("Clients", ClientsPane::all_keys());
        }
        add("Configure my MFA", WizardPane::all_keys());
        add(
            "Sign-in (code step)",
            vec![
                ("F2", "other method"),
                ("F3", "send email code"),
                ("F4", "recovery code"),
            ],
        );
        out
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, status: Option<(String, bool)>) {
        if self.current() == NavItem::MyMfa && self.wizard.wants_full_screen() {
            self.wizard.render_full(f, area, theme, status);
            return;
        }
        let [header, body, status_row, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(5),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_header(f, header, theme);
        let [nav, pane] =
            Layout::horizontal([Constraint::Length(21), Constraint::Min(40)]).areas(body);
        self.render_nav(f, nav, theme);
        let focused = self.focus == Focus::Pane;
        match self.current() {
            NavItem::Overview => self.overview.render(f, pane, theme, focused),
            NavItem::Controls => self
                .controls
                .render(f, pane, theme, focused, self.org.as_ref()),
            NavItem::Users => self.users.render(f, pane, theme, focused),
            NavItem::Audit => self.audit.render(f, pane, theme, focused),
            NavItem::Clients => self.clients.render(f, pane, theme, focused),
            NavItem::MyMfa => self.wizard.render(f, pane, theme, focused),
            NavItem::Home => self.render_home(f, pane, theme),
            NavItem::SignOut => {
                let block = pane_block("Sign out", theme, focused);
                let inner = block.inner(pane);
                f.render_widget(block, pane);
                f.render_widget(Paragraph::new("Press Enter to sign out."), inner);
            }
        }
        if let Some((s, err)) = status {
            f.render_widget(
                Paragraph::new(Line::styled(
                    format!(" {s}"),
                    if err { theme.error() } else { theme.warn() },
                )),
                status_row,
            );
        }
        let mut spans = Vec::new();
        for (k, v) in self.pane_keys() {
            spans.push(Span::styled(format!(" {k}"), theme.key()));
            spans.push(Span::raw(format!(" {v} ")));
        }
        f.render_widget(Paragraph::new(Line::from(spans)).style(theme.dim()), footer);
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
        let role = crate::core::users::role_name(self.session.role());
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
            .map(|n| ListItem::new(format!(" {}", n.label())))
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
                    .title(" Menu "),
            )
            .highlight_style(theme.selected())
            .highlight_symbol("▸");
        let mut state = ListState::default().with_selected(Some(self.nav_index));
        f.render_stateful_widget(list, area, &mut state);
    }

    fn render_home(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let block = pane_block("My account", theme, self.focus == Focus::Pane);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mfa_on = self.org.as_ref().is_some_and(|o| o.controls.mfa_enabled());
        let lines = vec![
            Line::raw(format!("Signed in as {}.", self.session.username())),
            Line::raw(""),
            Line::raw(if mfa_on {
                "Your organization uses multi-factor authentication: open \"Configure my MFA\" to set up or change your methods."
            } else {
                "Multi-factor authentication is off for your organization: there is nothing to configure."
            }),
        ];
        f.render_widget(
            Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
    }
}

pub fn pane_block<'a>(title: &'a str, theme: &Theme, focused: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.focus_border()
        } else {
            theme.border()
        })
        .title(Span::styled(format!(" {title} "), theme.title()))
}
