//! A choice among acts (a role, a bulk action); the one chosen is confirmed.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::Popup;
use crate::tui::app::{Act, Ctx};
use crate::tui::pending::Pending;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct Choice {
    pub(super) title: String,
    pub(super) options: Vec<(String, Pending)>,
    pub(super) selected: usize,
}

impl Choice {
    pub(super) fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.options.len().saturating_sub(1))
            }
            KeyCode::Esc => ctx.act(Act::Pop),
            KeyCode::Enter => {
                if let Some((_, p)) = self.options.get(self.selected) {
                    ctx.act(Act::Pop);
                    ctx.act(Act::Push(Popup::confirm_pending(p.clone())));
                }
            }
            _ => {}
        }
    }

    pub(super) fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 40, self.options.len() as u16 + 4);
        let inner = frame(f, r, &self.title, theme, false);
        let lines: Vec<Line> = self
            .options
            .iter()
            .enumerate()
            .map(|(i, (label, _))| {
                if i == self.selected {
                    Line::styled(format!("▸ {label}"), theme.selected())
                } else {
                    Line::raw(format!("  {label}"))
                }
            })
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
    }
}
