//! A real `mfa-console serve` on a temporary organization, and the clients that talk to
//! it: HTTP through `ureq`, the Unix socket line by line, and raw TCP for what a
//! well-behaved client would never send.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use mfa_console::core::{Actor, Clock, Core, NewUser, PendingAuthenticator, PolicyKey};
use mfa_console::mail::Outbox;
use mfa_console::store::{ClientMode, Location, Method, Role};
use serde_json::{Value, json};
use tempfile::TempDir;
use zeroize::Zeroizing;

pub const ADMIN_PW: &str = "granite harbor lamp 77";
pub const ALICE_PW: &str = "quiet meadow lantern 9";
/// Long enough for a loaded two-core machine; a test that needs it has failed anyway.
pub const PATIENCE: Duration = Duration::from_secs(90);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mfa-console"))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The system clock moved by an offset: the organization is set up "an hour ago", so
/// that the codes used to enroll (and the enrollment email's resend throttle) are long
/// past when the service starts answering.
pub struct Shifted(AtomicI64);

impl Clock for Shifted {
    fn now(&self) -> i64 {
        now() + self.0.load(Ordering::SeqCst)
    }
}

/// An authenticator enrolled for a user: its secret (to compute codes) and the user's
/// recovery codes.
pub struct Totp {
    pub username: String,
    pub user_id: u64,
    pending: PendingAuthenticator,
    pub recovery: Vec<String>,
}

impl Totp {
    pub fn code_at(&self, t: i64) -> String {
        self.pending.code_at(t).expect("a code for this time")
    }
    pub fn code(&self) -> String {
        self.code_at(now())
    }
    /// The secret as an authenticator app is given it (Base32).
    pub fn secret(&self) -> String {
        self.pending.secret_grouped().replace(' ', "")
    }
    /// Six digits that are no code of this secret anywhere near now.
    pub fn wrong_code(&self) -> String {
        let t = now();
        let near: Vec<String> = (-3..=3).map(|k| self.code_at(t + 30 * k)).collect();
        (0..1_000_000u32)
            .map(|n| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
            .find(|c| !near.contains(c))
            .expect("a wrong code")
    }
}

/// A temporary folder with `org.redb` (administrator `admin`), its outbox and the core
/// the test uses to set it up.
pub struct Org {
    pub dir: TempDir,
    /// The database file (for a PostgreSQL database, the path things beside it are named
    /// from); not every test file that includes this one reads it.
    #[allow(dead_code)]
    pub db: PathBuf,
    /// Where the database is: `db`, or a PostgreSQL database (then `--db` is its URL and
    /// `--config` the folder's `config.toml`).
    pub location: Location,
    pub core: Core,
    clock: Arc<Shifted>,
}

impl Org {
    /// The authenticator method on, lockout after 3 failures.
    pub fn new() -> Org {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("org.redb");
        Self::at(dir, Location::File(db))
    }

    /// The same organization on a location `made` gives for the folder (a PostgreSQL
    /// database, with its key file in the folder).
    #[allow(dead_code)]
    pub fn on(made: impl FnOnce(&Path) -> Location) -> Org {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let location = made(dir.path());
        fs::write(dir.path().join("config.toml"), "").expect("an empty config.toml");
        Self::at(dir, location)
    }

    fn at(dir: TempDir, location: Location) -> Org {
        let db = match &location {
            Location::File(p) => p.clone(),
            Location::Postgres(_) => dir.path().join("mfa-console"),
        };
        let clock = Arc::new(Shifted(AtomicI64::new(-3600)));
        let core = Core::create_with_clock(
            &location,
            "Serve Test",
            NewUser {
                username: "admin".into(),
                email: "admin@example.com".into(),
                name: "Admin".into(),
                role: Role::Admin,
                password: Some(Zeroizing::new(ADMIN_PW.into())),
            },
            Arc::new(Outbox::new(
                dir.path().join("outbox"),
                "MFA <mfa@localhost>",
            )),
            clock.clone(),
        )
        .expect("a new organization");
        let org = Org {
            dir,
            db,
            location,
            core,
            clock,
        };
        org.method(Method::Authenticator, true);
        org.policy(PolicyKey::LockoutThreshold, "3");
        org
    }

    /// The database's writer lock file; locking it holds every writer back, as a writer
    /// stopped mid-write would.
    pub fn writer_lock_file(&self) -> fs::File {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path("org.redb.lock"))
            .expect("the writer lock file")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn method(&self, m: Method, on: bool) {
        self.core
            .set_method(Actor::Operator, m, on, false)
            .expect("set a method");
    }

    pub fn policy(&self, key: PolicyKey, value: &str) {
        self.core
            .set_policy(Actor::Operator, key, value)
            .expect("set a policy value");
    }

    /// A member with `password` (or invited, without one).
    pub fn add_user(&self, name: &str, password: Option<&str>) {
        self.core
            .add_user(
                Actor::Operator,
                NewUser {
                    username: name.into(),
                    email: format!("{name}@example.com"),
                    name: name.into(),
                    role: Role::Member,
                    password: password.map(|p| Zeroizing::new(p.to_string())),
                },
            )
            .expect("add a user");
    }

    pub fn user_id(&self, name: &str) -> u64 {
        self.core
            .store()
            .read(|tx| tx.user_id_by_name(name))
            .expect("read")
            .expect("the user exists")
    }

    /// Enrolls an authenticator for `name`; its first recovery codes come with it.
    pub fn enroll_totp(&self, name: &str) -> Totp {
        let pending = self
            .core
            .begin_authenticator(Actor::Operator, name, Some("phone"), None)
            .expect("begin an authenticator");
        let done = self
            .core
            .confirm_authenticator(
                Actor::Operator,
                &pending,
                &pending.code_at(self.core.now()).expect("a code"),
            )
            .expect("confirm the authenticator");
        Totp {
            username: name.into(),
            user_id: self.user_id(name),
            pending,
            recovery: done
                .recovery_codes
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_string())
                .collect(),
        }
    }

    /// Enrolls the email method for `name` with the code from the outbox.
    pub fn enroll_email(&self, name: &str) {
        let before = self.emls().len();
        let pending = self
            .core
            .begin_email_enrollment(Actor::Operator, name, None, None)
            .expect("begin an email enrollment");
        let emls = self.emls();
        assert_eq!(emls.len(), before + 1, "one enrollment message");
        let code = code_in_eml(emls.last().expect("a message"));
        self.core
            .confirm_email_enrollment(Actor::Operator, &pending, &code)
            .expect("confirm the email enrollment");
    }

    pub fn add_client(&self, name: &str, mode: ClientMode) -> String {
        let (_, key) = self
            .core
            .add_client(Actor::Operator, name, mode)
            .expect("add a client");
        key.to_string()
    }

    /// Forgets the last accepted authenticator step, so the current code is fresh again.
    pub fn reset_replay(&self, user_id: u64) {
        self.core
            .store()
            .write(|tx| tx.remove_last_totp_step(user_id))
            .expect("reset the replay guard");
    }

    /// The `.eml` files in the outbox, oldest first.
    pub fn emls(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.path("outbox"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        v.sort_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok());
        v
    }

    pub fn write_config(&self, text: &str) -> PathBuf {
        let p = self.path("config.toml");
        fs::write(&p, text).expect("write config.toml");
        p
    }

    /// The binary on this database, without the caller's environment choosing another.
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("MFA_CONSOLE_CONFIG")
            .env_remove("RUST_BACKTRACE");
        match &self.location {
            Location::File(p) => {
                c.arg("--db").arg(p);
            }
            Location::Postgres(l) => {
                c.arg("--db")
                    .arg(l.shown())
                    .arg("--config")
                    .arg(self.path("config.toml"));
            }
        }
        c
    }

    /// Runs a subcommand with `stdin` and waits for it.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mfa-console");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait for mfa-console")
    }

    /// Runs a subcommand that must succeed; its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args, "");
        assert!(
            out.status.success(),
            "mfa-console {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    /// The audit log, newest first, as the CLI gives it.
    pub fn audit(&self) -> Vec<Value> {
        self.cli_ok(&["audit", "--format", "jsonl"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
            .collect()
    }

    /// Starts the service with HTTP on loopback and the socket in the temporary folder.
    pub fn serve(&self) -> Service {
        self.serve_with(&[])
    }

    pub fn serve_with(&self, extra: &[&str]) -> Service {
        self.start(extra, None)
    }

    /// Another service process on the same database, with a socket of its own.
    #[allow(dead_code)]
    pub fn serve_node(&self, name: &str) -> Service {
        self.start_at(&format!("{name}.sock"), &[], None)
    }

    /// HTTPS with `cert`/`key`; the client trusts `ca_der`.
    pub fn serve_tls(&self, cert: &Path, key: &Path, ca_der: &[u8]) -> Service {
        let args = [
            "--tls-cert",
            cert.to_str().expect("UTF-8"),
            "--tls-key",
            key.to_str().expect("UTF-8"),
        ];
        self.start(&args, Some(ca_der))
    }

    fn start(&self, extra: &[&str], ca_der: Option<&[u8]>) -> Service {
        self.start_at("verify.sock", extra, ca_der)
    }

    fn start_at(&self, socket: &str, extra: &[&str], ca_der: Option<&[u8]>) -> Service {
        // The set-up is over: from now on the core writes at the real time.
        self.clock.0.store(0, Ordering::SeqCst);
        let socket = self.path(socket);
        let mut last = String::new();
        for attempt in 0..5 {
            let port = free_port();
            let stderr = self.path(&format!("serve-{port}-{attempt}.stderr"));
            let child = self
                .command()
                .arg("serve")
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .arg("--socket")
                .arg(&socket)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&stderr).expect("a stderr file"))
                .spawn()
                .expect("start mfa-console serve");
            let scheme = if ca_der.is_some() { "https" } else { "http" };
            let mut s = Service {
                child: Some(child),
                port,
                socket: socket.clone(),
                stderr,
                log: self.path("mfa-console.log"),
                http: Http::new(&format!("{scheme}://127.0.0.1:{port}"), ca_der),
            };
            match s.wait_ready() {
                Ok(()) => return s,
                Err(e) => last = e,
            }
            // Another process took the port between our look and the service's bind.
            if !last.contains("cannot listen") {
                break;
            }
        }
        panic!("the service did not start: {last}");
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Polls `f` until it gives `Some`, for at most `PATIENCE`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The running service; killed when dropped, so no test leaves one behind.
pub struct Service {
    child: Option<Child>,
    pub port: u16,
    pub socket: PathBuf,
    stderr: PathBuf,
    log: PathBuf,
    pub http: Http,
}

impl Service {
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("it exited ({status}): {}", self.stderr()));
            }
            let socket_ok = UnixStream::connect(&self.socket)
                .ok()
                .and_then(|s| Sock::from(s).ask(&json!({"op": "health"})).ok())
                .is_some_and(|a| a["result"] == "ok");
            if socket_ok && self.http.health().is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if start.elapsed() > PATIENCE {
                return Err(format!("not ready in time: {}", self.stderr()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What the service printed on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The log file beside the database.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -s {name} failed");
    }

    /// SIGKILL, now.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_for("the service to exit", || child.try_wait().ok().flatten())
    }

    pub fn sock(&self) -> Sock {
        Sock::connect(&self.socket)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP answer.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: ureq::http::HeaderMap,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// The HTTP API through a real client.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    pub base: String,
}

impl Http {
    pub fn new(base: &str, ca_der: Option<&[u8]>) -> Http {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(PATIENCE));
        if let Some(der) = ca_der {
            let ca = ureq::tls::Certificate::from_der(der).to_owned();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
                    .build(),
            );
        }
        Http {
            agent: config.build().into(),
            base: base.to_string(),
        }
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, String> {
        let mut r = r.map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let body = serde_json::from_str(&text)
            .map_err(|e| format!("{status}: the body is not JSON ({e}): {text:?}"))?;
        Ok(Reply {
            status,
            body,
            headers,
        })
    }

    pub fn health(&self) -> Result<Reply, String> {
        Self::reply(self.agent.get(format!("{}/v1/health", self.base)).call())
    }

    /// POST `path` with `body` as it is, and the key when given.
    pub fn try_post(&self, path: &str, key: Option<&str>, body: &str) -> Result<Reply, String> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .content_type("application/json");
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        Self::reply(req.send(body))
    }

    pub fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        self.try_post(path, key, &body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub fn verify(&self, key: &str, body: Value) -> Reply {
        self.post("/v1/verify", Some(key), &body)
    }
}

/// The Unix socket: one JSON object per line each way.
pub struct Sock {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl From<UnixStream> for Sock {
    fn from(s: UnixStream) -> Sock {
        s.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        let writer = s.try_clone().expect("clone the socket");
        Sock {
            reader: BufReader::new(s),
            writer,
        }
    }
}

impl Sock {
    pub fn connect(path: &Path) -> Sock {
        Sock::from(UnixStream::connect(path).expect("connect to the socket"))
    }

    pub fn set_timeout(&self, d: Duration) {
        self.writer
            .set_read_timeout(Some(d))
            .expect("a read timeout");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// The next answer line; `None` when the service closed the connection.
    pub fn answer(&mut self) -> std::io::Result<Option<Value>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(serde_json::from_str(&line).map_err(|e| {
            std::io::Error::other(format!("not JSON ({e}): {line:?}"))
        })?))
    }

    pub fn ask(&mut self, request: &Value) -> std::io::Result<Value> {
        self.send_raw(format!("{request}\n").as_bytes())?;
        self.answer()?
            .ok_or_else(|| std::io::Error::other("the service closed the connection"))
    }

    pub fn verify(&mut self, request: Value) -> Value {
        let mut r = request;
        r["op"] = json!("verify");
        self.ask(&r).expect("a socket answer")
    }
}

/// An answer read off a raw TCP connection.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub body: Value,
}

/// Sends `request` as bytes on a fresh connection and reads the whole answer (the
/// request should say `Connection: close`).
pub fn raw_http(addr: &str, request: &[u8]) -> RawReply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    // The service may answer and close before it has read everything we send.
    let _ = s.write_all(request);
    read_reply(&mut s).expect("an HTTP answer")
}

/// Reads an HTTP answer up to the end of the connection. What arrived before a reset
/// still counts.
pub fn read_reply(s: &mut TcpStream) -> Result<RawReply, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Err(format!("nothing read: {e}")),
            Err(_) => break,
        }
    }
    parse_reply(&buf)
}

pub fn parse_reply(buf: &[u8]) -> Result<RawReply, String> {
    let text = String::from_utf8_lossy(buf).to_string();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body_text = if chunked { dechunk(rest) } else { rest.into() };
    let body = serde_json::from_str(body_text.trim())
        .map_err(|e| format!("the body is not JSON ({e}): {body_text:?}"))?;
    Ok(RawReply { status, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The six-digit code on a line of its own in a message of the outbox.
pub fn code_in_eml(path: &Path) -> String {
    let data = fs::read(path).expect("read the message");
    let m = mailparse::parse_mail(&data).expect("the message parses");
    let body = m.get_body().expect("a body");
    body.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in the message:\n{body}"))
        .to_string()
}

/// The `From` header of a message of the outbox.
pub fn from_of_eml(path: &Path) -> String {
    use mailparse::MailHeaderMap;
    let data = fs::read(path).expect("read the message");
    let m = mailparse::parse_mail(&data).expect("the message parses");
    m.headers.get_first_value("From").unwrap_or_default()
}

/// This host's name, as the service reads it for its audit label.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs `mfa-console serve ARGS` that is expected to refuse to start: its exit status and
/// stderr. A service that starts anyway is killed after a while, and the test fails.
pub fn serve_refused(org: &Org, args: &[&str]) -> (ExitStatus, String) {
    let mut child = org
        .command()
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mfa-console serve");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mfa-console serve {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    (status, err)
}
