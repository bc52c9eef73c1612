//! `cargo bench --bench serve`: the authentication service measured beside its floors and
//! peers, in one run, on this machine. Prints one line per figure, `name value unit`.
//!
//! - code-only through the Unix socket, one client: median and p99, beside one empty
//!   durable redb commit (the floor);
//! - code-only over HTTP, 16 clients at once: verifications per second and p99, beside the
//!   durable-commit rate;
//! - password-and-code over HTTP, 16 clients: verifications per second, beside
//!   cores ÷ one argon2id hash;
//! - `pamtester` with our module beside `pamtester` with google-authenticator-libpam
//!   (`disallow_reuse`), when pamtester, the Debian package libpam-google-authenticator
//!   and root (to write /etc/pam.d) are there; otherwise that part says why it is skipped;
//! - the service's resident memory idle and after the load.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_console::core::{Actor, Core, NewUser, PendingAuthenticator, password};
use mfa_console::mail::Outbox;
use mfa_console::store::{ClientMode, Method, Role};
use zeroize::Zeroizing;

#[path = "stats.rs"]
mod stats;
use stats::{figure, median, ms, now, p99};

const PASSWORD: &str = "granite harbor lamp 77";
const SOCKET_USERS: usize = 400;
const HTTP_CLIENTS: usize = 16;
const HTTP_PER_CLIENT: usize = 100;
const PAC_USERS: usize = 96;
const PAM_RUNS: usize = 40;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mfa-console"))
}

struct Org {
    db: PathBuf,
    core: Core,
}

fn org(dir: &Path) -> Org {
    let db = dir.join("org.redb");
    let core = Core::create(
        &db,
        "Bench Corp",
        NewUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password: Some(Zeroizing::new(PASSWORD.into())),
        },
        Arc::new(Outbox::new(dir.join("outbox"), "MFA <mfa@localhost>")),
    )
    .unwrap();
    core.set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    Org { db, core }
}

/// Adds `n` users named `{prefix}{i}` with an authenticator each; the pending enrollments
/// compute their codes.
fn enrolled(
    o: &Org,
    prefix: &str,
    n: usize,
    with_password: bool,
) -> Vec<(String, PendingAuthenticator)> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}");
            o.core
                .add_user(
                    Actor::Operator,
                    NewUser {
                        username: name.clone(),
                        email: format!("{name}@example.com"),
                        name: String::new(),
                        role: Role::Member,
                        password: with_password.then(|| Zeroizing::new(PASSWORD.to_string())),
                    },
                )
                .unwrap();
            let p = o
                .core
                .begin_authenticator(Actor::Operator, &name, Some("phone"), None)
                .unwrap();
            // The previous step's code, so the current one is still fresh.
            o.core
                .confirm_authenticator(Actor::Operator, &p, &p.code_at(now() - 30).unwrap())
                .unwrap();
            (name, p)
        })
        .collect()
}

struct Service {
    child: Child,
    socket: PathBuf,
    port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(db: &Path) -> Service {
    let socket = db.with_file_name("verify.sock");
    let port = free_port();
    let child = Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "serve", "--socket"])
        .arg(&socket)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("MFA_CONSOLE_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = Service {
        child,
        socket,
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&s.socket).is_err()
        || TcpStream::connect(("127.0.0.1", port)).is_err()
    {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The floor: one empty durable commit of redb on this disk.
fn durable_commit_floor(dir: &Path) -> (Duration, Vec<Duration>) {
    empty_commits(redb::Database::create(dir.join("floor.redb")).unwrap())
}

/// The same in redb's multi-writer mode, which lets every process keep the file open.
fn multi_writer_floor(dir: &Path) -> Duration {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    median(empty_commits(b.create(dir.join("floor-mw.redb")).unwrap()).1)
}

fn empty_commits(db: redb::Database) -> (Duration, Vec<Duration>) {
    const T: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("t");
    let w = db.begin_write().unwrap();
    w.open_table(T).unwrap();
    w.commit().unwrap();
    let mut times = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let w = db.begin_write().unwrap();
        w.open_table(T).unwrap();
        w.commit().unwrap();
        times.push(t.elapsed());
    }
    (median(times.clone()), times)
}

fn six_table_commit(dir: &Path) -> Duration {
    let db = redb::Database::create(dir.join("six.redb")).unwrap();
    const T: [redb::TableDefinition<u64, &[u8]>; 6] = [
        redb::TableDefinition::new("a"),
        redb::TableDefinition::new("b"),
        redb::TableDefinition::new("c"),
        redb::TableDefinition::new("d"),
        redb::TableDefinition::new("e"),
        redb::TableDefinition::new("f"),
    ];
    let mut times = Vec::new();
    for i in 0..300u64 {
        let t = Instant::now();
        let w = db.begin_write().unwrap();
        for def in T {
            w.open_table(def)
                .unwrap()
                .insert(i % 50, [7u8; 300].as_slice())
                .unwrap();
        }
        w.commit().unwrap();
        times.push(t.elapsed());
    }
    median(times)
}

/// A keep-alive HTTP/1.1 client, enough for this bench.
struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Self {
            stream: BufReader::new(s),
        }
    }

    fn post(&mut self, key: &str, body: &str) -> (u16, String) {
        let req = format!(
            "POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(req.as_bytes()).unwrap();
        let mut status = String::new();
        self.stream.read_line(&mut status).unwrap();
        let code: u16 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            self.stream.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut b = vec![0; len];
        self.stream.read_exact(&mut b).unwrap();
        (code, String::from_utf8(b).unwrap())
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Runs `per` requests on each of `clients` threads; returns (wall time, every latency).
fn http_load(port: u16, key: &str, jobs: Vec<Vec<String>>) -> (Duration, Vec<Duration>, usize) {
    let started = Instant::now();
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|bodies| {
            let key = key.to_string();
            std::thread::spawn(move || {
                let mut c = Http::connect(port);
                let mut times = Vec::new();
                let mut accepted = 0;
                for b in bodies {
                    let t = Instant::now();
                    let (code, _) = c.post(&key, &b);
                    times.push(t.elapsed());
                    if code == 200 {
                        accepted += 1;
                    }
                }
                (times, accepted)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut accepted = 0;
    for h in handles {
        let (t, a) = h.join().unwrap();
        all.extend(t);
        accepted += a;
    }
    (started.elapsed(), all, accepted)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("# cores {cores}");

    // --- floors ---
    let (floor, floor_all) = durable_commit_floor(dir.path());
    figure("redb_empty_durable_commit_median", ms(floor), "ms");
    figure("redb_empty_durable_commit_p99", ms(p99(floor_all)), "ms");
    figure(
        "redb_multi_writer_empty_commit_median",
        ms(multi_writer_floor(dir.path())),
        "ms",
    );
    let commit_rate = 1.0 / floor.as_secs_f64();
    figure(
        "redb_durable_commits_per_s",
        format!("{commit_rate:.0}"),
        "1/s",
    );
    let phc = password::hash(PASSWORD).unwrap();
    let mut hashes = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        assert!(password::verify(PASSWORD, &phc));
        hashes.push(t.elapsed());
    }
    let argon = median(hashes);
    figure("argon2id_verify_median", ms(argon), "ms");
    let argon_rate = cores as f64 / argon.as_secs_f64();
    figure(
        "argon2id_cores_over_one_hash",
        format!("{argon_rate:.1}"),
        "1/s",
    );

    // --- the organization ---
    let o = org(dir.path());
    let socket_users = enrolled(&o, "s", SOCKET_USERS, false);
    let http_users = enrolled(&o, "h", HTTP_CLIENTS * HTTP_PER_CLIENT, false);
    let pac_users = enrolled(&o, "p", PAC_USERS, true);
    let pam_users = enrolled(&o, "m", PAM_RUNS, false);
    let (_, co_key) = o
        .core
        .add_client(Actor::Operator, "bench-co", ClientMode::CodeOnly)
        .unwrap();
    let (_, pac_key) = o
        .core
        .add_client(Actor::Operator, "bench-pac", ClientMode::PasswordAndCode)
        .unwrap();
    // Our store's own empty write: the writer lock file, then an empty durable commit.
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        o.core
            .store()
            .write(|_| Ok::<_, mfa_console::store::StoreError>(()))
            .unwrap();
        times.push(t.elapsed());
    }
    figure("store_empty_write_median", ms(median(times)), "ms");
    // redb with one row changed in six tables, as a verification changes.
    figure(
        "redb_six_table_commit_median",
        ms(six_table_commit(dir.path())),
        "ms",
    );
    // The same verification in this process, without the service around it.
    let inproc = enrolled(&o, "i", 200, false);
    let caller = mfa_console::core::Caller::Local {
        label: "bench".into(),
        mode: ClientMode::CodeOnly,
    };
    let mut times = Vec::new();
    for (name, p) in &inproc {
        let req = mfa_console::core::ServiceRequest {
            username: name.clone(),
            code: Some(Zeroizing::new(p.code_at(now()).unwrap())),
            ..Default::default()
        };
        let t = Instant::now();
        let a = o.core.service_verify(&caller, &req).unwrap();
        times.push(t.elapsed());
        assert!(
            matches!(a, mfa_console::core::ServiceAnswer::Accepted { .. }),
            "{a:?}"
        );
    }
    let core_median = median(times.clone());
    figure("core_code_only_in_process_median", ms(core_median), "ms");
    figure("core_code_only_in_process_p99", ms(p99(times)), "ms");
    let db = o.db.clone();
    drop(o);
    let svc = start(&db);
    std::thread::sleep(Duration::from_millis(500));
    let pid = svc.child.id();
    figure(
        "serve_rss_idle",
        format!("{:.1}", rss_kib(pid, "VmRSS:") as f64 / 1024.0),
        "MiB",
    );

    // --- code-only through the socket, one client ---
    let mut sock = BufReader::new(UnixStream::connect(&svc.socket).unwrap());
    let mut times = Vec::new();
    let mut accepted = 0;
    for (name, p) in &socket_users {
        let code = p.code_at(now()).unwrap();
        let line = format!(
            "{{\"op\":\"verify\",\"mode\":\"code-only\",\"username\":{},\"code\":\"{code}\"}}\n",
            json_str(name)
        );
        let t = Instant::now();
        sock.get_mut().write_all(line.as_bytes()).unwrap();
        let mut answer = String::new();
        sock.read_line(&mut answer).unwrap();
        times.push(t.elapsed());
        if answer.contains("\"accepted\"") {
            accepted += 1;
        }
    }
    assert_eq!(accepted, socket_users.len(), "every fresh code is accepted");
    let socket_median = median(times.clone());
    figure("socket_code_only_median", ms(socket_median), "ms");
    figure("socket_code_only_p99", ms(p99(times)), "ms");
    figure(
        "socket_code_only_median_over_floor",
        format!("{:.2}", socket_median.as_secs_f64() / floor.as_secs_f64()),
        "x",
    );

    // --- code-only over HTTP, 16 clients ---
    let jobs: Vec<Vec<String>> = http_users
        .chunks(HTTP_PER_CLIENT)
        .map(|chunk| {
            chunk
                .iter()
                .map(|(name, p)| {
                    format!(
                        "{{\"username\":{},\"code\":\"{}\"}}",
                        json_str(name),
                        p.code_at(now()).unwrap()
                    )
                })
                .collect()
        })
        .collect();
    let (wall, lat, ok) = http_load(svc.port, &co_key, jobs);
    assert!(ok >= lat.len() * 95 / 100, "{ok} of {} accepted", lat.len());
    let rate = lat.len() as f64 / wall.as_secs_f64();
    figure("http16_code_only_per_s", format!("{rate:.0}"), "1/s");
    figure("http16_code_only_p99", ms(p99(lat.clone())), "ms");
    figure("http16_code_only_median", ms(median(lat)), "ms");
    figure(
        "http16_code_only_over_commit_rate",
        format!("{:.2}", rate / commit_rate),
        "x",
    );
    figure(
        "http16_code_only_over_privacyidea_26_per_s",
        format!("{:.0}", rate / 26.0),
        "x",
    );

    // --- password-and-code over HTTP, 16 clients ---
    let jobs: Vec<Vec<String>> = pac_users
        .chunks(PAC_USERS.div_ceil(HTTP_CLIENTS))
        .map(|chunk| {
            chunk
                .iter()
                .map(|(name, p)| {
                    format!(
                        "{{\"username\":{},\"password\":{},\"code\":\"{}\"}}",
                        json_str(name),
                        json_str(PASSWORD),
                        p.code_at(now()).unwrap()
                    )
                })
                .collect()
        })
        .collect();
    let (wall, lat, ok) = http_load(svc.port, &pac_key, jobs);
    assert!(ok >= lat.len() * 95 / 100, "{ok} of {} accepted", lat.len());
    let rate = lat.len() as f64 / wall.as_secs_f64();
    figure(
        "http16_password_and_code_per_s",
        format!("{rate:.1}"),
        "1/s",
    );
    figure("http16_password_and_code_p99", ms(p99(lat)), "ms");
    figure(
        "http16_password_and_code_over_cores_per_hash",
        format!("{:.2}", rate / argon_rate),
        "x",
    );
    figure(
        "serve_rss_peak",
        format!("{:.1}", rss_kib(pid, "VmHWM:") as f64 / 1024.0),
        "MiB",
    );
    figure(
        "serve_rss_after_load",
        format!("{:.1}", rss_kib(pid, "VmRSS:") as f64 / 1024.0),
        "MiB",
    );

    // --- pamtester: our module beside google-authenticator-libpam ---
    pam_peer(&svc, &pam_users, dir.path());
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn module_path() -> Option<PathBuf> {
    let exe = bin();
    let dir = exe.parent()?;
    [
        dir.join("deps/libpam_mfa_console.so"),
        dir.join("libpam_mfa_console.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

fn ga_module() -> Option<PathBuf> {
    [
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/security",
    ]
    .iter()
    .map(|d| Path::new(d).join("pam_google_authenticator.so"))
    .find(|p| p.exists())
}

fn pamtester(service: &str, user: &str, code: &str) -> (bool, Duration) {
    let t = Instant::now();
    let mut child = Command::new("pamtester")
        .args([service, user, "authenticate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes())
        .unwrap();
    let ok = child.wait().unwrap().success();
    (ok, t.elapsed())
}

fn pam_peer(svc: &Service, users: &[(String, PendingAuthenticator)], dir: &Path) {
    let is_root = effective_uid() == 0;
    let (Some(ours), Some(ga)) = (module_path(), ga_module()) else {
        println!(
            "# pamtester comparison skipped: needs target/release/libpam_mfa_console.so (cargo build --release) and libpam-google-authenticator (apt-get install libpam-google-authenticator)"
        );
        return;
    };
    if !have("pamtester") || !is_root {
        println!(
            "# pamtester comparison skipped: needs pamtester (apt-get install pamtester) and root, to write /etc/pam.d"
        );
        return;
    }
    let ours_svc = "mfa-console-bench";
    let ga_svc = "mfa-console-bench-ga";
    std::fs::write(
        format!("/etc/pam.d/{ours_svc}"),
        format!(
            "auth required {} socket={} mode=code-only\naccount required pam_permit.so\n",
            ours.display(),
            svc.socket.display()
        ),
    )
    .unwrap();
    let ga_dir = dir.join("ga");
    std::fs::create_dir_all(&ga_dir).unwrap();
    std::fs::write(
        format!("/etc/pam.d/{ga_svc}"),
        format!(
            "auth required {} secret={}/${{USER}} user=root\naccount required pam_permit.so\n",
            ga.display(),
            ga_dir.display()
        ),
    )
    .unwrap();
    let mut ours_t = Vec::new();
    let mut ga_t = Vec::new();
    for (name, p) in users {
        // The same secret for both, one fresh code each.
        let secret = p.secret_grouped().replace(' ', "");
        let file = ga_dir.join(name);
        std::fs::write(
            &file,
            format!("{secret}\n\" TOTP_AUTH\n\" DISALLOW_REUSE\n\" WINDOW_SIZE 3\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        let code = p.code_at(now()).unwrap();
        let (ok, t) = pamtester(ours_svc, name, &code);
        assert!(ok, "our module refused a fresh code for {name}");
        ours_t.push(t);
        let (ok, t) = pamtester(ga_svc, name, &code);
        assert!(ok, "google-authenticator refused a fresh code for {name}");
        ga_t.push(t);
    }
    let _ = std::fs::remove_file(format!("/etc/pam.d/{ours_svc}"));
    let _ = std::fs::remove_file(format!("/etc/pam.d/{ga_svc}"));
    let ours_m = median(ours_t);
    let ga_m = median(ga_t);
    figure("pamtester_ours_median", ms(ours_m), "ms");
    figure("pamtester_google_authenticator_median", ms(ga_m), "ms");
    figure(
        "pamtester_ours_over_google_authenticator",
        format!("{:.2}", ours_m.as_secs_f64() / ga_m.as_secs_f64()),
        "x",
    );
}

/// The effective uid, read from /proc (no unsafe code in benches either).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u32::MAX)
}
