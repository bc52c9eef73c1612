//! The default transport: one `.eml` file per message in a folder an operator can read.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lettre::Transport;

use super::{MailError, Mailer, OutgoingMail, Receipt, build_message};

pub struct Outbox {
    dir: PathBuf,
    from: String,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            from: from.into(),
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
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| fail(e.to_string()))?;
        let message = build_message(&self.from, mail)?;
        let id = lettre::FileTransport::new(&self.dir)
            .send(&message)
            .map_err(|e| fail(e.to_string()))?;
        // The process umask already keeps the file private; make sure of it regardless.
        let path = self.dir.join(format!("{id}.eml"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Receipt(format!("written to {}", path.display())))
    }

    fn describe(&self) -> String {
        format!("the outbox folder {}", self.dir.display())
    }
}
