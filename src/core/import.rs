//! `user import`: a CSV with the header `username,email,name,role`. All rows are checked
//! first; one bad row (named by its line) means nothing is written. Imported users are
//! invited: each gets an activation code by mail.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::rc::Rc;

use zeroize::Zeroizing;

use super::users::{NewUser, insert_user, parse_role, validate_new};
use super::{Actor, Core, CoreError, Result, audit, codes, text};
use crate::mail::Template;
use crate::store::{OneTimeCode, User};

/// How imported users get their activation codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeDelivery {
    /// One message each, through the configured transport.
    Mail,
    /// Back to the caller (e.g. into one private file an operator hands out).
    Return,
}

/// What an import is doing, for its progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Adding the users (one transaction).
    Writing,
    /// Sending the activation codes.
    Mailing,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub added: usize,
    /// With [`CodeDelivery::Return`]: (username, email, activation code) of each user.
    pub codes: Vec<(String, String, Zeroizing<String>)>,
    /// When the activation codes stop working.
    pub expires: i64,
    /// Activation mails that could not be sent (the users exist; codes can be re-issued).
    pub mail_failures: usize,
    pub first_mail_error: Option<String>,
}

/// The header of an import file, and of `user export`.
pub const HEADER: [&str; 4] = ["username", "email", "name", "role"];
/// The most rows one import takes (twice the largest organization the product is
/// measured at); more go in several files.
pub const MAX_ROWS: usize = 250_000;
/// The largest import file.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The most errors of one file kept to be shown (all are counted).
pub const MAX_KEPT_ERRORS: usize = 1000;

/// The longest row, line breaks inside quotes included.
pub const MAX_ROW_BYTES: u64 = 64 * 1024;
/// The longest field: every field the import takes is far shorter.
pub const MAX_FIELD_BYTES: usize = 1024;
/// How far the CSV reader reads ahead of the row it parses.
const READ_AHEAD: usize = 8 * 1024;

/// The rows of an import file, each with the line it starts on.
#[derive(Clone, Debug, Default)]
pub struct ImportRows {
    users: Vec<NewUser>,
    /// Parallel to `users`; empty for rows not read from a file.
    lines: Vec<u64>,
}

impl ImportRows {
    pub fn len(&self) -> usize {
        self.users.len()
    }
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
    pub fn users(&self) -> &[NewUser] {
        &self.users
    }
    /// Where row `i` is: "line N" of the file, or "row N".
    fn place(&self, i: usize) -> String {
        match self.lines.get(i) {
            Some(l) => format!("line {l}"),
            None => format!("row {}", i + 1),
        }
    }
}

impl From<Vec<NewUser>> for ImportRows {
    fn from(users: Vec<NewUser>) -> Self {
        ImportRows {
            users,
            lines: Vec::new(),
        }
    }
}

impl IntoIterator for ImportRows {
    type Item = NewUser;
    type IntoIter = std::vec::IntoIter<NewUser>;
    fn into_iter(self) -> Self::IntoIter {
        self.users.into_iter()
    }
}

/// Which bound a read went past.
#[derive(Clone, Copy, Debug)]
enum Overrun {
    File,
    Row,
}

impl std::fmt::Display for Overrun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overrun::File => "the file is too large",
            Overrun::Row => "the row is too long",
        })
    }
}

impl std::error::Error for Overrun {}

/// The file under the CSV reader: stops with an [`Overrun`] error as soon as the file
/// passes [`MAX_FILE_BYTES`] or the row being read passes [`MAX_ROW_BYTES`], so that no
/// input (`/dev/zero`, a file without line breaks, a quote that never closes) is held
/// in memory beyond that. It also notes where the line breaks are, for [`Lines`].
struct Bounded<R> {
    inner: R,
    read: u64,
    shared: Rc<RefCell<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// Where the row being parsed starts, as the parser last said.
    row_start: u64,
    /// Offsets of the line breaks read but not yet passed by [`Shared::line_at`]: at most
    /// a row and the read-ahead's worth.
    breaks: VecDeque<u64>,
    passed: u64,
}

impl Shared {
    /// The line (from 1) that the byte at `offset` is on. Offsets asked for only grow.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.breaks.front().is_some_and(|b| *b < offset) {
            self.breaks.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut shared = self.shared.borrow_mut();
        if self.read.saturating_sub(shared.row_start) > MAX_ROW_BYTES + READ_AHEAD as u64 {
            return Err(std::io::Error::other(Overrun::Row));
        }
        if self.read > MAX_FILE_BYTES {
            return Err(std::io::Error::other(Overrun::File));
        }
        let n = self.inner.read(buf)?;
        let base = self.read;
        shared.breaks.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| base + i as u64),
        );
        self.read += n as u64;
        Ok(n)
    }
}

fn overrun(e: &csv::Error) -> Option<Overrun> {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref()?.downcast_ref::<Overrun>().copied(),
        _ => None,
    }
}

fn overrun_message(o: Overrun, line: u64) -> String {
    match o {
        Overrun::File => format!(
            "the file is larger than {} MiB: split it into parts (at most {MAX_ROWS} rows each) and import each",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
        Overrun::Row => format!(
            "line {line}: the row starting here runs past {} KiB (a quote that never closes, no line breaks, or not a CSV file?): fix the row or check that this is the right file",
            MAX_ROW_BYTES / 1024
        ),
    }
}

/// Opens and reads an import file: a regular file larger than [`MAX_FILE_BYTES`] is
/// refused before a byte of it is parsed; anything else (a pipe, a device) is read with
/// the same bounds as [`parse_csv`].
pub fn read_file(path: &std::path::Path) -> Result<ImportRows> {
    let shown = path.display().to_string();
    let f = std::fs::File::open(path)
        .map_err(|e| CoreError::Invalid(format!("cannot open {shown}: {e}; check the path")))?;
    if let Ok(m) = f.metadata()
        && m.is_file()
        && m.len() > MAX_FILE_BYTES
    {
        return Err(CoreError::Invalid(format!(
            "{shown}: nothing was imported: {}",
            overrun_message(Overrun::File, 1)
        )));
    }
    parse_csv(std::io::BufReader::new(f), &shown)
}

/// Writes users in the import format with their real values (the CSV writer quotes
/// what needs it), so an export imports back unchanged.
pub fn write_csv<'a, W: Write>(
    out: W,
    rows: impl IntoIterator<Item = [&'a str; 4]>,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER).map_err(std::io::Error::other)?;
    for r in rows {
        w.write_record(r).map_err(std::io::Error::other)?;
    }
    w.flush()
}

/// Reads and checks every row; errors name the line a row starts on (header is line 1;
/// blank lines and line breaks inside quotes count). Reads at most [`MAX_FILE_BYTES`],
/// rows of at most [`MAX_ROW_BYTES`] and [`MAX_ROWS`] rows.
pub fn parse_csv(input: impl Read, source: &str) -> Result<ImportRows> {
    let shared = Rc::new(RefCell::new(Shared::default()));
    let bounded = Bounded {
        inner: input,
        read: 0,
        shared: Rc::clone(&shared),
    };
    // Fields are trimmed here rather than by the reader, so that the line breaks inside
    // quotes can be counted: a row's line is where it ends, less the breaks inside it.
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(READ_AHEAD)
        .from_reader(bounded);
    let fail = |errors: Vec<String>, total: usize| CoreError::ImportRejected {
        file: source.to_string(),
        errors,
        total,
    };
    let mut out = ImportRows::default();
    let mut errors = Vec::new();
    let mut dropped_errors = 0usize;
    // Skeleton → (username, line): two rows alike, or only looking alike.
    let mut seen: HashMap<String, (String, u64)> = HashMap::new();
    let mut rec = csv::ByteRecord::new();
    let mut header = true;
    loop {
        let start = rdr.position().byte();
        shared.borrow_mut().row_start = start;
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => {
                if header {
                    return Err(CoreError::Invalid(format!(
                        "{source}: the file is empty: the first line must be the header `username,email,name,role`"
                    )));
                }
                break;
            }
            Err(e) => {
                let line = shared.borrow_mut().line_at(start);
                if let Some(o) = overrun(&e) {
                    errors.push(overrun_message(o, line));
                } else if header {
                    return Err(CoreError::Invalid(format!(
                        "{source}: cannot read the header line: {}; check that this is the CSV file",
                        csv_reason(&e)
                    )));
                } else {
                    errors.push(format!("line {line}: {}", csv_reason(&e)));
                }
                break;
            }
        }
        let end = rdr.position().byte();
        let inside = rec
            .iter()
            .map(|f| f.iter().filter(|b| **b == b'\n').count() as u64)
            .sum::<u64>();
        let line = shared
            .borrow_mut()
            .line_at(end.saturating_sub(1))
            .saturating_sub(inside);
        let mut fields = Vec::with_capacity(4);
        let mut problem = None;
        for (i, f) in rec.iter().enumerate() {
            let name = HEADER.get(i).copied().unwrap_or("extra");
            if f.len() > MAX_FIELD_BYTES {
                problem = Some(format!(
                    "the {name} field has {} bytes; a field holds at most {MAX_FIELD_BYTES} bytes",
                    f.len()
                ));
                break;
            }
            match std::str::from_utf8(f) {
                Ok(t) => fields.push(t.trim()),
                Err(_) => {
                    problem = Some(format!("the {name} field is not valid UTF-8 text"));
                    break;
                }
            }
        }
        if header {
            header = false;
            let got: Vec<String> = fields
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
                .collect();
            if problem.is_some() || got != HEADER {
                return Err(CoreError::Invalid(format!(
                    "{source}: line {line}: the header must be `username,email,name,role` (found `{}`)",
                    text::escape_control(&fields.join(",").chars().take(200).collect::<String>())
                )));
            }
            continue;
        }
        if out.len() + errors.len() >= MAX_ROWS {
            errors.push(format!(
                "line {line}: the file has more than {MAX_ROWS} rows: split it into parts of at most {MAX_ROWS} rows and import each"
            ));
            break;
        }
        if problem.is_none() && fields.len() != HEADER.len() {
            problem = Some(format!(
                "expected {} fields, found {}",
                HEADER.len(),
                fields.len()
            ));
        }
        if let Some(p) = problem {
            errors.push(format!("line {line}: {p}"));
        } else {
            let field = |i: usize| fields.get(i).copied().unwrap_or("").to_string();
            let row = (|| {
                let role = parse_role(&field(3))?;
                let u = NewUser {
                    username: field(0),
                    email: field(1),
                    name: field(2),
                    role,
                    password: None,
                };
                validate_new(&u)?;
                let skeleton = text::username_skeleton(&u.username);
                if let Some((other, at)) = seen.get(&skeleton) {
                    return Err(CoreError::Invalid(
                        if text::normalize_username(other) == text::normalize_username(&u.username)
                        {
                            format!("{:?} appears twice in the file (line {at} too)", u.username)
                        } else {
                            format!(
                                "{:?} looks like {other:?} on line {at} (look-alike characters): choose names that cannot be mistaken for each other",
                                text::escape_control(&u.username)
                            )
                        },
                    ));
                }
                seen.insert(skeleton, (u.username.clone(), line));
                Ok(u)
            })();
            match row {
                Ok(u) => {
                    out.users.push(u);
                    out.lines.push(line);
                }
                Err(e) => errors.push(format!("line {line}: {e}")),
            }
        }
        // Every bad row is counted; the first ones are kept to be shown.
        if errors.len() > MAX_KEPT_ERRORS {
            errors.truncate(MAX_KEPT_ERRORS);
            dropped_errors += 1;
        }
    }
    if !errors.is_empty() {
        let total = errors.len() + dropped_errors;
        return Err(fail(errors, total));
    }
    Ok(out)
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 text".into(),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

impl Core {
    /// Adds all `rows` as invited users in one transaction, or none of them.
    /// `progress(done, total)` is called as rows are written and as mails go out.
    pub fn import_users(
        &self,
        actor: Actor,
        rows: impl Into<ImportRows>,
        delivery: CodeDelivery,
        progress: &mut dyn FnMut(Phase, usize, usize),
    ) -> Result<ImportReport> {
        let rows: ImportRows = rows.into();
        let now = self.now();
        let total = rows.len();
        let expires = now + super::ACTIVATION_DAYS * 86400;
        let mut codes_out: Vec<Zeroizing<String>> = Vec::with_capacity(total);
        for _ in 0..total {
            codes_out.push(Zeroizing::new(codes::long_code()?));
        }
        let (org, users) = self.store.write(|tx| {
            self.require_admin(tx, actor)?;
            let who = actor.name();
            let mut users: Vec<User> = Vec::with_capacity(total);
            let mut errors = Vec::new();
            for (i, row) in rows.users().iter().enumerate() {
                match insert_user(tx, now, &who, row, None) {
                    Ok(u) => {
                        tx.put_activation_code(
                            u.id,
                            &OneTimeCode {
                                hash: codes::hash(
                                    "activation",
                                    u.id,
                                    &text::normalize_long_code(&codes_out[i]),
                                ),
                                expires,
                            },
                        )?;
                        users.push(u);
                    }
                    Err(CoreError::Conflict(why)) => {
                        errors.push(format!("{}: {why}", rows.place(i)))
                    }
                    Err(e) => return Err(e),
                }
                if i % 1000 == 0 {
                    progress(Phase::Writing, i, total);
                }
            }
            if !errors.is_empty() {
                errors.truncate(20);
                return Err(CoreError::Conflict(format!(
                    "nothing was imported; these users already exist or look like users who do:\n  {}",
                    errors.join("\n  ")
                )));
            }
            audit::append(
                tx,
                now,
                &who,
                "users",
                audit::kind::USERS_IMPORTED,
                &format!("{total} user(s)"),
            )?;
            progress(Phase::Writing, total, total);
            Ok((tx.organization()?, users))
        })?;
        let mut report = ImportReport {
            added: users.len(),
            ..Default::default()
        };
        let exp = super::clock::format_time(expires);
        report.expires = expires;
        if delivery == CodeDelivery::Return {
            report.codes = users
                .iter()
                .zip(codes_out)
                .map(|(u, c)| (u.username.clone(), u.email.clone(), c))
                .collect();
            return Ok(report);
        }
        // Activation mails go out after the commit (one file or message each: the slow
        // part of a large import, so it has its own progress).
        for (n, (u, code)) in users.iter().zip(&codes_out).enumerate() {
            let mail = self.render(
                &org,
                Template::ActivationCode,
                u,
                &[("code", code.as_str()), ("expires", exp.as_str())],
            );
            if let Err(e) = self.mailer.send(&mail) {
                report.mail_failures += 1;
                report.first_mail_error.get_or_insert_with(|| e.to_string());
            }
            if (n + 1) % 1000 == 0 || n + 1 == total {
                progress(Phase::Mailing, n + 1, total);
            }
        }
        Ok(report)
    }
}
