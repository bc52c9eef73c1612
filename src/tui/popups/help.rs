//! The `?` help: every key of what is on screen, scrollable; any other key closes it.

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Dialog;
use crate::tui::app::{Act, Ctx, Outcome};
use crate::tui::keymap::{self, KeyBinding, bind};
use crate::tui::pane::Keyed;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct Help {
    pub keys: Vec<(String, String)>,
    pub scroll: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
}

pub const KEYS: &[KeyBinding<Action>] = &[
    bind(keymap::UP, "↑↓", strings::KEY_HELP_SCROLL, true, Action::Up),
    bind(keymap::DOWN, "", "", false, Action::Down),
];

impl Keyed for Help {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn handle(&mut self, a: Action, _cx: &mut Ctx) -> Outcome {
        match a {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll = self.scroll.saturating_add(1),
        }
        Outcome::Consumed
    }
}

impl Dialog for Help {
    /// Any key the help does not scroll with closes it.
    fn unbound(&mut self, _key: KeyEvent, cx: &mut Ctx) {
        cx.act(Act::Pop);
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let h = (self.keys.len() as u16 + 4).min(area.height.saturating_sub(2));
        let r = centered(area, 80, h);
        let inner = frame(f, r, strings::HELP_TITLE, theme, false);
        let lines: Vec<Line> = self
            .keys
            .iter()
            .map(|(k, v)| {
                Line::from(vec![
                    Span::styled(format!("{k:<20}"), theme.key()),
                    Span::raw(v.clone()),
                ])
            })
            .collect();
        let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll.min(max_scroll), 0)),
            inner,
        );
    }
}
