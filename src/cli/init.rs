use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::{CliResult, mailer_for, read_new_password};
use crate::core::{Core, NewUser};
use crate::store::{Role, key_path};

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

pub fn run(db: &Path, a: InitArgs) -> CliResult {
    if db.exists() {
        return Err(crate::store::StoreError::AlreadyExists(db.to_path_buf()).into());
    }
    let password = read_new_password(a.password_stdin, "Password for the first admin")?;
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
        mailer_for(db),
    )?;
    println!(
        "Created {} for {:?} with administrator {}.",
        db.display(),
        a.org.trim(),
        a.admin
    );
    println!(
        "Key file: {} (mode 0600). Back it up with the database: without it, authenticator secrets cannot be read.",
        key_path(db).display()
    );
    println!(
        "MFA is off until an admin turns a method on: mfa-console controls set authenticator on"
    );
    Ok(ExitCode::SUCCESS)
}
