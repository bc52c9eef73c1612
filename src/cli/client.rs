//! `mfa-console client add|list|rotate|remove`: the API clients of the service.

use crate::cli::Db;
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
    /// The clients: API clients (mode, created, last request, requests and refusals
    /// today, UTC) and the RADIUS clients of the config (mode, address, secret file)
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
    /// "api" (a key, in the database) or "radius" (an address and shared secret, in the
    /// config file).
    kind: &'static str,
    mode: &'static str,
    created: Option<String>,
    last_request: Option<String>,
    requests_today: Option<u64>,
    refusals_today: Option<u64>,
    /// RADIUS: the source address or network, and the file with the shared secret.
    address: Option<String>,
    secret_file: Option<String>,
}

pub fn run(db: &Db, c: ClientCommand) -> CliResult {
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
            let radius = super::load_config(db)?.serve.radius_clients;
            let mut rows: Vec<Row> = clients
                .iter()
                .map(|c| {
                    let (requests_today, refusals_today) = c.today(now);
                    Row {
                        name: c.name.clone(),
                        kind: "api",
                        mode: c.mode.as_str(),
                        created: Some(format_rfc3339(c.created)),
                        last_request: c.last_request.map(format_rfc3339),
                        requests_today: Some(requests_today),
                        refusals_today: Some(refusals_today),
                        address: None,
                        secret_file: None,
                    }
                })
                .collect();
            rows.extend(radius.iter().map(|c| Row {
                name: c.name.clone(),
                kind: "radius",
                mode: c.mode.as_str(),
                created: None,
                last_request: None,
                requests_today: None,
                refusals_today: None,
                address: Some(c.network.to_string()),
                secret_file: Some(c.secret_file.display().to_string()),
            }));
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
                            "No clients yet: add one with `mfa-console client add NAME [--mode code-only|password-and-code]`, or a [[serve.radius_client]] table to the config for a RADIUS NAS."
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                    let mut cells: Vec<Vec<String>> = rows
                        .iter()
                        .zip(&clients)
                        .map(|(r, c)| {
                            vec![
                                r.name.clone(),
                                "api".into(),
                                r.mode.to_string(),
                                "-".into(),
                                format_short(c.created),
                                c.last_request
                                    .map(format_short)
                                    .unwrap_or_else(|| "never".into()),
                                c.today(now).0.to_string(),
                                c.today(now).1.to_string(),
                            ]
                        })
                        .collect();
                    // RADIUS clients live in the config file; their requests are in the
                    // audit log (`mfa-console audit`, detail "radius NAME").
                    cells.extend(radius.iter().map(|c| {
                        vec![
                            c.name.clone(),
                            "radius".into(),
                            c.mode.as_str().to_string(),
                            c.network.to_string(),
                            "config file".into(),
                            "in the audit log".into(),
                            "-".into(),
                            "-".into(),
                        ]
                    }));
                    table::print(
                        &[
                            "NAME",
                            "KIND",
                            "MODE",
                            "ADDRESS",
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
