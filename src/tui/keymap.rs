//! Keys resolve to actions through one table per pane (and per mode of a pane); the footer
//! and the `?` help are written from the same table, so they cannot drift from the keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key a binding answers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A key by its code, whatever the modifiers except Ctrl and Alt (Shift-Tab is BackTab).
    Code(KeyCode),
    /// A printable character (Shift is part of the character: `S` is not `s`).
    Char(char),
    /// Ctrl with a letter.
    Ctrl(char),
}

impl Key {
    pub fn matches(self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match self {
            Key::Ctrl(c) => ctrl && key.code == KeyCode::Char(c),
            Key::Char(c) => !ctrl && !alt && key.code == KeyCode::Char(c),
            Key::Code(code) => !ctrl && !alt && key.code == code,
        }
    }
}

/// A row of a keymap: the keys, how the footer and help name them, and the action.
pub struct KeyBinding<A: 'static> {
    pub keys: &'static [Key],
    /// How the keys are written on screen ("↑↓", "Enter", "s / S").
    pub shown: &'static str,
    /// What the action does, in a few words.
    pub what: &'static str,
    /// Shown in the footer too (every binding is in the help).
    pub footer: bool,
    pub action: A,
}

/// A binding, written on one line in a keymap table.
pub const fn bind<A>(
    keys: &'static [Key],
    shown: &'static str,
    what: &'static str,
    footer: bool,
    action: A,
) -> KeyBinding<A> {
    KeyBinding {
        keys,
        shown,
        what,
        footer,
        action,
    }
}

/// Tab or ↓: the next field of a form.
pub const fn next_field<A>(action: A) -> KeyBinding<A> {
    bind(
        &[Key::Code(KeyCode::Tab), Key::Code(KeyCode::Down)],
        "Tab",
        super::strings::KEY_NEXT_FIELD,
        false,
        action,
    )
}

/// Shift-Tab or ↑: the previous field of a form (with Tab in the help).
pub const fn previous_field<A>(action: A) -> KeyBinding<A> {
    bind(
        &[Key::Code(KeyCode::BackTab), Key::Code(KeyCode::Up)],
        "",
        "",
        false,
        action,
    )
}

/// The action the first binding that answers to `key` names.
pub fn resolve<A: Copy>(map: &[KeyBinding<A>], key: &KeyEvent) -> Option<A> {
    map.iter()
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action)
}

/// The footer's part of a keymap.
pub fn footer<A>(map: &[KeyBinding<A>]) -> Vec<(&'static str, &'static str)> {
    map.iter()
        .filter(|b| b.footer && !b.shown.is_empty())
        .map(|b| (b.shown, b.what))
        .collect()
}

/// Every binding of a keymap, for the help.
pub fn help<A>(map: &[KeyBinding<A>]) -> Vec<(&'static str, &'static str)> {
    map.iter()
        .filter(|b| !b.shown.is_empty())
        .map(|b| (b.shown, b.what))
        .collect()
}

/// The common movement keys of a list, as one binding each.
pub const UP: &[Key] = &[Key::Code(KeyCode::Up), Key::Char('k')];
pub const DOWN: &[Key] = &[Key::Code(KeyCode::Down), Key::Char('j')];
pub const PAGE_UP: &[Key] = &[Key::Code(KeyCode::PageUp)];
pub const PAGE_DOWN: &[Key] = &[Key::Code(KeyCode::PageDown)];
pub const HOME: &[Key] = &[Key::Code(KeyCode::Home), Key::Char('g')];
pub const END: &[Key] = &[Key::Code(KeyCode::End), Key::Char('G')];
pub const ENTER: &[Key] = &[Key::Code(KeyCode::Enter)];
pub const ESC: &[Key] = &[Key::Code(KeyCode::Esc)];
pub const SPACE: &[Key] = &[Key::Char(' ')];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum A {
        Up,
        Sort,
        Reverse,
        Mail,
    }

    const MAP: &[KeyBinding<A>] = &[
        KeyBinding {
            keys: UP,
            shown: "↑",
            what: "up",
            footer: true,
            action: A::Up,
        },
        KeyBinding {
            keys: &[Key::Char('s')],
            shown: "s",
            what: "sort",
            footer: false,
            action: A::Sort,
        },
        KeyBinding {
            keys: &[Key::Char('S')],
            shown: "S",
            what: "reverse",
            footer: true,
            action: A::Reverse,
        },
        KeyBinding {
            keys: &[Key::Ctrl('e')],
            shown: "Ctrl-E",
            what: "email code",
            footer: true,
            action: A::Mail,
        },
    ];

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn keys_resolve_by_code_character_and_control() {
        assert_eq!(
            resolve(MAP, &ev(KeyCode::Up, KeyModifiers::NONE)),
            Some(A::Up)
        );
        assert_eq!(
            resolve(MAP, &ev(KeyCode::Char('k'), KeyModifiers::NONE)),
            Some(A::Up)
        );
        assert_eq!(
            resolve(MAP, &ev(KeyCode::Char('S'), KeyModifiers::SHIFT)),
            Some(A::Reverse)
        );
        assert_eq!(
            resolve(MAP, &ev(KeyCode::Char('e'), KeyModifiers::CONTROL)),
            Some(A::Mail)
        );
        // A plain `e` is not Ctrl-E, and Ctrl-S is not `s`.
        assert_eq!(
            resolve(MAP, &ev(KeyCode::Char('e'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            resolve(MAP, &ev(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn footer_and_help_come_from_the_same_table() {
        assert_eq!(
            footer(MAP),
            vec![("↑", "up"), ("S", "reverse"), ("Ctrl-E", "email code")]
        );
        assert_eq!(help(MAP).len(), 4);
    }
}
