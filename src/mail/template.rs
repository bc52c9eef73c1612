//! Message texts from `assets/mail/`: a `Subject:` line, a blank line, then the body, with
//! `{name}`-style placeholders.
//!
//! An operator can replace any of them with a file of the same name in a `templates/`
//! folder beside the config file; the built-in text is the fallback for every file that
//! is not there. Overrides are read and checked once, when the config is loaded, so a
//! typo shows at start-up rather than in a user's mailbox.

use std::fs;
use std::path::{Path, PathBuf};

use super::OutgoingMail;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    VerificationCode,
    ActivationCode,
    EnrollmentCode,
    MfaReset,
    /// The last method went off: MFA as a whole is off.
    MfaTurnedOff,
    /// One method went off while another stays on.
    MethodTurnedOff,
    Lockout,
    TestMessage,
    /// An admin reminds a user who has not configured MFA.
    ConfigureReminder,
}

/// The largest replacement template.
pub const MAX_TEMPLATE_BYTES: u64 = 64 * 1024;

/// Placeholders the core fills in every message.
const COMMON: [&str; 3] = ["org", "username", "name"];

impl Template {
    pub const ALL: [Template; 9] = [
        Template::VerificationCode,
        Template::ActivationCode,
        Template::EnrollmentCode,
        Template::MfaReset,
        Template::MfaTurnedOff,
        Template::MethodTurnedOff,
        Template::Lockout,
        Template::TestMessage,
        Template::ConfigureReminder,
    ];

    /// The template's name without `.txt` (`activation-code`).
    pub fn kind(self) -> &'static str {
        let f = self.file_name();
        f.strip_suffix(".txt").unwrap_or(f)
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Template::VerificationCode => "verification-code.txt",
            Template::ActivationCode => "activation-code.txt",
            Template::EnrollmentCode => "enrollment-code.txt",
            Template::MfaReset => "mfa-reset.txt",
            Template::MfaTurnedOff => "mfa-turned-off.txt",
            Template::MethodTurnedOff => "method-turned-off.txt",
            Template::Lockout => "lockout.txt",
            Template::TestMessage => "test-message.txt",
            Template::ConfigureReminder => "configure-reminder.txt",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            Template::VerificationCode => include_str!("../../assets/mail/verification-code.txt"),
            Template::ActivationCode => include_str!("../../assets/mail/activation-code.txt"),
            Template::EnrollmentCode => include_str!("../../assets/mail/enrollment-code.txt"),
            Template::MfaReset => include_str!("../../assets/mail/mfa-reset.txt"),
            Template::MfaTurnedOff => include_str!("../../assets/mail/mfa-turned-off.txt"),
            Template::MethodTurnedOff => include_str!("../../assets/mail/method-turned-off.txt"),
            Template::Lockout => include_str!("../../assets/mail/lockout.txt"),
            Template::TestMessage => include_str!("../../assets/mail/test-message.txt"),
            Template::ConfigureReminder => {
                include_str!("../../assets/mail/configure-reminder.txt")
            }
        }
    }

    /// Placeholders a replacement text must keep: without them the message is useless.
    fn required(self) -> &'static [&'static str] {
        match self {
            Template::VerificationCode | Template::ActivationCode | Template::EnrollmentCode => {
                &["code", "expires"]
            }
            _ => &[],
        }
    }

    /// Placeholders this template is filled with.
    fn known(self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = COMMON.to_vec();
        for p in placeholders(self.builtin()) {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v
    }
}

/// A problem with a replacement template, naming its file and what to do.
#[derive(Debug, thiserror::Error)]
#[error("mail template {path}: {problem}")]
pub struct TemplateError {
    pub path: PathBuf,
    pub problem: String,
}

/// The message texts in use: the built-in ones, some possibly replaced by files.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    dir: Option<PathBuf>,
    overrides: Vec<(Template, String)>,
}

impl Templates {
    /// Only the built-in texts.
    pub const BUILTIN: Templates = Templates {
        dir: None,
        overrides: Vec::new(),
    };

    /// The built-in texts, replaced by the files in `dir` that carry a template's name.
    /// A missing folder means no replacements. Every file is checked: a `.txt` file with an
    /// unknown name (a typo would otherwise be ignored silently), a text without its
    /// `Subject:` line, without a placeholder it needs (`{code}`), or with one the template
    /// is never filled with, is refused.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let err = |path: &Path, problem: String| TemplateError {
            path: path.to_path_buf(),
            problem,
        };
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Templates::default()),
            Err(e) => {
                return Err(err(
                    dir,
                    format!("the folder cannot be read ({e}); fix its permissions"),
                ));
            }
        };
        let mut overrides = Vec::new();
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| err(dir, format!("the folder cannot be read ({e})")))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".txt") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Some(template) = Template::ALL.into_iter().find(|t| t.file_name() == name) else {
                return Err(err(
                    &path,
                    format!(
                        "{name} is not the name of a message template: rename it to one of {}, or move it out of {}",
                        Template::ALL.map(|t| t.file_name()).join(", "),
                        dir.display()
                    ),
                ));
            };
            let bytes = crate::bounded::read(&path, MAX_TEMPLATE_BYTES)
                .map_err(|e| {
                    err(
                        &path,
                        format!("cannot be read ({e}); fix it or remove it to use the built-in text"),
                    )
                })?
                .ok_or_else(|| {
                    err(
                        &path,
                        format!(
                            "is larger than {}, far more than a message text: shorten it or remove it to use the built-in text",
                            crate::bounded::size(MAX_TEMPLATE_BYTES)
                        ),
                    )
                })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                err(
                    &path,
                    "is not UTF-8 text: save it as UTF-8, or remove it to use the built-in text"
                        .into(),
                )
            })?;
            check(template, &text).map_err(|problem| err(&path, problem))?;
            overrides.push((template, text));
        }
        Ok(Templates {
            dir: Some(dir.to_path_buf()),
            overrides,
        })
    }

    /// The folder replacements are read from, when one was given.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The templates replaced by files.
    pub fn overridden(&self) -> Vec<Template> {
        self.overrides.iter().map(|(t, _)| *t).collect()
    }

    fn text(&self, template: Template) -> &str {
        self.overrides
            .iter()
            .find(|(t, _)| *t == template)
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| template.builtin())
    }

    /// Fills `template` for one recipient. Values are inserted as plain text, in one pass,
    /// so a value that looks like a placeholder is never expanded.
    pub fn render(
        &self,
        template: Template,
        to: &str,
        to_name: &str,
        values: &[(&str, &str)],
    ) -> OutgoingMail {
        let (subject, body) = split(self.text(template));
        OutgoingMail {
            to: to.to_string(),
            to_name: to_name.to_string(),
            kind: template.kind(),
            subject: fill(subject, values),
            body: fill(body, values),
        }
    }
}

/// Fills a built-in template for one recipient.
pub fn render(
    template: Template,
    to: &str,
    to_name: &str,
    values: &[(&str, &str)],
) -> OutgoingMail {
    Templates::BUILTIN.render(template, to, to_name, values)
}

/// The subject (without `Subject:`) and the body.
fn split(text: &str) -> (&str, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (subject_line, body) = match text.find("\n\n").or_else(|| text.find("\r\n\r\n")) {
        Some(i) => {
            let sep = if text[i..].starts_with("\r\n") { 4 } else { 2 };
            (&text[..i], &text[i + sep..])
        }
        None => ("", text),
    };
    let subject = subject_line
        .strip_prefix("Subject:")
        .unwrap_or(subject_line)
        .trim();
    (subject, body)
}

fn check(template: Template, text: &str) -> Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    if !first.starts_with("Subject:") || !(text.contains("\n\n") || text.contains("\r\n\r\n")) {
        return Err(
            "the first line must be `Subject: ...`, followed by a blank line and the body (see the built-in templates in assets/mail/)"
                .into(),
        );
    }
    let found = placeholders(text);
    for need in template.required() {
        if !found.contains(need) {
            return Err(format!(
                "the placeholder {{{need}}} is missing: the message is useless without it; add it, or remove the file to use the built-in text"
            ));
        }
    }
    let known = template.known();
    for p in found {
        if !known.contains(&p) {
            return Err(format!(
                "{{{p}}} is not filled in for this message: use {}",
                known
                    .iter()
                    .map(|k| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// The `{word}` placeholders in a text, in order of first appearance.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(close) = rest.find('}') {
            let word = &rest[..close];
            if is_word(word) {
                if !out.contains(&word) {
                    out.push(word);
                }
                rest = &rest[close + 1..];
            }
        }
    }
    out
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Placeholders that hold a paragraph the product writes itself: their line breaks stay.
const BLOCKS: [&str; 1] = ["forgotten"];

/// A value as a message may carry it: on one line (a newline in a name adds no line and
/// no header), without control or invisible characters (no terminal escapes reach a mail
/// reader that shows them).
fn clean(key: &str, value: &str) -> String {
    if BLOCKS.contains(&key) {
        value
            .split('\n')
            .map(crate::text::single_line)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        crate::text::single_line(value)
    }
}

/// Replaces every `{key}` that `values` names; leaves any other brace text as it is.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(&clean(&after[..close], v));
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fills_in_one_pass() {
        let m = render(
            Template::VerificationCode,
            "a@example.com",
            "A",
            &[
                ("org", "Acme"),
                ("name", "{code}"),
                ("code", "123456"),
                ("expires", "soon"),
            ],
        );
        assert_eq!(m.subject, "Your Acme verification code");
        assert!(m.body.contains("Hello {code},"), "{}", m.body);
        assert!(m.body.contains("    123456\n"));
    }

    #[test]
    fn every_builtin_passes_its_own_check() {
        for t in Template::ALL {
            check(t, t.builtin()).unwrap();
        }
    }

    #[test]
    fn overrides_replace_and_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("verification-code.txt"),
            "Subject: Code for {org}\n\nUse {code} before {expires}.\n",
        )
        .unwrap();
        let t = Templates::load(dir.path()).unwrap();
        assert_eq!(t.overridden(), vec![Template::VerificationCode]);
        let m = t.render(
            Template::VerificationCode,
            "a@b.c",
            "",
            &[("org", "Acme"), ("code", "1"), ("expires", "noon")],
        );
        assert_eq!(m.subject, "Code for Acme");
        assert_eq!(m.body, "Use 1 before noon.\n");
        let m = t.render(Template::TestMessage, "a@b.c", "", &[("org", "Acme")]);
        assert_eq!(m.subject, "Acme MFA console test message");
    }

    #[test]
    fn bad_overrides_are_refused_with_the_file_named() {
        for (name, text, expect) in [
            (
                "verification-code.txt",
                "Subject: x\n\nno code here {expires}\n",
                "{code} is missing",
            ),
            ("lockout.txt", "no subject\n\nbody\n", "Subject:"),
            (
                "lockout.txt",
                "Subject: x\n\n{cod}\n",
                "{cod} is not filled in",
            ),
            (
                "verifcation-code.txt",
                "Subject: x\n\n{code}\n",
                "not the name of a message template",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(name), text).unwrap();
            let e = Templates::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
            assert!(e.contains(expect), "{e}");
        }
    }

    #[test]
    fn missing_folder_means_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let t = Templates::load(&dir.path().join("nope")).unwrap();
        assert!(t.overridden().is_empty());
    }
}
