//! Selection and scrolling over a long list, drawing only the rows that show.

use std::cell::Cell;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

#[derive(Default, Clone, Debug)]
pub struct ListNav {
    pub selected: usize,
    pub len: usize,
    /// First row drawn and rows shown, as of the last draw (kept by `window`).
    offset: Cell<usize>,
    page: Cell<usize>,
}

impl ListNav {
    pub fn set_len(&mut self, len: usize) {
        self.len = len;
        if self.selected >= len {
            self.selected = len.saturating_sub(1);
        }
    }

    pub fn select(&mut self, i: usize) {
        self.selected = i.min(self.len.saturating_sub(1));
    }

    /// Moves the selection; returns whether the key was a movement key.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let page = self.page.get().max(1);
        let last = self.len.saturating_sub(1);
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(page),
            KeyCode::PageDown => self.selected = (self.selected + page).min(last),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            _ => return false,
        }
        true
    }

    /// The range of rows to draw in `height` rows, keeping the selection in view and the
    /// view where it was when it can stay.
    pub fn window(&self, height: usize) -> (usize, usize) {
        let height = height.max(1);
        let mut offset = self.offset.get().min(self.len.saturating_sub(1));
        if self.selected < offset {
            offset = self.selected;
        } else if self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        self.offset.set(offset);
        self.page.set(height);
        (offset, (offset + height).min(self.len))
    }
}
