//! The menu's last entry: Enter signs out.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use super::app::{Act, Ctx, Outcome};
use super::keymap::KeyBinding;
use super::pane::{Keyed, Pane, PaneId, View};
use super::strings;
use super::widgets::pane_block;
use crate::core::Session;
use crate::store::Organization;

pub struct SignOutPane;

impl Keyed for SignOutPane {
    type Action = ();
    fn keymap(&self) -> &'static [KeyBinding<()>] {
        &[]
    }
    fn handle(&mut self, _a: (), _cx: &mut Ctx) -> Outcome {
        Outcome::Ignored
    }
}

impl Pane for SignOutPane {
    fn id(&self) -> PaneId {
        "sign-out"
    }
    fn title(&self) -> &'static str {
        "Sign out"
    }
    fn shown(&self, _s: &Session, _org: Option<&Organization>) -> bool {
        true
    }
    /// Enter on the menu entry signs out; the pane never takes the keys.
    fn enter(&mut self, cx: &mut Ctx) -> bool {
        cx.act(Act::SignOut);
        false
    }
    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let block = pane_block(self.title(), v.theme, v.focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        f.render_widget(Paragraph::new(strings::PRESS_ENTER_TO_SIGN_OUT), inner);
    }
}
