//! Message texts from `assets/mail/`: a `Subject:` line, a blank line, then the body, with
//! `{name}`-style placeholders.

use super::OutgoingMail;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    VerificationCode,
    ActivationCode,
    EnrollmentCode,
    MfaReset,
    MfaTurnedOff,
    Lockout,
    TestMessage,
}

impl Template {
    pub fn file_name(self) -> &'static str {
        match self {
            Template::VerificationCode => "verification-code.txt",
            Template::ActivationCode => "activation-code.txt",
            Template::EnrollmentCode => "enrollment-code.txt",
            Template::MfaReset => "mfa-reset.txt",
            Template::MfaTurnedOff => "mfa-turned-off.txt",
            Template::Lockout => "lockout.txt",
            Template::TestMessage => "test-message.txt",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            Template::VerificationCode => include_str!("../../assets/mail/verification-code.txt"),
            Template::ActivationCode => include_str!("../../assets/mail/activation-code.txt"),
            Template::EnrollmentCode => include_str!("../../assets/mail/enrollment-code.txt"),
            Template::MfaReset => include_str!("../../assets/mail/mfa-reset.txt"),
            Template::MfaTurnedOff => include_str!("../../assets/mail/mfa-turned-off.txt"),
            Template::Lockout => include_str!("../../assets/mail/lockout.txt"),
            Template::TestMessage => include_str!("../../assets/mail/test-message.txt"),
        }
    }
}

/// Fills `template` for one recipient. Values are inserted as plain text.
pub fn render(
    template: Template,
    to: &str,
    to_name: &str,
    values: &[(&str, &str)],
) -> OutgoingMail {
    let text = template.builtin();
    let (subject_line, body) = text.split_once("\n\n").unwrap_or(("", text));
    let subject = subject_line
        .strip_prefix("Subject:")
        .unwrap_or(subject_line)
        .trim();
    let fill = |s: &str| {
        let mut out = s.to_string();
        for (k, v) in values {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    };
    OutgoingMail {
        to: to.to_string(),
        to_name: to_name.to_string(),
        subject: fill(subject),
        body: fill(body),
    }
}
