//! `mfa-console client add|list|rotate|remove`: the API clients of the service.

use std::path::Path;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::{CliResult, Format, open, print_json, print_json_line, table};
use crate::core::Actor;
use crate::core::clock::{format_rfc3339, format_short};
use crate::store::ClientMode;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Add a client; prints its API key once (only a hash is kept)
    Add {
        /// e.g. web-portal, vpn-gw1: lowercase letters, digits, '.', '-', '_'
        name: String,
        /// code-only: the client checked the first factor itself (sshd's key, its own
        /// directory); password-and-code: the product's own password and a code
        #[arg(long, value_enum, default_value_t = ModeArg::CodeOnly)]
        mode: ModeArg,
    },
    /// The clients: mode, created, last request, requests and refusals today (UTC)
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Give a client a new API key (printed once); the old key stops working at once
    Rotate { name: String },
    /// Remove a client; its key stops working at once
    Remove { name: String },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ModeArg {
    CodeOnly,
    PasswordAndCode,
}

impl From<ModeArg> for ClientMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::CodeOnly => ClientMode::CodeOnly,
            ModeArg::PasswordAndCode => ClientMode::PasswordAndCode,
        }
    }
}

#[derive(serde::Serialize)]
struct Row {
    name: String,
    mode: &'static str,
    created: String,
    last_request: Option<String>,
    requests_today: u64,
    refusals_today: u64,
}

pub fn run(db: &Path, c: ClientCommand) -> CliResult {
    let core = open(db)?;
    match c {
        ClientCommand::Add { name, mode } => {
            let (client, key) = core.add_client(Actor::Operator, &name, mode.into())?;
            eprintln!(
                "Added client {} ({}). Its API key, shown only this once:",
                client.name,
                client.mode.as_str()
            );
            println!("{}", key.as_str());
            eprintln!("Send it as `Authorization: Bearer KEY`. Keep it like a password.");
        }
        ClientCommand::List { format } => {
            let now = core.now();
            let clients = core.clients(Actor::Operator)?;
            let rows: Vec<Row> = clients
                .iter()
                .map(|c| {
                    let (requests_today, refusals_today) = c.today(now);
                    Row {
                        name: c.name.clone(),
                        mode: c.mode.as_str(),
                        created: format_rfc3339(c.created),
                        last_request: c.last_request.map(format_rfc3339),
                        requests_today,
                        refusals_today,
                    }
                })
                .collect();
            match format {
                Format::Json => print_json(&rows)?,
                Format::Jsonl => {
                    for r in &rows {
                        print_json_line(r)?;
                    }
                }
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout());
                    for r in &rows {
                        w.serialize(r).map_err(|e| {
                            super::CliError::Message(format!("could not write CSV: {e}"))
                        })?;
                    }
                    w.flush()?;
                }
                Format::Table => {
                    if rows.is_empty() {
                        eprintln!(
                            "No clients yet: add one with `mfa-console client add NAME [--mode code-only|password-and-code]`."
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                    let cells: Vec<Vec<String>> = rows
                        .iter()
                        .zip(&clients)
                        .map(|(r, c)| {
                            vec![
                                r.name.clone(),
                                r.mode.to_string(),
                                format_short(c.created),
                                c.last_request
                                    .map(format_short)
                                    .unwrap_or_else(|| "never".into()),
                                r.requests_today.to_string(),
                                r.refusals_today.to_string(),
                            ]
                        })
                        .collect();
                    table::print(
                        &[
                            "NAME",
                            "MODE",
                            "CREATED",
                            "LAST REQUEST",
                            "REQUESTS TODAY",
                            "REFUSALS TODAY",
                        ],
                        &cells,
                    )?;
                }
            }
        }
        ClientCommand::Rotate { name } => {
            let key = core.rotate_client(Actor::Operator, &name)?;
            eprintln!(
                "Client {} has a new API key, shown only this once (the old one no longer works):",
                name.trim()
            );
            println!("{}", key.as_str());
        }
        ClientCommand::Remove { name } => {
            core.remove_client(Actor::Operator, &name)?;
            eprintln!("Removed client {}; its key no longer works.", name.trim());
        }
    }
    Ok(ExitCode::SUCCESS)
}
