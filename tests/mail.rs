//! Mail delivery against real servers: an SMTP relay started in this process on a loopback
//! port (`mailin-embedded`), plain and STARTTLS with a CA and server certificate made here
//! (`rcgen`), the outbox folder, and the config file that chooses between them. Received
//! messages are parsed (`mailparse`), the code taken out of them and given to the core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use mailin_embedded::response::{AUTH_OK, INVALID_CREDENTIALS, OK};
use mailin_embedded::{AuthMechanism, Response, Server, SslConfig};
use predicates::str::contains;
use tempfile::TempDir;
use zeroize::Zeroizing;

use mfa_console::config::Config;
use mfa_console::core::{
    Actor, Channel, CodeKind, Core, CoreError, ManualClock, NewUser, SignInStep,
};
use mfa_console::mail::{Mailer, Template};
use mfa_console::store::{Method, Role};

const ADMIN_PW: &str = "river stone lantern 42";
const ALICE_PW: &str = "quiet meadow lantern 9";
const BOB_PW: &str = "amber harbor compass 7";
const START: i64 = 1_900_000_000;
const RELAY_USER: &str = "mfa-relay";
const RELAY_PASSWORD: &str = "relay secret 123";

// ---------------------------------------------------------------------------------------
// A real SMTP relay on loopback
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Received {
    to: Vec<String>,
    data: Vec<u8>,
}

/// What the relay does with each session. Cloned per connection; state is shared.
#[derive(Clone)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    logins: Arc<Mutex<Vec<String>>>,
    /// Answer every recipient with this error.
    reject: Option<(u16, &'static str)>,
    current: Vec<u8>,
    to: Vec<String>,
}

impl mailin_embedded::Handler for Inbox {
    fn rcpt(&mut self, _to: &str) -> Response {
        match self.reject {
            Some((code, text)) => Response::custom(code, text.to_string()),
            None => OK,
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current.clear();
        self.to = to.to_vec();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.received.lock().unwrap().push(Received {
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.current),
        });
        OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        if user == RELAY_USER && password == RELAY_PASSWORD {
            self.logins.lock().unwrap().push(user.to_string());
            AUTH_OK
        } else {
            INVALID_CREDENTIALS
        }
    }
}

struct Relay {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    logins: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct RelayOptions<'a> {
    tls: Option<&'a Pki>,
    login: bool,
    reject: Option<(u16, &'static str)>,
}

impl Relay {
    /// Starts a relay on a free loopback port; it serves until the test process ends.
    fn start(o: RelayOptions) -> Relay {
        // Both rustls providers are compiled in (lettre: ring; mailin: aws-lc-rs), so the
        // server side needs one chosen for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let inbox = Inbox {
            received: Arc::default(),
            logins: Arc::default(),
            reject: o.reject,
            current: Vec::new(),
            to: Vec::new(),
        };
        let relay = Relay {
            port: 0,
            received: inbox.received.clone(),
            logins: inbox.logins.clone(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut server = Server::new(inbox);
        server
            .with_name("relay.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        if let Some(pki) = o.tls {
            server
                .with_ssl(SslConfig::SelfSigned {
                    cert_path: pki.server_cert.display().to_string(),
                    key_path: pki.server_key.display().to_string(),
                })
                .unwrap();
        }
        if o.login {
            server.with_auth(AuthMechanism::Plain);
        }
        std::thread::spawn(move || {
            if let Err(e) = server.serve() {
                eprintln!("test relay stopped: {e}");
            }
        });
        Relay { port, ..relay }
    }

    fn plain() -> Relay {
        Relay::start(RelayOptions::default())
    }

    fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The last message, parsed: (to header, subject, decoded body).
    fn last(&self) -> Parsed {
        let m = self
            .messages()
            .pop()
            .expect("the relay received no message");
        parse(&m.data)
    }
}

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// Implicit TLS ("SMTPS", what port 465 does) in front of a plain relay: a TLS endpoint
/// that hands the decrypted conversation to `backend`. mailin only speaks STARTTLS.
fn tls_front(pki: &Pki, backend: u16) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = pump(tcp, config, backend);
            });
        }
    });
    port
}

/// Copies bytes both ways until either side closes (or 30 s pass).
fn pump(
    tcp: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: u16,
) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read, Write};
    use std::time::{Duration, Instant};
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", backend))?;
    let tick = Some(Duration::from_millis(5));
    tcp.set_read_timeout(tick)?;
    plain.set_read_timeout(tick)?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let idle = |e: &std::io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tls.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => plain.write_all(&buf[..n])?,
            Err(e) if idle(&e) => {}
            Err(e) => return Err(e),
        }
        match plain.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                tls.write_all(&buf[..n])?;
                tls.flush()?;
            }
            Err(e) if idle(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Certificates made for the test
// ---------------------------------------------------------------------------------------

struct Pki {
    _dir: TempDir,
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

/// A CA, and a server certificate it signs for `127.0.0.1` and `localhost`.
fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "mfa-console test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "relay.test");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let p = |name: &str| dir.path().join(name);
    fs::write(p("ca.pem"), ca_cert.pem()).unwrap();
    fs::write(p("server.pem"), leaf_cert.pem()).unwrap();
    fs::write(p("server.key"), leaf_key.serialize_pem()).unwrap();
    Pki {
        ca_cert: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        _dir: dir,
    }
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Parsed {
    to: String,
    from: String,
    subject: String,
    body: String,
}

fn parse(data: &[u8]) -> Parsed {
    use mailparse::MailHeaderMap;
    let m = mailparse::parse_mail(data).expect("the message does not parse");
    let h = |name: &str| m.headers.get_first_value(name).unwrap_or_default();
    Parsed {
        to: h("To"),
        from: h("From"),
        subject: h("Subject"),
        body: m.get_body().unwrap(),
    }
}

/// The six-digit code on a line of its own.
fn code_in(body: &str) -> String {
    body.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in the message:\n{body}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------
// An organization on a temporary database, its mail chosen by a config file
// ---------------------------------------------------------------------------------------

struct Org {
    dir: TempDir,
    db: PathBuf,
    clock: Arc<ManualClock>,
}

impl Org {
    fn new() -> Org {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        Org {
            dir,
            db,
            clock: Arc::new(ManualClock::new(START)),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `config.toml` beside the database.
    fn config(&self, text: &str) {
        fs::write(self.path("config.toml"), text).unwrap();
    }

    /// Plain SMTP to `port` on loopback.
    fn config_plain(&self, port: u16) {
        self.config(&format!(
            "[mail]\ntransport = \"smtp\"\nfrom = \"Acme MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_seconds = 5\n"
        ));
    }

    /// STARTTLS to `port`, trusting `ca`, logging in with a password file.
    fn config_starttls(&self, port: u16, ca: &Path) {
        let pw = self.path("relay-password");
        fs::write(&pw, format!("{RELAY_PASSWORD}\n")).unwrap();
        fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
        self.config(&format!(
            "[mail]\ntransport = \"smtp\"\nfrom = \"Acme MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\nusername = \"{RELAY_USER}\"\npassword_file = \"relay-password\"\nca_file = \"{}\"\ntimeout_seconds = 5\n",
            ca.display()
        ));
    }

    fn mailer(&self) -> Arc<dyn Mailer> {
        Config::load(&self.db, None).unwrap().mailer().unwrap()
    }

    /// Creates the database (admin + alice + bob, email method on) with the configured
    /// mailer.
    fn core(&self) -> Core {
        let core = Core::create_with_clock(
            &self.db,
            "Acme",
            NewUser {
                username: "admin".into(),
                email: "admin@acme.test".into(),
                name: "Ada Admin".into(),
                role: Role::Admin,
                password: Some(Zeroizing::new(ADMIN_PW.into())),
            },
            self.mailer(),
            self.clock.clone(),
        )
        .unwrap();
        for (user, pw) in [("alice", ALICE_PW), ("bob", BOB_PW)] {
            core.add_user(
                Actor::Operator,
                NewUser {
                    username: user.into(),
                    email: format!("{user}@acme.test"),
                    name: format!("{user} example"),
                    role: Role::Member,
                    password: Some(Zeroizing::new(pw.into())),
                },
            )
            .unwrap();
        }
        core.set_method(Actor::Operator, Method::Email, true, false)
            .unwrap();
        core
    }

    /// The same database opened again with another mailer (as after a config change).
    fn reopen(&self, mailer: Arc<dyn Mailer>) -> Core {
        Core::open(&self.db, mailer)
            .unwrap()
            .with_clock(self.clock.clone())
    }

    fn advance(&self, secs: i64) {
        self.clock.advance(secs);
    }

    fn cli(&self) -> Command {
        let mut c = Command::cargo_bin("mfa-console").unwrap();
        c.arg("--db").arg(&self.db).env_remove("MFA_CONSOLE_CONFIG");
        c
    }
}

/// Enrolls `user`'s email with the code read from the newest message `latest` returns.
fn enroll_email(core: &Core, user: &str, latest: impl Fn() -> Parsed) {
    let pending = core
        .begin_email_enrollment(Actor::Operator, user, None, None)
        .unwrap();
    let m = latest();
    assert!(m.to.contains(&format!("{user}@acme.test")), "{m:?}");
    core.confirm_email_enrollment(Actor::Operator, &pending, &code_in(&m.body))
        .unwrap();
}

fn code_step(core: &Core, user: &str, pw: &str) -> mfa_console::core::PendingSignIn {
    match core.sign_in(user, pw, Channel::Console, None).unwrap() {
        SignInStep::CodeRequired(p) => p,
        other => panic!("expected the code step, got {other:?}"),
    }
}

/// The whole path a user takes: enroll email, sign in with a mailed code, and the same
/// code refused the second time.
fn enroll_and_sign_in(org: &Org, core: &Core, latest: impl Fn() -> Parsed) {
    enroll_email(core, "alice", &latest);
    org.advance(31);
    let pending = code_step(core, "alice", ALICE_PW);
    let (address, _) = core.send_sign_in_code(&pending).unwrap();
    assert_eq!(address, "alice@acme.test");
    let m = latest();
    assert!(m.subject.contains("Acme verification code"), "{m:?}");
    assert!(m.body.contains("Hello alice example"), "{}", m.body);
    let code = code_in(&m.body);
    assert!(matches!(
        core.submit_code(&pending, &code, CodeKind::Email).unwrap(),
        SignInStep::SignedIn(_)
    ));
    // Once only.
    let again = code_step(core, "alice", ALICE_PW);
    assert!(matches!(
        core.submit_code(&again, &code, CodeKind::Email),
        Err(CoreError::Refused)
    ));
}

fn audit_details(core: &Core, user: &str, kind: &str) -> Vec<String> {
    core.audit_events(Actor::Operator, Some(user))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.details)
        .collect()
}

// ---------------------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------------------

#[test]
fn plain_smtp_delivers_a_code_the_core_accepts_once() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    let core = org.core();
    assert_eq!(
        core.mailer().describe(),
        format!("the mail relay at 127.0.0.1:{}", relay.port)
    );
    enroll_and_sign_in(&org, &core, || relay.last());
    let all = relay.messages();
    assert_eq!(all.len(), 2, "one enrollment code, one sign-in code");
    assert_eq!(all[1].to, vec!["alice@acme.test".to_string()]);
    let m = relay.last();
    assert_eq!(m.from, "\"Acme MFA\" <mfa@acme.test>");
    assert!(m.to.contains("alice@acme.test"));
}

#[test]
fn starttls_with_internal_ca_and_login_delivers_a_code_the_core_accepts_once() {
    let pki = pki();
    let relay = Relay::start(RelayOptions {
        tls: Some(&pki),
        login: true,
        ..Default::default()
    });
    let org = Org::new();
    org.config_starttls(relay.port, &pki.ca_cert);
    let core = org.core();
    enroll_and_sign_in(&org, &core, || relay.last());
    assert_eq!(relay.count(), 2);
    // The relay only offers login after STARTTLS: that the login happened shows both.
    assert_eq!(relay.logins.lock().unwrap().len(), 2);
}

#[test]
fn starttls_with_a_wrong_ca_is_refused_and_nothing_goes_out_in_plain() {
    let pki_relay = pki();
    let pki_other = pki();
    let relay = Relay::start(RelayOptions {
        tls: Some(&pki_relay),
        login: true,
        ..Default::default()
    });
    let org = Org::new();
    org.config_starttls(relay.port, &pki_other.ca_cert);
    let core = org.core();
    let e = core
        .begin_email_enrollment(Actor::Operator, "alice", None, None)
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, CoreError::Mail { .. }), "{e:?}");
    assert!(
        text.contains(&format!("the mail relay at 127.0.0.1:{}", relay.port)),
        "{text}"
    );
    assert!(text.contains("not trusted"), "{text}");
    assert!(text.contains("ca_file"), "{text}");
    assert_eq!(relay.count(), 0);
    assert!(relay.logins.lock().unwrap().is_empty());
    // The failure is audited, without any code in it.
    let failed = audit_details(&core, "alice", "mail.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("not trusted"), "{failed:?}");
}

#[test]
fn starttls_required_means_required_against_a_relay_without_it() {
    let pki = pki();
    let relay = Relay::plain();
    let org = Org::new();
    org.config_starttls(relay.port, &pki.ca_cert);
    let core = org.core();
    let e = core
        .begin_email_enrollment(Actor::Operator, "alice", None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not offer STARTTLS"), "{e}");
    assert!(e.contains(&format!("127.0.0.1:{}", relay.port)), "{e}");
    assert_eq!(relay.count(), 0, "nothing may be sent without TLS");
}

#[test]
fn relay_down_gives_a_clear_error_and_leaves_no_valid_code() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    let core = org.core();
    enroll_email(&core, "alice", || relay.last());
    org.advance(31);
    let pending = code_step(&core, "alice", ALICE_PW);
    core.send_sign_in_code(&pending).unwrap();
    let earlier_code = code_in(&relay.last().body);
    drop(core);

    // The relay is gone: the config now points at a port nobody listens on.
    let port = dead_port();
    org.config_plain(port);
    let core = org.reopen(org.mailer());
    org.advance(31);
    let e = core.send_sign_in_code(&pending).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, CoreError::Mail { .. }), "{e:?}");
    assert!(
        text.contains(&format!(
            "the mail relay at 127.0.0.1:{port} refused the connection"
        )),
        "{text}"
    );
    assert!(!e.is_refusal(), "a mail failure is not the user's fault");
    // The code mailed before the failed resend is void: nothing valid is left behind.
    assert!(matches!(
        core.submit_code(&pending, &earlier_code, CodeKind::Email),
        Err(CoreError::Refused)
    ));
    let failed = audit_details(&core, "alice", "mail.failed");
    assert!(
        failed
            .iter()
            .any(|d| d.contains(&format!("127.0.0.1:{port}"))),
        "{failed:?}"
    );
    // The user can ask again at once (no throttle after a failure), and it fails the same way.
    assert!(matches!(
        core.send_sign_in_code(&pending),
        Err(CoreError::Mail { .. })
    ));
}

#[test]
fn relay_answering_5xx_gives_a_clear_error_and_no_code() {
    let relay = Relay::start(RelayOptions {
        reject: Some((550, "5.1.1 no such mailbox here")),
        ..Default::default()
    });
    let org = Org::new();
    org.config_plain(relay.port);
    let core = org.core();
    let e = core
        .begin_email_enrollment(Actor::Operator, "alice", None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "the mail relay at 127.0.0.1:{} answered 550: 5.1.1 no such mailbox here",
            relay.port
        )),
        "{e}"
    );
    assert_eq!(relay.count(), 0);
    // Nothing waits to be confirmed.
    let waiting = core
        .store()
        .read(|tx| {
            let id = tx.user_id_by_name("alice")?.unwrap();
            tx.email_code(id)
        })
        .unwrap();
    assert!(waiting.is_none());
}

#[test]
fn resend_within_30_seconds_is_throttled() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    let core = org.core();
    enroll_email(&core, "alice", || relay.last());
    org.advance(31);
    let pending = code_step(&core, "alice", ALICE_PW);
    core.send_sign_in_code(&pending).unwrap();
    org.advance(10);
    match core.send_sign_in_code(&pending) {
        Err(CoreError::Throttled(wait)) => assert_eq!(wait, 20),
        other => panic!("expected a throttle, got {other:?}"),
    }
    assert_eq!(relay.count(), 2, "the throttled request sent nothing");
    org.advance(20);
    core.send_sign_in_code(&pending).unwrap();
    assert_eq!(relay.count(), 3);
    // The newest code works; the one it replaced does not.
    let all = relay.messages();
    let old = code_in(&parse(&all[1].data).body);
    let new = code_in(&parse(&all[2].data).body);
    if old != new {
        assert!(matches!(
            core.submit_code(&pending, &old, CodeKind::Email),
            Err(CoreError::Refused)
        ));
    }
    assert!(matches!(
        core.submit_code(&pending, &new, CodeKind::Email).unwrap(),
        SignInStep::SignedIn(_)
    ));
}

#[test]
fn implicit_tls_delivers_a_code_the_core_accepts_once() {
    let pki = pki();
    let relay = Relay::plain();
    let port = tls_front(&pki, relay.port);
    let org = Org::new();
    org.config(&format!(
        "[mail]\ntransport = \"smtp\"\nfrom = \"Acme MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"tls\"\nca_file = \"{}\"\ntimeout_seconds = 5\n",
        pki.ca_cert.display()
    ));
    let core = org.core();
    enroll_and_sign_in(&org, &core, || relay.last());
    assert_eq!(relay.count(), 2);
}

#[test]
fn config_subcommand_has_help() {
    let org = Org::new();
    for args in [&["config", "--help"][..], &["config", "check", "--help"]] {
        org.cli()
            .args(args)
            .assert()
            .success()
            .stdout(contains("Usage:"));
    }
    org.cli()
        .args(["config", "check", "--help"])
        .assert()
        .stdout(contains("--send-test"));
    org.cli()
        .args(["--help"])
        .assert()
        .stdout(contains("--config"));
}

#[test]
fn implicit_tls_against_a_plain_relay_fails_the_handshake_clearly() {
    let pki = pki();
    let relay = Relay::plain();
    let org = Org::new();
    org.config(&format!(
        "[mail]\ntransport = \"smtp\"\nfrom = \"Acme MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"tls\"\nca_file = \"{}\"\ntimeout_seconds = 5\n",
        relay.port,
        pki.ca_cert.display()
    ));
    let e = org
        .mailer()
        .send(&mfa_console::mail::render(
            Template::TestMessage,
            "ops@acme.test",
            "",
            &[],
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("the mail relay at 127.0.0.1:{}", relay.port)),
        "{e}"
    );
    assert!(e.contains("TLS"), "{e}");
    assert!(e.contains("security = \"starttls\""), "{e}");
    assert_eq!(relay.count(), 0);
}

#[test]
fn a_relay_that_never_answers_times_out_with_the_setting_named() {
    // Accepts connections (the kernel does, from the backlog) but never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let org = Org::new();
    org.config(&format!(
        "[mail]\ntransport = \"smtp\"\nfrom = \"Acme MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_seconds = 1\n"
    ));
    let started = std::time::Instant::now();
    let e = org
        .mailer()
        .send(&mfa_console::mail::render(
            Template::TestMessage,
            "ops@acme.test",
            "",
            &[],
        ))
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        e.contains(&format!(
            "the mail relay at 127.0.0.1:{port} did not answer within 1 s"
        )),
        "{e}"
    );
    assert!(e.contains("timeout_seconds"), "{e}");
    drop(silent);
}

#[test]
fn wrong_relay_password_is_named() {
    let pki = pki();
    let relay = Relay::start(RelayOptions {
        tls: Some(&pki),
        login: true,
        ..Default::default()
    });
    let org = Org::new();
    org.config_starttls(relay.port, &pki.ca_cert);
    fs::write(org.path("relay-password"), "not it\n").unwrap();
    let core = org.core();
    let e = core
        .begin_email_enrollment(Actor::Operator, "alice", None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("answered 535"), "{e}");
    assert!(e.contains("password_file"), "{e}");
    assert_eq!(relay.count(), 0);
}

#[test]
fn turning_email_off_tells_each_enrolled_user_once() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    let core = org.core();
    enroll_email(&core, "alice", || relay.last());
    let before = relay.count();
    let change = core
        .set_method(Actor::Operator, Method::Email, false, true)
        .unwrap();
    assert_eq!(change.forgotten_enrollments, 1);
    assert_eq!((change.notices_sent, change.notices_failed), (1, 0));
    let notices = &relay.messages()[before..];
    assert_eq!(notices.len(), 1, "bob had no email enrollment: no notice");
    assert_eq!(notices[0].to, vec!["alice@acme.test".to_string()]);
    let m = parse(&notices[0].data);
    assert_eq!(m.subject, "Acme turned off multi-factor authentication");
    assert!(
        m.body.contains("turned off sign-in codes by email"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("registration for it was removed"),
        "{}",
        m.body
    );
    assert!(m.body.contains("now off for Acme"), "{}", m.body);
    // Already off: nothing more to tell.
    core.set_method(Actor::Operator, Method::Email, false, false)
        .unwrap();
    assert_eq!(relay.count(), before + 1);
}

#[test]
fn turning_a_method_off_with_the_relay_down_still_applies_and_stops_trying() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    let core = org.core();
    enroll_email(&core, "alice", || relay.last());
    org.advance(31);
    enroll_email(&core, "bob", || relay.last());
    drop(core);
    org.config_plain(dead_port());
    let core = org.reopen(org.mailer());
    let change = core
        .set_method(Actor::Operator, Method::Email, false, false)
        .unwrap();
    assert!(change.changed);
    assert_eq!((change.notices_sent, change.notices_failed), (0, 2));
    assert!(!core.organization().unwrap().controls.email);
    // One failure per attempt, plus one line for the users skipped after it.
    let skipped = audit_details(&core, "organization", "mail.failed");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("1 more user(s)"), "{skipped:?}");
}

#[test]
fn templates_beside_the_config_replace_the_built_in_text() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    fs::create_dir(org.path("templates")).unwrap();
    fs::write(
        org.path("templates/verification-code.txt"),
        "Subject: {org} code\n\nCode for {username}: {code}\n(valid until {expires})\n",
    )
    .unwrap();
    let core = org.core();
    core.begin_email_enrollment(Actor::Operator, "alice", None, None)
        .unwrap();
    let m = relay.last();
    assert_eq!(m.subject, "Acme code");
    assert!(m.body.starts_with("Code for alice: "), "{}", m.body);
    // Templates not replaced keep the built-in text.
    core.reset_mfa(Actor::Operator, "alice").unwrap();
    assert!(relay.last().subject.contains("MFA settings were reset"));
}

// ---------------------------------------------------------------------------------------
// Outbox
// ---------------------------------------------------------------------------------------

#[test]
fn outbox_writes_one_private_parseable_eml_per_message_holding_the_code() {
    let org = Org::new(); // no config.toml: the defaults, i.e. the outbox
    let outbox = org.path("outbox");
    let core = org.core();
    assert_eq!(
        core.mailer().describe(),
        format!("the outbox folder {}", outbox.display())
    );
    let emls = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&outbox)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort_by_key(|p| fs::metadata(p).unwrap().modified().unwrap());
        v
    };
    let latest = || {
        let files = emls();
        let newest = files
            .iter()
            .max_by_key(|p| fs::metadata(p).unwrap().modified().unwrap())
            .unwrap();
        parse(&fs::read(newest).unwrap())
    };
    enroll_email(&core, "alice", latest);
    assert_eq!(emls().len(), 1);
    org.advance(31);
    let pending = code_step(&core, "alice", ALICE_PW);
    core.send_sign_in_code(&pending).unwrap();
    let files = emls();
    assert_eq!(files.len(), 2, "one file per message");
    for f in &files {
        assert_eq!(f.extension().unwrap(), "eml");
        assert_eq!(
            fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.display()
        );
    }
    // Find the sign-in message among the two (same second: order by content).
    let codes: Vec<(Parsed, String)> = files
        .iter()
        .map(|f| {
            let m = parse(&fs::read(f).unwrap());
            let c = code_in(&m.body);
            (m, c)
        })
        .collect();
    let mut accepted = 0;
    for (m, code) in &codes {
        assert!(m.to.contains("alice@acme.test"));
        assert_eq!(m.from, "\"MFA console\" <mfa-console@localhost>");
        if core.submit_code(&pending, code, CodeKind::Email).is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "exactly the sign-in code signs in");
}

// ---------------------------------------------------------------------------------------
// Config file
// ---------------------------------------------------------------------------------------

fn config_error(org: &Org, text: &str) -> String {
    org.config(text);
    Config::load(&org.db, None).unwrap_err().to_string()
}

#[test]
fn every_bad_config_value_names_the_file_line_and_key() {
    let org = Org::new();
    let file = org.path("config.toml");
    let pw = org.path("pw");
    fs::write(&pw, "secret\n").unwrap();
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
    let open_pw = org.path("pw-open");
    fs::write(&open_pw, "secret\n").unwrap();
    fs::set_permissions(&open_pw, fs::Permissions::from_mode(0o644)).unwrap();
    let not_pem = org.path("ca.txt");
    fs::write(&not_pem, "hello\n").unwrap();
    let smtp =
        "[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"mail.acme.test\"\n";
    let cases: Vec<(String, usize, &str, &str)> = vec![
        (
            "[mail]\ntransport = \"pigeon\"\n".into(),
            2,
            "mail.transport",
            "outbox",
        ),
        ("[mail]\nhots = \"x\"\n".into(), 2, "mail.hots", "unknown field"),
        ("[mial]\n".into(), 1, "mial", "unknown field"),
        (
            "transport = \"smtp\"\n".into(),
            1,
            "transport",
            "under a [mail] header",
        ),
        (
            "[mail]\ntransport = \"smtp\"\nhost = \"mail.acme.test\"\n".into(),
            1,
            "mail.from",
            "is missing",
        ),
        (
            "[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\n".into(),
            1,
            "mail.host",
            "is missing",
        ),
        (
            "[mail]\nfrom = \"not an address\"\n".into(),
            2,
            "mail.from",
            "not a valid sender address",
        ),
        (format!("{smtp}port = 0\n"), 5, "mail.port", "1 to 65535"),
        (format!("{smtp}port = 70000\n"), 5, "mail.port", "1 to 65535"),
        (format!("{smtp}port = \"587\"\n"), 5, "mail.port", "1 to 65535"),
        (
            format!("{smtp}security = \"ssl\"\n"),
            5,
            "mail.security",
            "starttls",
        ),
        (
            format!("{smtp}timeout_seconds = 0\n"),
            5,
            "mail.timeout_seconds",
            "1 to 300",
        ),
        (
            format!("{smtp}password = \"hunter2\"\n"),
            5,
            "mail.password",
            "password_file",
        ),
        (
            format!("{smtp}username = \"mfa\"\n"),
            5,
            "mail.username",
            "without password_file",
        ),
        (
            format!("{smtp}password_file = \"pw\"\n"),
            5,
            "mail.password_file",
            "without username",
        ),
        (
            format!("{smtp}username = \"mfa\"\npassword_file = \"pw-open\"\n"),
            6,
            "mail.password_file",
            "chmod 600",
        ),
        (
            format!("{smtp}username = \"mfa\"\npassword_file = \"nope\"\n"),
            6,
            "mail.password_file",
            "cannot be read",
        ),
        (
            format!("{smtp}security = \"none\"\nusername = \"mfa\"\npassword_file = \"pw\"\n"),
            6,
            "mail.username",
            "unencrypted",
        ),
        (
            format!("{smtp}ca_file = \"ca.txt\"\n"),
            5,
            "mail.ca_file",
            "no PEM certificate",
        ),
        (
            format!("{smtp}ca_file = \"missing.pem\"\n"),
            5,
            "mail.ca_file",
            "cannot be read",
        ),
        (
            "[mail]\nhost = \"mail.acme.test\"\n".into(),
            2,
            "mail.host",
            "transport = \"smtp\"",
        ),
        (
            "[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"smtp://mail.acme.test:587\"\n".into(),
            4,
            "mail.host",
            "not a host name",
        ),
        ("[mail\n".into(), 1, "mail", "not valid TOML"),
        (
            "[mail]\nfrom = \"a@b.c\"\nfrom = \"d@e.f\"\n".into(),
            3,
            "mail.from",
            "not valid TOML",
        ),
    ];
    for (text, line, key, words) in cases {
        let e = config_error(&org, &text);
        let where_ = format!("config file {}, line {line}", file.display());
        assert!(e.starts_with(&where_), "{text:?}\n  -> {e}");
        assert!(e.contains(&format!(", {key}: ")), "{text:?}\n  -> {e}");
        assert!(e.contains(words), "{text:?}\n  -> {e}");
        assert!(!e.contains("hunter2"), "the password is never echoed: {e}");
    }
}

#[test]
fn a_good_config_is_read_with_defaults_filled_in() {
    let org = Org::new();
    let pki = pki();
    let pw = org.path("pw");
    fs::write(&pw, "secret\n").unwrap();
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
    org.config(&format!(
        "# relay\n[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"mail.acme.test\"\nusername = \"mfa\"\npassword_file = \"pw\"\nca_file = \"{}\"\n",
        pki.ca_cert.display()
    ));
    let c = Config::load(&org.db, None).unwrap();
    assert!(c.found);
    let summary = c
        .summary()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        summary.contains("the mail relay at mail.acme.test:587, STARTTLS required"),
        "{summary}"
    );
    assert!(summary.contains("Timeout: 10 s"), "{summary}");
    assert!(summary.contains(&format!("password from {}", pw.display())));
    assert!(!summary.contains("secret"));
    assert_eq!(
        c.mailer().unwrap().describe(),
        "the mail relay at mail.acme.test:587"
    );
}

// ---------------------------------------------------------------------------------------
// `config check`
// ---------------------------------------------------------------------------------------

#[test]
fn config_check_reports_the_outbox_by_default() {
    let org = Org::new();
    org.cli()
        .args(["config", "check"])
        .assert()
        .success()
        .stdout(contains("outbox"))
        .stdout(contains(org.path("outbox").display().to_string()))
        .stdout(contains("not found: the defaults apply"));
}

#[test]
fn config_check_send_test_reports_the_server_answer() {
    let relay = Relay::plain();
    let org = Org::new();
    org.config_plain(relay.port);
    org.cli()
        .args(["config", "check", "--send-test", "ops@acme.test"])
        .assert()
        .success()
        .stdout(contains(format!(
            "the mail relay at 127.0.0.1:{} answered 250",
            relay.port
        )));
    let m = relay.last();
    assert!(m.to.contains("ops@acme.test"));
    assert!(m.subject.contains("test message"), "{m:?}");
}

#[test]
fn config_check_with_explicit_config_and_relay_down_fails_clearly() {
    let org = Org::new();
    let port = dead_port();
    let other = org.path("elsewhere.toml");
    fs::write(
        &other,
        format!(
            "[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n"
        ),
    )
    .unwrap();
    org.cli()
        .arg("--config")
        .arg(&other)
        .args(["config", "check", "--send-test", "ops@acme.test"])
        .assert()
        .code(1)
        .stdout(contains(format!("127.0.0.1:{port}")))
        .stderr(contains(format!(
            "the mail relay at 127.0.0.1:{port} refused the connection"
        )));
}

#[test]
fn config_check_refuses_a_bad_config_naming_line_and_key() {
    let org = Org::new();
    org.config("[mail]\ntransport = \"smtp\"\nfrom = \"MFA <mfa@acme.test>\"\nhost = \"h\"\nsecurity = \"ssl\"\n");
    org.cli()
        .args(["config", "check"])
        .assert()
        .code(1)
        .stderr(contains("line 5, mail.security"));
    // Every command that may send mail refuses the same way.
    org.cli()
        .args(["user", "list"])
        .assert()
        .code(1)
        .stderr(contains("line 5, mail.security"));
}

#[test]
fn test_template_is_filled() {
    let m = mfa_console::mail::render(
        Template::TestMessage,
        "ops@acme.test",
        "",
        &[("org", "Acme"), ("time", "noon")],
    );
    assert!(m.body.contains("from the Acme MFA console, sent at noon"));
}
