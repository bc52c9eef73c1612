//! `mfa-console` with no command: the full-screen console, or `--demo`.

use crate::cli::Db;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CliError, CliResult, mailer_for};
use crate::core::{Core, CoreError};
use crate::mail::Outbox;
use crate::store::StoreError;

fn need_terminal() -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CliError::Message(
            "the console needs a terminal; for scripts use the subcommands (see --help)".into(),
        ));
    }
    Ok(())
}

pub fn run(db: &Db) -> CliResult {
    need_terminal()?;
    let mailer = mailer_for(db)?;
    let core = if db.may_exist() {
        match Core::open(db, Arc::clone(&mailer)) {
            Ok(core) => Some(Arc::new(core)),
            // An empty PostgreSQL database: the console's first-run setup creates the
            // organization in it.
            Err(CoreError::Store(StoreError::NotFound(_))) if db.is_postgres() => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    if let Some(core) = &core
        && let Err(e) = super::head_log::witness(db, core)
    {
        tracing::warn!("console: could not compare the audit chain head with the log: {e}");
    }
    crate::tui::run(db.into(), core, mailer, None, nas_rows(db))
        .map_err(|e| CliError::Message(format!("the terminal failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

pub fn demo(users: usize) -> CliResult {
    need_terminal()?;
    eprintln!("Building a demo organization of {users} users in a temporary folder…");
    let demo = crate::demo::build(users, &mut |step| eprintln!("  {step}"))?;
    eprintln!(
        "Demo ready: sign in as {} with the password {:?}. The demo organization is deleted when you quit (files you export stay where you wrote them). While it runs, its database is {} (to try PostgreSQL: `mfa-console --db {} store copy --to postgresql://…`).",
        crate::demo::ADMIN,
        crate::demo::PASSWORD,
        demo.db.display(),
        demo.db.display()
    );
    give_back_memory();
    super::log::start(&demo.db);
    let mailer: Arc<dyn crate::mail::Mailer> = Arc::new(Outbox::beside(&demo.db));
    let core = Arc::new(Core::open(&demo.db, Arc::clone(&mailer))?);
    let ran = crate::tui::run(
        demo.db.clone().into(),
        Some(core),
        mailer,
        Some((crate::demo::ADMIN.into(), crate::demo::PASSWORD.into())),
        Vec::new(),
    );
    // A large demo takes seconds to delete: say so (the terminal may be gone; then the
    // line goes nowhere).
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "Removing the demo organization…");
    }
    drop(demo);
    ran.map_err(|e| CliError::Message(format!("the terminal failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Building a large demo leaves freed memory with the allocator; hand it back before the
/// console starts, so the console runs as lean as on a real database.
#[allow(unsafe_code)]
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The RADIUS clients of config.toml, for the console's Clients pane (a config with
/// errors shows none; `mfa-console config check` says what is wrong).
fn nas_rows(db: &Db) -> Vec<crate::tui::app::NasRow> {
    super::load_config(db)
        .map(|c| {
            c.serve
                .radius_clients
                .iter()
                .map(|n| crate::tui::app::NasRow {
                    name: n.name.clone(),
                    mode: n.mode.as_str(),
                    address: n.network.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}
