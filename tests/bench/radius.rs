//! `cargo bench --bench radius`: RADIUS code-only Access-Request → Access-Accept on
//! loopback, beside its floors in the same run. Prints one line per figure,
//! `name value unit`.
//!
//! - one empty durable redb commit (median) and the commit rate it allows;
//! - FreeRADIUS (Debian's `freeradius`) answering PAP from its `users` file on another
//!   port, started here in a temporary folder with its own config: serial round trip and
//!   16 outstanding requests. When `freeradius` is not installed, that part says so and
//!   is skipped;
//! - ours, `mfa-console serve --radius-listen`, a code-only client: serial round trip
//!   (median, p99) and 16 outstanding requests (per second), each a fresh code, each
//!   answer durable before it is sent;
//! - the targets as ratios: serial ≤ FreeRADIUS + 1.5 × one durable commit, and
//!   with 16 outstanding ≥ the durable-commit rate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_console::core::{Actor, Core, NewUser, PendingAuthenticator};
use mfa_console::mail::Outbox;
use mfa_console::serve::radius::packet::{self, Packet, attr};
use mfa_console::store::{Method, Role};
use zeroize::Zeroizing;

#[path = "stats.rs"]
mod stats;
use stats::{figure, median, ms, now, p99};

const SECRET: &str = "bench-radius-shared-secret-1";
const ADMIN_PASSWORD: &str = "granite harbor lamp 77";
const FREERADIUS_PASSWORD: &str = "pap-password-of-alice";
const SERIAL: usize = 300;
const OUTSTANDING: usize = 16;
const PER_SENDER: usize = 60;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One NAS socket: sends a signed Access-Request, waits for its answer.
struct Sender {
    sock: UdpSocket,
    server: SocketAddr,
    id: u8,
}

impl Sender {
    fn new(server: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            sock,
            server,
            id: 0,
        }
    }

    /// One round trip; the answer's code (its Response Authenticator checked).
    fn ask(&mut self, user: &str, password: &str) -> (u8, Duration) {
        self.id = self.id.wrapping_add(1);
        let mut ra = [0u8; 16];
        getrandom::fill(&mut ra).unwrap();
        let attrs = vec![
            (attr::USER_NAME, user.as_bytes().to_vec()),
            (
                attr::USER_PASSWORD,
                packet::hide_password(password.as_bytes(), SECRET.as_bytes(), &ra),
            ),
            (attr::NAS_IP_ADDRESS, vec![127, 0, 0, 1]),
        ];
        let bytes = packet::encode_request(self.id, ra, attrs, SECRET.as_bytes(), true).unwrap();
        let t = Instant::now();
        self.sock.send_to(&bytes, self.server).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("an answer in time");
            let p = Packet::decode(&buf[..n]).unwrap();
            if p.identifier != self.id {
                continue;
            }
            let took = t.elapsed();
            assert!(p.response_authenticator_ok(&ra, SECRET.as_bytes()));
            return (p.code, took);
        }
    }
}

/// A request to send: a user, and the password (a code computed when it is sent).
type Job = (String, Box<dyn Fn() -> String + Send>);

/// Serial round trips, then `OUTSTANDING` senders at once: (median, p99, per second).
fn measure(
    server: SocketAddr,
    serial: Vec<Job>,
    parallel: Vec<Vec<Job>>,
) -> (Duration, Duration, f64, usize) {
    let mut s = Sender::new(server);
    let mut times = Vec::new();
    let mut accepted = 0;
    for (user, password) in &serial {
        let (code, t) = s.ask(user, &password());
        times.push(t);
        accepted += usize::from(code == packet::ACCESS_ACCEPT);
    }
    let started = Instant::now();
    let handles: Vec<_> = parallel
        .into_iter()
        .map(|jobs| {
            std::thread::spawn(move || {
                let mut s = Sender::new(server);
                let mut ok = 0;
                for (user, password) in &jobs {
                    let (code, _) = s.ask(user, &password());
                    ok += usize::from(code == packet::ACCESS_ACCEPT);
                }
                (jobs.len(), ok)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        let (n, ok) = h.join().unwrap();
        total += n;
        accepted += ok;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    (median(times.clone()), p99(times), rate, accepted)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "# cores {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    // --- one durable commit ---
    let floor = {
        const T: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("t");
        let db = redb::Database::create(dir.path().join("floor.redb")).unwrap();
        let mut times = Vec::new();
        for _ in 0..300 {
            let t = Instant::now();
            let w = db.begin_write().unwrap();
            w.open_table(T).unwrap();
            w.commit().unwrap();
            times.push(t.elapsed());
        }
        median(times)
    };
    let commit_rate = 1.0 / floor.as_secs_f64();
    figure("redb_empty_durable_commit_median", ms(floor), "ms");
    figure(
        "redb_durable_commits_per_s",
        format!("{commit_rate:.0}"),
        "1/s",
    );

    // --- FreeRADIUS, PAP from its users file ---
    let free = freeradius(dir.path()).map(|(child, addr)| {
        let pw = || Box::new(|| FREERADIUS_PASSWORD.to_string()) as Box<dyn Fn() -> String + Send>;
        let serial = (0..SERIAL).map(|_| ("alice".to_string(), pw())).collect();
        let parallel = (0..OUTSTANDING)
            .map(|_| {
                (0..PER_SENDER * 4)
                    .map(|_| ("alice".to_string(), pw()))
                    .collect()
            })
            .collect();
        let (m, p, rate, ok) = measure(addr, serial, parallel);
        assert_eq!(
            ok,
            SERIAL + OUTSTANDING * PER_SENDER * 4,
            "FreeRADIUS accepts"
        );
        drop(child);
        figure("freeradius_pap_serial_median", ms(m), "ms");
        figure("freeradius_pap_serial_p99", ms(p), "ms");
        figure(
            "freeradius_pap_16_outstanding_per_s",
            format!("{rate:.0}"),
            "1/s",
        );
        m
    });

    // --- ours ---
    let db = dir.path().join("org.redb");
    let core = Core::create(
        &db,
        "Bench Corp",
        NewUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password: Some(Zeroizing::new(ADMIN_PASSWORD.into())),
        },
        Arc::new(Outbox::new(
            dir.path().join("outbox"),
            "MFA <mfa@localhost>",
        )),
    )
    .unwrap();
    core.set_method(Actor::Operator, Method::Authenticator, true, false)
        .unwrap();
    let users: Vec<(String, Arc<PendingAuthenticator>)> = (0..SERIAL + OUTSTANDING * PER_SENDER)
        .map(|i| {
            let name = format!("u{i}");
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
            // The previous step's code, so the current one is still fresh.
            core.confirm_authenticator(Actor::Operator, &p, &p.code_at(now() - 30).unwrap())
                .unwrap();
            (name, Arc::new(p))
        })
        .collect();
    // What one verification's durable write costs here: our store's empty write (its
    // writer lock file, then an empty commit in redb's multi-writer mode).
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        core.store()
            .write(|_| Ok::<_, mfa_console::store::StoreError>(()))
            .unwrap();
        times.push(t.elapsed());
    }
    figure("store_empty_durable_write_median", ms(median(times)), "ms");
    drop(core);
    let secret = dir.path().join("nas.secret");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[serve]\n[[serve.radius_client]]\nname = \"bench\"\naddress = \"127.0.0.1\"\nsecret_file = \"{}\"\nmode = \"code-only\"\n",
            secret.display()
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let _svc = Killed(
        Command::new(env!("CARGO_BIN_EXE_mfa-console"))
            .args(["--db", db.to_str().unwrap(), "serve", "--no-socket"])
            .args(["--radius-listen", &addr.to_string()])
            .env_remove("MFA_CONSOLE_DB")
            .env_remove("MFA_CONSOLE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_answering(addr, "nobody", "000000");
    let job = |(name, p): &(String, Arc<PendingAuthenticator>)| {
        let p = Arc::clone(p);
        (
            name.clone(),
            Box::new(move || p.code_at(now()).unwrap()) as Box<dyn Fn() -> String + Send>,
        )
    };
    let serial = users[..SERIAL].iter().map(job).collect();
    let parallel = users[SERIAL..]
        .chunks(PER_SENDER)
        .map(|c| c.iter().map(job).collect())
        .collect();
    let (m, p, rate, ok) = measure(addr, serial, parallel);
    assert!(
        ok >= users.len() * 95 / 100,
        "{ok} of {} accepted",
        users.len()
    );
    figure("ours_code_only_serial_median", ms(m), "ms");
    figure("ours_code_only_serial_p99", ms(p), "ms");
    figure(
        "ours_code_only_16_outstanding_per_s",
        format!("{rate:.0}"),
        "1/s",
    );
    figure(
        "ours_16_outstanding_over_commit_rate",
        format!("{:.2}", rate / commit_rate),
        "x (target >= 1)",
    );
    match free {
        Some(f) => {
            let target = f + floor.mul_f64(1.5);
            figure(
                "serial_target_freeradius_plus_1_5_commits",
                ms(target),
                "ms",
            );
            figure(
                "ours_serial_over_target",
                format!("{:.2}", m.as_secs_f64() / target.as_secs_f64()),
                "x (target <= 1)",
            );
        }
        None => println!("# the serial target (FreeRADIUS + 1.5 commits) needs FreeRADIUS"),
    }
}

/// Waits until the service answers on `addr`.
fn wait_answering(addr: SocketAddr, user: &str, password: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut s = Sender::new(addr);
    s.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    loop {
        assert!(Instant::now() < deadline, "no RADIUS answer on {addr}");
        s.id = s.id.wrapping_add(1);
        let mut ra = [0u8; 16];
        getrandom::fill(&mut ra).unwrap();
        let attrs = vec![
            (attr::USER_NAME, user.as_bytes().to_vec()),
            (
                attr::USER_PASSWORD,
                packet::hide_password(password.as_bytes(), SECRET.as_bytes(), &ra),
            ),
        ];
        let b = packet::encode_request(s.id, ra, attrs, SECRET.as_bytes(), true).unwrap();
        s.sock.send_to(&b, addr).unwrap();
        let mut buf = [0u8; 4096];
        if s.sock.recv_from(&mut buf).is_ok() {
            return;
        }
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// FreeRADIUS in `dir/freeradius` with Debian's config, changed: one site answering
/// PAP on a free loopback port from the `users` file, one client (127.0.0.1, this
/// secret, Message-Authenticator required), no EAP, logs and pid file in the folder,
/// and no switch to the freerad account (the folder is this account's).
fn freeradius(dir: &Path) -> Option<(Killed, SocketAddr)> {
    let exe = ["/usr/sbin/freeradius", "/usr/sbin/radiusd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let (Some(exe), true) = (exe, Path::new("/etc/freeradius/3.0").is_dir()) else {
        println!(
            "# FreeRADIUS comparison skipped: freeradius is not installed (apt-get install freeradius)"
        );
        return None;
    };
    let d = dir.join("freeradius");
    let ok = Command::new("cp")
        .args(["-a", "/etc/freeradius/3.0"])
        .arg(&d)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "# FreeRADIUS comparison skipped: /etc/freeradius/3.0 cannot be copied (run as root)"
        );
        return None;
    }
    let conf = d.join("radiusd.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("user = freerad") || t.starts_with("group = freerad") {
                format!("#{l}")
            } else if t.starts_with("run_dir = ") {
                format!("run_dir = {}/run", d.display())
            } else if t.starts_with("logdir = ") {
                format!("logdir = {}/log", d.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&conf, text).unwrap();
    std::fs::create_dir_all(d.join("run")).unwrap();
    std::fs::create_dir_all(d.join("log")).unwrap();
    for e in std::fs::read_dir(d.join("sites-enabled")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let _ = std::fs::remove_file(d.join("mods-enabled/eap"));
    let port = free_udp_port();
    std::fs::write(
        d.join("sites-enabled/bench"),
        format!(
            "server bench {{\n listen {{\n  type = auth\n  ipaddr = 127.0.0.1\n  port = {port}\n }}\n authorize {{\n  files\n  pap\n }}\n authenticate {{\n  Auth-Type PAP {{\n   pap\n  }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("clients.conf"),
        format!(
            "client bench {{\n ipaddr = 127.0.0.1\n secret = {SECRET}\n require_message_authenticator = yes\n}}\n"
        ),
    )
    .unwrap();
    let users = d.join("mods-config/files/authorize");
    let rest = std::fs::read_to_string(&users).unwrap_or_default();
    std::fs::write(
        &users,
        format!("alice Cleartext-Password := \"{FREERADIUS_PASSWORD}\"\n{rest}"),
    )
    .unwrap();
    let child = Killed(
        Command::new(exe)
            .args(["-f", "-l", "stdout", "-d"])
            .arg(&d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_answering(addr, "alice", FREERADIUS_PASSWORD);
    Some((child, addr))
}
