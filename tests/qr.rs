//! The QR widget: what it draws decodes back to the exact `otpauth://` URI, through the buffer
//! and through the escape codes a terminal capture (`tmux capture-pane -e -p`) gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use mfa_console::tui::widgets::qr::{
    ENLARGE_MESSAGE, QUIET_ZONE, QrWidget, UPPER_HALF, modules_from_buffer,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

const TYPICAL: &str = "otpauth://totp/Acme%20Corp:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme%20Corp";

/// An issuer of 32 characters and an account of 64, the longest the console must show.
fn long_uri() -> String {
    let issuer = "Northwind Traders Security Group";
    assert_eq!(issuer.len(), 32);
    let account = format!("{}@example.com", "a".repeat(64 - "@example.com".len()));
    assert_eq!(account.len(), 64);
    let enc = |s: &str| s.replace(' ', "%20").replace('@', "%40");
    format!(
        "otpauth://totp/{}:{}?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer={}",
        enc(issuer),
        enc(&account),
        enc(issuer)
    )
}

fn render(widget: &QrWidget, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| f.render_widget(widget, f.area()))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// Decodes a module matrix (`true` = dark) the way a camera would see it: every module
/// becomes a 4×4 block of pixels, the whole surrounded by a white margin.
fn decode(modules: &[Vec<bool>]) -> Vec<String> {
    const SCALE: usize = 4;
    const MARGIN: usize = 8;
    let h = modules.len();
    let w = modules.iter().map(Vec::len).max().unwrap_or(0);
    let (pw, ph) = (w * SCALE + 2 * MARGIN, h * SCALE + 2 * MARGIN);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(pw, ph, |x, y| {
        let (Some(x), Some(y)) = (x.checked_sub(MARGIN), y.checked_sub(MARGIN)) else {
            return 255;
        };
        let dark = modules
            .get(y / SCALE)
            .and_then(|row| row.get(x / SCALE))
            .copied()
            .unwrap_or(false);
        if dark { 0 } else { 255 }
    });
    img.detect_grids()
        .into_iter()
        .map(|grid| grid.decode().expect("grid decodes").1)
        .collect()
}

fn count_symbol(buf: &Buffer, symbol: &str) -> usize {
    buf.content()
        .iter()
        .filter(|c| c.symbol() == symbol)
        .count()
}

fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn typical_uri_fits_80x24_and_decodes_to_the_exact_uri() {
    let qr = QrWidget::new(TYPICAL).unwrap();
    assert_eq!(qr.modules_per_side(), 37, "version 5 at level L");
    assert_eq!(qr.size(), (45, 23));
    assert!(qr.fits(Rect::new(0, 0, 80, 24)));

    let buf = render(&qr, 80, 24);
    let placed = qr.placement(buf.area).unwrap();
    assert_eq!(placed, Rect::new(17, 0, 45, 23), "centred");
    assert_eq!(count_symbol(&buf, UPPER_HALF), 45 * 23);
    let modules = modules_from_buffer(&buf, placed);
    assert_eq!(modules, qr.matrix());
    assert_eq!(decode(&modules), vec![TYPICAL.to_owned()]);
    // The whole screen decodes too: the blank cells around the code do not disturb it.
    assert_eq!(
        decode(&modules_from_buffer(&buf, buf.area)),
        vec![TYPICAL.to_owned()]
    );
}

#[test]
fn long_issuer_and_account_decode_and_fits_tells_the_truth() {
    let uri = long_uri();
    let qr = QrWidget::new(&uri).unwrap();
    let (w, h) = qr.size();
    let side = qr.modules_per_side() + 2 * QUIET_ZONE;
    assert_eq!(usize::from(w), side);
    assert_eq!(usize::from(h), side.div_ceil(2));
    let small = Rect::new(0, 0, 80, 24);
    assert_eq!(qr.fits(small), w <= 80 && h <= 24);
    // Measured: 206 bytes → version 9 at level L, 53 modules → 61×31 cells. That is taller than
    // 24 rows: at 80×24 such a URI gets the "enlarge the window" message, at 120×40 the code.
    assert_eq!(uri.len(), 206);
    assert_eq!(qr.modules_per_side(), 53);
    assert_eq!(qr.size(), (61, 31));
    assert!(!qr.fits(small));
    assert!(qr.fits(Rect::new(0, 0, 120, 40)));

    let buf = render(&qr, 120, 40);
    let placed = qr.placement(buf.area).unwrap();
    let modules = modules_from_buffer(&buf, placed);
    assert_eq!(decode(&modules), vec![uri.clone()]);

    // At 80×24 it says so instead of drawing a code that cannot be scanned.
    let buf = render(&qr, 80, 24);
    assert_eq!(count_symbol(&buf, UPPER_HALF), 0);
    assert!(buffer_text(&buf).contains(ENLARGE_MESSAGE));
}

#[test]
fn too_small_area_shows_the_enlarge_message_and_no_code() {
    let qr = QrWidget::new(TYPICAL).unwrap();
    for (w, h) in [(80, 22), (44, 40), (40, 10), (20, 5), (1, 1)] {
        assert!(!qr.fits(Rect::new(0, 0, w, h)));
        let buf = render(&qr, w, h);
        assert_eq!(count_symbol(&buf, UPPER_HALF), 0, "{w}×{h}");
        assert!(decode(&modules_from_buffer(&buf, buf.area)).is_empty());
        let text = buffer_text(&buf);
        if usize::from(w) >= ENLARGE_MESSAGE.len() {
            // One line, centred both ways.
            let row = usize::from((h - 1) / 2);
            let line = text.lines().nth(row).unwrap();
            let start = usize::from((w - ENLARGE_MESSAGE.len() as u16) / 2);
            assert_eq!(
                line.trim_end(),
                format!("{}{ENLARGE_MESSAGE}", " ".repeat(start))
            );
        } else if w >= 20 {
            // Wrapped, every word still there.
            let words: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(words.join(" "), ENLARGE_MESSAGE, "{w}×{h}");
        }
    }
    // The message is plain text: no colours, so NO_COLOR needs nothing more.
    let buf = render(&qr, 60, 10);
    assert!(
        buf.content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
    );
}

#[test]
fn any_uri_up_to_106_bytes_fits_80x24() {
    // 24 rows hold 48 module rows: 4 + 37 + 4 (+ 1 padding), i.e. version 5 (37 modules), whose
    // byte-mode capacity at level L is 106 (uppercase and digit runs, like the secret, pack
    // tighter, so some longer URIs fit too). The typical URI (105 bytes) is just under it and
    // takes 23 of the 24 rows: the screen around it must give it that room.
    let uri = |len: usize| {
        format!(
            "otpauth://totp/{}",
            "a".repeat(len - "otpauth://totp/".len())
        )
    };
    let fits = QrWidget::new(&uri(106)).unwrap();
    assert_eq!(fits.modules_per_side(), 37);
    assert_eq!(fits.size(), (45, 23));
    assert!(fits.fits(Rect::new(0, 0, 80, 24)));
    let too_long = QrWidget::new(&uri(107)).unwrap();
    assert_eq!(too_long.modules_per_side(), 41);
    assert_eq!(too_long.size(), (49, 25));
    assert!(!too_long.fits(Rect::new(0, 0, 80, 24)));
    assert_eq!(TYPICAL.len(), 105);
    // With this shape (issuer twice, as totp-rs writes it), a 16-character issuer leaves room
    // for a 15-character account, no more.
    let shaped = |issuer: usize, account: usize| {
        let (i, a) = ("x".repeat(issuer), "y".repeat(account));
        format!("otpauth://totp/{i}:{a}?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer={i}")
    };
    let fits = |uri: String| QrWidget::new(&uri).unwrap().fits(Rect::new(0, 0, 80, 24));
    assert!(fits(shaped(16, 15)));
    assert!(!fits(shaped(16, 16)));
}

#[test]
fn fits_exactly_at_its_size_and_not_one_cell_less() {
    let qr = QrWidget::new(TYPICAL).unwrap();
    let (w, h) = qr.size();
    assert!(qr.fits(Rect::new(3, 2, w, h)));
    assert!(!qr.fits(Rect::new(3, 2, w - 1, h)));
    assert!(!qr.fits(Rect::new(3, 2, w, h - 1)));
    // Drawn into an offset area of exactly its size, inside a larger buffer.
    let mut buf = Buffer::empty(Rect::new(0, 0, 70, 30));
    let area = Rect::new(3, 2, w, h);
    (&qr).render(area, &mut buf);
    assert_eq!(qr.placement(area), Some(area));
    assert_eq!(
        count_symbol(&buf, UPPER_HALF),
        usize::from(w) * usize::from(h)
    );
    assert_eq!(
        decode(&modules_from_buffer(&buf, area)),
        vec![TYPICAL.to_owned()]
    );
}

#[test]
fn dark_on_light_only_black_and_white_with_a_four_module_quiet_zone() {
    let qr = QrWidget::new(TYPICAL).unwrap();
    let buf = render(&qr, 80, 24);
    let placed = qr.placement(buf.area).unwrap();
    for y in placed.top()..placed.bottom() {
        for x in placed.left()..placed.right() {
            let cell = &buf[(x, y)];
            assert_eq!(cell.symbol(), UPPER_HALF);
            for colour in [cell.fg, cell.bg] {
                assert!(
                    colour == Color::Black || colour == Color::White,
                    "({x}, {y}) has {colour:?}"
                );
            }
        }
    }
    // Outside the code nothing is drawn.
    for y in 0..24 {
        for x in 0..80 {
            if !placed.contains((x, y).into()) {
                assert_eq!(buf[(x, y)], ratatui::buffer::Cell::default(), "({x}, {y})");
            }
        }
    }

    let m = modules_from_buffer(&buf, placed);
    let side = qr.modules_per_side();
    assert_eq!(m.len(), 2 * usize::from(placed.height));
    assert_eq!(m[0].len(), side + 2 * QUIET_ZONE);
    let light_row = |y: usize| m[y].iter().all(|d| !d);
    let light_col = |x: usize| (0..side + 2 * QUIET_ZONE).all(|y| !m[y][x]);
    for i in 0..QUIET_ZONE {
        assert!(light_row(i), "top row {i}");
        assert!(light_row(QUIET_ZONE + side + i), "bottom row {i}");
        assert!(light_col(i), "left column {i}");
        assert!(light_col(QUIET_ZONE + side + i), "right column {i}");
    }
    // The odd module row count leaves one padding row of light at the bottom.
    assert_eq!(m.len(), side + 2 * QUIET_ZONE + 1);
    assert!(light_row(m.len() - 1));
    // And the code itself starts right after the quiet zone: the finder pattern's corners.
    assert!(m[QUIET_ZONE][QUIET_ZONE]);
    assert!(m[QUIET_ZONE][QUIET_ZONE + side - 1]);
    assert!(m[QUIET_ZONE + side - 1][QUIET_ZONE]);
    for y in 0..side {
        for x in 0..side {
            assert_eq!(m[QUIET_ZONE + y][QUIET_ZONE + x], qr.is_dark(x, y));
        }
    }
}

#[test]
fn modules_from_buffer_reads_spaces_full_and_lower_blocks() {
    let mut buf = Buffer::empty(Rect::new(0, 0, 5, 1));
    buf[(0, 0)].set_symbol(" ").set_bg(Color::Black); // dark, dark
    buf[(1, 0)].set_symbol(" ").set_bg(Color::White); // light, light
    buf[(2, 0)].set_symbol("█").set_fg(Color::Black); // dark, dark
    buf[(3, 0)]
        .set_symbol("▄")
        .set_fg(Color::Black)
        .set_bg(Color::White); // light, dark
    buf[(4, 0)]
        .set_symbol("▀")
        .set_fg(Color::Indexed(0))
        .set_bg(Color::Indexed(15)); // dark, light
    let m = modules_from_buffer(&buf, buf.area);
    assert_eq!(
        m,
        vec![
            vec![true, false, true, false, true],
            vec![true, false, true, true, false]
        ]
    );
    // Default colours read as ink on paper.
    let buf = Buffer::with_lines(["█ ▀▄"]);
    assert_eq!(
        modules_from_buffer(&buf, buf.area),
        vec![
            vec![true, false, true, false],
            vec![true, false, false, true]
        ]
    );
}

/// How a terminal multiplexer writes a colour in SGR, the way `tmux capture-pane -e` does.
#[derive(Clone, Copy)]
enum Sgr {
    /// `30`–`37`, `90`–`97` and `40`–`47`, `100`–`107`.
    Basic,
    /// `38;5;N` and `48;5;N` (what crossterm writes for ratatui's named colours).
    Indexed256,
}

fn colour_index(colour: Color) -> Option<u8> {
    Some(match colour {
        Color::Reset => return None,
        Color::Black => 0,
        Color::Red => 1,
        Color::Green => 2,
        Color::Yellow => 3,
        Color::Blue => 4,
        Color::Magenta => 5,
        Color::Cyan => 6,
        Color::Gray => 7,
        Color::DarkGray => 8,
        Color::LightRed => 9,
        Color::LightGreen => 10,
        Color::LightYellow => 11,
        Color::LightBlue => 12,
        Color::LightMagenta => 13,
        Color::LightCyan => 14,
        Color::White => 15,
        Color::Indexed(i) => i,
        Color::Rgb(..) => unreachable!("the widget draws no RGB colours"),
    })
}

fn sgr_colour(out: &mut String, colour: Color, background: bool, style: Sgr) {
    let Some(i) = colour_index(colour) else {
        out.push_str(if background { "\x1b[49m" } else { "\x1b[39m" });
        return;
    };
    match style {
        Sgr::Basic => {
            let base = match (background, i < 8) {
                (false, true) => 30,
                (false, false) => 90 - 8,
                (true, true) => 40,
                (true, false) => 100 - 8,
            };
            write!(out, "\x1b[{}m", base + u32::from(i)).unwrap();
        }
        Sgr::Indexed256 => {
            write!(out, "\x1b[{};5;{i}m", if background { 48 } else { 38 }).unwrap();
        }
    }
}

/// The buffer as the text `tmux capture-pane -e -p` prints: one line per row, SGR codes only
/// where the colours change, reset at the end of every line, trailing blanks trimmed.
fn to_ansi(buf: &Buffer, style: Sgr) -> String {
    let mut out = String::new();
    let area = buf.area;
    for y in area.top()..area.bottom() {
        let last = (area.left()..area.right())
            .rev()
            .find(|&x| {
                let c = &buf[(x, y)];
                c.symbol() != " " || c.bg != Color::Reset
            })
            .map_or(area.left(), |x| x + 1);
        let (mut fg, mut bg) = (Color::Reset, Color::Reset);
        for x in area.left()..last {
            let cell = &buf[(x, y)];
            if cell.fg != fg {
                sgr_colour(&mut out, cell.fg, false, style);
                fg = cell.fg;
            }
            if cell.bg != bg {
                sgr_colour(&mut out, cell.bg, true, style);
                bg = cell.bg;
            }
            out.push_str(cell.symbol());
        }
        if fg != Color::Reset || bg != Color::Reset {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

fn vt100_colour(colour: vt100::Color) -> Color {
    match colour {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

/// vt100 0.18 takes its size as `NonZero<u16>`.
fn terminal_emulator(rows: u16, cols: u16) -> vt100::Parser {
    let nz = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    vt100::Parser::new(nz(rows), nz(cols), 0)
}

/// Feeds a capture to a terminal emulator and copies its screen into a ratatui buffer.
fn screen_from_ansi(ansi: &str, cols: u16, rows: u16) -> Buffer {
    let mut parser = terminal_emulator(rows, cols);
    // A capture has bare line feeds; a terminal needs a carriage return too.
    parser.process(ansi.replace('\n', "\r\n").as_bytes());
    let screen = parser.screen();
    let mut buf = Buffer::empty(Rect::new(0, 0, cols, rows));
    for r in 0..rows {
        for c in 0..cols {
            let cell = screen.cell(r, c).unwrap();
            let symbol = if cell.has_contents() {
                cell.contents()
            } else {
                " "
            };
            buf[(c, r)]
                .set_symbol(symbol)
                .set_fg(vt100_colour(cell.fgcolor()))
                .set_bg(vt100_colour(cell.bgcolor()));
        }
    }
    buf
}

#[test]
fn a_terminal_capture_with_escape_codes_decodes_to_the_exact_uri() {
    let long = long_uri();
    for (uri, w, h) in [(TYPICAL, 80, 24), (long.as_str(), 120, 40)] {
        let qr = QrWidget::new(uri).unwrap();
        let buf = render(&qr, w, h);
        for style in [Sgr::Basic, Sgr::Indexed256] {
            let ansi = to_ansi(&buf, style);
            assert!(ansi.contains('▀'));
            // Characters alone cannot carry the code: every cell is the same '▀'.
            let plain: String = {
                let mut p = terminal_emulator(h, w);
                p.process(ansi.replace('\n', "\r\n").as_bytes());
                p.screen().contents()
            };
            assert!(plain.chars().all(|c| c == '▀' || c.is_whitespace()));

            let screen = screen_from_ansi(&ansi, w, h);
            let modules = modules_from_buffer(&screen, screen.area);
            assert_eq!(decode(&modules), vec![uri.to_owned()]);
        }
    }
}

/// Under NO_COLOR the code is drawn with block characters alone (light modules as ink, for
/// the usual light-on-dark terminal): reading the characters as a light-on-dark screen
/// gives back the exact URI.
#[test]
fn plain_mode_draws_the_code_with_characters_alone() {
    let widget = QrWidget::new(TYPICAL).unwrap().plain(true);
    let buf = render(&widget, 80, 24);
    let area = widget.placement(Rect::new(0, 0, 80, 24)).unwrap();
    let mut modules = Vec::new();
    for y in area.y..area.bottom() {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for x in area.x..area.right() {
            let cell = &buf[(x, y)];
            assert_eq!(cell.fg, Color::Reset, "no colours in plain mode");
            assert_eq!(cell.bg, Color::Reset, "no colours in plain mode");
            // Ink is light, blank is dark.
            let (t, b) = match cell.symbol() {
                "█" => (false, false),
                "▀" => (false, true),
                "▄" => (true, false),
                _ => (true, true),
            };
            top.push(t);
            bottom.push(b);
        }
        modules.push(top);
        modules.push(bottom);
    }
    assert_eq!(decode(&modules), vec![TYPICAL.to_string()]);
}
