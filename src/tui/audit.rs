//! The audit log, newest first, with a text filter.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{
    Cell, Paragraph, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table,
};

use super::app::{Act, App, Apply, Ctx, Outcome, Screen};
use super::input::TextInput;
use super::list::ListNav;
use super::main_screen::pane_block;
use super::theme::Theme;
use crate::core::clock::format_short;
use crate::core::text::escape_control;
use crate::core::{Actor, Core, Session};
use crate::store::AuditEvent;

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
}

impl AuditPane {
    /// Loads the newest events in the background (the command line exports all of them).
    pub fn load(&mut self, _core: &Core, s: &Session, ctx: &mut Ctx) {
        let session = s.clone();
        ctx.spawn_quiet(move |core| {
            let r = core.recent_audit_events(Actor::User(&session), WINDOW);
            Box::new(move |app: &mut App| {
                if let Screen::Main(m) = &mut app.screen {
                    match r {
                        Ok((events, total)) => {
                            let a = m.audit_mut();
                            a.events = events;
                            a.total = total;
                            a.apply_filter();
                        }
                        Err(e) => app.ctx.act(Act::Error(e.to_string())),
                    }
                }
            }) as Apply
        });
    }

    fn apply_filter(&mut self) {
        let needle = self.filter.value().to_lowercase();
        self.view = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                needle.is_empty()
                    || [&e.actor, &e.subject, &e.kind, &e.details]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .map(|(i, _)| i)
            .collect();
        self.nav.set_len(self.view.len());
    }

    pub fn keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.filtering {
            vec![("type", "filter"), ("Enter", "done"), ("Esc", "clear")]
        } else {
            vec![("↑↓ PgUp/PgDn", "scroll"), ("/", "filter")]
        }
    }

    pub fn all_keys() -> Vec<(&'static str, &'static str)> {
        vec![
            ("/", "filter by user, kind or text"),
            ("PgUp/PgDn Home/End", "scroll"),
        ]
    }

    pub fn handle_key(&mut self, key: KeyEvent, _ctx: &mut Ctx) -> Outcome {
        if self.filtering {
            match key.code {
                KeyCode::Enter => self.filtering = false,
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter.clear();
                    self.apply_filter();
                }
                _ => {
                    if self.filter.handle_key(key) {
                        self.apply_filter();
                    }
                }
            }
            return Outcome::Consumed;
        }
        if key.code == KeyCode::Char('/') {
            self.filtering = true;
            return Outcome::Consumed;
        }
        if self.nav.handle_key(key) {
            Outcome::Consumed
        } else {
            Outcome::Ignored
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = pane_block("Audit log", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [top, table_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
        if self.filtering || !self.filter.is_empty() {
            self.filter.render(f, top, "Filter", self.filtering, theme);
        } else {
            f.render_widget(
                Paragraph::new(if self.total as usize > self.events.len() {
                    format!(
                        "Newest {} of {} events. / to filter; `mfa-console audit` has them all.",
                        self.events.len(),
                        self.total
                    )
                } else {
                    format!("{} events, newest first. / to filter.", self.events.len())
                })
                .style(theme.dim()),
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
                let mut cells = vec![
                    Cell::from(when(e.time)),
                    Cell::from(escape_control(&e.actor)),
                    Cell::from(e.kind.clone()),
                    Cell::from(escape_control(&e.subject)),
                ];
                if wide {
                    cells.push(Cell::from(escape_control(&e.details)));
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
