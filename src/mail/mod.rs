//! Messages to users, built with lettre, and the transports that deliver them.
//!
//! The core is handed a [`Mailer`]; it never knows which transport runs behind it.

mod outbox;
mod template;

use std::path::PathBuf;

pub use outbox::Outbox;
pub use template::{Template, render};

/// One message to one person, already rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub to_name: String,
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
}

/// Delivers messages. Implementations must be usable from any thread.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
    /// Where messages go, in words for people ("the outbox /var/lib/…/outbox").
    fn describe(&self) -> String;
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
    let name = crate::core::text::single_line(&mail.to_name);
    let to = Mailbox::new((!name.is_empty()).then_some(name), address);
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(crate::core::text::single_line(&mail.subject))
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| MailError::Build(e.to_string()))
}
