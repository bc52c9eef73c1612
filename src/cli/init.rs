use crate::cli::Db;
use std::process::ExitCode;

use clap::Args;

use super::{CliResult, load_config, read_new_password};
use crate::config::Transport;
use crate::core::{Core, NewUser};
use crate::store::Role;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The organization's name (shown in authenticator apps as the issuer)
    #[arg(long, value_name = "NAME")]
    pub org: String,
    /// The first administrator's username
    #[arg(long, value_name = "USERNAME")]
    pub admin: String,
    /// The first administrator's email address
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// The first administrator's display name
    #[arg(long, value_name = "NAME", default_value = "")]
    pub name: String,
    /// Read the administrator's password from standard input instead of the terminal
    #[arg(long)]
    pub password_stdin: bool,
}

pub fn run(db: &Db, a: InitArgs) -> CliResult {
    if !db.is_postgres() && db.exists() {
        return Err(crate::store::StoreError::AlreadyExists(db.to_path_buf()).into());
    }
    let config = load_config(db)?;
    let mailer = config.mailer()?;
    let password = read_new_password(a.password_stdin, "Password for the first admin")?;
    let where_mail_goes = mailer.describe();
    Core::create(
        db,
        &a.org,
        NewUser {
            username: a.admin.clone(),
            email: a.email,
            name: a.name,
            role: Role::Admin,
            password: Some(password),
        },
        mailer,
    )?;
    println!(
        "Created {} for {:?} with administrator {}.",
        db.display(),
        a.org.trim(),
        a.admin
    );
    println!(
        "Key file: {} (mode 0600). Back it up with the database: without it, authenticator secrets cannot be read.",
        db.key_file().display()
    );
    println!(
        "MFA is off until an admin turns a method on: mfa-console controls set authenticator on"
    );
    match config.mail.transport {
        Transport::Outbox { .. } => println!(
            "Mail (codes and notices) goes to {where_mail_goes}; to send through an SMTP relay instead, write {} (README: \"Email delivery\") and run `mfa-console config check --send-test ADDRESS`.",
            config.file.display()
        ),
        Transport::Smtp(_) => println!("Mail (codes and notices) goes to {where_mail_goes}."),
    }
    Ok(ExitCode::SUCCESS)
}
