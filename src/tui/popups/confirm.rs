//! A confirmation: what will happen, an optional checkbox, Confirm and Cancel; a
//! destructive act starts on Cancel and the arrows stop at the ends.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::store::Method;
use crate::tui::app::{Act, Ctx};
use crate::tui::pending::Pending;
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

impl Confirm {
    fn slots(&self) -> usize {
        if self.checkbox.is_some() { 3 } else { 2 }
    }
    fn confirm_slot(&self) -> usize {
        if self.checkbox.is_some() { 1 } else { 0 }
    }

    pub(super) fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match key.code {
            KeyCode::Esc => ctx.act(Act::Pop),
            KeyCode::Tab => self.focus = (self.focus + 1) % self.slots(),
            KeyCode::BackTab => self.focus = (self.focus + self.slots() - 1) % self.slots(),
            // Arrows stop at the ends: Right on Cancel stays on Cancel.
            KeyCode::Down | KeyCode::Right => self.focus = (self.focus + 1).min(self.slots() - 1),
            KeyCode::Up | KeyCode::Left => self.focus = self.focus.saturating_sub(1),
            KeyCode::Char(' ') if self.checkbox.is_some() && self.focus == 0 => {
                if let Some((_, v)) = &mut self.checkbox {
                    *v = !*v;
                }
            }
            KeyCode::Enter => {
                if self.checkbox.is_some() && self.focus == 0 {
                    if let Some((_, v)) = &mut self.checkbox {
                        *v = !*v;
                    }
                    return;
                }
                ctx.act(Act::Pop);
                if self.focus != self.confirm_slot() {
                    return;
                }
                match &self.then {
                    ConfirmThen::Run(p) => p.clone().run(ctx),
                    ConfirmThen::MethodOff(m) => Pending::SetMethod {
                        method: *m,
                        on: false,
                        forget: self.checkbox.as_ref().is_some_and(|(_, v)| *v),
                    }
                    .run(ctx),
                    ConfirmThen::MfaOff => Pending::MfaOff {
                        forget: self.checkbox.as_ref().is_some_and(|(_, v)| *v),
                    }
                    .run(ctx),
                    ConfirmThen::Quit => ctx.act(Act::Quit),
                }
            }
            _ => {}
        }
    }

    pub(super) fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let body_h: u16 = self
            .lines
            .iter()
            .map(|l| (l.chars().count() as u16 / 62) + 1)
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
            text.push(Line::styled(
                format!("{mark} {label}   (Space to toggle)"),
                style,
            ));
            text.push(Line::raw(""));
        }
        let cs = self.confirm_slot();
        text.push(buttons(
            self.focus == cs,
            self.focus == cs + 1,
            "Confirm",
            theme,
        ));
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
    }
}
