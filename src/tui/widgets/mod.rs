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

/// `s` in at most `w` characters, cut with "…" only when it does not fit.
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// How many rows `text` takes when wrapped at word boundaries to `width` columns (as a
/// wrapping paragraph draws it), so what follows it can be placed below.
pub fn wrapped_rows(text: &str, width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let mut rows = 1u16;
    let mut used = 0usize;
    for word in text.split(' ') {
        let n = word.chars().count();
        if used > 0 && used + 1 + n <= width {
            used += 1 + n;
            continue;
        }
        if used == 0 && n <= width {
            used = n;
            continue;
        }
        if used > 0 {
            rows += 1;
        }
        // A word longer than the width breaks over several rows.
        if n > width {
            let extra = (n - 1) / width;
            rows += extra as u16;
            used = n - extra * width;
        } else {
            used = n;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_rows_counts_word_wrapping() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("1. Scan the QR code with your app.", 40), 1);
        assert_eq!(wrapped_rows("1. Scan the QR code with your app.", 20), 2);
        assert_eq!(wrapped_rows("aaaaaaaaaaaaaaaaaaaaaaaaa", 10), 3);
        assert_eq!(fit("a-very-long-account-name", 10), "a-very-lo…");
    }
}
