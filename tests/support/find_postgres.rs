//! Build script: tells the tests whether PostgreSQL's server binaries are on this machine.
//! Without them (`cfg(no_postgres)`), the tests that start their own server are reported
//! ignored, with the reason, instead of passing without having run.

use std::path::Path;

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").exists() && dir.join("pg_ctl").exists()
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_postgres)");
    println!("cargo::rerun-if-changed=/usr/lib/postgresql");
    println!("cargo::rerun-if-env-changed=PATH");
    let packaged = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| has_server(&e.path().join("bin")));
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| has_server(&d)));
    if !packaged && !on_path {
        println!("cargo::rustc-cfg=no_postgres");
        println!(
            "cargo::warning=PostgreSQL's server binaries (initdb, pg_ctl) were not found: the PostgreSQL tests will be reported ignored"
        );
    }
}
