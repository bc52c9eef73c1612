//! The outside-attacker suite (`suite/oracles.rs`) on PostgreSQL: a server these tests
//! start (`common/pg.rs`), a new database for each test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(not(no_postgres))]
#[path = "common/pg.rs"]
mod pg;

#[cfg(not(no_postgres))]
fn store_at(dir: &std::path::Path) -> mfa_console::store::Location {
    pg::server().new_location(dir)
}

#[cfg(not(no_postgres))]
#[path = "suite/oracles.rs"]
mod suite;

#[cfg(no_postgres)]
#[test]
#[ignore = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install postgresql to run the outside-attacker suite on PostgreSQL"]
fn the_outside_attacker_suite_on_postgresql() {
    panic!(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install postgresql to run the outside-attacker suite on PostgreSQL"
    );
}
