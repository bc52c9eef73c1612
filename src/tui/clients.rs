//! The authentication service's API clients, read-only: the same columns as
//! `mfa-console client list`. Keys are made and changed at the command line, where the
//! new key can be shown once.

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::app::{Act, App, Apply, Ctx, Outcome, Screen};
use super::list::ListNav;
use super::main_screen::pane_block;
use super::theme::Theme;
use crate::core::clock::format_short;
use crate::core::{Actor, Core, Session};
use crate::store::{ApiClient, ClientMode};

#[derive(Default)]
pub struct ClientsPane {
    clients: Vec<ApiClient>,
    /// When the list was read: "today" is this day (UTC).
    now: i64,
    loaded: bool,
    nav: ListNav,
}

impl ClientsPane {
    pub fn load(&mut self, _core: &Core, s: &Session, ctx: &mut Ctx) {
        let session = s.clone();
        ctx.spawn_quiet(move |core| {
            let r = core.clients(Actor::User(&session));
            let now = core.now();
            Box::new(move |app: &mut App| {
                if let Screen::Main(m) = &mut app.screen {
                    match r {
                        Ok(clients) => m.clients_mut().set(clients, now),
                        Err(e) => app.ctx.act(Act::Error(e.to_string())),
                    }
                }
            }) as Apply
        });
    }

    pub fn set(&mut self, clients: Vec<ApiClient>, now: i64) {
        self.clients = clients;
        self.now = now;
        self.loaded = true;
        self.nav.set_len(self.clients.len());
    }

    pub fn keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.clients.is_empty() {
            vec![]
        } else {
            vec![("↑↓", "scroll")]
        }
    }

    pub fn all_keys() -> Vec<(&'static str, &'static str)> {
        vec![("↑↓ PgUp/PgDn", "scroll (read-only: `mfa-console client`)")]
    }

    pub fn handle_key(&mut self, key: KeyEvent, _ctx: &mut Ctx) -> Outcome {
        if self.nav.handle_key(key) {
            Outcome::Consumed
        } else {
            Outcome::Ignored
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = pane_block("Clients", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [top, table_area] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(inner);
        if !self.loaded {
            f.render_widget(Paragraph::new("Loading…").style(theme.dim()), top);
            return;
        }
        if self.clients.is_empty() {
            f.render_widget(
                Paragraph::new(vec![
                    ratatui::text::Line::raw(
                        "No API clients yet. Applications and hosts ask `mfa-console serve` with a key of their own; add one at the command line (the key is shown once):",
                    ),
                    ratatui::text::Line::raw(""),
                    ratatui::text::Line::styled(
                        "  mfa-console client add NAME --mode code-only|password-and-code",
                        theme.key(),
                    ),
                    ratatui::text::Line::raw(""),
                    ratatui::text::Line::raw(
                        "Local PAM modules need no key: they use the service's Unix socket.",
                    ),
                ])
                .wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        f.render_widget(
            Paragraph::new(format!(
                "{} client(s); requests and refusals today (UTC). Add, rotate or remove them with `mfa-console client`.",
                self.clients.len()
            ))
            .style(theme.dim())
            .wrap(Wrap { trim: true }),
            top,
        );
        let wide = table_area.width >= 90;
        // Narrow windows show created and last request for the selected client below.
        let (table_area, detail_area) = if wide {
            (table_area, None)
        } else {
            let [t, d] =
                Layout::vertical([Constraint::Min(2), Constraint::Length(2)]).areas(table_area);
            (t, Some(d))
        };
        let height = table_area.height.saturating_sub(1) as usize;
        let (start, end) = self.nav.window(height);
        let rows: Vec<Row> = self.clients[start..end]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (requests, refusals) = c.today(self.now);
                let mut cells = vec![
                    Cell::from(c.name.clone()),
                    Cell::from(if wide {
                        c.mode.as_str()
                    } else {
                        short_mode(c.mode)
                    }),
                ];
                if wide {
                    let created = format_short(c.created);
                    cells.push(Cell::from(
                        created.get(..10).unwrap_or(&created).to_string(),
                    ));
                    cells.push(Cell::from(last_request(c)));
                }
                cells.push(Cell::from(requests.to_string()));
                cells.push(Cell::from(refusals.to_string()));
                let row = Row::new(cells);
                if start + i == self.nav.selected && focused {
                    row.style(theme.selected())
                } else {
                    row
                }
            })
            .collect();
        let (widths, header) = if wide {
            (
                vec![
                    Constraint::Fill(1),
                    Constraint::Length(17),
                    Constraint::Length(10),
                    Constraint::Length(16),
                    Constraint::Length(8),
                    Constraint::Length(7),
                ],
                vec![
                    "NAME",
                    "MODE",
                    "CREATED",
                    "LAST REQUEST",
                    "REQUESTS",
                    "REFUSED",
                ],
            )
        } else {
            (
                vec![
                    Constraint::Fill(1),
                    Constraint::Length(13),
                    Constraint::Length(8),
                    Constraint::Length(8),
                ],
                vec!["NAME", "MODE", "REQUESTS", "REFUSED"],
            )
        };
        f.render_widget(
            Table::new(rows, widths).header(Row::new(header).style(theme.title())),
            table_area,
        );
        if let (Some(area), Some(c)) = (detail_area, self.clients.get(self.nav.selected)) {
            f.render_widget(
                Paragraph::new(format!(
                    "{}: created {}, last request {}.",
                    c.name,
                    format_short(c.created),
                    last_request(c)
                ))
                .style(theme.dim())
                .wrap(Wrap { trim: true }),
                area,
            );
        }
    }
}

fn last_request(c: &ApiClient) -> String {
    c.last_request
        .map(format_short)
        .unwrap_or_else(|| "never".into())
}

fn short_mode(m: ClientMode) -> &'static str {
    match m {
        ClientMode::CodeOnly => "code-only",
        ClientMode::PasswordAndCode => "password+code",
    }
}
