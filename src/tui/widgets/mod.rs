//! Drawing helpers every screen, pane and dialog shares, and widgets of our own.

pub mod qr;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear};

use super::theme::Theme;

/// A pane's box. The pane that has the keys gets a bright border and a `▶` before its
/// title, so focus reads without colour too.
pub fn pane_block<'a>(title: &'a str, theme: &Theme, focused: bool) -> Block<'a> {
    let title = if focused {
        format!(" ▶ {title} ")
    } else {
        format!(" {title} ")
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.focus_border()
        } else {
            theme.border()
        })
        .title(Span::styled(title, theme.title()))
}

/// A rectangle `w`×`h` centred in `area`, clipped to it.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A rounded, titled box over whatever was drawn there; returns the inside.
pub fn frame(f: &mut Frame, area: Rect, title: &str, theme: &Theme, danger: bool) -> Rect {
    f.render_widget(Clear, area);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(if danger {
            theme.error()
        } else {
            theme.focus_border()
        })
        .title(Span::styled(format!(" {title} "), theme.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

/// A dialog's two buttons, the focused one in brackets.
pub fn buttons(
    focus_confirm: bool,
    focus_cancel: bool,
    confirm: &str,
    theme: &Theme,
) -> Line<'static> {
    let b = |label: &str, on: bool| {
        if on {
            Span::styled(format!("[ {label} ]"), theme.selected())
        } else {
            Span::styled(format!("  {label}  "), theme.text())
        }
    };
    Line::from(vec![
        b(confirm, focus_confirm),
        Span::raw("   "),
        b(super::strings::CANCEL, focus_cancel),
    ])
}

/// The footer: each key in the key style, then what it does.
pub fn key_line(keys: &[(&str, &str)], theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, v) in keys {
        spans.push(Span::styled(format!(" {k}"), theme.key()));
        spans.push(Span::raw(format!(" {v} ")));
    }
    Line::from(spans)
}
