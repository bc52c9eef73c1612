use crate::cli::Db;
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

pub fn run(db: &Db, c: UserCommand) -> CliResult {
    match c {
        UserCommand::Add(a) => add(db, a),
        UserCommand::List(a) => list(db, a),
        UserCommand::Show(a) => show(db, a),
        UserCommand::Set(a) => set(db, a),
        UserCommand::ResetMfa { username } => {
            let removed = open(db)?.reset_mfa_removing(Actor::Operator, &username)?;
            if removed.is_empty() {
                println!("{username} had no MFA set up: nothing was removed and no mail was sent.");
            } else {
                println!("Reset MFA for {username}: {}.", removed.describe());
            }
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

fn add(db: &Db, a: AddArgs) -> CliResult {
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

fn list(db: &Db, a: ListArgs) -> CliResult {
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

fn show(db: &Db, a: ShowArgs) -> CliResult {
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

fn set(db: &Db, a: SetArgs) -> CliResult {
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

fn import_file(db: &Db, file: &Path, codes_out: Option<&Path>) -> CliResult {
    let rows = import::read_file(file)?;
    let core = open(db)?;
    // The codes file is made (empty, private) before anything is imported, so that a
    // path that cannot be written stops the import rather than losing the codes. Until
    // the users are committed, an interruption removes it again.
    let codes = match codes_out {
        Some(p) => Some(CodesFile::create(p)?),
        None => None,
    };
    let tty = std::io::stderr().is_terminal();
    let mut committing = None;
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
        // The last report comes just before the commit: from here a signal waits for
        // the outcome instead of removing a file whose codes may be about to count.
        if phase == import::Phase::Writing
            && done == total
            && committing.is_none()
            && let Some(c) = &codes
        {
            committing = Some(c.hold());
        }
    };
    let delivery = if codes.is_some() {
        import::CodeDelivery::Return
    } else {
        import::CodeDelivery::Mail
    };
    let result = core.import_users(Actor::Operator, rows, delivery, &mut progress);
    let report = match result {
        Ok(r) => {
            if let Some(mut held) = committing {
                *held = Stage::Committed;
            } else if let Some(c) = &codes {
                *c.hold() = Stage::Committed;
            }
            r
        }
        Err(e) => {
            if let Some(c) = &codes {
                c.remove();
            }
            return Err(e.into());
        }
    };
    match &codes {
        Some(c) => {
            let expires = crate::core::clock::format_rfc3339(report.expires);
            let written = (|| -> std::io::Result<()> {
                let mut w = csv::Writer::from_writer(std::io::BufWriter::new(c.file()?));
                w.write_record(["username", "email", "activation_code", "expires"])
                    .map_err(std::io::Error::other)?;
                for (u, e, code) in &report.codes {
                    w.write_record([u.as_str(), e.as_str(), code.as_str(), expires.as_str()])
                        .map_err(std::io::Error::other)?;
                }
                w.flush()?;
                w.into_inner()
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .into_inner()
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .sync_all()
            })();
            if let Err(e) = written {
                c.remove();
                return Err(CliError::Message(format!(
                    "{} user(s) were added as invited, but their activation codes could not be written to {} ({e}): the partial file was removed; give each user a temporary password (`mfa-console user set NAME --temp-password-stdin`), or remove them and import again",
                    report.added,
                    c.path.display()
                )));
            }
            println!(
                "Imported {} user(s) as invited; their activation codes are in {} (mode 0600): hand each one over, then delete the file.",
                report.added,
                c.path.display()
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

/// Where an import with a codes file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing committed: an interruption removes the codes file and ends the process.
    Importing,
    /// The users are in: the codes are being written and must not be lost.
    Committed,
}

/// The codes file of an import in progress, and the watch that removes it when the
/// process is interrupted (SIGINT, SIGTERM, SIGHUP) before the users are committed.
struct CodesFile {
    path: PathBuf,
    file: std::sync::Mutex<Option<File>>,
    stage: std::sync::Arc<std::sync::Mutex<Stage>>,
}

impl CodesFile {
    fn create(path: &Path) -> Result<CodesFile, CliError> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                CliError::Message(format!(
                    "cannot create the codes file {}: {e}; give a new file in a folder you can write",
                    path.display()
                ))
            })?;
        let stage = std::sync::Arc::new(std::sync::Mutex::new(Stage::Importing));
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(CliError::Message(format!(
                    "cannot watch for interruptions ({e}); nothing was imported"
                )));
            }
        };
        let (watched, shown) = (std::sync::Arc::clone(&stage), path.to_path_buf());
        std::thread::spawn(move || {
            for sig in signals.forever() {
                let stage = watched.lock().unwrap_or_else(|p| p.into_inner());
                if *stage == Stage::Importing {
                    let _ = std::fs::remove_file(&shown);
                    eprintln!(
                        "\ninterrupted: nothing was imported; the codes file {} was removed",
                        shown.display()
                    );
                    // The write transaction was never committed: the database is as it
                    // was before the import.
                    std::process::exit(128 + sig);
                }
                // Committed: the codes are being written; let that finish.
            }
        });
        Ok(CodesFile {
            path: path.to_path_buf(),
            file: std::sync::Mutex::new(Some(file)),
            stage,
        })
    }

    /// Holds off interruptions while held.
    fn hold(&self) -> std::sync::MutexGuard<'_, Stage> {
        self.stage.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn file(&self) -> std::io::Result<File> {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| std::io::Error::other("the codes file was already written"))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn export(db: &Db, a: ExportArgs) -> CliResult {
    let rows = open(db)?.users(Actor::Operator)?;
    match a.format {
        // The real values: JSON and CSV escape and quote by their own rules, so an export
        // imports back unchanged.
        ExportFormat::Json => print_json(&rows)?,
        ExportFormat::Csv => {
            let out = std::io::stdout();
            import::write_csv(
                out.lock(),
                rows.iter().map(|r| {
                    [
                        r.username.as_str(),
                        r.email.as_str(),
                        r.name.as_str(),
                        r.role,
                    ]
                }),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
