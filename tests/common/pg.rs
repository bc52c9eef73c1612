//! A PostgreSQL server of the tests' own: `initdb` and `pg_ctl` from the server packages,
//! in a temporary folder, on a free loopback port, as the `postgres` account when the tests
//! run as root (the server refuses to run as root). One server per test process, started
//! at the first use; a watcher stops it and removes its folder when the process ends.
//! Each test gets a database of its own on it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use mfa_console::store::{Location, PgLocation};

pub struct Server {
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub port: u16,
    pub socket_dir: PathBuf,
    as_postgres: bool,
}

/// The folder with `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/*/bin`, else
/// the one on `PATH`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort();
    if let Some(b) = found.pop() {
        return Some(b);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    // SAFETY-free: reading the effective user id through the id command keeps the tests
    // free of unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Server {
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Starts a new server with `settings` (`-c name=value` pairs) in a folder of its own.
    pub fn start(settings: &[&str]) -> Server {
        let bin = bin_dir().expect(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install postgresql (e.g. apt-get install postgresql-15)",
        );
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("mfa-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let socket_dir = dir.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(
                ok,
                "could not hand {} to the postgres account",
                dir.display()
            );
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let server = Server {
            dir,
            bin,
            port,
            socket_dir,
            as_postgres,
        };
        let data = server.dir.join("data");
        let out = server
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=400",
            server.socket_dir.display()
        );
        for s in settings {
            options.push_str(" -c ");
            options.push_str(s);
        }
        let out = server
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(server.dir.join("server.log"))
            .args(["-w", "-o", &options, "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
        );
        server.stop_with_this_process();
        server
    }

    /// Stops the server and removes its folder once this process has ended.
    fn stop_with_this_process(&self) {
        let stop = format!(
            "{} {}/pg_ctl -D {} -m immediate stop",
            if self.as_postgres {
                "runuser -u postgres --"
            } else {
                ""
            },
            self.bin.display(),
            self.dir.join("data").display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// Stops the server now (the folder stays, so it can start again).
    pub fn stop(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl stop failed");
    }

    /// Starts a stopped server again, on the same port.
    pub fn restart(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=400",
            self.port,
            self.socket_dir.display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-o", &options, "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start failed");
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database on this server; its name.
    pub fn new_database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        name
    }

    /// A location on a new, empty database, with its key file in `dir`.
    pub fn new_location(&self, dir: &Path) -> Location {
        let db = self.new_database();
        self.location(&db, dir)
    }

    pub fn location(&self, database: &str, dir: &Path) -> Location {
        Location::Postgres(Box::new(
            PgLocation::parse(&self.url(database), None, dir.join("mfa-console.key")).unwrap(),
        ))
    }
}

/// The test process's shared server (fast settings: nothing here needs to survive a
/// crash of the machine).
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        Server::start(&[
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ])
    })
}
