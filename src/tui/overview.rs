//! Overview: the share of users configured, counts by method, who is past their grace
//! period or locked, and failed sign-ins per day over two weeks.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Sparkline};

use super::app::{Act, Ctx, Outcome};
use super::keymap::KeyBinding;
use super::pane::{Keyed, Load, Loaded, Pane, PaneId, View};
use super::strings;
use super::widgets::pane_block;
use crate::core::{Actor, Core, CoreError, Scope, Session, UserStatus};
use crate::store::Organization;

pub const DAYS: usize = 14;

#[derive(Default)]
pub struct OverviewPane {
    counts: Counts,
    loading: bool,
}

/// What the pane shows, counted in the background.
#[derive(Default)]
pub struct Counts {
    pub people: usize,
    pub configured: usize,
    pub integrations: usize,
    pub authenticator: usize,
    pub email: usize,
    pub past_grace: usize,
    pub locked: usize,
    pub invited: usize,
    pub failed_per_day: Vec<u64>,
}

impl Counts {
    fn count(core: &Core, s: &Session) -> Result<Counts, CoreError> {
        let actor = Actor::User(s);
        let mut o = Counts::default();
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
}

const ID: PaneId = "overview";

impl Keyed for OverviewPane {
    type Action = ();
    fn keymap(&self) -> &'static [KeyBinding<()>] {
        &[]
    }
    fn handle(&mut self, _a: (), _cx: &mut Ctx) -> Outcome {
        Outcome::Ignored
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        self.loading = false;
        match r.take::<Result<Counts, CoreError>>() {
            Some(Ok(c)) => self.counts = c,
            Some(Err(e)) => cx.act(Act::Error(e.to_string())),
            None => {}
        }
    }
}

impl Pane for OverviewPane {
    fn id(&self) -> PaneId {
        ID
    }
    fn title(&self) -> &'static str {
        "Overview"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full && s.is_admin()
    }
    /// Counts in the background; the pane shows the last counts (or "Loading…") meanwhile.
    fn load(&mut self, _why: Load, cx: &mut Ctx) {
        let Some(session) = cx.session.clone() else {
            return;
        };
        self.loading = true;
        cx.load(ID, "counts", move |core| Counts::count(core, &session));
    }

    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let theme = v.theme;
        let block = pane_block(self.title(), theme, v.focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [gauge, counts, spark, _] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Max(12),
            Constraint::Min(0),
        ])
        .areas(inner);
        if self.loading && self.counts.people == 0 {
            f.render_widget(Paragraph::new(strings::LOADING), inner);
            return;
        }
        let c = &self.counts;
        let ratio = if c.people == 0 {
            1.0
        } else {
            c.configured as f64 / c.people as f64
        };
        let [label, bar] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(gauge);
        f.render_widget(
            Paragraph::new(Line::from(vec![Span::styled(
                format!(
                    "{} of {} users configured · {:.1} %",
                    c.configured,
                    c.people,
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
                c.authenticator
            ))]),
            Line::from(vec![Span::raw(format!(
                "  Email codes         {:>7}",
                c.email
            ))]),
            Line::from(vec![Span::styled(
                format!("  Not configured      {:>7}", c.people - c.configured),
                warn(c.people - c.configured),
            )]),
            Line::from(vec![Span::styled(
                format!("  Past grace period   {:>7}", c.past_grace),
                warn(c.past_grace),
            )]),
            Line::from(vec![Span::styled(
                format!("  Locked accounts     {:>7}", c.locked),
                warn(c.locked),
            )]),
            Line::from(vec![Span::raw(format!(
                "  Invited, not active {:>7}    Integrations {:>6}",
                c.invited, c.integrations
            ))]),
        ];
        f.render_widget(Paragraph::new(lines), counts);
        let total: u64 = c.failed_per_day.iter().sum();
        let max = c.failed_per_day.iter().copied().max().unwrap_or(0);
        let today = c.failed_per_day.last().copied().unwrap_or(0);
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
        // Each day gets an equal share of the pane's width, with a gap between days.
        let per_day = (chart.width as usize / DAYS).max(1);
        let width = (per_day * DAYS) as u16;
        f.render_widget(
            Sparkline::default()
                .data(
                    c.failed_per_day
                        .iter()
                        .flat_map(|v| {
                            let bar = per_day.saturating_sub(1).max(1);
                            std::iter::repeat_n(*v, bar)
                                .chain(std::iter::repeat_n(0, per_day - bar))
                        })
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
