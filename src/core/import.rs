//! `user import`: a CSV with the header `username,email,name,role`. All rows are checked
//! first; one bad row (named by its line) means nothing is written. Imported users are
//! invited: each gets an activation code by mail.

use std::collections::HashSet;
use std::io::Read;

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

/// Reads and checks every row; errors name the line (header is line 1).
pub fn parse_csv(input: impl Read, source: &str) -> Result<Vec<NewUser>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|e| CoreError::Invalid(format!("{source}: cannot read the header line: {e}")))?
        .clone();
    let want = ["username", "email", "name", "role"];
    let got: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    if got != want {
        return Err(CoreError::Invalid(format!(
            "{source}: line 1: the header must be `username,email,name,role` (found `{}`)",
            text::escape_control(&headers.iter().collect::<Vec<_>>().join(","))
        )));
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(format!("line {line}: {}", csv_reason(&e)));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let field = |i: usize| rec.get(i).unwrap_or("").to_string();
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
            if !seen.insert(text::normalize_username(&u.username)) {
                return Err(CoreError::Invalid(format!(
                    "{:?} appears twice in the file",
                    u.username
                )));
            }
            Ok(u)
        })();
        match row {
            Ok(u) => out.push(u),
            Err(e) => errors.push(format!("line {line}: {e}")),
        }
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(format!(
            "{source}: nothing was imported; fix these lines and run the import again:\n  {}",
            errors.join("\n  ")
        )));
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
        _ => e.to_string(),
    }
}

impl Core {
    /// Adds all `rows` as invited users in one transaction, or none of them.
    /// `progress(done, total)` is called as rows are written and as mails go out.
    pub fn import_users(
        &self,
        actor: Actor,
        rows: Vec<NewUser>,
        delivery: CodeDelivery,
        progress: &mut dyn FnMut(Phase, usize, usize),
    ) -> Result<ImportReport> {
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
            for (i, row) in rows.iter().enumerate() {
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
                    Err(CoreError::Conflict(_)) => errors.push(format!(
                        "line {}: a user named {:?} already exists",
                        i + 2,
                        row.username
                    )),
                    Err(e) => return Err(e),
                }
                if i % 1000 == 0 {
                    progress(Phase::Writing, i, total);
                }
            }
            if !errors.is_empty() {
                errors.truncate(20);
                return Err(CoreError::Conflict(format!(
                    "nothing was imported; these users already exist:\n  {}",
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
