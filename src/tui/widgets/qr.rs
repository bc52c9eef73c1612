//! The QR code of an `otpauth://` URI, drawn with half blocks.
//!
//! One terminal cell carries two modules stacked vertically: the upper half block `▀` with the
//! foreground colour for the top module and the background colour for the bottom one. The code
//! is surrounded by a quiet zone of [`QUIET_ZONE`] light modules on every side and is always
//! drawn dark on light with explicit colours, so that a phone scans it on dark and light
//! terminal themes alike.
//!
//! The matrix comes from the `qrcode` crate (the one `qr2term` uses for the CLI); no escape codes
//! are written here, ratatui does all the drawing.
//!
//! [`modules_from_buffer`] is the inverse: it reads a rendered buffer region (or a screen
//! capture turned into one) back into modules, for tests and for checking captures.

use qrcode::types::QrError;
use qrcode::{EcLevel, QrCode};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Light modules around the code on every side (what the QR specification asks for).
pub const QUIET_ZONE: usize = 4;

/// Shown instead of the code when the area is too small for it.
pub const ENLARGE_MESSAGE: &str = "Enlarge the window to show the QR code";

/// Upper half block: top module = foreground, bottom module = background.
pub const UPPER_HALF: &str = "▀";
/// Lower half block: top module = background, bottom module = foreground.
pub const LOWER_HALF: &str = "▄";
/// Full block: both modules take the foreground colour.
pub const FULL_BLOCK: &str = "█";

/// Colour of a dark module.
///
/// The code keeps these explicit colours even under `NO_COLOR`: they are the pixels of an image,
/// not text styling, and without them the code would be drawn in the terminal's own colours —
/// light on dark under a dark theme, which many phone scanners cannot read. Everything else on
/// the screen (including [`ENLARGE_MESSAGE`]) stays unstyled.
pub const DARK: Color = Color::Black;
/// Colour of a light module (never `Color::Reset`, whose look depends on the theme).
pub const LIGHT: Color = Color::White;

/// A QR code ready to be drawn with half blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrWidget {
    /// Modules of the code without the quiet zone, row by row; `true` is dark.
    modules: Vec<bool>,
    /// Modules per side (without the quiet zone).
    width: usize,
    /// Drawn with block characters alone (no colours), for `NO_COLOR`.
    plain: bool,
}

impl QrWidget {
    /// Encodes `uri` at error correction level L (the smallest code, so the one most likely to
    /// fit a terminal). Fails only when the data is too long for any QR code.
    pub fn new(uri: &str) -> Result<Self, QrError> {
        let code = QrCode::with_error_correction_level(uri, EcLevel::L)?;
        let width = code.width();
        let modules = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        Ok(Self {
            modules,
            width,
            plain: false,
        })
    }

    /// Without colours (`NO_COLOR`, where the terminal shows none): light modules are drawn
    /// as block characters in the terminal's own text colour and dark ones left blank, which
    /// reads right on the usual light-on-dark terminal (and inverted on a light one, which
    /// most phone apps also read; the secret below it works either way).
    #[must_use]
    pub fn plain(mut self, plain: bool) -> Self {
        self.plain = plain;
        self
    }

    /// Modules per side of the code itself, without the quiet zone.
    #[must_use]
    pub fn modules_per_side(&self) -> usize {
        self.width
    }

    /// Whether the module at (`x`, `y`) of the code (quiet zone excluded) is dark.
    #[must_use]
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width
            && y < self.width
            && self
                .modules
                .get(y * self.width + x)
                .copied()
                .unwrap_or(false)
    }

    /// The code with its quiet zone, row by row (`true` is dark): exactly what is drawn, with
    /// `size().0` columns and `2 * size().1` rows (the last row is light padding when the
    /// number of module rows is odd).
    #[must_use]
    pub fn matrix(&self) -> Vec<Vec<bool>> {
        let (w, h) = self.size();
        (0..usize::from(h) * 2)
            .map(|y| (0..usize::from(w)).map(|x| self.padded(x, y)).collect())
            .collect()
    }

    /// Cells needed: (modules + 2 × quiet zone) wide, half that (rounded up) tall.
    #[must_use]
    pub fn size(&self) -> (u16, u16) {
        let side = self.width + 2 * QUIET_ZONE;
        let w = u16::try_from(side).unwrap_or(u16::MAX);
        let h = u16::try_from(side.div_ceil(2)).unwrap_or(u16::MAX);
        (w, h)
    }

    /// Whether the whole code, quiet zone included, fits in `area`.
    #[must_use]
    pub fn fits(&self, area: Rect) -> bool {
        let (w, h) = self.size();
        area.width >= w && area.height >= h
    }

    /// Where the code is drawn inside `area` (centred), or `None` when it does not fit.
    #[must_use]
    pub fn placement(&self, area: Rect) -> Option<Rect> {
        if !self.fits(area) {
            return None;
        }
        let (w, h) = self.size();
        Some(Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height - h) / 2,
            width: w,
            height: h,
        })
    }

    /// Module at (`x`, `y`) counted from the outer corner of the quiet zone.
    fn padded(&self, x: usize, y: usize) -> bool {
        match (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) {
            (Some(x), Some(y)) => self.is_dark(x, y),
            _ => false,
        }
    }
}

fn module_colour(dark: bool) -> Color {
    if dark { DARK } else { LIGHT }
}

impl Widget for &QrWidget {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        let Some(code) = self.placement(area) else {
            render_enlarge_message(area, buf);
            return;
        };
        for row in 0..code.height {
            for col in 0..code.width {
                let (x, y) = (usize::from(col), usize::from(row) * 2);
                let (top_dark, bottom_dark) = (self.padded(x, y), self.padded(x, y + 1));
                let Some(cell) = buf.cell_mut((code.x + col, code.y + row)) else {
                    continue;
                };
                cell.reset();
                if self.plain {
                    cell.set_symbol(match (top_dark, bottom_dark) {
                        (false, false) => FULL_BLOCK,
                        (false, true) => UPPER_HALF,
                        (true, false) => LOWER_HALF,
                        (true, true) => " ",
                    });
                } else {
                    cell.set_symbol(UPPER_HALF)
                        .set_fg(module_colour(top_dark))
                        .set_bg(module_colour(bottom_dark));
                }
            }
        }
    }
}

impl Widget for QrWidget {
    fn render(self, area: Rect, buf: &mut Buffer) {
        (&self).render(area, buf);
    }
}

/// The message centred in `area`, unstyled (readable under `NO_COLOR`); wrapped when the area
/// is narrower than the message.
fn render_enlarge_message(area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let len = u16::try_from(ENLARGE_MESSAGE.chars().count()).unwrap_or(u16::MAX);
    let text_area = if area.width >= len {
        Rect {
            y: area.y + area.height.saturating_sub(1) / 2,
            height: 1,
            ..area
        }
    } else {
        area
    };
    Paragraph::new(ENLARGE_MESSAGE)
        .style(Style::default())
        .alignment(ratatui::layout::Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(text_area, buf);
}

/// Whether a colour reads as dark (perceived luminance below half).
///
/// `Color::Reset` has no known value: `reset_is_dark` says how to read it — a default foreground
/// is taken as ink (dark), a default background as paper (light).
fn colour_is_dark(colour: Color, reset_is_dark: bool) -> bool {
    let (r, g, b) = match colour {
        Color::Reset => return reset_is_dark,
        Color::Black => (0, 0, 0),
        Color::Red => (205, 0, 0),
        Color::Green => (0, 205, 0),
        Color::Yellow => (205, 205, 0),
        Color::Blue => (0, 0, 238),
        Color::Magenta => (205, 0, 205),
        Color::Cyan => (0, 205, 205),
        Color::Gray => (229, 229, 229),
        Color::DarkGray => (127, 127, 127),
        Color::LightRed => (255, 0, 0),
        Color::LightGreen => (0, 255, 0),
        Color::LightYellow => (255, 255, 0),
        Color::LightBlue => (92, 92, 255),
        Color::LightMagenta => (255, 0, 255),
        Color::LightCyan => (0, 255, 255),
        Color::White => (255, 255, 255),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) => indexed_rgb(i),
    };
    // Rec. 601 luma, in integers.
    let luma = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
    luma < 128 * 1000
}

/// The xterm 256-colour palette.
fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let step = |n: u8| STEPS.get(usize::from(n)).copied().unwrap_or(255);
    match i {
        0..=15 => BASE.get(usize::from(i)).copied().unwrap_or((0, 0, 0)),
        16..=231 => {
            let n = i - 16;
            (step(n / 36), step((n / 6) % 6), step(n % 6))
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

/// Reads a rendered region back into modules, row by row (`true` is dark): `area.width`
/// columns and `2 × area.height` rows (the part of `area` outside `buf` is skipped).
///
/// Each cell gives two modules, top then bottom: `▀` → fg, bg; `▄` → bg, fg; `█` → fg, fg;
/// anything else (a space) → bg, bg. A default (`Reset`) foreground counts as dark and a default
/// background as light, as ink on paper.
#[must_use]
pub fn modules_from_buffer(buf: &Buffer, area: Rect) -> Vec<Vec<bool>> {
    let area = area.intersection(buf.area);
    let mut rows = Vec::with_capacity(usize::from(area.height) * 2);
    for y in area.top()..area.bottom() {
        let mut top = Vec::with_capacity(usize::from(area.width));
        let mut bottom = Vec::with_capacity(usize::from(area.width));
        for x in area.left()..area.right() {
            let (t, b) = buf.cell((x, y)).map_or((false, false), |cell| {
                let fg = colour_is_dark(cell.fg, true);
                let bg = colour_is_dark(cell.bg, false);
                match cell.symbol() {
                    UPPER_HALF => (fg, bg),
                    LOWER_HALF => (bg, fg),
                    FULL_BLOCK => (fg, fg),
                    _ => (bg, bg),
                }
            });
            top.push(t);
            bottom.push(b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}
