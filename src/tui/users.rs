//! Users: the roster of everyone, with who has NOT configured MFA marked in words and a
//! symbol; filter as you type, only-not-configured, sort; and a user's profile with the
//! admin's actions on it.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Cell, Paragraph, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table, Wrap,
};

use super::app::{Act, App, Apply, Ctx, Outcome, Screen};
use super::input::TextInput;
use super::list::ListNav;
use super::main_screen::pane_block;
use super::pending::Pending;
use super::popup::Popup;
use super::roster::{Roster, Row as RosterRow};
use super::strings;
use super::theme::Theme;
use crate::core::clock::{format_short, format_time};
use crate::core::controls::method_name;
use crate::core::{Actor, Core, Session, UserDetail, UserStatus};
use crate::store::Role;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Username,
    Mfa,
    Name,
    Email,
    Role,
    LastSignIn,
}

impl SortBy {
    fn next(self) -> Self {
        match self {
            SortBy::Username => SortBy::Mfa,
            SortBy::Mfa => SortBy::Name,
            SortBy::Name => SortBy::Email,
            SortBy::Email => SortBy::Role,
            SortBy::Role => SortBy::LastSignIn,
            SortBy::LastSignIn => SortBy::Username,
        }
    }
    fn label(self) -> &'static str {
        match self {
            SortBy::Username => "username",
            SortBy::Mfa => "MFA",
            SortBy::Name => "name",
            SortBy::Email => "email",
            SortBy::Role => "role",
            SortBy::LastSignIn => "last sign-in",
        }
    }
}

#[derive(Default)]
pub struct UsersPane {
    roster: Roster,
    loading: bool,
    /// Indices into the roster's rows: filtered and sorted.
    view: Vec<u32>,
    /// The filter the view was last built with, to narrow instead of rescanning.
    last_needle: String,
    filter: TextInput,
    filtering: bool,
    only_not_configured: bool,
    sort: SortBy,
    descending: bool,
    nav: ListNav,
    profile: Option<Profile>,
}

struct Profile {
    detail: UserDetail,
    action: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ResetMfa,
    Unlock,
    Disable,
    Enable,
    Role,
    TempPassword,
    Delete,
}

impl Action {
    fn label(self) -> &'static str {
        match self {
            Action::ResetMfa => "Reset MFA",
            Action::Unlock => "Unlock",
            Action::Disable => "Disable account",
            Action::Enable => "Enable account",
            Action::Role => "Change role",
            Action::TempPassword => "Set temporary password",
            Action::Delete => "Delete user",
        }
    }
}

/// The marker column: words and a symbol, so it reads without colour.
pub fn marker(integration: bool, configured: bool) -> &'static str {
    if integration {
        strings::INTEGRATION
    } else if configured {
        strings::CONFIGURED
    } else {
        strings::NOT_CONFIGURED
    }
}

impl UsersPane {
    /// Loads the roster in the background; keys keep working meanwhile.
    pub fn load(&mut self, _core: &Core, s: &Session, ctx: &mut Ctx) {
        self.loading = true;
        let session = s.clone();
        ctx.spawn_quiet(move |core| {
            let mut roster = Roster::default();
            let r = core
                .visit_users(Actor::User(&session), &mut |row| roster.push(row))
                .map(|()| roster.finish());
            Box::new(move |app: &mut App| {
                if let Screen::Main(m) = &mut app.screen {
                    match r {
                        Ok(roster) => m.users_mut().loaded(roster),
                        Err(e) => app.ctx.act(Act::Error(e.to_string())),
                    }
                }
            }) as Apply
        });
    }

    /// Installs a freshly loaded roster, keeping the selection on the same user.
    pub fn loaded(&mut self, roster: Roster) {
        let selected = self.selected_row().map(|r| r.username.to_string());
        self.roster = roster;
        self.loading = false;
        self.last_needle.clear();
        self.rebuild_view();
        if let Some(u) = selected
            && let Some(pos) = self
                .view
                .iter()
                .position(|i| self.roster.row(*i).username == u)
        {
            self.nav.select(pos);
        }
    }

    /// Reload keeping the selection on the same user, and the open profile.
    pub fn reload(&mut self, core: &Core, s: &Session, ctx: &mut Ctx) {
        self.load(core, s, ctx);
        if let Some(p) = &mut self.profile {
            match core.user_detail(Actor::User(s), &p.detail.row.username) {
                Ok(d) => p.detail = d,
                Err(_) => self.profile = None,
            }
        }
    }

    pub fn close_profile(&mut self) {
        self.profile = None;
    }

    fn selected_row(&self) -> Option<RosterRow<'_>> {
        self.view
            .get(self.nav.selected)
            .map(|i| self.roster.row(*i))
    }

    /// Filters (and orders) the roster. A filter that only grew narrows the current
    /// view instead of scanning everyone again.
    fn rebuild_view(&mut self) {
        let needle = self.filter.value().to_lowercase();
        let r = &self.roster;
        let keep = |i: u32| {
            (!self.only_not_configured || r.row(i).needs_mfa())
                && (needle.is_empty() || r.matches(i, &needle))
        };
        let narrowing = !self.last_needle.is_empty() && needle.starts_with(&self.last_needle);
        let mut view: Vec<u32> = if narrowing {
            self.view.iter().copied().filter(|i| keep(*i)).collect()
        } else {
            let order = r.order(self.sort as usize);
            let mut v: Vec<u32> = order.iter().copied().filter(|i| keep(*i)).collect();
            if self.descending {
                v.reverse();
            }
            v
        };
        view.shrink_to_fit();
        self.view = view;
        self.last_needle = needle;
        self.nav.set_len(self.view.len());
    }

    pub fn keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.profile.is_some() {
            return vec![
                ("↑↓", "action"),
                ("Enter", "do it"),
                ("Esc", "back to roster"),
            ];
        }
        if self.filtering {
            return vec![("type", "filter"), ("Enter", "done"), ("Esc", "clear")];
        }
        vec![
            ("Enter", "profile"),
            ("/", "filter"),
            ("n", "not configured"),
            ("s", "sort"),
            ("a", "add user"),
            ("i", "import"),
        ]
    }

    pub fn all_keys() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Enter", "open the user's profile"),
            ("/", "filter as you type (username, name, email)"),
            ("n", "show only users who have not configured MFA"),
            ("s / S", "sort by the next column / reverse"),
            ("a", "add a user (invited)"),
            ("i", "import users from a CSV file"),
            ("PgUp/PgDn Home/End", "page, jump"),
        ]
    }

    pub fn profile_keys() -> Vec<(&'static str, &'static str)> {
        vec![
            ("↑↓ Enter", "choose and do an action (each is confirmed)"),
            ("Esc", "back to the roster"),
        ]
    }

    fn actions(&self) -> Vec<Action> {
        let Some(p) = &self.profile else {
            return Vec::new();
        };
        let r = &p.detail.row;
        let mut v = vec![Action::ResetMfa];
        if r.status == UserStatus::Locked {
            v.push(Action::Unlock);
        }
        v.push(if r.status == UserStatus::Disabled {
            Action::Enable
        } else {
            Action::Disable
        });
        v.extend([Action::Role, Action::TempPassword, Action::Delete]);
        v
    }

    pub fn handle_key(
        &mut self,
        key: KeyEvent,
        core: &Core,
        s: &Session,
        ctx: &mut Ctx,
    ) -> Outcome {
        if self.profile.is_some() {
            return self.profile_key(key, ctx);
        }
        if self.filtering {
            match key.code {
                KeyCode::Enter => self.filtering = false,
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter.clear();
                    self.rebuild_view();
                }
                _ => {
                    if self.filter.handle_key(key) {
                        self.rebuild_view();
                        self.nav.select(0);
                    }
                }
            }
            return Outcome::Consumed;
        }
        match key.code {
            KeyCode::Char('/') => self.filtering = true,
            KeyCode::Char('n') => {
                self.only_not_configured = !self.only_not_configured;
                self.last_needle.clear();
                self.rebuild_view();
                self.nav.select(0);
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.descending = false;
                self.last_needle.clear();
                self.rebuild_view();
            }
            KeyCode::Char('S') => {
                self.descending = !self.descending;
                self.last_needle.clear();
                self.rebuild_view();
            }
            KeyCode::Char('a') => ctx.act(Act::Push(Popup::add_user())),
            KeyCode::Char('i') => ctx.act(Act::Push(Popup::import_csv())),
            KeyCode::Enter => {
                if let Some(r) = self.selected_row() {
                    match core.user_detail(Actor::User(s), r.username) {
                        Ok(detail) => self.profile = Some(Profile { detail, action: 0 }),
                        Err(e) => ctx.act(Act::Error(e.to_string())),
                    }
                }
            }
            _ => {
                if !self.nav.handle_key(key) {
                    return Outcome::Ignored;
                }
            }
        }
        Outcome::Consumed
    }

    fn profile_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        let actions = self.actions();
        let Some(p) = &mut self.profile else {
            return Outcome::Ignored;
        };
        match key.code {
            KeyCode::Esc => self.profile = None,
            KeyCode::Up | KeyCode::Left | KeyCode::Char('k') => {
                p.action = p.action.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Right | KeyCode::Char('j') => {
                p.action = (p.action + 1).min(actions.len().saturating_sub(1))
            }
            KeyCode::Enter => {
                let u = p.detail.row.username.clone();
                let Some(a) = actions.get(p.action).copied() else {
                    return Outcome::Consumed;
                };
                let popup = match a {
                    Action::ResetMfa => Popup::confirm(
                        "Reset MFA",
                        vec![
                            format!("Remove every MFA credential of {u}: authenticators, email verification, recovery codes, pending codes and remembered devices."),
                            "It takes effect at once; they will be told by mail and must configure MFA again.".into(),
                        ],
                        Pending::ResetMfa(u),
                        true,
                    ),
                    Action::Unlock => Popup::confirm("Unlock", vec![format!("Let {u} sign in again now?")], Pending::Unlock(u), false),
                    Action::Disable => Popup::confirm(
                        "Disable account",
                        vec![format!("{u} will not be able to sign in until enabled again.")],
                        Pending::SetDisabled(u, true),
                        true,
                    ),
                    Action::Enable => Popup::confirm("Enable account", vec![format!("Let {u} sign in again?")], Pending::SetDisabled(u, false), false),
                    Action::Role => {
                        let role = match p.detail.row.role {
                            "admin" => Role::Admin,
                            "integration" => Role::Integration,
                            _ => Role::Member,
                        };
                        Popup::role_choice(&u, role)
                    }
                    Action::TempPassword => Popup::temp_password(&u),
                    Action::Delete => Popup::confirm(
                        "Delete user",
                        vec![format!("Delete {u} and all of their MFA settings? This cannot be undone.")],
                        Pending::DeleteUser(u),
                        true,
                    ),
                };
                ctx.act(Act::Push(popup));
            }
            _ => return Outcome::Ignored,
        }
        Outcome::Consumed
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        if let Some(p) = &self.profile {
            return self.render_profile(p, f, area, theme, focused);
        }
        let block = pane_block("Users", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [summary, tools, table_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
        ])
        .areas(inner);
        if self.loading && self.roster.is_empty() {
            f.render_widget(Paragraph::new("Loading the roster…"), inner);
            return;
        }
        let people = self.roster.people;
        let configured = self.roster.configured;
        let pct = if people == 0 {
            100.0
        } else {
            configured as f64 * 100.0 / people as f64
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    format!("{configured} of {people} users configured · {pct:.1} %"),
                    theme.title(),
                ),
                Span::styled(
                    format!(
                        "  {} shown{} · by {}{}",
                        self.view.len(),
                        if self.only_not_configured { " (n)" } else { "" },
                        self.sort.label(),
                        if self.descending { " ↓" } else { "" }
                    ),
                    theme.dim(),
                ),
            ])),
            summary,
        );
        if self.filtering || !self.filter.is_empty() {
            self.filter
                .render(f, tools, "Filter", self.filtering, theme);
        } else {
            f.render_widget(
                Paragraph::new("/ filter · n only not configured · s sort · a add user")
                    .style(theme.dim()),
                tools,
            );
        }
        let table_w = table_area.width.saturating_sub(1);
        let cols = columns(table_w);
        let height = table_area.height.saturating_sub(1) as usize;
        let (start, end) = self.nav.window(height);
        let rows: Vec<Row> = self.view[start..end]
            .iter()
            .enumerate()
            .map(|(i, idx)| {
                let r = self.roster.row(*idx);
                let selected = start + i == self.nav.selected;
                let cells: Vec<Cell> = cols.iter().map(|c| c.cell(&r, selected, theme)).collect();
                let row = Row::new(cells);
                if selected {
                    row.style(theme.selected())
                } else {
                    row
                }
            })
            .collect();
        let widths: Vec<Constraint> = cols.iter().map(|c| c.width()).collect();
        let header: Vec<&str> = cols.iter().map(|c| c.title()).collect();
        f.render_widget(
            Table::new(rows, widths)
                .header(Row::new(header).style(theme.title()))
                .column_spacing(1),
            Rect {
                width: table_w,
                ..table_area
            },
        );
        let mut sb = ScrollbarState::new(self.view.len().saturating_sub(height))
            .position(self.nav.window(height).0)
            .viewport_content_length(height);
        f.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight),
            table_area,
            &mut sb,
        );
    }

    fn render_profile(&self, p: &Profile, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let r = &p.detail.row;
        let title = format!("Profile · {}", r.username);
        let block = pane_block(&title, theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let wide = inner.width >= 90;
        let [left, right] = if wide {
            Layout::horizontal([Constraint::Min(30), Constraint::Length(28)]).areas(inner)
        } else {
            Layout::vertical([Constraint::Min(5), Constraint::Length(3)]).areas(inner)
        };
        let mut lines = vec![
            Line::from(vec![Span::styled(
                marker(r.is_integration(), r.configured),
                if r.needs_mfa() {
                    theme.warn()
                } else {
                    theme.ok()
                },
            )]),
            Line::raw(format!(
                "Name         {}",
                crate::core::text::escape_control(&r.name)
            )),
            Line::raw(format!(
                "Email        {}",
                crate::core::text::escape_control(&r.email)
            )),
            Line::raw(format!("Role         {}", r.role)),
            Line::raw(format!(
                "Status       {}{}",
                r.status.as_str(),
                r.locked_until
                    .map(|t| format!(" until {}", format_short(t)))
                    .unwrap_or_default()
            )),
            Line::raw(format!(
                "Last sign-in {}",
                r.last_sign_in
                    .map(format_time)
                    .unwrap_or_else(|| "never".into())
            )),
            Line::raw(format!("Created      {}", format_short(r.created))),
        ];
        if let Some(d) = r.grace_days_left {
            lines.push(Line::styled(
                format!("Grace        {d} day(s) left to configure MFA"),
                theme.warn(),
            ));
        }
        if p.detail.must_change_password {
            lines.push(Line::raw(
                "Password     temporary: must change at next sign-in",
            ));
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled("Enrollments", theme.title()));
        if p.detail.enrollments.is_empty() {
            lines.push(Line::raw("  none"));
        }
        for e in &p.detail.enrollments {
            lines.push(Line::raw(format!(
                "  {} {:?} · created {} · last used {}",
                method_name(e.method),
                crate::core::text::escape_control(&e.label),
                format_short(e.created),
                e.last_used
                    .map(format_time)
                    .unwrap_or_else(|| "never".into())
            )));
        }
        lines.push(Line::raw(format!(
            "  recovery codes left: {}",
            p.detail.recovery_codes_left
        )));
        lines.push(Line::raw(""));
        lines.push(Line::styled("Recent events", theme.title()));
        if p.detail.recent_events.is_empty() {
            lines.push(Line::styled(
                "  none recently (`mfa-console audit --user NAME` has them all)",
                theme.dim(),
            ));
        }
        for e in p.detail.recent_events.iter().take(8) {
            lines.push(Line::raw(format!(
                "  {} {} by {}",
                format_short(e.time),
                e.kind,
                crate::core::text::escape_control(&e.actor)
            )));
        }
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), left);
        if wide {
            let mut acts = vec![Line::styled("Actions", theme.title())];
            for (i, a) in self.actions().iter().enumerate() {
                if i == p.action {
                    acts.push(Line::styled(format!("▸ {}", a.label()), theme.selected()));
                } else {
                    acts.push(Line::raw(format!("  {}", a.label())));
                }
            }
            acts.push(Line::raw(""));
            acts.push(Line::styled("Each asks to confirm.", theme.dim()));
            f.render_widget(Paragraph::new(acts), right);
        } else {
            let mut spans = vec![Span::styled("Actions: ", theme.title())];
            for (i, a) in self.actions().iter().enumerate() {
                let style = if i == p.action {
                    theme.selected()
                } else {
                    theme.text()
                };
                let mark = if i == p.action { "▸" } else { " " };
                // No break inside a label when the line wraps.
                spans.push(Span::styled(
                    format!("{mark}{}", a.label().replace(' ', "\u{a0}")),
                    style,
                ));
                spans.push(Span::raw(" "));
            }
            f.render_widget(
                Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }),
                right,
            );
        }
    }
}

/// The roster's columns, most important first; narrower windows drop the later ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Mfa,
    Username,
    Name,
    Methods,
    Status,
    Role,
    Email,
    LastSignIn,
    Grace,
}

impl Col {
    fn fixed(self) -> u16 {
        match self {
            Col::Mfa => 17,
            Col::Username => 12,
            Col::Name => 12,
            Col::Methods => 9,
            Col::Status => 8,
            Col::Role => 11,
            Col::Email => 24,
            Col::LastSignIn => 16,
            Col::Grace => 6,
        }
    }
    fn width(self) -> Constraint {
        match self {
            Col::Name | Col::Email => Constraint::Min(self.fixed()),
            _ => Constraint::Length(self.fixed()),
        }
    }
    fn title(self) -> &'static str {
        match self {
            Col::Mfa => " MFA",
            Col::Username => "USERNAME",
            Col::Name => "NAME",
            Col::Methods => "METHODS",
            Col::Status => "STATUS",
            Col::Role => "ROLE",
            Col::Email => "EMAIL",
            Col::LastSignIn => "LAST SIGN-IN",
            Col::Grace => "GRACE",
        }
    }
    fn cell(self, r: &RosterRow, selected: bool, theme: &Theme) -> Cell<'static> {
        match self {
            Col::Mfa => {
                let style = if r.needs_mfa() {
                    theme.warn()
                } else if r.is_integration() {
                    theme.dim()
                } else {
                    theme.ok()
                };
                let pointer = if selected { "▸" } else { " " };
                Cell::from(Span::styled(
                    format!("{pointer}{}", marker(r.is_integration(), r.configured)),
                    style,
                ))
            }
            Col::Username => Cell::from(r.username.to_string()),
            Col::Name => Cell::from(r.name.to_string()),
            Col::Methods => Cell::from(r.methods_text()),
            Col::Status => Cell::from(match r.status {
                UserStatus::Active => String::new(),
                other => other.as_str().to_string(),
            }),
            Col::Role => Cell::from(r.role),
            Col::Email => Cell::from(r.email.to_string()),
            Col::LastSignIn => Cell::from(
                r.last_sign_in
                    .map(format_short)
                    .unwrap_or_else(|| "never".into()),
            ),
            Col::Grace => Cell::from(
                r.grace_days_left
                    .map(|d| format!("{d} d"))
                    .unwrap_or_default(),
            ),
        }
    }
}

/// As many columns as fit `width`, in order of importance, shown in a fixed order.
fn columns(width: u16) -> Vec<Col> {
    let order = [
        Col::Mfa,
        Col::Username,
        Col::Name,
        Col::Methods,
        Col::Status,
        Col::Role,
        Col::Email,
        Col::LastSignIn,
        Col::Grace,
    ];
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for c in order {
        let need = c.fixed() + u16::from(!chosen.is_empty());
        if used + need <= width || chosen.len() < 3 {
            used += need;
            chosen.push(c);
        }
    }
    let display = [
        Col::Mfa,
        Col::Username,
        Col::Name,
        Col::Email,
        Col::Role,
        Col::Methods,
        Col::Status,
        Col::LastSignIn,
        Col::Grace,
    ];
    display.into_iter().filter(|c| chosen.contains(c)).collect()
}
