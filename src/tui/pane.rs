//! What every pane of the main screen is: a keymap that turns keys into its actions, an
//! apply step on its own state, the results of its background work, and a drawing.
//!
//! A key reaches a pane in two phases: [`keymap::resolve`] finds the action in the pane's
//! table (the same table the footer and help are written from), then [`Keyed::handle`]
//! applies it to plain state, with no drawing, so that step is tested alone. Work the pane
//! starts in the background comes back as a typed [`Loaded`] through [`Keyed::on_result`];
//! only the newest request of each kind is delivered (see `App`).

use std::any::Any;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::app::{Ctx, Outcome};
use super::input::TextInput;
use super::keymap::{self, KeyBinding};
use super::pending::Pending;
use super::theme::Theme;
use crate::core::Session;
use crate::store::Organization;

/// A pane's name in messages addressed to it.
pub type PaneId = &'static str;

/// What a pane draws with.
pub struct View<'a> {
    pub theme: &'a Theme,
    /// The pane has the keys (its title is marked, the menu dimmed).
    pub focused: bool,
    pub session: &'a Session,
    /// The organization as last read (header, Security Controls' locked state).
    pub org: Option<&'a Organization>,
    /// The status line (work in progress, the last notice), for panes that draw the
    /// whole window.
    pub status: Option<(String, bool)>,
}

/// The result of a pane's background work: `kind` names the request, the payload is the
/// type the pane asked for (see [`Loaded::take`]).
pub struct Loaded {
    pub kind: &'static str,
    payload: Box<dyn Any + Send>,
}

impl Loaded {
    pub fn new<T: Send + 'static>(kind: &'static str, value: T) -> Self {
        Self {
            kind,
            payload: Box::new(value),
        }
    }

    pub(crate) fn from_box(kind: &'static str, payload: Box<dyn Any + Send>) -> Self {
        Self { kind, payload }
    }

    /// The payload, when it is a `T`.
    pub fn take<T: 'static>(self) -> Option<T> {
        self.payload.downcast::<T>().ok().map(|b| *b)
    }
}

/// Why a pane is asked to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// It came on screen (chosen in the menu).
    Shown,
    /// Something changed in the database (this console or another process).
    Changed,
}

/// What every part of the console that takes keys is: each pane, each dialog, the
/// sign-in and setup screens. Keys resolve through [`Keyed::keymap`] (the table the footer
/// and the `?` help are written from) to an action, which [`Keyed::handle`] applies to
/// plain state; the work it starts comes back through [`Keyed::on_result`].
pub trait Keyed {
    type Action: Copy + 'static;

    /// The keys that work now (the footer and the resolution of keys).
    fn keymap(&self) -> &'static [KeyBinding<Self::Action>];
    /// A field being typed into: printable keys no binding claims go there.
    fn typing(&mut self) -> Option<&mut TextInput> {
        None
    }
    /// The field changed through typing.
    fn typed(&mut self, _cx: &mut Ctx) {}
    /// Whether a field is being typed into now ([`Keyed::typing`] without changing it).
    fn is_typing(&self) -> bool {
        false
    }
    /// Applies an action to the state.
    fn handle(&mut self, action: Self::Action, cx: &mut Ctx) -> Outcome;
    /// A result of background work it started.
    fn on_result(&mut self, _result: Loaded, _cx: &mut Ctx) {}
}

/// A key, in two phases: the keymap finds the action, [`Keyed::handle`] applies it. While
/// a field is typed into, text keys are text, unless the keymap names the character
/// itself (`?` and `q` in a code field).
pub fn press<K: Keyed + ?Sized>(k: &mut K, key: KeyEvent, cx: &mut Ctx) -> Outcome {
    let typing = k.typing().is_some();
    let action = keymap::resolve(k.keymap(), &key);
    if typing && is_text(&key) && !matches!(key.code, KeyCode::Char(_) if action.is_some()) {
        if let Some(input) = k.typing()
            && input.handle_key(key)
        {
            k.typed(cx);
        }
        return Outcome::Consumed;
    }
    match action {
        Some(a) => k.handle(a, cx),
        // A key no binding names may still be the field's own (Ctrl-U clears it).
        None if typing => {
            if k.typing().is_some_and(|input| input.handle_key(key)) {
                k.typed(cx);
                Outcome::Consumed
            } else {
                Outcome::Ignored
            }
        }
        None => Outcome::Ignored,
    }
}

/// Pasted text goes into the field being typed into, as text (keys in it do nothing);
/// whether there was one.
pub fn paste<K: Keyed + ?Sized>(k: &mut K, text: &str, cx: &mut Ctx) -> bool {
    match k.typing() {
        Some(input) => {
            input.insert_text(text);
            k.typed(cx);
            true
        }
        None => false,
    }
}

/// One pane of the main screen. Adding a pane is a file implementing this trait and one
/// line in `main_screen::panes`.
pub trait Pane: Keyed + 'static {
    /// Its name in messages, unique among panes.
    fn id(&self) -> PaneId;
    /// The menu entry and the pane's title.
    fn title(&self) -> &'static str;
    /// Whether the menu offers it to this session.
    fn shown(&self, session: &Session, org: Option<&Organization>) -> bool;
    /// Every keymap of the pane, titled, for the `?` help.
    fn help(&self) -> Vec<(&'static str, &'static [KeyBinding<Self::Action>])> {
        vec![(self.title(), self.keymap())]
    }
    /// Starts reading what the pane shows.
    fn load(&mut self, _why: Load, _cx: &mut Ctx) {}
    /// A confirmed act was carried out (a user deleted, Security Controls opened).
    fn after(&mut self, _done: &Pending, _cx: &mut Ctx) {}
    /// Enter on the menu: whether the pane takes the keys now (Security Controls first
    /// asks for re-authentication).
    fn enter(&mut self, _cx: &mut Ctx) -> bool {
        true
    }
    /// A change is being typed that leaving would lose (the wizard mid-way).
    fn unsaved(&self) -> bool {
        false
    }
    /// Draws over the whole screen instead of the pane's area (the QR step).
    fn full_screen(&self) -> bool {
        false
    }
    fn render(&self, f: &mut Frame, area: Rect, view: &View);
}

/// A pane as the main screen holds it, whatever its action type.
pub trait AnyPane {
    fn id(&self) -> PaneId;
    fn title(&self) -> &'static str;
    fn shown(&self, session: &Session, org: Option<&Organization>) -> bool;
    fn key(&mut self, key: KeyEvent, cx: &mut Ctx) -> Outcome;
    fn paste(&mut self, text: &str, cx: &mut Ctx) -> bool;
    fn footer(&self) -> Vec<(&'static str, &'static str)>;
    /// `?` would be typed into a field rather than open the help.
    fn question_mark_is_text(&self) -> bool;
    fn help(&self) -> Vec<(&'static str, Vec<(&'static str, &'static str)>)>;
    fn on_result(&mut self, result: Loaded, cx: &mut Ctx);
    fn load(&mut self, why: Load, cx: &mut Ctx);
    fn after(&mut self, done: &Pending, cx: &mut Ctx);
    fn enter(&mut self, cx: &mut Ctx) -> bool;
    fn unsaved(&self) -> bool;
    fn full_screen(&self) -> bool;
    fn render(&self, f: &mut Frame, area: Rect, view: &View);
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Whether `key` is text for a field: a printable character or an editing key.
fn is_text(key: &KeyEvent) -> bool {
    let ctrl_or_alt = key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Char(_) => !ctrl_or_alt,
        KeyCode::Backspace | KeyCode::Delete | KeyCode::Left | KeyCode::Right => true,
        KeyCode::Home | KeyCode::End => true,
        _ => false,
    }
}

impl<P: Pane> AnyPane for P {
    fn id(&self) -> PaneId {
        Pane::id(self)
    }
    fn title(&self) -> &'static str {
        Pane::title(self)
    }
    fn shown(&self, session: &Session, org: Option<&Organization>) -> bool {
        Pane::shown(self, session, org)
    }
    fn key(&mut self, key: KeyEvent, cx: &mut Ctx) -> Outcome {
        press(self, key, cx)
    }
    fn paste(&mut self, text: &str, cx: &mut Ctx) -> bool {
        paste(self, text, cx)
    }
    fn footer(&self) -> Vec<(&'static str, &'static str)> {
        keymap::footer(self.keymap())
    }
    fn question_mark_is_text(&self) -> bool {
        let q = KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE);
        self.is_typing() && keymap::resolve(self.keymap(), &q).is_none()
    }
    fn help(&self) -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
        Pane::help(self)
            .into_iter()
            .map(|(title, map)| (title, keymap::help(map)))
            .collect()
    }
    fn on_result(&mut self, result: Loaded, cx: &mut Ctx) {
        Keyed::on_result(self, result, cx)
    }
    fn load(&mut self, why: Load, cx: &mut Ctx) {
        Pane::load(self, why, cx)
    }
    fn after(&mut self, done: &Pending, cx: &mut Ctx) {
        Pane::after(self, done, cx)
    }
    fn enter(&mut self, cx: &mut Ctx) -> bool {
        Pane::enter(self, cx)
    }
    fn unsaved(&self) -> bool {
        Pane::unsaved(self)
    }
    fn full_screen(&self) -> bool {
        Pane::full_screen(self)
    }
    fn render(&self, f: &mut Frame, area: Rect, view: &View) {
        Pane::render(self, f, area, view)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
