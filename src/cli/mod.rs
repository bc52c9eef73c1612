//! The command line: parse, open the database, call the core, print. No policy here.

mod client;
mod config;
mod console;
mod controls;
mod enroll;
mod head_log;
mod init;
pub mod log;
mod maintenance;
mod report;
mod table;
mod user;
mod verify;

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use clap::{Parser, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError};
use crate::core::{Core, CoreError};
use crate::mail::Mailer;
use crate::store::{Location, PgLocation};

#[derive(Parser, Debug)]
#[command(
    name = "mfa-console",
    version,
    about = "Multi-factor authentication for your organization, on your premises, offline.",
    long_about = "Multi-factor authentication for your organization, on your premises, offline.\n\n\
        Without a command, opens the console on the database. The commands below serve \
        scripts and operators; they act with the authority of whoever can read the database \
        file and are audited as `operator`.\n\n\
        Exit status: 0 success, 1 refused or failed, 2 usage error."
)]
pub struct Cli {
    /// The database: a file, or a PostgreSQL database as postgresql://USER@HOST:PORT/DATABASE
    /// (the password comes from [store] password_file in the config file) [default: [store]
    /// url in the config file, else the platform data folder, e.g.
    /// ~/.local/share/mfa-console/mfa-console.redb]
    #[arg(long, global = true, env = "MFA_CONSOLE_DB", value_name = "PATH|URL")]
    pub db: Option<String>,

    /// Open the console on a throw-away demo organization (deleted when you quit)
    #[arg(long)]
    pub demo: bool,

    /// With --demo: how many users the demo organization has
    #[arg(long, requires = "demo", default_value_t = 300, value_name = "N")]
    pub users: usize,

    /// The config file (mail delivery) [default: config.toml beside the database]
    #[arg(long, global = true, env = "MFA_CONSOLE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new database with its organization and first administrator
    Init(init::InitArgs),
    /// Add, list, show, change and remove users
    #[command(subcommand)]
    User(user::UserCommand),
    /// Show and change Security Controls: the MFA methods and the policy
    #[command(subcommand)]
    Controls(controls::ControlsCommand),
    /// Configure an MFA method for a user (prints the QR code for an authenticator app)
    Enroll(enroll::EnrollArgs),
    /// Check a user's credentials read from stdin (line 1 password, line 2 code); for integrations
    Verify(verify::VerifyArgs),
    /// One row per user: who has configured MFA
    Report(report::ReportArgs),
    /// The audit log, newest first
    Audit(report::AuditArgs),
    /// Copy the database and its key file, consistently, to DEST and DEST.key
    Backup(maintenance::BackupArgs),
    /// Check the database structure, the audit chain and every sealed secret
    Check,
    /// Re-encrypt every secret under a new key file, in one transaction
    RotateKey,
    /// Move the database: copy it into an empty PostgreSQL database, or into a new file
    #[command(subcommand)]
    Store(maintenance::StoreCommand),
    /// Check the config file (mail delivery) and send a test message
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// The authentication service: answers PAM (Unix socket), applications (HTTP) and
    /// network gear (RADIUS)
    Serve(crate::serve::ServeArgs),
    /// Add, list, rotate and remove the service's API clients (`list` also shows the
    /// RADIUS clients of the config)
    #[command(subcommand)]
    Client(client::ClientCommand),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

/// Parses the command line and runs it; the process's exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let what = command_name(&cli);
    match run(cli) {
        Ok(code) => {
            tracing::info!("{what}: done ({code:?})");
            code
        }
        Err(e) => {
            tracing::warn!("{what}: failed: {e}");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The command's name for the log (never its arguments' values from stdin).
fn command_name(cli: &Cli) -> &'static str {
    match &cli.command {
        None if cli.demo => "console (demo)",
        None => "console",
        Some(Command::Init(_)) => "init",
        Some(Command::User(_)) => "user",
        Some(Command::Controls(_)) => "controls",
        Some(Command::Enroll(_)) => "enroll",
        Some(Command::Verify(_)) => "verify",
        Some(Command::Report(_)) => "report",
        Some(Command::Audit(_)) => "audit",
        Some(Command::Backup(_)) => "backup",
        Some(Command::Check) => "check",
        Some(Command::RotateKey) => "rotate-key",
        Some(Command::Store(_)) => "store",
        Some(Command::Serve(_)) => "serve",
        Some(Command::Client(_)) => "client",
        Some(Command::Config(_)) => "config",
    }
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    if let Some(path) = &cli.config {
        let _ = CONFIG_PATH.set(path.clone());
    }
    let db = if cli.demo {
        Db::file(PathBuf::from("demo.redb"))
    } else {
        Db::resolve(cli.db.as_deref())?
    };
    if !cli.demo {
        log::start(&db);
        tracing::info!("{}: start on {}", command_name(&cli), db.display());
    }
    match cli.command {
        None if cli.demo => console::demo(cli.users),
        None => console::run(&db),
        Some(Command::Init(a)) => init::run(&db, a),
        Some(Command::User(c)) => user::run(&db, c),
        Some(Command::Controls(c)) => controls::run(&db, c),
        Some(Command::Enroll(a)) => enroll::run(&db, a),
        Some(Command::Verify(a)) => verify::run(&db, a),
        Some(Command::Report(a)) => report::run_report(&db, a),
        Some(Command::Audit(a)) => report::run_audit(&db, a),
        Some(Command::Backup(a)) => maintenance::backup(&db, a),
        Some(Command::Check) => maintenance::check(&db),
        Some(Command::RotateKey) => maintenance::rotate_key(&db),
        Some(Command::Store(c)) => maintenance::store(&db, c),
        Some(Command::Config(c)) => config::run(&db, c),
        Some(Command::Serve(a)) => crate::serve::run(&db, a),
        Some(Command::Client(c)) => client::run(&db, c),
    }
}

/// An error for the person at the terminal: what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Message(String),
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Core(CoreError::Store(e))
    }
}

pub type CliResult = Result<ExitCode, CliError>;

/// `~/.local/share/mfa-console/mfa-console.redb` (XDG_DATA_HOME honoured).
pub fn default_db_path() -> Result<PathBuf, CliError> {
    directories::ProjectDirs::from("", "", "mfa-console")
        .map(|d| d.data_dir().join("mfa-console.redb"))
        .ok_or_else(|| {
            CliError::Message(
                "cannot find a home folder for the default database: pass --db PATH".into(),
            )
        })
}

/// The database a command works on, and the path things kept beside it are named from
/// (the log, the outbox, the service's socket, the config file): the file itself, or, for
/// a PostgreSQL database, `mfa-console` in the config file's folder. Derefs to that path.
#[derive(Clone, Debug)]
pub struct Db {
    anchor: PathBuf,
    location: Location,
}

impl From<&Db> for Location {
    fn from(db: &Db) -> Self {
        db.location.clone()
    }
}

impl std::ops::Deref for Db {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.anchor
    }
}

impl Db {
    pub fn file(path: PathBuf) -> Db {
        Db {
            location: Location::File(path.clone()),
            anchor: path,
        }
    }

    /// `--db` (or `MFA_CONSOLE_DB`): a path or a PostgreSQL URL; without it, `[store] url`
    /// in the config file, else the default file.
    pub fn resolve(arg: Option<&str>) -> Result<Db, CliError> {
        match arg {
            Some(s) if PgLocation::is_url(s) => Self::postgres(Some(s), Self::config_file(None)?),
            Some(s) => Ok(Db::file(PathBuf::from(s))),
            None => {
                let default = default_db_path()?;
                if load_config_for(&default)?.store.url.is_some() {
                    Self::postgres(None, Self::config_file(None)?)
                } else {
                    Ok(Db::file(default))
                }
            }
        }
    }

    /// A PostgreSQL database: `url`, or the config file's `[store] url`; the password and
    /// the key file from the config file's `[store]`.
    fn postgres(url: Option<&str>, config_file: PathBuf) -> Result<Db, CliError> {
        let folder = config_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let anchor = folder.join("mfa-console");
        let config = load_config_for(&anchor)?;
        let store = config.store;
        let url = match url {
            Some(u) => u.to_string(),
            None => store.url.clone().unwrap_or_default(),
        };
        let key_file = store
            .key_file
            .clone()
            .unwrap_or_else(|| folder.join("mfa-console.key"));
        let loc = PgLocation::parse(&url, store.password, key_file).map_err(CliError::Message)?;
        Ok(Db {
            anchor,
            location: Location::Postgres(Box::new(loc)),
        })
    }

    /// Another database, named as `--db` would name it (the target of `store copy`), with
    /// this command's config file.
    /// With the config file beside `source` when `--config` is not given (a file's
    /// config is beside it), so the copy's password and key file come from there.
    pub fn other(arg: &str, source: &Db) -> Result<Db, CliError> {
        if PgLocation::is_url(arg) {
            Self::postgres(Some(arg), Self::config_file(Some(source))?)
        } else {
            Ok(Db::file(PathBuf::from(arg)))
        }
    }

    /// `--config`, else `config.toml` beside `beside` (or beside the default database).
    fn config_file(beside: Option<&Db>) -> Result<PathBuf, CliError> {
        if let Some(p) = CONFIG_PATH.get() {
            return Ok(p.clone());
        }
        Ok(match beside {
            Some(db) => Config::default_path(db),
            None => Config::default_path(&default_db_path()?),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.location, Location::Postgres(_))
    }

    /// Whether the database is there to open: a file that exists; a PostgreSQL database
    /// is asked when it is opened.
    pub fn may_exist(&self) -> bool {
        match &self.location {
            Location::File(p) => p.exists(),
            Location::Postgres(_) => true,
        }
    }

    /// As shown: the file's path, or the URL without a password.
    pub fn display(&self) -> String {
        self.location.shown()
    }

    pub fn key_file(&self) -> PathBuf {
        self.location.key_file()
    }
}

/// `--config PATH`, when given; set once by [`main`].
static CONFIG_PATH: OnceLock<PathBuf> = OnceLock::new();

/// The config for `db`: `--config PATH`, else `config.toml` beside the database (the
/// defaults when that file does not exist).
pub fn load_config(db: &Db) -> Result<Config, CliError> {
    load_config_for(db)
}

fn load_config_for(anchor: &Path) -> Result<Config, CliError> {
    Ok(Config::load(
        anchor,
        CONFIG_PATH.get().map(PathBuf::as_path),
    )?)
}

/// The mailer the config describes (the outbox beside the database by default).
pub fn mailer_for(db: &Db) -> Result<Arc<dyn Mailer>, CliError> {
    Ok(load_config(db)?.mailer()?)
}

pub fn open(db: &Db) -> Result<Core, CliError> {
    Ok(Core::open(db.location(), mailer_for(db)?)?)
}

/// Sets the process umask to 077 before anything is created.
#[allow(unsafe_code)]
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Restores the default SIGPIPE action, so a closed pipe ends the process quietly instead
/// of turning every later print into an error.
#[allow(unsafe_code)]
pub fn default_sigpipe() {
    // SAFETY: resetting a signal disposition to its default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The longest line read from standard input: a password has at most 1024 characters
/// of at most 4 bytes each; codes are far shorter.
pub const MAX_STDIN_LINE: usize = 4096;

/// Reads one line from stdin (without its line ending); `None` at end of input. Never
/// reads more than [`MAX_STDIN_LINE`] bytes (and a CRLF) of it.
pub fn read_line(prompt: Option<&str>) -> Result<Option<Zeroizing<String>>, CliError> {
    if let Some(p) = prompt
        && std::io::stdin().is_terminal()
    {
        eprint!("{p}");
    }
    let mut buf = Zeroizing::new(Vec::new());
    let n = std::io::stdin()
        .lock()
        .take(MAX_STDIN_LINE as u64 + 2)
        .read_until(b'\n', &mut buf)
        .map_err(|e| CliError::Message(format!("could not read standard input: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    let ended = buf.ends_with(b"\n");
    while buf.ends_with(b"\n") || buf.ends_with(b"\r") {
        buf.pop();
    }
    if buf.len() > MAX_STDIN_LINE || (!ended && n > MAX_STDIN_LINE) {
        return Err(CliError::Message(format!(
            "standard input: a line is longer than {MAX_STDIN_LINE} bytes (a password has at most 1024 characters): give one value per line"
        )));
    }
    let text = std::str::from_utf8(&buf).map_err(|_| {
        CliError::Message("standard input is not UTF-8 text: give one value per line".into())
    })?;
    Ok(Some(Zeroizing::new(text.to_string())))
}

/// A new password: from stdin with `--password-stdin`, else typed twice on the terminal
/// (hidden).
pub fn read_new_password(from_stdin: bool, what: &str) -> Result<Zeroizing<String>, CliError> {
    if from_stdin {
        return read_line(None)?
            .ok_or_else(|| CliError::Message(format!("{what}: standard input was empty")));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Message(format!(
            "{what}: no terminal to type it on; pass it on standard input with --password-stdin"
        )));
    }
    for _ in 0..3 {
        let a = Zeroizing::new(
            rpassword::prompt_password(format!("{what}: "))
                .map_err(|e| CliError::Message(format!("could not read the password: {e}")))?,
        );
        let b = Zeroizing::new(
            rpassword::prompt_password("Again: ")
                .map_err(|e| CliError::Message(format!("could not read the password: {e}")))?,
        );
        if a == b {
            return Ok(a);
        }
        eprintln!("The two entries differ; try again.");
    }
    Err(CliError::Message("the passwords did not match".into()))
}

pub fn print_json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    print_json_text(serde_json::to_string_pretty(v))
}

/// One JSON object on one line (JSON lines).
pub fn print_json_line<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    print_json_text(serde_json::to_string(v))
}

fn print_json_text(s: serde_json::Result<String>) -> Result<(), CliError> {
    let s = s.map_err(|e| CliError::Message(format!("could not format JSON: {e}")))?;
    println!("{s}");
    Ok(())
}
