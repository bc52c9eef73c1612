//! Rules for the text people type: usernames, addresses, names, codes.

use unicode_normalization::UnicodeNormalization;

/// The form usernames are compared and indexed in: NFKC, then lowercase. `Alice` and
/// `alice` are one account (one lockout counter, one index entry).
pub fn normalize_username(s: &str) -> String {
    s.trim().nfkc().collect::<String>().to_lowercase()
}

/// The longest username, in characters.
pub const USERNAME_MAX_CHARS: usize = 64;
/// The longest display name, in characters.
pub const NAME_MAX_CHARS: usize = 128;

/// Usernames: 1–64 characters, letters, digits and `. _ - @ +`. No `:` (it separates
/// issuer and account in an `otpauth://` URI) and no spaces or control characters.
pub fn check_username(s: &str) -> Result<(), String> {
    // Counted without collecting, and never echoed whole: a 10,000-character name costs
    // no more than a long one.
    let n = s.chars().take(USERNAME_MAX_CHARS + 1).count();
    if n == 0 {
        return Err("a username cannot be empty".into());
    }
    if n > USERNAME_MAX_CHARS {
        return Err(format!(
            "a username has at most {USERNAME_MAX_CHARS} characters (this one has {}): choose a shorter one",
            s.chars().count()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
    {
        return Err(format!(
            "a username may hold letters, digits and . _ - @ + only, not {}",
            escape_control(&format!("{c:?}"))
        ));
    }
    Ok(())
}

/// The form two usernames that look alike share (UTS #39 confusable skeleton of the
/// normalised name): `paul`, `pаul` (Cyrillic а), `pau1` and `PAUL` all have one.
pub fn username_skeleton(s: &str) -> String {
    crate::store::username_skeleton(s)
}

pub fn check_email(s: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "{:?} is not an email address (expected name@domain)",
            escape_control(s)
        )
    };
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || is_hostile(c)) {
        return Err(bad());
    }
    let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
        return Err(bad());
    }
    if local.contains('@') && !local.starts_with('"') {
        return Err(bad());
    }
    Ok(())
}

pub fn check_display_name(s: &str) -> Result<(), String> {
    let n = s.chars().take(NAME_MAX_CHARS + 1).count();
    if n > NAME_MAX_CHARS {
        return Err(format!(
            "a name has at most {NAME_MAX_CHARS} characters (this one has {})",
            s.chars().count()
        ));
    }
    check_printable("a name", s)
}

/// Refuses control characters (C0, DEL, C1) and the invisible ones that reorder or hide
/// text: they have no use in a name, and would reach screens, exports and mail.
pub fn check_printable(what: &str, s: &str) -> Result<(), String> {
    match s.chars().find(|c| is_hostile(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{what} cannot hold a control or invisible character (found {} in {:?}): remove it and type the text again",
            escape_control(&c.to_string()),
            escape_control(&s.chars().take(80).collect::<String>())
        )),
    }
}

/// A cell of a CSV export: control characters escaped, and a cell a spreadsheet would take
/// for a formula (`=`, `+`, `-`, `@` first) given a leading `'`, so an exported username,
/// name or address never runs as one.
pub fn csv_cell(s: &str) -> String {
    let s = escape_control(s);
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s
    }
}

/// Control characters (terminal escapes, newlines, …) shown as `\u{1b}`-style escapes, so a
/// name cannot repaint a screen or forge a line in an export.
pub fn escape_control(s: &str) -> String {
    if !s.chars().any(is_hostile) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hostile(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters, and the invisible ones that reorder or hide text (bidirectional
/// overrides and isolates, zero-width marks).
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}')
}

/// One line for a mail header, subject or placeholder: each run of control characters
/// becomes one space, invisible format characters are dropped.
pub fn single_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if c.is_control() {
            gap = true;
        } else if is_hostile(c) {
            continue;
        } else {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// `a•••••@example.com`: enough to recognise one's own address, not to learn someone's.
pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••••@{domain}")
        }
        None => "•••••".into(),
    }
}

/// A typed code with all whitespace removed, as both checking and recording see it.
pub fn normalize_code(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A code typed with spaces, dashes or capitals, in the one form it is hashed in.
pub fn normalize_long_code(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// `abcdefghijkl` → `abcd-efgh-ijkl`.
pub fn group(s: &str, size: usize, sep: char) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / size);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % size == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}
