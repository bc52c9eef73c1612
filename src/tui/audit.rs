//! The audit log, newest first, with a text filter; Enter shows one event in full.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{
    Cell, Paragraph, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table, Wrap,
};

use super::app::{Act, Ctx, Outcome};
use super::input::TextInput;
use super::keymap::{self, Key, KeyBinding};
use super::list::{ListAction, ListNav};
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::popups::Popup;
use super::strings;
use super::widgets::{fit, pane_block};
use crate::core::clock::format_short;
use crate::core::text::escape_control;
use crate::core::{Actor, CoreError, Scope, Session};
use crate::store::{AuditEvent, Organization};

/// How many of the newest events the pane holds.
const WINDOW: usize = 5000;

#[derive(Default)]
pub struct AuditPane {
    events: Vec<AuditEvent>,
    total: u64,
    view: Vec<usize>,
    filter: TextInput,
    filtering: bool,
    nav: ListNav,
    /// Only events of this kind (`e` / `E` go through the kinds present).
    kind: Option<String>,
    range: Range,
    /// The time the events were read at, which the range counts back from.
    now: i64,
    /// A range of time being typed (`T`), and what was wrong with the last one.
    range_input: TextInput,
    ranging: bool,
    range_error: Option<String>,
    /// The range typed holds more events than the pane holds.
    capped: bool,
}

/// How far back the log shows (`t` goes through them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Range {
    #[default]
    All,
    Hour,
    Day,
    Week,
    /// As typed with `T`: from the first second up to (not including) the second.
    Custom(i64, i64),
}

impl Range {
    fn next(self) -> Range {
        match self {
            Range::All => Range::Hour,
            Range::Hour => Range::Day,
            Range::Day => Range::Week,
            Range::Week | Range::Custom(..) => Range::All,
        }
    }
    fn seconds(self) -> Option<i64> {
        match self {
            Range::All | Range::Custom(..) => None,
            Range::Hour => Some(3600),
            Range::Day => Some(86400),
            Range::Week => Some(7 * 86400),
        }
    }
    pub fn label(self) -> String {
        match self {
            Range::All => strings::RANGE_ALL.into(),
            Range::Hour => strings::RANGE_HOUR.into(),
            Range::Day => strings::RANGE_DAY.into(),
            Range::Week => strings::RANGE_WEEK.into(),
            // The end shown is the last minute in the range.
            Range::Custom(from, to) => strings::range_custom(
                &crate::core::clock::format_short(from),
                &crate::core::clock::format_short(to - 60),
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    List(ListAction),
    Open,
    Filter,
    FilterDone,
    FilterClear,
    NextKind,
    PreviousKind,
    NextRange,
    TypeRange,
    RangeDone,
    RangeCancel,
}

const fn list(
    keys: &'static [Key],
    shown: &'static str,
    what: &'static str,
    a: ListAction,
) -> KeyBinding<Action> {
    KeyBinding {
        keys,
        shown,
        what,
        footer: !shown.is_empty(),
        action: Action::List(a),
    }
}

const BROWSE: &[KeyBinding<Action>] = &[
    list(keymap::UP, "↑↓", "move", ListAction::Up),
    list(keymap::DOWN, "", "", ListAction::Down),
    KeyBinding {
        keys: keymap::PAGE_UP,
        shown: "PgUp/PgDn Home/End",
        what: "page, jump",
        footer: false,
        action: Action::List(ListAction::PageUp),
    },
    list(keymap::PAGE_DOWN, "", "", ListAction::PageDown),
    list(keymap::HOME, "", "", ListAction::First),
    list(keymap::END, "", "", ListAction::Last),
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: "details",
        footer: true,
        action: Action::Open,
    },
    KeyBinding {
        keys: &[Key::Char('/')],
        shown: "/",
        what: "filter",
        footer: true,
        action: Action::Filter,
    },
    KeyBinding {
        keys: &[Key::Char('e')],
        shown: "e/E",
        what: "event kind",
        footer: true,
        action: Action::NextKind,
    },
    KeyBinding {
        keys: &[Key::Char('E')],
        shown: "",
        what: "",
        footer: false,
        action: Action::PreviousKind,
    },
    KeyBinding {
        keys: &[Key::Char('t')],
        shown: "t",
        what: "time",
        footer: true,
        action: Action::NextRange,
    },
    KeyBinding {
        keys: &[Key::Char('T')],
        shown: "T",
        what: strings::KEY_TYPE_RANGE,
        footer: false,
        action: Action::TypeRange,
    },
];

const RANGING: &[KeyBinding<Action>] = &[
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: strings::KEY_SHOW_RANGE,
        footer: true,
        action: Action::RangeDone,
    },
    KeyBinding {
        keys: keymap::ESC,
        shown: "Esc",
        what: strings::KEY_CANCEL,
        footer: true,
        action: Action::RangeCancel,
    },
];

const FILTERING: &[KeyBinding<Action>] = &[
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: "done",
        footer: true,
        action: Action::FilterDone,
    },
    KeyBinding {
        keys: keymap::ESC,
        shown: "Esc",
        what: "clear",
        footer: true,
        action: Action::FilterClear,
    },
    list(&[Key::Code(KeyCode::Up)], "↑↓", "move", ListAction::Up),
    list(&[Key::Code(KeyCode::Down)], "", "", ListAction::Down),
];

const ID: PaneId = "audit";

/// The events, how many the log holds in all, the time they were read at, and whether a
/// range typed holds more than were read.
type Read = Result<(Vec<AuditEvent>, u64, i64, bool), CoreError>;

impl AuditPane {
    fn apply_filter(&mut self) {
        let needle = self.filter.value().to_lowercase();
        let since = self.range.seconds().map(|s| self.now - s);
        self.view = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                self.kind.as_ref().is_none_or(|k| e.kind == *k)
                    && since.is_none_or(|t| e.time >= t)
                    && (needle.is_empty()
                        || [&e.actor, &e.subject, &e.kind, &e.details]
                            .iter()
                            .any(|f| f.to_lowercase().contains(&needle)))
            })
            .map(|(i, _)| i)
            .collect();
        self.nav.set_len(self.view.len());
    }

    /// The kinds present in the events read, in order, to go through with `k`.
    fn kinds(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.events.iter().map(|e| e.kind.as_str()).collect();
        k.sort_unstable();
        k.dedup();
        k
    }

    fn step_kind(&mut self, forward: bool) {
        let kinds = self.kinds();
        let at = self
            .kind
            .as_deref()
            .and_then(|k| kinds.iter().position(|x| *x == k));
        // None (all kinds) comes before the first and after the last.
        let next = match (at, forward) {
            (None, true) => kinds.first().copied(),
            (None, false) => kinds.last().copied(),
            (Some(i), true) => kinds.get(i + 1).copied(),
            (Some(0), false) => None,
            (Some(i), false) => kinds.get(i - 1).copied(),
        };
        self.kind = next.map(str::to_string);
        self.apply_filter();
    }

    fn selected(&self) -> Option<&AuditEvent> {
        self.view
            .get(self.nav.selected)
            .and_then(|i| self.events.get(*i))
    }
}

impl AuditPane {
    /// Loads the newest events in the background, or those of the range typed (the
    /// command line exports all of them).
    fn read(&mut self, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        let range = self.range;
        cx.load(ID, "events", move |core| -> Read {
            let actor = Actor::User(&session);
            match range {
                Range::Custom(from, to) => {
                    let (events, more) = core.audit_events_between(actor, from, to, WINDOW)?;
                    let total = events.len() as u64;
                    Ok((events, total, core.now(), more))
                }
                _ => {
                    let (events, total) = core.recent_audit_events(actor, WINDOW)?;
                    Ok((events, total, core.now(), false))
                }
            }
        });
    }
}

impl Keyed for AuditPane {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        if self.ranging {
            RANGING
        } else if self.filtering {
            FILTERING
        } else {
            BROWSE
        }
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        if self.ranging {
            Some(&mut self.range_input)
        } else {
            self.filtering.then_some(&mut self.filter)
        }
    }
    fn is_typing(&self) -> bool {
        self.ranging || self.filtering
    }
    fn typed(&mut self, _cx: &mut Ctx) {
        self.apply_filter();
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::List(l) => self.nav.apply(l),
            Action::Filter => self.filtering = true,
            Action::FilterDone => self.filtering = false,
            Action::FilterClear => {
                self.filtering = false;
                self.filter.clear();
                self.apply_filter();
            }
            Action::NextKind => self.step_kind(true),
            Action::PreviousKind => self.step_kind(false),
            Action::NextRange => {
                let was_custom = matches!(self.range, Range::Custom(..));
                self.range = self.range.next();
                self.range_error = None;
                if was_custom {
                    // Back to the newest events.
                    self.read(cx);
                } else {
                    self.apply_filter();
                }
            }
            Action::TypeRange => {
                self.ranging = true;
                self.range_error = None;
            }
            Action::RangeCancel => {
                self.ranging = false;
                self.range_error = None;
            }
            Action::RangeDone => {
                match crate::core::clock::parse_range(self.range_input.value()) {
                    Ok((from, to)) => {
                        self.ranging = false;
                        self.range_error = None;
                        self.range = Range::Custom(from, to);
                        self.read(cx);
                    }
                    // The text stays to be mended.
                    Err(e) => self.range_error = Some(e),
                }
            }
            Action::Open => {
                if let Some(e) = self.selected() {
                    cx.act(Act::Push(Popup::message(
                        &strings::audit_event_title(e.seq),
                        strings::audit_event_lines(
                            &format_short(e.time),
                            &escape_control(&e.actor),
                            &e.kind,
                            &escape_control(&e.subject),
                            &escape_control(&e.details),
                        ),
                        false,
                    )));
                }
            }
        }
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        match r.take::<Read>() {
            Some(Ok((events, total, now, capped))) => {
                self.events = events;
                self.total = total;
                self.now = now;
                self.capped = capped;
                self.apply_filter();
            }
            Some(Err(e)) => cx.act(Act::Error(e.to_string())),
            None => {}
        }
    }
}

impl Pane for AuditPane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "Audit log"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full && s.is_admin()
    }
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<Action>])> {
        vec![(self.title(), BROWSE)]
    }
    fn load(&mut self, why: Load, cx: &mut Ctx) {
        // A range that ended before the events were read cannot gain any: a change
        // elsewhere does not read it again.
        if why == Load::Changed
            && let Range::Custom(_, to) = self.range
            && to <= self.now
        {
            return;
        }
        self.read(cx);
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let (theme, focused) = (v.theme, v.focused);
        let block = pane_block(self.title(), theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        // A range typed takes a second line: the hint or what is wrong, or the range.
        let custom = matches!(self.range, Range::Custom(..));
        let top_rows = match (self.ranging, &self.range_error) {
            (true, Some(_)) => 3,
            (true, None) => 2,
            (false, _) if custom => 2,
            (false, _) => 1,
        };
        let [top, table_area] =
            Layout::vertical([Constraint::Length(top_rows), Constraint::Min(1)]).areas(inner);
        if self.ranging {
            let [input, error] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(top);
            self.range_input
                .render(f, input, strings::LABEL_RANGE, true, theme);
            let hint = self.range_error.as_deref().unwrap_or(strings::RANGE_HINT);
            let style = if self.range_error.is_some() {
                theme.error()
            } else {
                theme.dim()
            };
            f.render_widget(
                Paragraph::new(hint).style(style).wrap(Wrap { trim: true }),
                error,
            );
        } else if self.filtering || !self.filter.is_empty() {
            self.filter.render(f, top, "Filter", self.filtering, theme);
        } else {
            f.render_widget(
                Paragraph::new({
                    let mut summary = strings::audit_summary(
                        self.view.len(),
                        self.events.len(),
                        self.total,
                        self.kind.as_deref(),
                        &self.range.label(),
                    );
                    if self.capped {
                        summary.push_str(strings::RANGE_CAPPED);
                    }
                    summary
                })
                .style(theme.dim())
                .wrap(Wrap { trim: true }),
                top,
            );
        }
        let height = table_area.height.saturating_sub(1) as usize;
        let (start, end) = self.nav.window(height);
        // Narrow windows drop the year from times.
        let wide = table_area.width >= 90;
        let when = |t: i64| {
            let s = format_short(t);
            if wide {
                s
            } else {
                s.get(5..).unwrap_or(&s).to_string()
            }
        };
        let rows: Vec<Row> = self.view[start..end]
            .iter()
            .enumerate()
            .filter_map(|(i, idx)| {
                let e = self.events.get(*idx)?;
                // Cut text ends in an ellipsis, so a cut name is never taken for a whole
                // one; Enter shows the event in full.
                let (actor_w, subject_w) = if wide {
                    (10, 14)
                } else {
                    // Time 11, actor 9, event 25, the spaces between, the scrollbar.
                    (
                        9,
                        usize::from(table_area.width).saturating_sub(11 + 9 + 25 + 4),
                    )
                };
                let mut cells = vec![
                    Cell::from(when(e.time)),
                    Cell::from(fit(&escape_control(&e.actor), actor_w)),
                    Cell::from(fit(&e.kind, 25)),
                    Cell::from(fit(&escape_control(&e.subject), subject_w.max(6))),
                ];
                if wide {
                    let details_w =
                        usize::from(table_area.width).saturating_sub(16 + 10 + 25 + 14 + 5);
                    cells.push(Cell::from(fit(
                        &escape_control(&e.details),
                        details_w.max(6),
                    )));
                }
                let row = Row::new(cells);
                Some(if start + i == self.nav.selected && focused {
                    row.style(theme.selected())
                } else {
                    row
                })
            })
            .collect();
        let (widths, header) = if wide {
            (
                vec![
                    Constraint::Length(16),
                    Constraint::Length(10),
                    Constraint::Length(25),
                    Constraint::Length(14),
                    Constraint::Min(6),
                ],
                vec!["TIME", "ACTOR", "EVENT", "SUBJECT", "DETAILS"],
            )
        } else {
            (
                vec![
                    Constraint::Length(11),
                    Constraint::Length(9),
                    Constraint::Length(25),
                    Constraint::Min(6),
                ],
                vec!["TIME", "ACTOR", "EVENT", "SUBJECT"],
            )
        };
        let table = Table::new(rows, widths).header(Row::new(header).style(theme.title()));
        f.render_widget(
            table,
            Rect {
                width: table_area.width.saturating_sub(1),
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
