//! Turning a method on: the integration advisory.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Dialog, Popup};
use crate::store::Role;
use crate::tui::app::{Act, Ctx, Outcome};
use crate::tui::keymap::{self, Key, KeyBinding};
use crate::tui::pane::Keyed;
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame, key_line};

/// Turning a method on: the accounts that act like integrations, each of which `i` makes
/// an integration user; Enter goes on to turn the method on.
pub struct Advisory {
    pub title: String,
    pub intro: Vec<String>,
    /// (username, why it is listed)
    pub candidates: Vec<(String, String)>,
    pub after: Vec<String>,
    pub selected: usize,
    pub then: Pending,
}

/// What a key does in the advisory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    MakeIntegration,
    TurnOn,
    Cancel,
}

/// The advisory's keys (also in the `?` help).
pub const KEYS: &[KeyBinding<Action>] = &[
    KeyBinding {
        keys: keymap::UP,
        shown: "↑↓",
        what: "choose",
        footer: true,
        action: Action::Up,
    },
    KeyBinding {
        keys: keymap::DOWN,
        shown: "",
        what: "",
        footer: false,
        action: Action::Down,
    },
    KeyBinding {
        keys: &[Key::Char('i')],
        shown: "i",
        what: "make it an integration user",
        footer: true,
        action: Action::MakeIntegration,
    },
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: "turn the method on",
        footer: true,
        action: Action::TurnOn,
    },
    KeyBinding {
        keys: keymap::ESC,
        shown: "Esc",
        what: "cancel",
        footer: true,
        action: Action::Cancel,
    },
];

impl Keyed for Advisory {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::Cancel => cx.act(Act::Pop),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => {
                self.selected = (self.selected + 1).min(self.candidates.len().saturating_sub(1))
            }
            // The advisory stays under the confirmation: the admin comes back to the
            // accounts left, and then turns the method on.
            Action::MakeIntegration => {
                if let Some((u, _)) = self.candidates.get(self.selected) {
                    let p = Pending::SetRole(u.clone(), Role::Integration);
                    cx.act(Act::Push(Popup::confirm_pending(p)));
                }
            }
            Action::TurnOn => {
                cx.act(Act::Pop);
                self.then.clone().run(cx);
            }
        }
        Outcome::Consumed
    }
}

impl Dialog for Advisory {
    /// An account made an integration user leaves the list.
    fn after(&mut self, done: &Pending) {
        if let Pending::SetRole(u, Role::Integration) = done {
            self.candidates.retain(|(name, _)| name != u);
            self.selected = self.selected.min(self.candidates.len().saturating_sub(1));
        }
    }

    /// Choosing and `i` are offered only when there is an account to choose.
    fn footer(&self) -> Vec<(&'static str, &'static str)> {
        KEYS.iter()
            .filter(|b| b.footer)
            .filter(|b| {
                !self.candidates.is_empty()
                    || !matches!(b.action, Action::Up | Action::MakeIntegration)
            })
            .map(|b| (b.shown, b.what))
            .collect()
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let width = area.width.min(76).saturating_sub(2);
        let rows = |lines: &[String]| -> u16 {
            lines
                .iter()
                .map(|l| crate::tui::widgets::wrapped_rows(l, width))
                .sum()
        };
        let listed: Vec<String> = self
            .candidates
            .iter()
            .map(|(u, why)| format!("▸ {u} · {why}"))
            .collect();
        let keys = Dialog::footer(self);
        let key_text: String = keys.iter().map(|(k, v)| format!(" {k} {v} ")).collect();
        let h = rows(&self.intro)
            + rows(&listed).max(1)
            + rows(&self.after)
            + crate::tui::widgets::wrapped_rows(&key_text, width)
            + 5;
        let r = centered(area, 76, h.min(area.height.saturating_sub(2)));
        let inner = frame(f, r, &self.title, theme, false);
        let mut text: Vec<Line> = self.intro.iter().map(|l| Line::raw(l.clone())).collect();
        text.push(Line::raw(""));
        if self.candidates.is_empty() {
            text.push(Line::styled(strings::NO_INTEGRATIONS, theme.dim()));
        }
        for (i, (u, why)) in self.candidates.iter().enumerate() {
            let line = format!("{u} · {why}");
            text.push(if i == self.selected {
                Line::styled(format!("▸ {line}"), theme.selected())
            } else {
                Line::raw(format!("  {line}"))
            });
        }
        text.push(Line::raw(""));
        text.extend(self.after.iter().map(|l| Line::raw(l.clone())));
        text.push(Line::raw(""));
        text.push(key_line(&keys, theme));
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
    }
}
