//! Messages to users, built with lettre, and the transports that deliver them.
//!
//! The core is handed a [`Mailer`]; it never knows which transport runs behind it.

mod outbox;
mod smtp;
mod template;

use std::path::PathBuf;
use std::sync::Arc;

pub use outbox::Outbox;
pub use smtp::{Security, Smtp, SmtpSettings};
pub use template::{Template, TemplateError, Templates, render};

/// One message to one person, already rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub to_name: String,
    /// What the message is (`activation-code`, `lockout`…): names outbox files.
    pub kind: &'static str,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the address {address:?} cannot receive mail: {reason}")]
    BadAddress { address: String, reason: String },
    #[error("the sender address {0:?} in the mail settings is not valid")]
    BadSender(String),
    #[error("could not build the message: {0}")]
    Build(String),
    #[error(
        "could not write the message into the outbox {dir}: {reason}; check that the folder exists and is writable"
    )]
    Outbox { dir: PathBuf, reason: String },
    #[error("{0}")]
    Transport(String),
    /// The relay could not be reached or used at all (connection, TLS, login, timeout):
    /// every further message would fail the same way.
    #[error("the mail relay at {relay} {problem}")]
    Relay { relay: String, problem: String },
    /// The relay answered this message with an error code.
    #[error("the mail relay at {relay} answered {code}: {text}{hint}", hint = rejection_hint(*code))]
    Rejected {
        relay: String,
        code: u16,
        text: String,
    },
}

fn rejection_hint(code: u16) -> &'static str {
    match code {
        530 | 535 | 538 => " (check username and password_file in the mail settings)",
        400..=499 => " (a temporary refusal: try again later)",
        _ => "",
    }
}

impl MailError {
    /// True when the failure is about the way to the relay rather than this one message,
    /// so sending more messages now would only fail again (and wait for each timeout).
    pub fn affects_every_message(&self) -> bool {
        match self {
            MailError::Relay { .. } | MailError::Outbox { .. } | MailError::BadSender(_) => true,
            MailError::Rejected { code, .. } => matches!(code, 421 | 530 | 535 | 538),
            _ => false,
        }
    }
}

/// What the far end did with a message, in words for people ("the mail relay at
/// mail.corp:587 answered 250: Ok: queued as 4F2A").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt(pub String);

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Delivers messages. Implementations must be usable from any thread.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: &OutgoingMail) -> Result<Receipt, MailError>;
    /// Where messages go, in words for people ("the outbox /var/lib/…/outbox").
    fn describe(&self) -> String;
    /// The message texts to render with.
    fn templates(&self) -> &Templates {
        &BUILTIN_TEMPLATES
    }
}

static BUILTIN_TEMPLATES: Templates = Templates::BUILTIN;

/// A transport with message texts replaced from a folder (see [`Templates::load`]).
pub struct WithTemplates {
    inner: Arc<dyn Mailer>,
    templates: Templates,
}

impl WithTemplates {
    pub fn new(inner: Arc<dyn Mailer>, templates: Templates) -> Self {
        Self { inner, templates }
    }
}

impl Mailer for WithTemplates {
    fn send(&self, mail: &OutgoingMail) -> Result<Receipt, MailError> {
        self.inner.send(mail)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn templates(&self) -> &Templates {
        &self.templates
    }
}

pub(crate) fn build_message(from: &str, mail: &OutgoingMail) -> Result<lettre::Message, MailError> {
    use lettre::message::{Mailbox, header::ContentType};
    let from: Mailbox = from
        .parse()
        .map_err(|_| MailError::BadSender(from.to_string()))?;
    let address: lettre::Address =
        mail.to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::BadAddress {
                address: mail.to.clone(),
                reason: e.to_string(),
            })?;
    let name = crate::text::single_line(&mail.to_name);
    let to = Mailbox::new((!name.is_empty()).then_some(name), address);
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(crate::text::single_line(&mail.subject))
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| MailError::Build(e.to_string()))
}
