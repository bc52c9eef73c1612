//! A one-line text field: typing, cursor movement, deletion; optionally masked.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use zeroize::Zeroizing;

use super::theme::Theme;

pub struct TextInput {
    value: Zeroizing<String>,
    /// Cursor position in characters.
    cursor: usize,
    pub masked: bool,
    pub max_chars: usize,
}

impl Default for TextInput {
    fn default() -> Self {
        Self {
            value: Zeroizing::new(String::new()),
            cursor: 0,
            masked: false,
            max_chars: 1024,
        }
    }
}

impl TextInput {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn masked() -> Self {
        Self {
            masked: true,
            ..Default::default()
        }
    }
    pub fn with_value(v: &str) -> Self {
        let mut s = Self::new();
        s.set(v);
        s
    }
    pub fn value(&self) -> &str {
        &self.value
    }
    pub fn set(&mut self, v: &str) {
        self.value = Zeroizing::new(v.to_string());
        self.cursor = v.chars().count();
    }
    pub fn clear(&mut self) {
        self.set("");
    }
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.value
            .char_indices()
            .nth(chars)
            .map(|(i, _)| i)
            .unwrap_or(self.value.len())
    }

    /// Text pasted in: line breaks and tabs become spaces (a field is one line), other
    /// control characters are dropped, and a trailing line break is not kept.
    pub fn insert_text(&mut self, text: &str) {
        for c in text.trim_end_matches(['\r', '\n']).chars() {
            let c = if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            };
            if c.is_control() || self.value.chars().count() >= self.max_chars {
                continue;
            }
            let at = self.byte_at(self.cursor);
            self.value.insert(at, c);
            self.cursor += 1;
        }
    }

    /// Edits the field; returns whether the key was one of its own.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => {
                self.clear();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                if self.value.chars().count() < self.max_chars {
                    let at = self.byte_at(self.cursor);
                    self.value.insert(at, c);
                    self.cursor += 1;
                }
            }
            KeyCode::Backspace => {
                if self.cursor > 0 {
                    let at = self.byte_at(self.cursor - 1);
                    self.value.remove(at);
                    self.cursor -= 1;
                }
            }
            KeyCode::Delete => {
                if self.cursor < self.value.chars().count() {
                    let at = self.byte_at(self.cursor);
                    self.value.remove(at);
                }
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.value.chars().count()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.value.chars().count(),
            _ => return false,
        }
        true
    }

    /// Draws `label: [value]`; places the terminal cursor when `focused`.
    pub fn render(&self, f: &mut Frame, area: Rect, label: &str, focused: bool, theme: &Theme) {
        let label_w = label.chars().count() as u16 + 2;
        let shown: String = if self.masked {
            "•".repeat(self.value.chars().count())
        } else {
            crate::core::text::escape_control(&self.value)
        };
        let width = area.width.saturating_sub(label_w).max(1) as usize;
        // Keep the cursor in view on long values.
        let skip = self.cursor.saturating_sub(width.saturating_sub(1));
        let visible: String = shown.chars().skip(skip).take(width).collect();
        let pad = width.saturating_sub(visible.chars().count());
        let marker = if focused { "▸" } else { " " };
        let line = Line::from(vec![
            Span::styled(
                format!("{marker}{label} "),
                if focused { theme.title() } else { theme.text() },
            ),
            Span::styled(format!("{visible}{}", " ".repeat(pad)), theme.input()),
        ]);
        f.render_widget(Paragraph::new(line), area);
        if focused {
            let x = area.x + label_w + (self.cursor - skip) as u16;
            f.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        }
    }
}
