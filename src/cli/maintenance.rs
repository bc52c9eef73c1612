use crate::cli::Db;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{CliError, CliResult, head_log, log, open};
use crate::core::Actor;
use crate::core::audit::HeadComparison;
use crate::store::key_path;

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy the whole database, in one transaction, into a new one: an empty PostgreSQL
    /// database (`--to postgresql://USER@HOST:PORT/DATABASE`) or a new file (`--to PATH`);
    /// then check the copy. Its key file is the same key, written beside the copy (or where
    /// [store] key_file says)
    Copy(CopyArgs),
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The new database: an empty PostgreSQL database, or the path of a new file
    #[arg(long, value_name = "PATH|URL")]
    pub to: String,
}

pub fn store(db: &Db, c: StoreCommand) -> CliResult {
    match c {
        StoreCommand::Copy(a) => copy(db, a),
    }
}

fn copy(db: &Db, a: CopyArgs) -> CliResult {
    let target = Db::other(&a.to, db)?;
    if target.location().identity() == db.location().identity() {
        return Err(CliError::Message(format!(
            "{} is the database being copied: name another with --to",
            target.display()
        )));
    }
    if let crate::store::Location::File(p) = target.location()
        && p.exists()
    {
        return Err(crate::store::StoreError::AlreadyExists(p.clone()).into());
    }
    let core = open(db)?;
    let started = std::time::Instant::now();
    let rows = core.store().copy_to(target.location())?;
    println!(
        "Copied {} to {}: {rows} rows in {:.1} s, in one transaction. Key file: {} (the same key as {}).",
        db.display(),
        target.display(),
        started.elapsed().as_secs_f64(),
        target.key_file().display(),
        db.key_file().display()
    );
    let copied = crate::core::Core::open(target.location(), super::mailer_for(db)?)?;
    let r = copied.check()?;
    let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
    println!("Check of the copy:");
    println!("  database structure: {}", mark(r.integrity_ok));
    println!(
        "  audit chain:        {} ({} events)",
        mark(r.audit_problem.is_none()),
        r.audit_events
    );
    println!(
        "  users:              {} ({} users)",
        mark(r.index_problems.is_empty()),
        r.users
    );
    println!(
        "  sealed secrets:     {} ({} checked)",
        mark(r.secret_problems.is_empty()),
        r.secrets_checked
    );
    if r.ok() {
        println!(
            "The copy passed its check. Point mfa-console at it with --db {} (or [store] url in the config file).",
            target.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: the copy {} failed its check (see above): do not use it; report the problem",
            target.display()
        );
        Ok(ExitCode::from(1))
    }
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy (its key file goes to DEST.key)
    pub dest: PathBuf,
}

pub fn backup(db: &Db, a: BackupArgs) -> CliResult {
    if db.is_postgres() {
        // The store says how: with the server's tools, and the key file kept with them.
        open(db)?.store().backup(&a.dest)?;
    }
    // Said before the database is touched, in words that name the folder.
    let folder = match a.dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(CliError::Message(format!(
                "cannot write the backup {}: {} is not a folder; choose a path in a folder",
                a.dest.display(),
                folder.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Message(format!(
                "cannot write the backup {}: the folder {} does not exist; create it first (`mkdir -p {}`) or choose another path",
                a.dest.display(),
                folder.display(),
                folder.display()
            )));
        }
        Err(e) => {
            return Err(CliError::Message(format!(
                "cannot write the backup {}: the folder {} cannot be used ({e}); check its permissions",
                a.dest.display(),
                folder.display()
            )));
        }
    }
    let core = open(db)?;
    core.store().backup(&a.dest)?;
    println!(
        "Backed up {} to {} and its key file to {}. Keep both; store the key file apart from the database copies if you can.",
        db.display(),
        a.dest.display(),
        key_path(&a.dest).display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn check(db: &Db) -> CliResult {
    let core = open(db)?;
    let r = core.check()?;
    let head = head_log::witness(db, &core)?;
    let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
    println!("database structure: {}", mark(r.integrity_ok));
    println!(
        "audit chain:        {} ({} events){}",
        mark(r.audit_problem.is_none()),
        r.audit_events,
        r.audit_problem
            .as_ref()
            .map(|p| format!(": {p}"))
            .unwrap_or_default()
    );
    let log = log::path_for(db);
    let rolled_back = match &head {
        HeadComparison::Consistent { seq, .. } => {
            println!(
                "chain head vs log:  ok (event {seq}, recorded in {})",
                log.display()
            );
            false
        }
        HeadComparison::NoHead => {
            println!("chain head vs log:  not compared (the chain head does not verify)");
            false
        }
        HeadComparison::RolledBack { logged, seq } => {
            println!(
                "chain head vs log:  FAILED: the database looks rolled back to an older copy: {} says event {} was the newest at {}, the database's newest is event {seq}",
                log.display(),
                logged.seq,
                logged.time
            );
            true
        }
        HeadComparison::Diverged { logged, seq } => {
            println!(
                "chain head vs log:  FAILED: the database's event {} is not the one {} recorded at {} (the database's newest is event {seq}): it looks replaced by another copy",
                logged.seq,
                log.display(),
                logged.time
            );
            true
        }
    };
    println!(
        "users:              {} ({} users)",
        mark(r.index_problems.is_empty()),
        r.users
    );
    for p in &r.index_problems {
        println!("  {p}");
    }
    println!(
        "sealed secrets:     {} ({} checked)",
        mark(r.secret_problems.is_empty()),
        r.secrets_checked
    );
    for p in &r.secret_problems {
        println!("  {p}");
    }
    if r.ok() && !rolled_back {
        println!("All checks passed.");
        return Ok(ExitCode::SUCCESS);
    }
    if rolled_back {
        eprintln!(
            "error: {} does not match the audit chain head recorded in {}: if you restored an older copy on purpose, move that log file aside and run `mfa-console check` again to start a new record; otherwise the database file was replaced: keep it aside for investigation and compare it with your backups",
            db.display(),
            log.display()
        );
    }
    if !r.ok() {
        eprintln!(
            "error: {} failed its check: restore it from a backup (mfa-console backup) or keep it aside for investigation",
            db.display()
        );
    }
    Ok(ExitCode::from(1))
}

pub fn rotate_key(db: &Db) -> CliResult {
    let mut core = open(db)?;
    let n = core.rotate_key(Actor::Operator)?;
    println!(
        "Re-encrypted {n} secret(s) under a new key file {}. Older backups need their own key file.",
        db.key_file().display()
    );
    Ok(ExitCode::SUCCESS)
}
