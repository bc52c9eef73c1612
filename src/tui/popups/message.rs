//! A message: what happened, scrollable when longer than the window (every row of an
//! import to fix); Enter closes it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::Dialog;
use crate::tui::app::{Act, Ctx, Outcome};
use crate::tui::keymap::{self, Key, KeyBinding, bind};
use crate::tui::pane::Keyed;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};

pub struct Message {
    pub title: String,
    pub lines: Vec<String>,
    pub error: bool,
    /// The first line shown, when there are more lines than fit.
    pub scroll: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Close,
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
}

pub const KEYS: &[KeyBinding<Action>] = &[
    bind(
        &[
            Key::Code(ratatui::crossterm::event::KeyCode::Enter),
            Key::Code(ratatui::crossterm::event::KeyCode::Esc),
            Key::Char(' '),
            Key::Char('q'),
        ],
        "Enter",
        strings::KEY_CLOSE,
        true,
        Action::Close,
    ),
    bind(keymap::UP, "↑↓", strings::KEY_SCROLL, false, Action::Up),
    bind(keymap::DOWN, "", "", false, Action::Down),
    bind(
        keymap::PAGE_UP,
        "PgUp PgDn",
        strings::KEY_SCROLL_PAGE,
        false,
        Action::PageUp,
    ),
    bind(keymap::PAGE_DOWN, "", "", false, Action::PageDown),
    bind(
        keymap::HOME,
        "Home End",
        strings::KEY_SCROLL_ENDS,
        false,
        Action::First,
    ),
    bind(keymap::END, "", "", false, Action::Last),
];

impl Keyed for Message {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        let last = self.lines.len().saturating_sub(1);
        let s = &mut self.scroll;
        match a {
            Action::Close => cx.act(Act::Pop),
            Action::Down => *s = (*s + 1).min(last),
            Action::Up => *s = s.saturating_sub(1),
            Action::PageDown => *s = (*s + 10).min(last),
            Action::PageUp => *s = s.saturating_sub(10),
            Action::First => *s = 0,
            Action::Last => *s = last,
        }
        Outcome::Consumed
    }
}

impl Dialog for Message {
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let h = (self.lines.len() as u16 + 6).min(area.height.saturating_sub(2));
        let r = centered(area, 76, h);
        let inner = frame(f, r, &self.title, theme, self.error);
        let [body, foot] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
        let text: Vec<Line> = self
            .lines
            .iter()
            .skip(self.scroll)
            .map(|l| Line::raw(l.clone()))
            .collect();
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
        let more = self.lines.len() > body.height as usize;
        f.render_widget(
            Paragraph::new(vec![
                Line::raw(""),
                Line::styled(
                    if more {
                        strings::message_scroll(self.scroll + 1, self.lines.len())
                    } else {
                        strings::ENTER_TO_CLOSE.to_string()
                    },
                    theme.dim(),
                ),
            ]),
            foot,
        );
    }
}
