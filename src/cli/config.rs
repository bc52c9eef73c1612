//! `config check`: is the config file usable, where does mail go, and does a test message
//! get through?

use crate::cli::Db;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{CliError, CliResult, load_config};
use crate::core::clock;
use crate::mail::Template;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check the config file and show where mail goes; exit status 1 when it is not usable
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also send the test message to ADDRESS and show the mail server's answer
    #[arg(long, value_name = "ADDRESS")]
    pub send_test: Option<String>,
}

pub fn run(db: &Db, c: ConfigCommand) -> CliResult {
    match c {
        ConfigCommand::Check(a) => check(db, a),
    }
}

fn check(db: &Db, a: CheckArgs) -> CliResult {
    let config = load_config(db)?;
    let mailer = config.mailer()?;
    for (label, value) in config.summary() {
        println!("{:<13}{value}", format!("{label}:"));
    }
    println!("The configuration is valid.");
    let Some(address) = a.send_test else {
        return Ok(ExitCode::SUCCESS);
    };
    // The organization's name when the database exists; mail can be set up before `init`.
    let org = if db.exists() {
        super::open(db)?.organization()?.name
    } else {
        "MFA console".to_string()
    };
    let time = clock::format_time(chrono::Utc::now().timestamp());
    let mail = mailer.templates().render(
        Template::TestMessage,
        address.trim(),
        "",
        &[("org", org.as_str()), ("time", time.as_str())],
    );
    println!(
        "Sending a test message to {} through {} ...",
        address.trim(),
        mailer.describe()
    );
    match mailer.send(&mail) {
        Ok(receipt) => {
            println!("Sent: {receipt}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(CliError::Message(format!(
            "the test message was not sent: {e}"
        ))),
    }
}
