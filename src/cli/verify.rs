use crate::cli::Db;
use std::process::ExitCode;

use clap::Args;

use super::{CliResult, open, read_line};
use crate::core::{Channel, CodeKind, CoreError, GENERIC_REFUSAL, SignInStep};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    pub username: String,
}

/// Exit 0 accepted, 1 refused. Every refusal prints the same message (or the lockout).
pub fn run(db: &Db, a: VerifyArgs) -> CliResult {
    let core = open(db)?;
    let password = read_line(None)?.unwrap_or_default();
    let code = read_line(None)?;
    let outcome = match core.sign_in(&a.username, &password, Channel::Api, None) {
        Ok(SignInStep::SignedIn(_)) => Ok(()),
        // A missing code is a wrong code: it counts toward lockout like any other, so the
        // count never tells a right password from a wrong one.
        Ok(SignInStep::CodeRequired(pending)) => {
            let code = code.as_ref().map(|c| c.trim()).unwrap_or("");
            core.submit_code(&pending, code, CodeKind::Any).map(|_| ())
        }
        Ok(SignInStep::PasswordChangeRequired(_)) => Err(CoreError::NotAllowed(
            "refused: this account has a temporary password; sign in to the console to set a new one".into(),
        )),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            println!("accepted");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (CoreError::Store(_) | CoreError::Mail { .. })) => Err(e.into()),
        Err(e @ (CoreError::Locked { .. } | CoreError::NotAllowed(_))) => {
            // Locked and not-allowed are told as they are; every other refusal is generic.
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
        Err(_) => {
            eprintln!("{GENERIC_REFUSAL}");
            Ok(ExitCode::from(1))
        }
    }
}
