//! The security suite (`suite/security.rs`) on a redb file in a temporary folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mfa_console::store::Location;

fn store_at(dir: &Path) -> Location {
    Location::File(dir.join("mfa.redb"))
}

#[path = "suite/security.rs"]
mod suite;
