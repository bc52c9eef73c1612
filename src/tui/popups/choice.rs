//! A choice among acts (a role, a bulk action); the one chosen is confirmed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::{Dialog, Popup};
use crate::tui::app::{Act, Ctx, Outcome};
use crate::tui::keymap::{self, KeyBinding, bind};
use crate::tui::pane::Keyed;
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct Choice {
    pub(super) title: String,
    pub(super) options: Vec<(String, Pending)>,
    pub(super) selected: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    Choose,
    Cancel,
}

pub const KEYS: &[KeyBinding<Action>] = &[
    bind(keymap::UP, "↑↓", strings::KEY_CHOOSE, true, Action::Up),
    bind(keymap::DOWN, "", "", false, Action::Down),
    bind(
        keymap::ENTER,
        "Enter",
        strings::KEY_CHOICE_GO_ON,
        true,
        Action::Choose,
    ),
    bind(
        keymap::ESC,
        "Esc",
        strings::KEY_CANCEL,
        true,
        Action::Cancel,
    ),
];

impl Keyed for Choice {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => {
                self.selected = (self.selected + 1).min(self.options.len().saturating_sub(1))
            }
            Action::Cancel => cx.act(Act::Pop),
            Action::Choose => {
                if let Some((_, p)) = self.options.get(self.selected) {
                    cx.act(Act::Pop);
                    cx.act(Act::Push(Popup::confirm_pending(p.clone())));
                }
            }
        }
        Outcome::Consumed
    }
}

impl Dialog for Choice {
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
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
