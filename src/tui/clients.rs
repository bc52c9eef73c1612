//! The authentication service's API clients, read-only: the same columns as
//! `mfa-console client list`. Keys are made and changed at the command line, where the
//! new key can be shown once.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::app::{Act, Ctx, Outcome};
use super::keymap::KeyBinding;
use super::list::{LIST_KEYS, ListAction, ListNav};
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::strings;
use super::widgets::pane_block;
use crate::core::clock::format_short;
use crate::core::{Actor, CoreError, Scope, Session};
use crate::store::{ApiClient, ClientMode, Organization};

#[derive(Default)]
pub struct ClientsPane {
    clients: Vec<ApiClient>,
    /// When the list was read: "today" is this day (UTC).
    now: i64,
    loaded: bool,
    nav: ListNav,
    /// The RADIUS clients of config.toml (their requests are in the audit log).
    radius: Vec<super::app::NasRow>,
}

const ID: PaneId = "clients";

type Read = Result<(Vec<ApiClient>, i64), CoreError>;

impl Keyed for ClientsPane {
    type Action = ListAction;
    fn keymap(&self) -> &'static [KeyBinding<ListAction>] {
        if self.clients.is_empty() {
            &[]
        } else {
            LIST_KEYS
        }
    }
    fn handle(&mut self, a: ListAction, _cx: &mut Ctx) -> Outcome {
        self.nav.apply(a);
        Outcome::Consumed
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        match r.take::<Read>() {
            Some(Ok((clients, now))) => {
                self.radius = cx.radius_clients.clone();
                self.clients = clients;
                self.now = now;
                self.loaded = true;
                self.nav.set_len(self.clients.len());
            }
            Some(Err(e)) => cx.act(Act::Error(e.to_string())),
            None => {}
        }
    }
}

impl Pane for ClientsPane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "Clients"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full && s.is_admin()
    }
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<ListAction>])> {
        vec![(strings::CLIENTS_HELP, LIST_KEYS)]
    }
    fn load(&mut self, _why: Load, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        cx.load(ID, "clients", move |core| -> Read {
            Ok((core.clients(Actor::User(&session))?, core.now()))
        });
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let (theme, focused) = (v.theme, v.focused);
        let block = pane_block(self.title(), theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        // RADIUS clients, from config.toml, below the API clients.
        let inner = if self.radius.is_empty() || !self.loaded {
            inner
        } else {
            let shown = self.radius.len().min(6) as u16;
            let [api, nas] =
                Layout::vertical([Constraint::Min(4), Constraint::Length(shown + 2)]).areas(inner);
            let mut lines = vec![
                ratatui::text::Line::raw(""),
                ratatui::text::Line::styled(strings::RADIUS_CLIENTS, theme.title()),
            ];
            for n in self.radius.iter().take(6) {
                lines.push(ratatui::text::Line::raw(format!(
                    "  {}  {}  {}",
                    n.name, n.mode, n.address
                )));
            }
            if self.radius.len() > 6 {
                lines.push(ratatui::text::Line::styled(
                    strings::more_radius(self.radius.len() - 6),
                    theme.dim(),
                ));
            }
            f.render_widget(Paragraph::new(lines), nas);
            api
        };
        let [top, table_area] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(inner);
        if !self.loaded {
            f.render_widget(Paragraph::new(strings::LOADING).style(theme.dim()), top);
            return;
        }
        if self.clients.is_empty() {
            f.render_widget(
                Paragraph::new(vec![
                    ratatui::text::Line::raw(strings::NO_CLIENTS),
                    ratatui::text::Line::raw(""),
                    ratatui::text::Line::styled(strings::CLIENT_ADD_COMMAND, theme.key()),
                    ratatui::text::Line::styled(strings::CLIENT_ADD_MODES, theme.dim()),
                    ratatui::text::Line::raw(""),
                    ratatui::text::Line::raw(strings::CLIENTS_PAM),
                ])
                .wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        f.render_widget(
            Paragraph::new(strings::clients_summary(self.clients.len()))
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
                    // The name takes what the other columns leave; cut, it ends in "…".
                    Cell::from(crate::tui::widgets::fit(
                        &c.name,
                        usize::from(table_area.width)
                            .saturating_sub(if wide {
                                17 + 10 + 16 + 8 + 7 + 5
                            } else {
                                13 + 8 + 8 + 3
                            })
                            .max(6),
                    )),
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
                Paragraph::new(strings::client_detail(
                    &c.name,
                    &format_short(c.created),
                    &last_request(c),
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
        .unwrap_or_else(|| strings::NEVER.into())
}

fn short_mode(m: ClientMode) -> &'static str {
    match m {
        ClientMode::CodeOnly => "code-only",
        ClientMode::PasswordAndCode => "password+code",
    }
}
