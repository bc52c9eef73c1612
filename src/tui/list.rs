//! Selection and scrolling over a long list, drawing only the rows that show.

use std::cell::Cell;

use ratatui::crossterm::event::KeyEvent;

use super::keymap::{self, KeyBinding};

/// Moving through a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListAction {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
}

/// The keys of a list: in every pane with one.
pub const LIST_KEYS: &[KeyBinding<ListAction>] = &[
    KeyBinding {
        keys: keymap::UP,
        shown: "↑↓",
        what: "move",
        footer: true,
        action: ListAction::Up,
    },
    KeyBinding {
        keys: keymap::DOWN,
        shown: "",
        what: "",
        footer: false,
        action: ListAction::Down,
    },
    KeyBinding {
        keys: keymap::PAGE_UP,
        shown: "PgUp/PgDn",
        what: "page",
        footer: false,
        action: ListAction::PageUp,
    },
    KeyBinding {
        keys: keymap::PAGE_DOWN,
        shown: "",
        what: "",
        footer: false,
        action: ListAction::PageDown,
    },
    KeyBinding {
        keys: keymap::HOME,
        shown: "Home/End g/G",
        what: "first, last",
        footer: false,
        action: ListAction::First,
    },
    KeyBinding {
        keys: keymap::END,
        shown: "",
        what: "",
        footer: false,
        action: ListAction::Last,
    },
];

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
        match keymap::resolve(LIST_KEYS, &key) {
            Some(a) => {
                self.apply(a);
                true
            }
            None => false,
        }
    }

    /// Moves the selection.
    pub fn apply(&mut self, a: ListAction) {
        let page = self.page.get().max(1);
        let last = self.len.saturating_sub(1);
        self.selected = match a {
            ListAction::Up => self.selected.saturating_sub(1),
            ListAction::Down => (self.selected + 1).min(last),
            ListAction::PageUp => self.selected.saturating_sub(page),
            ListAction::PageDown => (self.selected + page).min(last),
            ListAction::First => 0,
            ListAction::Last => last,
        };
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
