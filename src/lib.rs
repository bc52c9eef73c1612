//! mfa-console: multi-factor authentication for an organization, run on its own premises.

pub mod bounded;
pub mod cli;
pub mod config;
pub mod core;
pub mod demo;
pub mod mail;
pub mod random;
pub mod serve;
pub mod store;
pub mod text;
pub mod tui;
