//! My account, for members: who is signed in and where their MFA is configured.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{Ctx, Outcome};
use super::keymap::KeyBinding;
use super::pane::{Pane, PaneId, View};
use super::strings;
use super::widgets::pane_block;
use crate::core::{Scope, Session};
use crate::store::Organization;

pub struct HomePane;

impl Pane for HomePane {
    type Action = ();

    fn id(&self) -> PaneId {
        "home"
    }
    fn title(&self) -> &'static str {
        "My account"
    }
    fn shown(&self, s: &Session, _org: Option<&Organization>) -> bool {
        s.scope() == Scope::Full && !s.is_admin()
    }
    fn keymap(&self) -> &'static [KeyBinding<()>] {
        &[]
    }
    fn handle(&mut self, _a: (), _cx: &mut Ctx) -> Outcome {
        Outcome::Ignored
    }
    fn render(&self, f: &mut Frame, area: Rect, v: &View) {
        let block = pane_block(self.title(), v.theme, v.focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mfa_on = v.org.is_some_and(|o| o.controls.mfa_enabled());
        let lines = vec![
            Line::raw(strings::signed_in_as(v.session.username())),
            Line::raw(""),
            Line::raw(if mfa_on {
                strings::HOME_MFA_ON
            } else {
                strings::HOME_MFA_OFF
            }),
        ];
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    }
}
