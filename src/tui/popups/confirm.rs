//! A confirmation: what will happen, an optional checkbox, Confirm and Cancel; a
//! destructive act starts on Cancel and the arrows stop at the ends.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::Dialog;
use crate::store::Method;
use crate::tui::app::{Act, Ctx, Outcome};
use crate::tui::keymap::{self, Key, KeyBinding};
use crate::tui::pane::Keyed;
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{buttons, centered, frame};

pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    /// A checkbox and its state (e.g. "Forget all devices").
    pub checkbox: Option<(String, bool)>,
    /// 0: the checkbox (when there is one), then Confirm, then Cancel.
    pub focus: usize,
    pub then: ConfirmThen,
    pub danger: bool,
}

pub enum ConfirmThen {
    Run(Pending),
    /// Turning a method off: the checkbox decides `forget`.
    MethodOff(Method),
    /// Turning MFA off (every method): the checkbox decides `forget`.
    MfaOff,
    Quit,
}

/// What a key does in a confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Cycle,
    CycleBack,
    Next,
    Previous,
    Toggle,
    Choose,
}

/// The keys of a confirmation (also in the `?` help).
pub const KEYS: &[KeyBinding<Action>] = &[
    KeyBinding {
        keys: &[Key::Code(KeyCode::Left), Key::Code(KeyCode::Up)],
        shown: "←→",
        what: "choose",
        footer: true,
        action: Action::Previous,
    },
    KeyBinding {
        keys: &[Key::Code(KeyCode::Right), Key::Code(KeyCode::Down)],
        shown: "",
        what: "",
        footer: false,
        action: Action::Next,
    },
    KeyBinding {
        keys: &[Key::Code(KeyCode::Tab)],
        shown: "Tab",
        what: "next",
        footer: true,
        action: Action::Cycle,
    },
    KeyBinding {
        keys: &[Key::Code(KeyCode::BackTab)],
        shown: "",
        what: "",
        footer: false,
        action: Action::CycleBack,
    },
    KeyBinding {
        keys: keymap::SPACE,
        shown: "Space",
        what: "tick the box",
        footer: true,
        action: Action::Toggle,
    },
    KeyBinding {
        keys: keymap::ENTER,
        shown: "Enter",
        what: "do what is chosen",
        footer: true,
        action: Action::Choose,
    },
    KeyBinding {
        keys: keymap::ESC,
        shown: "Esc",
        what: "cancel",
        footer: true,
        action: Action::Cancel,
    },
];

impl Confirm {
    fn slots(&self) -> usize {
        if self.checkbox.is_some() { 3 } else { 2 }
    }
    fn confirm_slot(&self) -> usize {
        if self.checkbox.is_some() { 1 } else { 0 }
    }
}

impl Keyed for Confirm {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::Cancel => cx.act(Act::Pop),
            Action::Cycle => self.focus = (self.focus + 1) % self.slots(),
            Action::CycleBack => self.focus = (self.focus + self.slots() - 1) % self.slots(),
            // Arrows stop at the ends: Right on Cancel stays on Cancel.
            Action::Next => self.focus = (self.focus + 1).min(self.slots() - 1),
            Action::Previous => self.focus = self.focus.saturating_sub(1),
            Action::Toggle => {
                if self.focus == 0
                    && let Some((_, v)) = &mut self.checkbox
                {
                    *v = !*v;
                }
            }
            Action::Choose => {
                // Enter on the box never ticks it (only Space does): it goes to Cancel, so
                // a second Enter changes nothing.
                if self.checkbox.is_some() && self.focus == 0 {
                    self.focus = self.confirm_slot() + 1;
                    return Outcome::Consumed;
                }
                cx.act(Act::Pop);
                if self.focus != self.confirm_slot() {
                    return Outcome::Consumed;
                }
                match &self.then {
                    ConfirmThen::Run(p) => p.clone().run(cx),
                    ConfirmThen::MethodOff(m) => Pending::SetMethod {
                        method: *m,
                        on: false,
                        forget: self.checkbox.as_ref().is_some_and(|(_, v)| *v),
                    }
                    .run(cx),
                    ConfirmThen::MfaOff => Pending::MfaOff {
                        forget: self.checkbox.as_ref().is_some_and(|(_, v)| *v),
                    }
                    .run(cx),
                    ConfirmThen::Quit => cx.act(Act::Quit),
                }
            }
        }
        Outcome::Consumed
    }
}

impl Dialog for Confirm {
    /// Space is offered only where there is a box to tick.
    fn footer(&self) -> Vec<(&'static str, &'static str)> {
        KEYS.iter()
            .filter(|b| b.footer && (b.action != Action::Toggle || self.checkbox.is_some()))
            .map(|b| (b.shown, b.what))
            .collect()
    }

    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let width = area.width.min(68).saturating_sub(2);
        let body_h: u16 = self
            .lines
            .iter()
            .map(|l| crate::tui::widgets::wrapped_rows(l, width))
            .sum();
        let h = body_h + if self.checkbox.is_some() { 7 } else { 5 };
        let r = centered(area, 68, h.min(area.height));
        let inner = frame(f, r, &self.title, theme, self.danger);
        let mut text: Vec<Line> = self.lines.iter().map(|l| Line::raw(l.clone())).collect();
        text.push(Line::raw(""));
        if let Some((label, on)) = &self.checkbox {
            let mark = if *on { "[x]" } else { "[ ]" };
            let style = if self.focus == 0 {
                theme.selected()
            } else {
                theme.text()
            };
            text.push(Line::styled(strings::checkbox(mark, label), style));
            text.push(Line::raw(""));
        }
        let cs = self.confirm_slot();
        text.push(buttons(
            self.focus == cs,
            self.focus == cs + 1,
            strings::CONFIRM,
            theme,
        ));
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
    }
}
