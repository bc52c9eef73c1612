//! The recovery codes, shown once after enrollment; Enter says they are saved.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::Dialog;
use crate::tui::app::{Act, Ctx, Outcome};
use crate::tui::keymap::{self, KeyBinding, bind};
use crate::tui::pane::Keyed;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame, key_line};

pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Saved,
}

/// Only Enter closes it: a stray Esc must not hide codes that are never shown again.
pub const KEYS: &[KeyBinding<Action>] = &[bind(
    keymap::ENTER,
    "Enter",
    strings::KEY_RECOVERY_SAVED,
    true,
    Action::Saved,
)];

impl Keyed for RecoveryCodes {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::Saved => {
                cx.act(Act::Pop);
                cx.act(Act::Notice(strings::RECOVERY_KEEP.into()));
            }
        }
        Outcome::Consumed
    }
}

impl Dialog for RecoveryCodes {
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 60, self.codes.len() as u16 + 8);
        let inner = frame(f, r, strings::RECOVERY_TITLE, theme, false);
        let mut text = vec![Line::raw(strings::RECOVERY_EXPLAINED), Line::raw("")];
        for c in &self.codes {
            text.push(Line::styled(format!("    {c}"), theme.title()));
        }
        text.push(Line::raw(""));
        text.push(key_line(&keymap::footer(KEYS), theme));
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
    }
}
