use crate::cli::Db;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::{CliResult, open, print_json};
use crate::core::controls::{PolicyKey, method_name, parse_method, totp_window_seconds};
use crate::core::{Actor, text};
use crate::store::Method;

#[derive(Subcommand, Debug)]
pub enum ControlsCommand {
    /// Show the methods and the policy
    Show {
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Turn a method on or off
    Set {
        #[arg(value_parser = ["email", "authenticator"])]
        method: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// When turning off: unregister every device and address enrolled for the method
        #[arg(long)]
        forget_all_devices: bool,
    },
    /// Change one policy value: enforcement, grace-days, lockout-threshold, lockout-minutes,
    /// email-code-minutes, trusted-device-days, totp-skew, enrollment-code-required
    Policy { key: String, value: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ShowFormat {
    Table,
    Json,
}

pub fn run(db: &Db, c: ControlsCommand) -> CliResult {
    let core = open(db)?;
    match c {
        ControlsCommand::Show { format } => {
            let org = core.security_controls(Actor::Operator)?;
            match format {
                ShowFormat::Json => {
                    let mut policy = serde_json::Map::new();
                    for k in PolicyKey::ALL {
                        policy.insert(k.name().into(), k.value(&org.policy).into());
                    }
                    print_json(&serde_json::json!({
                        "organization": org.name,
                        "mfa_enabled": org.controls.mfa_enabled(),
                        "methods": { "authenticator": org.controls.authenticator, "email": org.controls.email },
                        "policy": policy,
                        "totp_window_seconds": totp_window_seconds(org.policy.totp_skew),
                    }))?;
                }
                ShowFormat::Table => {
                    let onoff = |b: bool| if b { "on" } else { "off" };
                    println!("Organization:   {}", text::escape_control(&org.name));
                    println!(
                        "MFA:            {}",
                        if org.controls.mfa_enabled() {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    );
                    println!("authenticator:  {}", onoff(org.controls.authenticator));
                    println!("email:          {}", onoff(org.controls.email));
                    println!("\nPolicy:");
                    for k in PolicyKey::ALL {
                        let extra = if k == PolicyKey::TotpSkew {
                            format!(
                                "  (codes accepted within a {} s window)",
                                totp_window_seconds(org.policy.totp_skew)
                            )
                        } else {
                            String::new()
                        };
                        println!("  {:<26}{}{extra}", k.name(), k.value(&org.policy));
                    }
                }
            }
        }
        ControlsCommand::Set {
            method,
            state,
            forget_all_devices,
        } => {
            let m = parse_method(&method)?;
            let on = state == "on";
            if on && forget_all_devices {
                return Err(super::CliError::Message(
                    "--forget-all-devices only applies when turning a method off".into(),
                ));
            }
            if on {
                let candidates = core.integration_candidates(Actor::Operator)?;
                if !candidates.is_empty() {
                    eprintln!(
                        "Advisory: MFA can break integrations that sign in as a person. These accounts act like"
                    );
                    eprintln!("integrations; give each integration its own user with");
                    eprintln!(
                        "`mfa-console user set NAME --role integration` (integration users are never asked for a code):"
                    );
                    for u in candidates.iter().take(20) {
                        eprintln!(
                            "  {} ({})",
                            text::escape_control(&u.username),
                            crate::core::controls::candidate_reason(u)
                        );
                    }
                    if candidates.len() > 20 {
                        eprintln!("  … and {} more", candidates.len() - 20);
                    }
                }
                if m == Method::Email {
                    eprintln!(
                        "Note: email codes are weaker than an authenticator app (mailboxes are shared, forwarded and phished); prefer the authenticator where you can."
                    );
                }
            }
            let change = core.set_method(Actor::Operator, m, on, forget_all_devices)?;
            let name = method_name(m);
            if !change.changed {
                println!("The {name} method was already {state}.");
            } else {
                println!(
                    "The {name} method is now {state}. MFA is {} for the organization.",
                    if change.mfa_enabled {
                        "enabled"
                    } else {
                        "disabled"
                    }
                );
                if forget_all_devices {
                    println!(
                        "Forgot {} enrollment(s) and all trusted devices.",
                        change.forgotten_enrollments
                    );
                }
            }
        }
        ControlsCommand::Policy { key, value } => {
            let k = PolicyKey::parse(&key)?;
            let p = core.set_policy(Actor::Operator, k, &value)?;
            println!("{} is now {}.", k.name(), k.value(&p));
        }
    }
    Ok(ExitCode::SUCCESS)
}
