//! Users: the roster of everyone, with who has NOT configured MFA marked in words and a
//! symbol; filter as you type, only-not-configured, sort; and a user's profile with the
//! admin's actions on it.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Cell, Paragraph, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table, Wrap,
};

use super::app::{Act, Ctx, Outcome};
use super::input::TextInput;
use super::keymap::{self, Key, KeyBinding, bind};
use super::list::{ListAction, ListNav};
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::pending::{BulkAct, Pending};
use super::popups::Popup;
use super::roster::{Roster, Row as RosterRow};
use super::strings;
use super::theme::Theme;
use super::widgets::{fit, pane_block};
use crate::core::clock::{format_short, format_time};
use crate::core::controls::method_name;
use crate::core::{Actor, CoreError, Scope, Session, UserDetail, UserStatus};
use crate::store::{Organization, Role};
use crate::text::csv_cell;

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
    /// Users marked for a bulk action (Space), by username.
    marked: std::collections::BTreeSet<String>,
}

struct Profile {
    detail: UserDetail,
    action: usize,
}

/// What an admin can do from a profile; each is confirmed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProfileAct {
    ResetMfa,
    Unlock,
    Disable,
    Enable,
    Role,
    TempPassword,
    GeneratePassword,
    ResendActivation,
    Delete,
}

impl ProfileAct {
    fn label(self) -> &'static str {
        match self {
            ProfileAct::ResetMfa => "Reset MFA",
            ProfileAct::Unlock => "Unlock",
            ProfileAct::Disable => "Disable account",
            ProfileAct::Enable => "Enable account",
            ProfileAct::Role => "Change role",
            ProfileAct::TempPassword => "Set temporary password",
            ProfileAct::GeneratePassword => "Generate temporary password",
            ProfileAct::ResendActivation => "Resend activation code",
            ProfileAct::Delete => "Delete user",
        }
    }
}

/// The pane's actions, from its keymaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    List(ListAction),
    Open,
    Filter,
    FilterDone,
    FilterClear,
    OnlyNotConfigured,
    Sort,
    Reverse,
    Add,
    Import,
    Mark,
    Bulk,
    RemindAll,
    Export,
    Previous,
    Next,
    Do,
    Back,
}

const ROSTER: &[KeyBinding<Action>] = &[
    bind(
        keymap::UP,
        "↑↓",
        "move",
        false,
        Action::List(ListAction::Up),
    ),
    bind(keymap::DOWN, "", "", false, Action::List(ListAction::Down)),
    bind(
        keymap::PAGE_UP,
        "PgUp/PgDn Home/End",
        "page, jump",
        false,
        Action::List(ListAction::PageUp),
    ),
    bind(
        keymap::PAGE_DOWN,
        "",
        "",
        false,
        Action::List(ListAction::PageDown),
    ),
    bind(keymap::HOME, "", "", false, Action::List(ListAction::First)),
    bind(keymap::END, "", "", false, Action::List(ListAction::Last)),
    bind(keymap::ENTER, "Enter", "profile", true, Action::Open),
    bind(&[Key::Char('/')], "/", "filter", false, Action::Filter),
    bind(
        &[Key::Char('n')],
        "n",
        "not configured",
        false,
        Action::OnlyNotConfigured,
    ),
    bind(&[Key::Char('s')], "s", "sort", false, Action::Sort),
    bind(
        &[Key::Char('S')],
        "S",
        "reverse the order",
        false,
        Action::Reverse,
    ),
    bind(&[Key::Char('a')], "a", "add", false, Action::Add),
    bind(
        &[Key::Char('i')],
        "i",
        "import a CSV file",
        false,
        Action::Import,
    ),
    bind(keymap::SPACE, "Space", "mark", true, Action::Mark),
    bind(
        &[Key::Char('b')],
        "b",
        "act on the marked",
        true,
        Action::Bulk,
    ),
    bind(
        &[Key::Char('R')],
        "R",
        "remind everyone not configured",
        false,
        Action::RemindAll,
    ),
    bind(
        &[Key::Char('x')],
        "x",
        "export the view to CSV",
        false,
        Action::Export,
    ),
];

const FILTERING: &[KeyBinding<Action>] = &[
    bind(keymap::ENTER, "Enter", "done", true, Action::FilterDone),
    bind(keymap::ESC, "Esc", "clear", true, Action::FilterClear),
    bind(
        &[Key::Code(KeyCode::Up)],
        "↑↓",
        "move",
        true,
        Action::List(ListAction::Up),
    ),
    bind(
        &[Key::Code(KeyCode::Down)],
        "",
        "",
        false,
        Action::List(ListAction::Down),
    ),
];

const PROFILE: &[KeyBinding<Action>] = &[
    bind(
        &[
            Key::Code(KeyCode::Up),
            Key::Code(KeyCode::Left),
            Key::Char('k'),
        ],
        "↑↓",
        "choose an action",
        true,
        Action::Previous,
    ),
    bind(
        &[
            Key::Code(KeyCode::Down),
            Key::Code(KeyCode::Right),
            Key::Char('j'),
        ],
        "",
        "",
        false,
        Action::Next,
    ),
    bind(
        keymap::ENTER,
        "Enter",
        "do it (confirmed)",
        true,
        Action::Do,
    ),
    bind(keymap::ESC, "Esc", "back to the roster", true, Action::Back),
];

pub const ID: PaneId = "users";

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

/// The MFA column of an export, in words a spreadsheet filters on.
fn csv_mfa(integration: bool, configured: bool) -> &'static str {
    if integration {
        "exempt (integration)"
    } else if configured {
        "configured"
    } else {
        "not configured"
    }
}

type RosterRead = Result<Roster, CoreError>;
type DetailRead = Result<UserDetail, CoreError>;

impl UsersPane {
    /// Installs a freshly loaded roster, keeping the selection on the same user.
    fn loaded(&mut self, roster: Roster) {
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

    fn read_detail(&self, kind: &'static str, username: String, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        cx.load(ID, kind, move |core| -> DetailRead {
            core.user_detail(Actor::User(&session), &username)
        });
    }

    /// The roster as shown (filter and order), as CSV.
    fn view_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "username",
            "name",
            "email",
            "role",
            "status",
            "mfa",
            "methods",
            "last_sign_in",
        ]);
        for i in &self.view {
            let r = self.roster.row(*i);
            let last = r.last_sign_in.map(format_short).unwrap_or_default();
            let _ = w.write_record([
                &csv_cell(r.username),
                &csv_cell(r.name),
                &csv_cell(r.email),
                r.role,
                r.status.as_str(),
                csv_mfa(r.is_integration(), r.configured),
                r.methods_text(),
                last.as_str(),
            ]);
        }
        w.into_inner()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
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

    fn actions(&self) -> Vec<ProfileAct> {
        let Some(p) = &self.profile else {
            return Vec::new();
        };
        let r = &p.detail.row;
        let mut v = vec![ProfileAct::ResetMfa];
        if r.status == UserStatus::Invited {
            v.push(ProfileAct::ResendActivation);
        }
        if r.status == UserStatus::Locked {
            v.push(ProfileAct::Unlock);
        }
        v.push(if r.status == UserStatus::Disabled {
            ProfileAct::Enable
        } else {
            ProfileAct::Disable
        });
        v.extend([
            ProfileAct::Role,
            ProfileAct::TempPassword,
            ProfileAct::GeneratePassword,
            ProfileAct::Delete,
        ]);
        v
    }

    /// The dialog for the profile's chosen action.
    fn do_action(&self, cx: &mut Ctx) {
        let actions = self.actions();
        let Some(p) = &self.profile else { return };
        let Some(a) = actions.get(p.action).copied() else {
            return;
        };
        let u = p.detail.row.username.clone();
        let popup = match a {
            ProfileAct::ResetMfa => Popup::confirm_pending(Pending::ResetMfa(u)),
            ProfileAct::Unlock => Popup::confirm_pending(Pending::Unlock(u)),
            // Disabling oneself ends one's own session at once: the dialog says so.
            ProfileAct::Disable
                if cx.session.as_ref().is_some_and(|s| {
                    crate::core::text::normalize_username(s.username())
                        == crate::core::text::normalize_username(&u)
                }) =>
            {
                Popup::confirm_pending_noting(Pending::SetDisabled(u, true), strings::DISABLE_SELF)
            }
            ProfileAct::Disable => Popup::confirm_pending(Pending::SetDisabled(u, true)),
            ProfileAct::Enable => Popup::confirm_pending(Pending::SetDisabled(u, false)),
            ProfileAct::Role => {
                let role = match p.detail.row.role {
                    "admin" => Role::Admin,
                    "integration" => Role::Integration,
                    _ => Role::Member,
                };
                Popup::role_choice(&u, role)
            }
            ProfileAct::TempPassword => Popup::temp_password(&u),
            ProfileAct::GeneratePassword => {
                Popup::confirm_pending(Pending::GenerateTempPassword(u))
            }
            ProfileAct::ResendActivation => Popup::confirm_pending(Pending::ResendActivation(u)),
            ProfileAct::Delete => Popup::confirm_pending(Pending::DeleteUser(u)),
        };
        cx.act(Act::Push(popup));
    }
}

impl Keyed for UsersPane {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        if self.profile.is_some() {
            PROFILE
        } else if self.filtering {
            FILTERING
        } else {
            ROSTER
        }
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        self.is_typing().then_some(&mut self.filter)
    }
    fn is_typing(&self) -> bool {
        self.filtering && self.profile.is_none()
    }
    fn typed(&mut self, _cx: &mut Ctx) {
        self.rebuild_view();
        self.nav.select(0);
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::List(l) => self.nav.apply(l),
            Action::Filter => self.filtering = true,
            Action::FilterDone => self.filtering = false,
            Action::FilterClear => {
                self.filtering = false;
                self.filter.clear();
                self.rebuild_view();
            }
            Action::OnlyNotConfigured => {
                self.only_not_configured = !self.only_not_configured;
                self.last_needle.clear();
                self.rebuild_view();
                self.nav.select(0);
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.descending = false;
                self.last_needle.clear();
                self.rebuild_view();
            }
            Action::Reverse => {
                self.descending = !self.descending;
                self.last_needle.clear();
                self.rebuild_view();
            }
            Action::Mark => {
                if let Some(u) = self.selected_row().map(|r| r.username.to_string())
                    && !self.marked.remove(&u)
                {
                    self.marked.insert(u);
                }
                self.nav.apply(ListAction::Down);
            }
            Action::Bulk => {
                let users: Vec<String> = if self.marked.is_empty() {
                    self.selected_row()
                        .map(|r| vec![r.username.to_string()])
                        .unwrap_or_default()
                } else {
                    self.marked.iter().cloned().collect()
                };
                if !users.is_empty() {
                    cx.act(Act::Push(Popup::bulk_choice(users)));
                }
            }
            Action::RemindAll => {
                if let Some(session) = cx.session.clone() {
                    cx.load(ID, "not-configured", move |core| {
                        core.not_configured(Actor::User(&session))
                    });
                }
            }
            Action::Export => cx.act(Act::Push(Popup::export_csv(self.view_csv()))),
            Action::Add => cx.act(Act::Push(Popup::add_user())),
            Action::Import => cx.act(Act::Push(Popup::import_csv())),
            Action::Open => {
                if let Some(r) = self.selected_row() {
                    let u = r.username.to_string();
                    self.read_detail("profile", u, cx);
                }
            }
            Action::Previous => {
                if let Some(p) = &mut self.profile {
                    p.action = p.action.saturating_sub(1);
                }
            }
            Action::Next => {
                let n = self.actions().len();
                if let Some(p) = &mut self.profile {
                    p.action = (p.action + 1).min(n.saturating_sub(1));
                }
            }
            Action::Do => self.do_action(cx),
            Action::Back => self.profile = None,
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        match r.kind {
            "roster" => match r.take::<RosterRead>() {
                Some(Ok(roster)) => self.loaded(roster),
                Some(Err(e)) => {
                    self.loading = false;
                    cx.act(Act::Error(e.to_string()));
                }
                None => {}
            },
            "import" => crate::tui::popups::import_done(r, cx),
            "not-configured" => match r.take::<Result<Vec<String>, CoreError>>() {
                Some(Ok(users)) if users.is_empty() => {
                    cx.act(Act::Notice(strings::NOBODY_TO_REMIND.into()))
                }
                Some(Ok(users)) => {
                    let n = users.len();
                    cx.act(Act::Push(Popup::confirm(
                        strings::REMIND_ALL_TITLE,
                        vec![strings::remind_all_what(n)],
                        Pending::Bulk(BulkAct::Remind, users),
                        false,
                    )))
                }
                Some(Err(e)) => cx.act(Act::Error(e.to_string())),
                None => {}
            },
            "profile" => match r.take::<DetailRead>() {
                Some(Ok(detail)) => self.profile = Some(Profile { detail, action: 0 }),
                Some(Err(e)) => cx.act(Act::Error(e.to_string())),
                None => {}
            },
            // The profile open while something changed: kept up to date, or closed when
            // the user is gone.
            _ => match r.take::<DetailRead>() {
                Some(Ok(detail)) => {
                    // The action chosen stays chosen when the list of actions changes
                    // (an invited user activated: "Resend activation code" goes).
                    let acts = self.actions();
                    let chosen = self
                        .profile
                        .as_ref()
                        .and_then(|p| acts.get(p.action).copied());
                    if let Some(p) = &mut self.profile
                        && p.detail.row.username == detail.row.username
                    {
                        p.detail = detail;
                    }
                    let acts = self.actions();
                    if let Some(p) = &mut self.profile {
                        p.action = chosen
                            .and_then(|c| acts.iter().position(|a| *a == c))
                            .unwrap_or(p.action.min(acts.len().saturating_sub(1)));
                    }
                }
                Some(Err(_)) => self.profile = None,
                None => {}
            },
        }
    }
}

impl Pane for UsersPane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "Users"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full && s.is_admin()
    }
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<Action>])> {
        vec![(self.title(), ROSTER), (strings::PROFILE_HELP, PROFILE)]
    }
    /// Loads the roster in the background; keys keep working meanwhile. On a change, the
    /// open profile is read again too.
    fn load(&mut self, why: Load, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        self.loading = true;
        cx.load(ID, "roster", move |core| -> RosterRead {
            let mut roster = Roster::default();
            core.visit_users(Actor::User(&session), &mut |row| roster.push(row))
                .map(|()| roster.finish())
        });
        if why == Load::Changed
            && let Some(p) = &self.profile
        {
            let u = p.detail.row.username.clone();
            self.read_detail("profile-again", u, cx);
        }
    }
    fn after(&mut self, done: &Pending, _cx: &mut Ctx) {
        if matches!(done, Pending::DeleteUser(_)) {
            self.profile = None;
        }
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let (theme, focused) = (v.theme, v.focused);
        if let Some(p) = &self.profile {
            return self.render_profile(p, f, area, theme, focused);
        }
        let block = pane_block(self.title(), theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [summary, tools, table_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
        ])
        .areas(inner);
        if self.loading && self.roster.is_empty() {
            f.render_widget(Paragraph::new(strings::LOADING_ROSTER), inner);
            return;
        }
        let people = self.roster.people;
        let configured = self.roster.configured;
        let pct = if people == 0 {
            100.0
        } else {
            configured as f64 * 100.0 / people as f64
        };
        // The sort and the count are never cut: the share configured gets shorter first.
        let mut shown = strings::roster_shown(
            self.view.len(),
            self.only_not_configured,
            self.sort.label(),
            // The arrow is the order shown (↓ newest or Z first): last sign-in lists
            // the newest first unless reversed.
            self.descending != (self.sort == SortBy::LastSignIn),
        );
        if !self.marked.is_empty() {
            shown.push_str(&strings::marked(self.marked.len()));
        }
        let mut share = strings::roster_share(configured, people, pct);
        if share.chars().count() + 2 + shown.chars().count() > summary.width as usize {
            share = strings::roster_share_short(pct);
        }
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(share, theme.title()),
                Span::styled(format!("  {shown}"), theme.dim()),
            ])),
            summary,
        );
        if self.filtering || !self.filter.is_empty() {
            self.filter
                .render(f, tools, "Filter", self.filtering, theme);
        } else {
            f.render_widget(
                Paragraph::new(strings::ROSTER_TOOLS).style(theme.dim()),
                tools,
            );
        }
        let table_w = table_area.width.saturating_sub(1);
        let cols = columns(
            table_w,
            self.roster.longest_username,
            self.roster.longest_name,
        );
        let height = table_area.height.saturating_sub(1) as usize;
        let (start, end) = self.nav.window(height);
        let rows: Vec<Row> = self.view[start..end]
            .iter()
            .enumerate()
            .map(|(i, idx)| {
                let r = self.roster.row(*idx);
                let selected = start + i == self.nav.selected;
                let cells: Vec<Cell> = cols
                    .iter()
                    .map(|(c, w)| c.cell(&r, *w, selected, self.marked.contains(r.username), theme))
                    .collect();
                let row = Row::new(cells);
                if selected {
                    row.style(theme.selected())
                } else {
                    row
                }
            })
            .collect();
        let widths: Vec<Constraint> = cols.iter().map(|(_, w)| Constraint::Length(*w)).collect();
        let header: Vec<&str> = cols.iter().map(|(c, _)| c.title()).collect();
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
}

impl UsersPane {
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

/// The roster's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    fn cell(
        self,
        r: &RosterRow,
        width: u16,
        selected: bool,
        marked: bool,
        theme: &Theme,
    ) -> Cell<'static> {
        let w = width as usize;
        match self {
            Col::Mfa => {
                let style = if r.needs_mfa() {
                    theme.warn()
                } else if r.is_integration() {
                    theme.dim()
                } else {
                    theme.ok()
                };
                let pointer = if selected {
                    "▸"
                } else if marked {
                    "•"
                } else {
                    " "
                };
                Cell::from(Span::styled(
                    format!("{pointer}{}", marker(r.is_integration(), r.configured)),
                    style,
                ))
            }
            Col::Username => Cell::from(fit(r.username, w)),
            Col::Name => Cell::from(fit(r.name, w)),
            Col::Methods => Cell::from(r.methods_text()),
            Col::Status => Cell::from(match r.status {
                UserStatus::Active => String::new(),
                other => other.as_str().to_string(),
            }),
            Col::Role => Cell::from(r.role),
            Col::Email => Cell::from(fit(r.email, w)),
            Col::LastSignIn => Cell::from(
                r.last_sign_in
                    .map(format_short)
                    .unwrap_or_else(|| strings::NEVER.into()),
            ),
            Col::Grace => Cell::from(
                r.grace_days_left
                    .map(|d| format!("{d} d"))
                    .unwrap_or_default(),
            ),
        }
    }
}

/// The columns and their widths for a table `width` wide. Marker, username, status and
/// methods always show, the username as wide as the longest one when it fits; role, last
/// sign-in, name, email and grace join as the window widens.
fn columns(width: u16, longest_username: usize, longest_name: usize) -> Vec<(Col, u16)> {
    const MARKER: u16 = 17;
    const STATUS: u16 = 8;
    const METHODS: u16 = 9;
    let base = MARKER + STATUS + METHODS + 3;
    let wanted = (longest_username.clamp(8, 64)) as u16;
    let room = width.saturating_sub(base);
    let mut user = wanted.min(room).max(6);
    let mut left = width.saturating_sub(base + user);
    let name_w = (longest_name.clamp(4, 32)) as u16;
    // Role, name and email join first, at the least width they show at; they grow to
    // what they hold before last sign-in and grace join.
    let mut extra: Vec<(Col, u16, u16)> = Vec::new();
    for (c, least, want) in [
        (Col::Role, 11, 11),
        (Col::Name, name_w.min(10), name_w),
        (Col::Email, 16, 40),
    ] {
        if user == wanted && left > least {
            left -= least + 1;
            extra.push((c, least, want));
        }
    }
    let grow = left.min(wanted.saturating_sub(user));
    user += grow;
    left -= grow;
    for (_, w, want) in &mut extra {
        let g = left.min(want.saturating_sub(*w));
        *w += g;
        left -= g;
    }
    for (c, w) in [(Col::LastSignIn, 16), (Col::Grace, 6)] {
        if user == wanted && left > w {
            left -= w + 1;
            extra.push((c, w, w));
        }
    }
    // Whatever is still left goes to the email (or the name) rather than to nothing.
    if let Some((_, w, _)) = extra.iter_mut().find(|(c, _, _)| *c == Col::Email) {
        *w += left;
    }
    let extra: Vec<(Col, u16)> = extra.into_iter().map(|(c, w, _)| (c, w)).collect();
    let mut all = vec![
        (Col::Mfa, MARKER),
        (Col::Username, user),
        (Col::Methods, METHODS),
        (Col::Status, STATUS),
    ];
    all.extend(extra);
    let order = [
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
    order
        .into_iter()
        .filter_map(|c| all.iter().find(|(x, _)| *x == c).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_80_columns_the_full_username_status_and_methods_show() {
        // The table of an 80-column window is 56 wide.
        let cols = columns(56, 19, 20);
        let names: Vec<Col> = cols.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            names,
            vec![Col::Mfa, Col::Username, Col::Methods, Col::Status]
        );
        assert_eq!(cols[1].1, 19, "the longest username fits whole");
        let total: u16 = cols.iter().map(|(_, w)| w + 1).sum();
        assert!(total <= 57, "{total}");
    }

    #[test]
    fn a_wide_window_adds_columns_and_never_cuts_usernames() {
        let cols = columns(176, 30, 20);
        let names: Vec<Col> = cols.iter().map(|(c, _)| *c).collect();
        for c in [Col::Name, Col::Email, Col::Role, Col::LastSignIn] {
            assert!(names.contains(&c), "{c:?} in {names:?}");
        }
        assert_eq!(cols[1], (Col::Username, 30));
        let total: u16 = cols.iter().map(|(_, w)| w + 1).sum();
        assert!(total <= 177, "{total}");
    }

    #[test]
    fn an_exported_name_never_runs_as_a_formula() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("Ada Allen"), "Ada Allen");
    }

    #[test]
    fn a_username_past_the_width_ends_in_an_ellipsis() {
        assert_eq!(fit("svc-ldap-sync-eu-west", 12), "svc-ldap-sy…");
        assert_eq!(fit("svc-ldap", 12), "svc-ldap");
        let cols = columns(56, 60, 10);
        assert!(cols[1].1 < 60 && cols[1].1 >= 6);
    }
}
