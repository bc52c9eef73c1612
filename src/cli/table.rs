//! Plain aligned text tables for the terminal.

use std::io::Write;

use crate::core::text::escape_control;

pub fn print(headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_control(c)).collect())
        .collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    let line = |cells: Vec<&str>, out: &mut dyn Write| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(headers.to_vec(), &mut out)?;
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut out)?;
    }
    Ok(())
}

/// A CSV writer over stdout; [`csv_row`] makes its cells safe (`text::csv_cell`).
pub fn csv_out() -> csv::Writer<std::io::Stdout> {
    csv::Writer::from_writer(std::io::stdout())
}

pub fn csv_row<W: Write>(w: &mut csv::Writer<W>, cells: &[String]) -> std::io::Result<()> {
    w.write_record(cells.iter().map(|c| crate::text::csv_cell(c)))
        .map_err(std::io::Error::other)
}
