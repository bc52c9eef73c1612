//! The default transport: one `.eml` file per message in a folder an operator can read.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{MailError, Mailer, OutgoingMail, Receipt, build_message};

pub struct Outbox {
    dir: PathBuf,
    from: String,
    /// The folder is known to exist (made once, not per message).
    ready: AtomicBool,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            from: from.into(),
            ready: AtomicBool::new(false),
        }
    }

    /// `outbox/` beside the database file.
    pub fn beside(db: &Path) -> Self {
        let dir = db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("outbox");
        Self::new(dir, "MFA console <mfa-console@localhost>")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Mailer for Outbox {
    fn send(&self, mail: &OutgoingMail) -> Result<Receipt, MailError> {
        let fail = |reason: String| MailError::Outbox {
            dir: self.dir.clone(),
            reason,
        };
        if !self.ready.load(Ordering::Relaxed) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| fail(e.to_string()))?;
            self.ready.store(true, Ordering::Relaxed);
        }
        let message = build_message(&self.from, mail)?;
        // What lettre's file transport writes (the formatted message, `<id>.eml`), but
        // created private (0600) from the first byte and with one open per message.
        // TIME-RECIPIENT-KIND, so that an operator finds a user's mail by listing the
        // folder; a random tail keeps two messages of one second apart.
        let mut id = [0u8; 4];
        crate::random::fill(&mut id).map_err(|e| fail(e.to_string()))?;
        let path = self.dir.join(file_name(
            &chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string(),
            &mail.to,
            mail.kind,
            &hex::encode(id),
        ));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                // The folder may have been removed since: make it again next time.
                self.ready.store(false, Ordering::Relaxed);
                fail(e.to_string())
            })?;
        file.write_all(&message.formatted())
            .map_err(|e| fail(e.to_string()))?;
        Ok(Receipt(format!("written to {}", path.display())))
    }

    fn describe(&self) -> String {
        format!("the outbox folder {}", self.dir.display())
    }
}

/// `20261201T141900Z-alice@example.com-activation-code-1a2b3c4d.eml`: the recipient and
/// the kind reduced to characters safe in a file name.
fn file_name(time: &str, to: &str, kind: &str, tail: &str) -> String {
    let safe = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(max)
            .collect()
    };
    let kind = if kind.is_empty() { "message" } else { kind };
    format!("{time}-{}-{}-{tail}.eml", safe(to, 64), safe(kind, 32))
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn outbox_files_are_named_by_time_recipient_and_kind() {
        assert_eq!(
            file_name(
                "20261201T141900Z",
                "alice@example.com",
                "activation-code",
                "1a2b3c4d"
            ),
            "20261201T141900Z-alice@example.com-activation-code-1a2b3c4d.eml"
        );
        // Nothing in an address makes a path: slashes and the like become `_`.
        assert_eq!(
            file_name("T", "../../etc/x y@z", "lockout", "00"),
            "T-.._.._etc_x_y@z-lockout-00.eml"
        );
    }
}
