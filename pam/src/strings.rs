//! Everything the module shows to the person signing in, in one place.

pub const CODE_PROMPT: &str = "Verification code: ";
pub const PASSWORD_PROMPT: &str = "Password: ";

/// Shown for every way the service could not be asked (and nothing else is said: the
/// details go to the system log, for the administrator).
pub const UNREACHABLE: &str = "The verification service is not reachable; ask your administrator.";

/// The core's one generic refusal, for when the service's answer carries no message.
pub const GENERIC_REFUSAL: &str = "Sign-in refused: the username, password or code is not right.";

pub const MISCONFIGURED: &str =
    "Multi-factor authentication is not set up correctly on this machine; ask your administrator.";

pub const NO_CODE: &str = "No code was entered.";

pub const ENROLL_REQUIRED: &str =
    "Multi-factor authentication is required: configure it in the console before signing in.";

pub fn grace(days_left: Option<u32>) -> String {
    let when = match days_left {
        Some(0) => "today".to_string(),
        Some(1) => "within 1 day".to_string(),
        Some(n) => format!("within {n} days"),
        None => "soon".to_string(),
    };
    format!("Multi-factor authentication is required: configure it in the console {when}.")
}

pub fn email_offer(masked: &str) -> String {
    format!(
        "Type the code from your authenticator app, or press Enter to get a code by email at {masked}."
    )
}

pub fn code_sent(masked: Option<&str>) -> String {
    match masked {
        Some(m) => format!("A code was sent to {m}."),
        None => "A code was sent to your email address.".to_string(),
    }
}

pub fn throttled(retry_after: Option<u64>) -> String {
    match retry_after {
        Some(1) => "A code was sent a moment ago; ask for another in 1 second.".to_string(),
        Some(n) => format!("A code was sent a moment ago; ask for another in {n} seconds."),
        None => "A code was sent a moment ago; ask for another shortly.".to_string(),
    }
}

/// `until` as the service sends it (`2026-12-01T12:34:56Z`), shown as `2026-12-01 12:34:56 UTC`.
pub fn locked(until: Option<&str>) -> String {
    match until {
        Some(t) => {
            let shown = match t.strip_suffix('Z') {
                Some(rest) => format!("{} UTC", rest.replacen('T', " ", 1)),
                None => t.to_string(),
            };
            format!("This account is locked until {shown}.")
        }
        None => "This account is locked.".to_string(),
    }
}

pub fn recovery_codes_left(n: u32) -> String {
    match n {
        0 => "That was your last recovery code: make new ones in the console.".to_string(),
        1 => "A recovery code was used; 1 is left.".to_string(),
        n => format!("A recovery code was used; {n} are left."),
    }
}

/// Text from the service, made safe to show on someone's terminal: no control characters
/// (an escape sequence would be interpreted), and not longer than a screenful.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(1000)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn grace_counts_days_in_words() {
        assert_eq!(
            grace(Some(5)),
            "Multi-factor authentication is required: configure it in the console within 5 days."
        );
        assert!(grace(Some(1)).ends_with("within 1 day."));
        assert!(grace(Some(0)).ends_with("console today."));
    }

    #[test]
    fn locked_shows_the_time_in_utc() {
        assert_eq!(
            locked(Some("2026-12-01T12:34:56Z")),
            "This account is locked until 2026-12-01 12:34:56 UTC."
        );
        assert_eq!(
            locked(Some("2026-12-01T12:34:56+01:00")),
            "This account is locked until 2026-12-01T12:34:56+01:00."
        );
    }

    #[test]
    fn service_text_loses_control_characters() {
        assert_eq!(printable("a\u{1b}[2Jb\nc"), "a[2Jbc");
    }
}
