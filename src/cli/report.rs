use crate::cli::Db;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::user::print_rows;
use super::{CliResult, Format, open, table};
use crate::core::Actor;
use crate::core::clock::{format_rfc3339, format_time};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AuditFormat {
    Table,
    Csv,
    Jsonl,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only events whose actor or subject is this user
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: AuditFormat,
}

pub fn run_report(db: &Db, a: ReportArgs) -> CliResult {
    let rows = open(db)?.users(Actor::Operator)?;
    let f = match a.format {
        ReportFormat::Table => Format::Table,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Json => Format::Json,
    };
    print_rows(&rows, f)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_audit(db: &Db, a: AuditArgs) -> CliResult {
    let events = open(db)?.audit_events(Actor::Operator, a.user.as_deref())?;
    match a.format {
        AuditFormat::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        format_time(e.time),
                        e.actor.clone(),
                        e.kind.clone(),
                        e.subject.clone(),
                        e.details.clone(),
                    ]
                })
                .collect();
            table::print(
                &["#", "TIME", "ACTOR", "EVENT", "SUBJECT", "DETAILS"],
                &rows,
            )?;
        }
        AuditFormat::Csv => {
            let mut w = table::csv_out();
            table::csv_row(
                &mut w,
                &["seq", "time", "actor", "kind", "subject", "details", "hash"].map(String::from),
            )?;
            for e in &events {
                table::csv_row(
                    &mut w,
                    &[
                        e.seq.to_string(),
                        format_rfc3339(e.time),
                        e.actor.clone(),
                        e.kind.clone(),
                        e.subject.clone(),
                        e.details.clone(),
                        e.hash.clone(),
                    ],
                )?;
            }
            w.flush()?;
        }
        AuditFormat::Jsonl => {
            use std::io::Write;
            let out = std::io::stdout();
            let mut out = out.lock();
            for e in &events {
                // serde_json escapes control characters in strings itself.
                let line = serde_json::json!({
                    "seq": e.seq,
                    "time": format_rfc3339(e.time),
                    "actor": e.actor,
                    "kind": e.kind,
                    "subject": e.subject,
                    "details": e.details,
                    "hash": e.hash,
                });
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
