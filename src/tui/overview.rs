//! Overview: the share of users configured, counts by method, who is past their grace
//! period or locked, and failed sign-ins per day over two weeks.

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Sparkline};

use super::app::{Act, App, Apply, Ctx, Outcome, Screen};
use super::main_screen::pane_block;
use super::theme::Theme;
use crate::core::{Actor, Core, Session, UserStatus};

pub const DAYS: usize = 14;

#[derive(Default)]
pub struct OverviewPane {
    pub people: usize,
    pub configured: usize,
    pub integrations: usize,
    pub authenticator: usize,
    pub email: usize,
    pub past_grace: usize,
    pub locked: usize,
    pub invited: usize,
    pub failed_per_day: Vec<u64>,
    pub loading: bool,
}

impl OverviewPane {
    /// Counts in the background; the pane shows the last counts (or "Loading…") meanwhile.
    pub fn load(&mut self, _core: &Core, s: &Session, ctx: &mut Ctx) {
        self.loading = true;
        let session = s.clone();
        ctx.spawn_quiet(move |core| {
            let r = OverviewPane::count(core, &session);
            Box::new(move |app: &mut App| {
                if let Screen::Main(m) = &mut app.screen {
                    match r {
                        Ok(o) => *m.overview_mut() = o,
                        Err(e) => app.ctx.act(Act::Error(e.to_string())),
                    }
                }
            }) as Apply
        });
    }

    fn count(core: &Core, s: &Session) -> Result<OverviewPane, crate::core::CoreError> {
        let actor = Actor::User(s);
        let mut o = OverviewPane::default();
        core.visit_users(actor, &mut |r| {
            if r.is_integration() {
                o.integrations += 1;
                return;
            }
            o.people += 1;
            if r.configured {
                o.configured += 1;
            }
            if r.methods.contains(&"authenticator") {
                o.authenticator += 1;
            }
            if r.methods.contains(&"email") {
                o.email += 1;
            }
            if r.grace_days_left == Some(0) {
                o.past_grace += 1;
            }
            match r.status {
                UserStatus::Locked => o.locked += 1,
                UserStatus::Invited => o.invited += 1,
                _ => {}
            }
        })?;
        o.failed_per_day = core.failed_sign_ins_per_day(actor, DAYS)?;
        Ok(o)
    }

    pub fn handle_key(&mut self, _key: KeyEvent, _ctx: &mut Ctx) -> Outcome {
        Outcome::Ignored
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = pane_block("Overview", theme, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [gauge, counts, spark, _] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Max(12),
            Constraint::Min(0),
        ])
        .areas(inner);
        if self.loading && self.people == 0 {
            f.render_widget(Paragraph::new("Loading…"), inner);
            return;
        }
        let ratio = if self.people == 0 {
            1.0
        } else {
            self.configured as f64 / self.people as f64
        };
        let [label, bar] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(gauge);
        f.render_widget(
            Paragraph::new(Line::from(vec![Span::styled(
                format!(
                    "{} of {} users configured · {:.1} %",
                    self.configured,
                    self.people,
                    ratio * 100.0
                ),
                theme.title(),
            )])),
            label,
        );
        f.render_widget(
            Gauge::default()
                .gauge_style(theme.ok())
                .ratio(ratio.clamp(0.0, 1.0))
                .label(""),
            bar,
        );
        let warn = |n: usize| if n > 0 { theme.warn() } else { theme.text() };
        let lines = vec![
            Line::from(vec![Span::raw(format!(
                "  Authenticator app   {:>7}",
                self.authenticator
            ))]),
            Line::from(vec![Span::raw(format!(
                "  Email codes         {:>7}",
                self.email
            ))]),
            Line::from(vec![Span::styled(
                format!("  Not configured      {:>7}", self.people - self.configured),
                warn(self.people - self.configured),
            )]),
            Line::from(vec![Span::styled(
                format!("  Past grace period   {:>7}", self.past_grace),
                warn(self.past_grace),
            )]),
            Line::from(vec![Span::styled(
                format!("  Locked accounts     {:>7}", self.locked),
                warn(self.locked),
            )]),
            Line::from(vec![Span::raw(format!(
                "  Invited, not active {:>7}    Integrations {:>6}",
                self.invited, self.integrations
            ))]),
        ];
        f.render_widget(Paragraph::new(lines), counts);
        let total: u64 = self.failed_per_day.iter().sum();
        let max = self.failed_per_day.iter().copied().max().unwrap_or(0);
        let today = self.failed_per_day.last().copied().unwrap_or(0);
        let [title, chart, axis] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(2),
            Constraint::Length(1),
        ])
        .areas(spark);
        f.render_widget(
            Paragraph::new(Line::styled(
                format!("Failed sign-ins, {DAYS} days: {total} in all, {today} today, most {max}"),
                theme.title(),
            )),
            title,
        );
        let width = (DAYS as u16 * 3).min(chart.width);
        f.render_widget(
            Sparkline::default()
                .data(
                    self.failed_per_day
                        .iter()
                        .flat_map(|v| [*v, *v, 0])
                        .collect::<Vec<u64>>(),
                )
                .style(theme.warn()),
            Rect { width, ..chart },
        );
        f.render_widget(
            Paragraph::new(format!(
                "{:<width$}today",
                format!("{DAYS} days ago"),
                width = (width as usize).saturating_sub(6)
            ))
            .style(theme.dim()),
            axis,
        );
    }
}
