use std::fs::File;
use std::io::IsTerminal;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::{CliError, CliResult, Format, open, print_json, read_new_password, table};
use crate::core::clock::{format_rfc3339, format_time};
use crate::core::controls::method_name;
use crate::core::users::parse_role;
use crate::core::{Actor, NewUser, UserChange, UserRow, import};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; without a password the user is invited and gets an activation code
    Add(AddArgs),
    /// List users
    List(ListArgs),
    /// Show one user's profile
    Show(ShowArgs),
    /// Change a user's role, address, name or status; unlock; issue a temporary password
    Set(SetArgs),
    /// Remove all of a user's MFA: enrollments, recovery codes, pending codes, trusted devices
    ResetMfa { username: String },
    /// Delete a user
    Remove { username: String },
    /// Add users from a CSV file (header: username,email,name,role); all or nothing
    Import {
        file: PathBuf,
        /// Write the activation codes to this new CSV file (mode 0600) instead of mailing
        /// one message per user
        #[arg(long, value_name = "PATH")]
        codes_out: Option<PathBuf>,
    },
    /// Write every user as CSV (re-importable) or JSON
    Export(ExportArgs),
    /// Issue a one-time enrollment code (for the policy enrollment-code-required)
    EnrollmentCode { username: String },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    pub username: String,
    #[arg(long)]
    pub email: String,
    #[arg(long, default_value = "")]
    pub name: String,
    #[arg(long, default_value = "member", value_parser = ["admin", "member", "integration"])]
    pub role: String,
    /// Read a password from standard input (otherwise the user is invited)
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only users who have not configured MFA (integration users are exempt)
    #[arg(long)]
    pub not_configured: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ShowFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    pub username: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    pub username: String,
    #[arg(long, value_parser = ["admin", "member", "integration"])]
    pub role: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, conflicts_with = "enable")]
    pub disable: bool,
    #[arg(long)]
    pub enable: bool,
    /// Clear a lockout
    #[arg(long)]
    pub unlock: bool,
    /// Read a temporary password from standard input; the user must change it at next sign-in
    #[arg(long)]
    pub temp_password_stdin: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
}

pub fn run(db: &Path, c: UserCommand) -> CliResult {
    match c {
        UserCommand::Add(a) => add(db, a),
        UserCommand::List(a) => list(db, a),
        UserCommand::Show(a) => show(db, a),
        UserCommand::Set(a) => set(db, a),
        UserCommand::ResetMfa { username } => {
            open(db)?.reset_mfa(Actor::Operator, &username)?;
            println!(
                "Reset MFA for {username}: enrollments, recovery codes, pending codes and trusted devices removed."
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Remove { username } => {
            open(db)?.remove_user(Actor::Operator, &username)?;
            println!("Removed {username}.");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Import { file, codes_out } => import_file(db, &file, codes_out.as_deref()),
        UserCommand::Export(a) => export(db, a),
        UserCommand::EnrollmentCode { username } => {
            let code = open(db)?.issue_enrollment_code(Actor::Operator, &username)?;
            println!(
                "Enrollment code for {username} (also mailed): {}",
                code.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(db: &Path, a: AddArgs) -> CliResult {
    let core = open(db)?;
    let password = if a.password_stdin {
        Some(read_new_password(true, "password")?)
    } else {
        None
    };
    let added = core.add_user(
        Actor::Operator,
        NewUser {
            username: a.username,
            email: a.email,
            name: a.name,
            role: parse_role(&a.role)?,
            password,
        },
    )?;
    match &added.activation_code {
        None => println!("Added {}.", added.username),
        Some(code) => {
            println!("Added {} (invited).", added.username);
            println!("Activation code: {}", code.as_str());
            match &added.mail_error {
                None => println!(
                    "The code was also sent by mail ({}).",
                    core.mailer().describe()
                ),
                Some(e) => eprintln!("warning: the activation mail could not be sent: {e}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn when(t: Option<i64>) -> String {
    t.map(format_time).unwrap_or_else(|| "never".into())
}

pub fn row_cells(r: &UserRow) -> Vec<String> {
    let mfa = if r.is_integration() {
        "integration".to_string()
    } else if r.configured {
        "configured".to_string()
    } else {
        "NOT CONFIGURED".to_string()
    };
    vec![
        r.username.clone(),
        r.name.clone(),
        r.email.clone(),
        r.role.to_string(),
        r.status.as_str().to_string(),
        mfa,
        r.methods.join("+"),
        when(r.last_sign_in),
        r.grace_days_left.map(|d| d.to_string()).unwrap_or_default(),
    ]
}

pub const ROW_HEADERS: [&str; 9] = [
    "USERNAME",
    "NAME",
    "EMAIL",
    "ROLE",
    "STATUS",
    "MFA",
    "METHODS",
    "LAST SIGN-IN",
    "GRACE DAYS",
];

pub fn print_rows(rows: &[UserRow], format: Format) -> Result<(), CliError> {
    match format {
        Format::Table => {
            table::print(
                &ROW_HEADERS,
                &rows.iter().map(row_cells).collect::<Vec<_>>(),
            )?;
            let people = rows.iter().filter(|r| !r.is_integration()).count();
            let configured = rows
                .iter()
                .filter(|r| !r.is_integration() && r.configured)
                .count();
            let pct = if people == 0 {
                100.0
            } else {
                configured as f64 * 100.0 / people as f64
            };
            println!("\n{configured} of {people} users configured · {pct:.1} %");
        }
        Format::Csv => {
            let mut w = table::csv_out();
            table::csv_row(
                &mut w,
                &[
                    "username",
                    "name",
                    "email",
                    "role",
                    "status",
                    "configured",
                    "methods",
                    "last_sign_in",
                    "grace_days_left",
                ]
                .map(String::from),
            )?;
            for r in rows {
                table::csv_row(
                    &mut w,
                    &[
                        r.username.clone(),
                        r.name.clone(),
                        r.email.clone(),
                        r.role.to_string(),
                        r.status.as_str().to_string(),
                        r.configured.to_string(),
                        r.methods.join(" "),
                        r.last_sign_in.map(format_rfc3339).unwrap_or_default(),
                        r.grace_days_left.map(|d| d.to_string()).unwrap_or_default(),
                    ],
                )?;
            }
            w.flush()?;
        }
        Format::Json | Format::Jsonl => print_json(&rows)?,
    }
    Ok(())
}

fn list(db: &Path, a: ListArgs) -> CliResult {
    let mut rows = open(db)?.users(Actor::Operator)?;
    if a.not_configured {
        rows.retain(UserRow::needs_mfa);
    }
    let f = match a.format {
        ListFormat::Table => Format::Table,
        ListFormat::Csv => Format::Csv,
        ListFormat::Json => Format::Json,
    };
    print_rows(&rows, f)?;
    Ok(ExitCode::SUCCESS)
}

fn show(db: &Path, a: ShowArgs) -> CliResult {
    let d = open(db)?.user_detail(Actor::Operator, &a.username)?;
    match a.format {
        ShowFormat::Json => {
            let enrollments: Vec<_> = d
                .enrollments
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "id": e.id,
                        "method": method_name(e.method),
                        "label": e.label,
                        "created": format_rfc3339(e.created),
                        "last_used": e.last_used.map(format_rfc3339),
                        "email": e.email,
                    })
                })
                .collect();
            print_json(&serde_json::json!({
                "user": d.row,
                "enrollments": enrollments,
                "recovery_codes_left": d.recovery_codes_left,
                "must_change_password": d.must_change_password,
            }))?;
        }
        ShowFormat::Table => {
            let r = &d.row;
            let cells = row_cells(r);
            for (h, c) in ROW_HEADERS.iter().zip(&cells) {
                println!(
                    "{:<14}{}",
                    format!("{}:", h.to_lowercase()),
                    crate::core::text::escape_control(c)
                );
            }
            if let Some(t) = r.locked_until {
                println!("{:<14}{}", "locked until:", format_time(t));
            }
            println!("{:<14}{} code(s) left", "recovery:", d.recovery_codes_left);
            println!("\nEnrollments:");
            if d.enrollments.is_empty() {
                println!("  none");
            }
            for e in &d.enrollments {
                println!(
                    "  #{} {} {:?} created {} last used {}",
                    e.id,
                    method_name(e.method),
                    crate::core::text::escape_control(&e.label),
                    format_time(e.created),
                    when(e.last_used)
                );
            }
            println!("\nRecent events:");
            for e in &d.recent_events {
                println!(
                    "  {} {} by {} {}",
                    format_time(e.time),
                    e.kind,
                    crate::core::text::escape_control(&e.actor),
                    crate::core::text::escape_control(&e.details)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set(db: &Path, a: SetArgs) -> CliResult {
    let core = open(db)?;
    let mut change = UserChange {
        role: a.role.as_deref().map(parse_role).transpose()?,
        email: a.email,
        name: a.name,
        disabled: if a.disable {
            Some(true)
        } else if a.enable {
            Some(false)
        } else {
            None
        },
        unlock: a.unlock,
        temporary_password: None,
    };
    if change.is_empty() && !a.temp_password_stdin {
        return Err(CliError::Message(
            "nothing to change: give --role, --email, --name, --disable, --enable, --unlock or --temp-password-stdin".into(),
        ));
    }
    if a.temp_password_stdin {
        change.temporary_password = Some(read_new_password(true, "temporary password")?);
    }
    // All of it in one transaction: a refused part leaves everything as it was.
    core.update_user(Actor::Operator, &a.username, change)?;
    println!("Updated {}.", a.username);
    Ok(ExitCode::SUCCESS)
}

fn import_file(db: &Path, file: &Path, codes_out: Option<&Path>) -> CliResult {
    let f = File::open(file).map_err(|e| {
        CliError::Message(format!(
            "cannot open {}: {e}; check the path",
            file.display()
        ))
    })?;
    let rows = import::parse_csv(std::io::BufReader::new(f), &file.display().to_string())?;
    let core = open(db)?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |phase: import::Phase, done: usize, total: usize| {
        if tty && total > 0 {
            let width = 30;
            let filled = done * width / total;
            let what = match phase {
                import::Phase::Writing => "Adding users     ",
                import::Phase::Mailing => "Activation mails ",
            };
            eprint!(
                "\r{what}[{}{}] {done}/{total}",
                "#".repeat(filled),
                "-".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    };
    // The codes file is made (empty, private) before anything is imported, so that a
    // path that cannot be written stops the import rather than losing the codes.
    let codes_file = match codes_out {
        Some(p) => Some((
            p,
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
                .map_err(|e| {
                    CliError::Message(format!(
                        "cannot create the codes file {}: {e}; give a new file in a folder you can write",
                        p.display()
                    ))
                })?,
        )),
        None => None,
    };
    let delivery = if codes_file.is_some() {
        import::CodeDelivery::Return
    } else {
        import::CodeDelivery::Mail
    };
    let report = match core.import_users(Actor::Operator, rows, delivery, &mut progress) {
        Ok(r) => r,
        Err(e) => {
            if let Some((p, _)) = &codes_file {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.into());
        }
    };
    match codes_file {
        Some((p, f)) => {
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
            let expires = crate::core::clock::format_rfc3339(report.expires);
            table::csv_row(
                &mut w,
                &["username", "email", "activation_code", "expires"].map(String::from),
            )?;
            for (u, e, c) in &report.codes {
                table::csv_row(
                    &mut w,
                    &[u.clone(), e.clone(), c.to_string(), expires.clone()],
                )?;
            }
            w.flush()?;
            println!(
                "Imported {} user(s) as invited; their activation codes are in {} (mode 0600): hand each one over, then delete the file.",
                report.added,
                p.display()
            );
        }
        None => println!(
            "Imported {} user(s) as invited; activation codes went to {}.",
            report.added,
            core.mailer().describe()
        ),
    }
    if report.mail_failures > 0 {
        eprintln!(
            "warning: {} activation mail(s) could not be sent ({}); the users exist — issue codes again later",
            report.mail_failures,
            report.first_mail_error.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn export(db: &Path, a: ExportArgs) -> CliResult {
    let rows = open(db)?.users(Actor::Operator)?;
    match a.format {
        ExportFormat::Json => print_json(&rows)?,
        ExportFormat::Csv => {
            let mut w = table::csv_out();
            table::csv_row(
                &mut w,
                &["username", "email", "name", "role"].map(String::from),
            )?;
            for r in &rows {
                table::csv_row(
                    &mut w,
                    &[
                        r.username.clone(),
                        r.email.clone(),
                        r.name.clone(),
                        r.role.to_string(),
                    ],
                )?;
            }
            w.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
