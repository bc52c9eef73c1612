use crate::cli::Db;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;

use super::{CliError, CliResult, open, read_line};
use crate::core::controls::parse_method;
use crate::core::{Actor, CoreError, EnrollmentDone};
use crate::store::Method;

#[derive(Args, Debug)]
pub struct EnrollArgs {
    pub username: String,
    #[arg(long, value_parser = ["authenticator", "email"])]
    pub method: String,
    /// A name for this authenticator (e.g. "work phone")
    #[arg(long)]
    pub label: Option<String>,
}

pub fn run(db: &Db, a: EnrollArgs) -> CliResult {
    let core = open(db)?;
    let interactive = std::io::stdin().is_terminal();
    let attempts = if interactive { 3 } else { 1 };
    let done = match parse_method(&a.method)? {
        Method::Authenticator => {
            let pending =
                core.begin_authenticator(Actor::Operator, &a.username, a.label.as_deref(), None)?;
            qr2term::print_qr(pending.uri()).map_err(|e| {
                CliError::Message(format!(
                    "could not draw the QR code: {e}; type the secret below instead"
                ))
            })?;
            println!("Secret: {}", pending.secret_grouped().as_str());
            println!("{}", pending.uri());
            let mut result = Err(CoreError::WrongCode);
            for _ in 0..attempts {
                let Some(code) = read_line(Some("Code from the app: "))? else {
                    return Err(CliError::Message(
                        "no code on standard input: nothing was saved".into(),
                    ));
                };
                result = core.confirm_authenticator(Actor::Operator, &pending, &code);
                match &result {
                    Err(CoreError::WrongCode) if interactive => {
                        eprintln!("That code is not right; try the next one.")
                    }
                    _ => break,
                }
            }
            result?
        }
        Method::Email => {
            let pending = core.begin_email_enrollment(Actor::Operator, &a.username, None, None)?;
            eprintln!(
                "A code was sent to {} (through {}).",
                pending.address(),
                core.mailer().describe()
            );
            let mut result = Err(CoreError::WrongCode);
            for _ in 0..attempts {
                let Some(code) = read_line(Some("Code from the email: "))? else {
                    return Err(CliError::Message(
                        "no code on standard input: nothing was saved".into(),
                    ));
                };
                result = core.confirm_email_enrollment(Actor::Operator, &pending, &code);
                match &result {
                    Err(CoreError::WrongCode) if interactive => {
                        eprintln!("That code is not right; try again.")
                    }
                    _ => break,
                }
            }
            result?
        }
    };
    report(&a.username, done);
    Ok(ExitCode::SUCCESS)
}

fn report(username: &str, done: EnrollmentDone) {
    println!("Saved: {username} is configured.");
    if let Some(codes) = done.recovery_codes {
        println!("\nRecovery codes (shown once; each works once when the app is not at hand):");
        for c in &codes {
            println!("  {}", c.as_str());
        }
    }
}
