//! Rules for the text people type: usernames, addresses, names, codes.

use unicode_normalization::UnicodeNormalization;

/// The form usernames are compared and indexed in: NFKC, then lowercase. `Alice` and
/// `alice` are one account (one lockout counter, one index entry).
pub fn normalize_username(s: &str) -> String {
    s.trim().nfkc().collect::<String>().to_lowercase()
}

/// Usernames: 1–64 characters, letters, digits and `. _ - @ +`. No `:` (it separates
/// issuer and account in an `otpauth://` URI) and no spaces or control characters.
pub fn check_username(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 {
        return Err("a username cannot be empty".into());
    }
    if n > 64 {
        return Err(format!(
            "a username has at most 64 characters (this one has {n})"
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

pub fn check_email(s: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "{:?} is not an email address (expected name@domain)",
            escape_control(s)
        )
    };
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
    let n = s.chars().count();
    if n > 128 {
        return Err(format!(
            "a name has at most 128 characters (this one has {n})"
        ));
    }
    Ok(())
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
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}')
}

/// One line for a mail header or subject: controls become spaces.
pub fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
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
