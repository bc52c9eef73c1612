//! `mfa-console serve`: the authentication service. It answers "is this code right for
//! this user?" for local PAM modules (a Unix socket, one JSON object per line), for
//! applications (an HTTP JSON API, TLS off loopback) and for VPN gateways, firewalls and
//! other network gear (RADIUS on UDP, `radius`), with the same decisions, lockout, replay
//! guard and audit log as the console and every subcommand.
//!
//! It runs in the foreground (systemd `Type=simple`). SIGTERM and SIGINT stop accepting,
//! finish the requests in flight and exit; SIGHUP re-reads the config file (mail
//! settings, the TLS certificate, limits, the RADIUS clients). API clients are looked up
//! in the database on every request, so `client add|rotate|remove` take effect at once.
//!
//! Every request runs on a bounded pool: at most `workers` verifications at once (a
//! password check takes 19 MiB), at most `queue` waiting; beyond that the answer is 503.

mod commit;
mod gate;
mod http;
pub mod proto;
pub mod radius;
mod socket;
mod tls;

use crate::cli::Db;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use crate::cli::{CliError, CliResult};
use crate::config::{Config, ServeConfig};
use crate::core::Core;

pub use gate::{BadKeys, Gate};

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// The Unix socket for local clients (the PAM module) [default: verify.sock beside the
    /// database; `[serve] socket`]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Do not open the Unix socket
    #[arg(long, conflicts_with = "socket")]
    pub no_socket: bool,
    /// The group that may use the socket (mode 0660) [`[serve] socket_group`]
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Answer HTTP on this address, e.g. 127.0.0.1:8420 (off by default; TLS required off
    /// loopback) [`[serve] listen`]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// The certificate chain (PEM) for HTTPS [`[serve] tls_cert`]
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for HTTPS [`[serve] tls_key`]
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Answer RADIUS (UDP) on this address, e.g. 127.0.0.1:1812 (off by default; the NAS
    /// are the `[[serve.radius_client]]` tables of the config) [`[serve] radius_listen`]
    #[arg(long, value_name = "ADDR:PORT")]
    pub radius_listen: Option<std::net::SocketAddr>,
    /// Verifications worked on at once [default: the number of cores + 1; `[serve] workers`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
}

/// What the service needs at hand for each request; replaced whole on SIGHUP.
pub struct Shared {
    core: RwLock<Arc<Core>>,
    pub gate: Gate,
    pub bad_keys: BadKeys,
    /// Writes verifications, several to a commit.
    committer: commit::Committer,
    /// The RADIUS clients, challenges and recent answers.
    pub radius: radius::Radius,
    /// This host's name, for the audit label of socket clients.
    host: String,
    db: Db,
}

impl Shared {
    pub fn core(&self) -> Arc<Core> {
        match self.core.read() {
            Ok(c) => Arc::clone(&c),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
    fn set_core(&self, core: Core) {
        match self.core.write() {
            Ok(mut c) => *c = Arc::new(core),
            Err(p) => *p.into_inner() = Arc::new(core),
        }
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// The settings in effect: the config file's `[serve]`, then the flags over it.
fn settings(db: &Db, config: &Config, a: &ServeArgs) -> Result<Settings, CliError> {
    let mut s: ServeConfig = config.serve.clone();
    if let Some(p) = &a.socket {
        s.socket = Some(p.clone());
    }
    if let Some(g) = &a.socket_group {
        s.socket_group = Some(g.clone());
    }
    if let Some(l) = a.listen {
        s.listen = Some(l);
    }
    if let (Some(c), Some(k)) = (&a.tls_cert, &a.tls_key) {
        s.tls = Some((c.clone(), k.clone()));
    }
    if let Some(w) = a.workers {
        s.workers = usize::from(w);
    }
    if let Some(r) = a.radius_listen {
        s.radius_listen = Some(r);
    }
    if let Some(addr) = s.listen
        && !addr.ip().is_loopback()
        && s.tls.is_none()
    {
        return Err(CliError::Message(format!(
            "--listen {addr} is reachable from other hosts, so it needs TLS: pass --tls-cert and --tls-key (PEM files), or listen on 127.0.0.1"
        )));
    }
    let socket = if a.no_socket {
        None
    } else {
        Some(s.socket.clone().unwrap_or_else(|| default_socket(db)))
    };
    if socket.is_none() && s.listen.is_none() && s.radius_listen.is_none() {
        return Err(CliError::Message(
            "nothing to listen on: leave out --no-socket, or give --listen ADDR:PORT or --radius-listen ADDR:PORT".into(),
        ));
    }
    Ok(Settings { serve: s, socket })
}

struct Settings {
    serve: ServeConfig,
    socket: Option<PathBuf>,
}

/// `verify.sock` beside the database.
pub fn default_socket(db: &Path) -> PathBuf {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("verify.sock")
}

pub fn run(db: &Db, a: ServeArgs) -> CliResult {
    return_large_buffers();
    let config = crate::cli::load_config(db)?;
    let settings = settings(db, &config, &a)?;
    let core = Core::open(db.location(), config.mailer()?)?;
    let workers = settings.serve.workers;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(workers.clamp(1, 4))
        // Verifications (and the rare audit of bad keys, and reloads) run on exactly this
        // many threads: each keeps the memory of its last password check (19 MiB), so
        // more threads than workers would only hold more of it.
        .max_blocking_threads(workers)
        .thread_name("serve")
        .build()
        .map_err(|e| CliError::Message(format!("could not start the service's threads: {e}")))?;
    let shared = Arc::new(Shared {
        core: RwLock::new(Arc::new(core)),
        gate: Gate::new(workers, settings.serve.queue),
        bad_keys: BadKeys::default(),
        committer: commit::Committer::start().map_err(|e| {
            CliError::Message(format!("could not start the service's writer thread: {e}"))
        })?,
        radius: radius::Radius::new(settings.serve.radius_clients.clone()),
        host: host_name(),
        db: db.clone(),
    });
    runtime.block_on(serve(shared, settings))?;
    // Nothing is left running: the requests finished before `serve` returned.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

async fn serve(shared: Arc<Shared>, settings: Settings) -> Result<(), CliError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let tls = match &settings.serve.tls {
        Some((cert, key)) => Some(Arc::new(tls::Reloadable::load(cert, key)?)),
        None => None,
    };
    // The TCP port first: when it is taken, the service stops before it has created a
    // socket file that would be left behind.
    let http_listener = match settings.serve.listen {
        Some(addr) => Some((addr, http::bind(addr)?)),
        None => None,
    };
    let radius_socket = match settings.serve.radius_listen {
        Some(addr) => Some((addr, radius::bind(addr)?)),
        None => None,
    };
    if let Some(path) = &settings.socket {
        let listener = socket::bind(path, settings.serve.socket_group.as_deref())?;
        let shown = path.display().to_string();
        say(&format!("listening on the Unix socket {shown}"));
        tasks.spawn(socket::accept_loop(
            listener,
            Arc::clone(&shared),
            stop_rx.clone(),
        ));
    }
    if let Some((addr, listener)) = http_listener {
        let scheme = if tls.is_some() { "https" } else { "http" };
        say(&format!("listening on {scheme}://{addr}/v1/verify"));
        tasks.spawn(http::accept_loop(
            listener,
            Arc::clone(&shared),
            tls.clone(),
            stop_rx.clone(),
        ));
    }
    if let Some((addr, socket)) = radius_socket {
        let clients = &settings.serve.radius_clients;
        say(&format!(
            "listening for RADIUS on {addr} (UDP) for {} client{}{}",
            clients.len(),
            if clients.len() == 1 { "" } else { "s" },
            if clients.is_empty() {
                ": add [[serve.radius_client]] tables to the config, or every request is dropped"
                    .to_string()
            } else {
                format!(
                    ": {}",
                    clients
                        .iter()
                        .map(|c| format!("{} {} {}", c.name, c.network, c.mode.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        tasks.spawn(radius::receive_loop(
            socket,
            Arc::clone(&shared),
            stop_rx.clone(),
        ));
    }
    say(&format!(
        "serving {} with {} workers, queue {}",
        shared.db.display(),
        settings.serve.workers,
        settings.serve.queue
    ));
    wait_for_signals(&shared, tls.as_deref()).await;
    say("stopping: no new requests; finishing the ones in flight");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(path) = &settings.socket {
        let _ = std::fs::remove_file(path);
    }
    say("stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT; re-reads the config on each SIGHUP meanwhile.
async fn wait_for_signals(shared: &Arc<Shared>, tls: Option<&tls::Reloadable>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        warn("could not watch for signals; stop the service with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => reload(shared, tls).await,
        }
    }
}

/// SIGHUP: the config file again (mail, limits) and the TLS certificate. A config that
/// does not load leaves the running one in place.
async fn reload(shared: &Arc<Shared>, tls: Option<&tls::Reloadable>) {
    let s = Arc::clone(shared);
    let loaded = tokio::task::spawn_blocking(move || -> Result<(), CliError> {
        let config = crate::cli::load_config(&s.db)?;
        let core = Core::open(s.db.location(), config.mailer()?)?;
        s.set_core(core);
        s.gate.resize_queue(config.serve.queue);
        s.radius.set_clients(config.serve.radius_clients);
        Ok(())
    })
    .await;
    match loaded {
        Ok(Ok(())) => say(
            "SIGHUP: config re-read (mail settings, queue, radius clients; radius_listen stays until a restart); API clients are read on every request",
        ),
        Ok(Err(e)) => warn(&format!(
            "SIGHUP: the config was not re-read, the running one stays: {e}"
        )),
        Err(e) => warn(&format!("SIGHUP: the config was not re-read: {e}")),
    }
    if let Some(t) = tls {
        match t.reload() {
            Ok(()) => say("SIGHUP: TLS certificate re-read"),
            Err(e) => warn(&format!(
                "SIGHUP: the TLS certificate was not re-read, the running one stays: {e}"
            )),
        }
    }
}

/// One line on stderr and in the log file.
pub fn say(line: &str) {
    eprintln!("mfa-console serve: {line}");
    tracing::info!("serve: {line}");
}

pub fn warn(line: &str) {
    eprintln!("mfa-console serve: {line}");
    tracing::warn!("serve: {line}");
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// What a request asks the core for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Verify,
    EmailCode,
}

/// The outcome of one request, ready to send.
pub enum Decided {
    /// The core answered, or the request was bad.
    Answer(u16, serde_json::Value),
    /// Not looked at: the service is at its limit, or its worker failed.
    Unidentified(u16, serde_json::Value),
}

/// Where a request stands after its worker: done, or its write waiting for a commit.
enum Step {
    Done(Outcome),
    Commit(
        Arc<Core>,
        crate::core::Caller,
        crate::core::ServiceRequest,
        crate::core::Prepared,
    ),
}

/// What a request came to before it is turned into an answer.
pub(crate) enum Outcome {
    Answered(crate::core::ServiceAnswer),
    Bad(proto::BadRequest),
    Failed(crate::core::CoreError),
}

/// How the password of a verification is known.
pub(crate) enum FirstFactor {
    /// As the mode says: checked now (password-and-code), or not at all (code-only).
    AsTheModeSays,
    /// Shown right by an earlier request (the one a RADIUS Access-Challenge answered).
    Proven(crate::core::PasswordProof),
}

/// Where a request ended up, before it is put in a protocol's words.
pub(crate) enum Settled {
    /// The service is at its bound: not looked at.
    Full,
    /// The worker failed (told in the log).
    WorkerFailed,
    Done {
        username: String,
        outcome: Outcome,
        /// The password was right (for an answer that asks for the code).
        proof: Option<crate::core::PasswordProof>,
    },
}

/// Runs one request of `caller` (already identified: by its API key, a socket peer, or a
/// RADIUS client's address and secret) through the gate: on a worker, the request is
/// read and, for a verification, the password checked; its write then joins the next
/// group commit, and this returns once that commit is durable.
pub(crate) async fn settle(
    shared: &Arc<Shared>,
    work: Work,
    caller: crate::core::Caller,
    first: FirstFactor,
    request: impl FnOnce(&crate::core::Caller) -> Result<crate::core::ServiceRequest, proto::BadRequest>
    + Send
    + 'static,
) -> Settled {
    let Ok(_admitted) = shared.gate.admit() else {
        return Settled::Full;
    };
    let Ok(permit) = shared.gate.enter().await else {
        return Settled::Full;
    };
    let s = Arc::clone(shared);
    let on_worker = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let core = s.core();
        let req = match request(&caller) {
            Ok(r) => r,
            Err(bad) => return (String::new(), Step::Done(Outcome::Bad(bad)), None),
        };
        let username = req.username.clone();
        let mut proof = None;
        let step = match work {
            Work::Verify => {
                let prepared = match &first {
                    FirstFactor::AsTheModeSays => core.service_prepare(&caller, &req),
                    FirstFactor::Proven(p) => core.service_prepare_proven(&caller, &req, p),
                };
                match prepared {
                    Ok(prepared) => {
                        proof = prepared.password_proof();
                        Step::Commit(core, caller, req, prepared)
                    }
                    Err(e) => Step::Done(Outcome::Failed(e)),
                }
            }
            Work::EmailCode => {
                let answer = match &first {
                    FirstFactor::AsTheModeSays => core.service_email_code(&caller, &req),
                    FirstFactor::Proven(p) => core
                        .service_prepare_proven(&caller, &req, p)
                        .and_then(|prepared| {
                            core.service_email_code_prepared(&caller, &req, &prepared)
                        }),
                };
                Step::Done(match answer {
                    Ok(answer) => Outcome::Answered(answer),
                    Err(e) => Outcome::Failed(e),
                })
            }
        };
        (username, step, proof)
    })
    .await;
    match on_worker {
        Err(e) => {
            warn(&format!("{work:?}: the worker failed: {e}"));
            Settled::WorkerFailed
        }
        Ok((username, Step::Done(outcome), proof)) => Settled::Done {
            username,
            outcome,
            proof,
        },
        Ok((username, Step::Commit(core, caller, req, prepared), proof)) => {
            let outcome = match shared.committer.verify(core, caller, req, prepared).await {
                Ok(answer) => Outcome::Answered(answer),
                Err(e) => Outcome::Failed(e),
            };
            Settled::Done {
                username,
                outcome,
                proof,
            }
        }
    }
}

/// Runs one request of `caller` (already identified: by its API key, or as a socket
/// peer) and puts the outcome in the JSON of the socket and the HTTP API.
pub async fn decide(
    shared: &Arc<Shared>,
    work: Work,
    caller: crate::core::Caller,
    request: impl FnOnce(&crate::core::Caller) -> Result<crate::core::ServiceRequest, proto::BadRequest>
    + Send
    + 'static,
) -> Decided {
    use crate::core::CoreError;
    use crate::store::StoreError;
    let started = std::time::Instant::now();
    let label = caller.label();
    let (username, outcome) =
        match settle(shared, work, caller, FirstFactor::AsTheModeSays, request).await {
            Settled::Full => {
                let (status, body) = proto::error(
                    503,
                    "the service is at its limit of waiting requests; try again in a moment",
                );
                return Decided::Unidentified(status, body);
            }
            Settled::WorkerFailed => {
                let (status, body) = proto::error(
                    500,
                    "the service could not decide; the reason is in its log",
                );
                return Decided::Unidentified(status, body);
            }
            Settled::Done {
                username, outcome, ..
            } => (username, outcome),
        };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let what = match work {
        Work::Verify => "verify",
        Work::EmailCode => "email-code",
    };
    let (status, body) = match outcome {
        Outcome::Answered(answer) => {
            tracing::info!(
                "serve: {what} {label} user {}: {} ({ms:.1} ms)",
                crate::core::text::escape_control(&username),
                proto::summary(&answer)
            );
            proto::answer(&answer)
        }
        Outcome::Bad(bad) => {
            // Only the kind of fault: the parser's words can quote a value (a code sent
            // as a number), and values never reach the log.
            let kind = bad.0.split(':').next().unwrap_or("bad request");
            tracing::info!("serve: {what} {label}: bad request ({kind})");
            proto::error(400, &bad.0)
        }
        Outcome::Failed(CoreError::Store(e @ StoreError::Busy { .. })) => {
            warn(&format!("{what}: {e}"));
            proto::error(
                503,
                "the database is busy with a long write by another process; try again in a moment",
            )
        }
        // The PostgreSQL server is down or cut off: said as it is; the next request
        // connects again.
        Outcome::Failed(CoreError::Store(e @ StoreError::Unreachable { .. })) => {
            warn(&format!("{what}: {e}"));
            proto::error(503, &e.to_string())
        }
        Outcome::Failed(e @ CoreError::Mail { .. }) => {
            warn(&format!("{what}: {e}"));
            proto::error(503, &e.to_string())
        }
        Outcome::Failed(e) => {
            warn(&format!("{what}: could not decide: {e}"));
            proto::error(
                500,
                "the service could not decide; the reason is in its log",
            )
        }
    };
    Decided::Answer(status, body)
}

/// Each password check allocates 19 MiB and frees it. glibc would keep such buffers in
/// per-thread arenas once one has been freed (its mmap threshold grows with them), so
/// the service's memory would stay at many times 19 MiB after a burst. A fixed threshold
/// keeps them mapped on their own and returned when freed.
#[allow(unsafe_code)]
fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's policy; it is called before the
    // service starts its threads, and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
