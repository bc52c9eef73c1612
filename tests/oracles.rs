//! The outside-attacker suite (`suite/oracles.rs`) on a redb file in a temporary folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mfa_console::store::Location;

fn store_at(dir: &Path) -> Location {
    Location::File(dir.join("org.redb"))
}

#[path = "suite/oracles.rs"]
mod suite;
