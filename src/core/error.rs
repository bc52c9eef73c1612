use crate::mail::MailError;
use crate::store::StoreError;

/// The one message for every refused sign-in, whichever factor failed and whether or not
/// the account exists.
pub const GENERIC_REFUSAL: &str = "Sign-in refused: the username, password or code is not right.";

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{GENERIC_REFUSAL}")]
    Refused,
    #[error("Sign-in is locked after repeated failures until {}. An administrator can unlock it sooner.", super::clock::format_time(*until))]
    Locked { until: i64 },
    #[error("this step has expired: start again from the username and password")]
    Expired,
    #[error("confirm it is you first: re-enter your password (and a code) to continue")]
    ReauthRequired,
    #[error("{0}")]
    NotAllowed(String),
    #[error("no user named {0:?}: check the spelling, or list users with `mfa-console user list`")]
    NoSuchUser(String),
    #[error("{0}")]
    Invalid(String),
    /// An import file with bad rows: nothing was imported. `errors` holds the first ones
    /// (see `import::MAX_KEPT_ERRORS`), `total` counts them all.
    #[error(
        "{file}: nothing was imported; fix these lines and run the import again:\n  {}{}",
        errors.iter().take(SHOWN_IMPORT_ERRORS).cloned().collect::<Vec<_>>().join("\n  "),
        more_import_errors(*total)
    )]
    ImportRejected {
        file: String,
        errors: Vec<String>,
        total: usize,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("a code was sent less than 30 s ago: wait {0} s before asking for another")]
    Throttled(i64),
    #[error("the message could not be sent: {source}; try again once mail works")]
    Mail {
        via: String,
        #[source]
        source: MailError,
    },
    #[error("that code is not right or has expired: check it and try again")]
    WrongCode,
    #[error(
        "a code of this 30-second step was just used for your account: wait for the app's next code and type that"
    )]
    CodeAlreadyUsed,
    #[error(
        "your organization asks for an enrollment code from an administrator before your first method: ask one for it"
    )]
    EnrollmentCodeRequired,
}

impl CoreError {
    /// Refusals a person caused (exit status 1), as opposed to failures of the system.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, CoreError::Store(_) | CoreError::Mail { .. })
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// How many of an import's errors a message shows (the console lists them all).
pub const SHOWN_IMPORT_ERRORS: usize = 20;

fn more_import_errors(total: usize) -> String {
    if total > SHOWN_IMPORT_ERRORS {
        format!(
            "\n  … and {} more (fix these and run again, or import in the console, which lists them all)",
            total - SHOWN_IMPORT_ERRORS
        )
    } else {
        String::new()
    }
}

impl From<crate::random::RandomError> for CoreError {
    fn from(e: crate::random::RandomError) -> Self {
        CoreError::Store(e.into())
    }
}
