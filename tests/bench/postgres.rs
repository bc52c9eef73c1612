//! `cargo bench --bench postgres`: the PostgreSQL store beside its floor, in one run, on a
//! server this bench starts (durable settings: fsync on). Prints `name value unit` lines.
//!
//! - code-only verification over HTTP across two `serve` nodes on one database, 16
//!   clients at once: verifications per second and p99, beside `pgbench` running a one-row
//!   UPDATE with 16 clients on the same server (the database's own floor), as a ratio;
//! - `store copy` of a 100k-user file database into PostgreSQL, then `check` and `report`
//!   on both (they must be identical);
//! - the console at 100k users on PostgreSQL: first frame and keystrokes.
//!
//! `PG_BENCH_USERS=10000` sets another size for the last two (0 leaves them out).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_console::core::{Actor, Core, ManualClock, NewUser, PendingAuthenticator};
use mfa_console::mail::Outbox;
use mfa_console::store::{ClientMode, Location, Method, Role};
use zeroize::Zeroizing;

#[path = "../common/pg.rs"]
mod pg;
#[path = "scale.rs"]
mod scale;
use scale::stats::{figure, median, ms, now, p99};

const PASSWORD: &str = "granite harbor lamp 77";
const CLIENTS: usize = 16;
const PER_CLIENT: usize = 100;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mfa-console"))
}

struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node(url: &str, dir: &Path, name: &str) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin())
        .args(["--db", url, "--config"])
        .arg(dir.join("config.toml"))
        .args(["serve", "--socket"])
        .arg(dir.join(format!("{name}.sock")))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("MFA_CONSOLE_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Node { child, port }
}

fn post(stream: &mut BufReader<TcpStream>, key: &str, body: &str) -> u16 {
    let req = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(req.as_bytes()).unwrap();
    let mut status = String::new();
    stream.read_line(&mut status).unwrap();
    let code: u16 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).unwrap();
        if h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut b = vec![0; len];
    stream.read_exact(&mut b).unwrap();
    code
}

/// `pgbench` with 16 clients, each running `UPDATE floor SET n = n + 1 WHERE id = 1` for
/// `seconds`: (transactions per second, average latency in ms).
fn pgbench(server: &pg::Server, database: &str, dir: &Path, seconds: u32) -> (f64, f64) {
    let mut admin = postgres::Client::connect(&server.url(database), postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE TABLE floor (id integer PRIMARY KEY, n bigint NOT NULL); INSERT INTO floor VALUES (1, 0);",
        )
        .unwrap();
    let script = dir.join("floor.sql");
    std::fs::write(&script, "UPDATE floor SET n = n + 1 WHERE id = 1;\n").unwrap();
    let out = Command::new(server.bin.join("pgbench"))
        .args(["-n", "-c", &CLIENTS.to_string(), "-j", "2", "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&script)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "postgres",
        ])
        .arg(database)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "pgbench: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let number_after = |label: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in pgbench's output: {text}"))
    };
    (number_after("tps"), number_after("latency average"))
}

fn enrolled(core: &Core, n: usize) -> Vec<(String, PendingAuthenticator)> {
    (0..n)
        .map(|i| {
            let name = format!("h{i}");
            core.add_user(
                Actor::Operator,
                NewUser {
                    username: name.clone(),
                    email: format!("{name}@example.com"),
                    name: String::new(),
                    role: Role::Member,
                    password: None,
                },
            )
            .unwrap();
            let p = core
                .begin_authenticator(Actor::Operator, &name, Some("phone"), None)
                .unwrap();
            core.confirm_authenticator(Actor::Operator, &p, &p.code_at(now() - 30).unwrap())
                .unwrap();
            (name, p)
        })
        .collect()
}

fn two_nodes_beside_pgbench(server: &pg::Server) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let database = server.new_database();
    let location = server.location(&database, dir.path());
    let core = Core::create(
        &location,
        "Bench Corp",
        NewUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password: Some(Zeroizing::new(PASSWORD.into())),
        },
        Arc::new(Outbox::new(
            dir.path().join("outbox"),
            "MFA <mfa@localhost>",
        )),
    )
    .unwrap();
    core.set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    let users = enrolled(&core, CLIENTS * PER_CLIENT);
    let (_, key) = core
        .add_client(Actor::Operator, "bench-co", ClientMode::CodeOnly)
        .unwrap();
    let key = key.to_string();
    drop(core);

    let floor_db = server.new_database();
    let (tps, latency) = pgbench(server, &floor_db, dir.path(), 10);
    figure("pgbench16_one_row_update_per_s", format!("{tps:.0}"), "1/s");
    figure(
        "pgbench16_one_row_update_latency_avg",
        format!("{latency:.2}"),
        "ms",
    );

    let url = server.url(&database);
    let a = node(&url, dir.path(), "a");
    let b = node(&url, dir.path(), "b");
    let ports = [a.port, b.port];
    let mut stats = postgres::Client::connect(&server.url(&database), postgres::NoTls).unwrap();
    let commits = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0)
    };
    let generation = |c: &mut postgres::Client| -> u64 {
        let v: Vec<u8> = c
            .query_one("SELECT value FROM meta WHERE key = 'generation'", &[])
            .unwrap()
            .get(0);
        u64::from_le_bytes(v.try_into().unwrap())
    };
    let commits_before = commits(&mut stats);
    let writes_before = generation(&mut stats);
    let started = Instant::now();
    let handles: Vec<_> = users
        .chunks(PER_CLIENT)
        .enumerate()
        .map(|(i, chunk)| {
            let bodies: Vec<String> = chunk
                .iter()
                .map(|(name, p)| {
                    format!(
                        "{{\"username\":{},\"code\":\"{}\"}}",
                        serde_json::to_string(name).unwrap(),
                        p.code_at(now()).unwrap()
                    )
                })
                .collect();
            let (port, key) = (ports[i % 2], key.clone());
            std::thread::spawn(move || {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                let mut s = BufReader::new(s);
                let mut times = Vec::new();
                let mut accepted = 0;
                for body in bodies {
                    let t = Instant::now();
                    if post(&mut s, &key, &body) == 200 {
                        accepted += 1;
                    }
                    times.push(t.elapsed());
                }
                (times, accepted)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut accepted = 0;
    for h in handles {
        let (t, n) = h.join().unwrap();
        all.extend(t);
        accepted += n;
    }
    let wall = started.elapsed();
    // The statistics collector publishes counts about once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = stats.batch_execute("SELECT pg_stat_clear_snapshot()");
    let transactions = commits(&mut stats) - commits_before;
    let writes = generation(&mut stats) - writes_before;
    figure(
        "two_nodes_verifications_per_write",
        format!("{:.2}", all.len() as f64 / writes.max(1) as f64),
        "",
    );
    figure(
        "two_nodes_transactions_per_verification",
        format!("{:.2}", transactions as f64 / all.len() as f64),
        "",
    );
    assert!(
        accepted >= all.len() * 95 / 100,
        "{accepted} of {} accepted",
        all.len()
    );
    let rate = all.len() as f64 / wall.as_secs_f64();
    figure(
        "two_nodes_http16_code_only_per_s",
        format!("{rate:.0}"),
        "1/s",
    );
    figure("two_nodes_http16_code_only_p99", ms(p99(all.clone())), "ms");
    figure("two_nodes_http16_code_only_median", ms(median(all)), "ms");
    figure(
        "two_nodes_http16_code_only_over_pgbench",
        format!("{:.2}", rate / tps),
        "x",
    );
}

fn cli(args: &[&str], config: &Path) -> String {
    let out = Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("MFA_CONSOLE_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mfa-console {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `check` says, without the line naming where its log is.
fn check_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("chain head vs log"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn copy_and_console(server: &pg::Server, size: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let clock = ManualClock::new(chrono::Utc::now().timestamp());
    let (core, _, _) = scale::build(dir.path(), size, &clock);
    drop(core);
    let file = dir.path().join("org.redb");
    let file = file.to_str().unwrap();
    let database = server.new_database();
    let url = server.url(&database);
    let t = Instant::now();
    cli(&["--db", file, "store", "copy", "--to", &url], &config);
    figure(
        &format!("store_copy_file_to_postgres@{size}"),
        ms(t.elapsed()),
        "ms",
    );
    let same_report = cli(&["--db", file, "report", "--format", "csv"], &config)
        == cli(&["--db", &url, "report", "--format", "csv"], &config);
    let same_check = check_lines(&cli(&["--db", file, "check"], &config))
        == check_lines(&cli(&["--db", &url, "check"], &config));
    assert!(same_report, "report differs between the file and its copy");
    assert!(same_check, "check differs between the file and its copy");
    figure(
        &format!("store_copy_report_and_check_identical@{size}"),
        "yes".into(),
        "",
    );
    let location: Location = server.location(&database, dir.path());
    scale::console_figures(size, &location, dir.path());
}

fn main() {
    if pg::bin_dir().is_none() {
        println!(
            "# skipped: PostgreSQL's server binaries (initdb, pg_ctl, pgbench) are not installed"
        );
        return;
    }
    let size: usize = std::env::var("PG_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // Durable, as a real server: fsync and synchronous commit on.
    let server = pg::Server::start(&["shared_buffers=256MB"]);
    println!("# PostgreSQL on 127.0.0.1:{}", server.port);
    two_nodes_beside_pgbench(&server);
    if size > 0 {
        copy_and_console(&server, size);
    }
    server.stop();
}
