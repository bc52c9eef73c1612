//! The config file (TOML): how mail leaves the console.
//!
//! ```toml
//! [mail]
//! transport = "smtp"             # or "outbox" (the default)
//! from = "MFA console <mfa@corp.example>"
//! host = "mail.corp.example"
//! port = 587                     # default: 25 / 587 / 465 by security
//! security = "starttls"          # "none", "starttls" (default) or "tls"
//! username = "mfa-console"       # optional, with password_file
//! password_file = "smtp-password"   # readable by this account only
//! ca_file = "internal-ca.pem"    # optional: trust an internal CA
//! timeout_seconds = 10
//! ```
//!
//! By default the file is `config.toml` beside the database; a missing default file means
//! the defaults (the outbox). Relative paths are taken from the config file's folder.
//! Message texts can be replaced by files in a `templates/` folder beside it.
//! Anything the console cannot use is refused with the file, the line and the key.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;
use zeroize::Zeroizing;

use crate::mail::{
    MailError, Mailer, Outbox, Security, Smtp, SmtpSettings, TemplateError, Templates,
    WithTemplates,
};

pub const FILE_NAME: &str = "config.toml";
pub const TEMPLATES_DIR: &str = "templates";
pub const DEFAULT_FROM: &str = "MFA console <mfa-console@localhost>";
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
const MAX_TIMEOUT_SECONDS: i64 = 300;
/// The largest config file: a real one is a few hundred bytes.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The largest relay password file.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 4 * 1024;
/// The largest CA file (a whole system bundle is about 220 KiB).
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} does not exist: create it (README, \"Email delivery\", has an example) or leave out --config to use the defaults",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("config file {}: cannot be read ({reason}); check that it is a readable text file", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}", invalid_text(path, *line, key, problem))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        problem: String,
    },
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("config file {}: the mail settings cannot be used: {source}", path.display())]
    Mail {
        path: PathBuf,
        #[source]
        source: MailError,
    },
}

fn invalid_text(path: &Path, line: Option<usize>, key: &str, problem: &str) -> String {
    let mut s = format!("config file {}", path.display());
    if let Some(n) = line {
        s.push_str(&format!(", line {n}"));
    }
    if !key.is_empty() {
        s.push_str(&format!(", {key}"));
    }
    s.push_str(": ");
    s.push_str(problem);
    s
}

/// The whole configuration, checked and ready to use.
#[derive(Debug)]
pub struct Config {
    /// The file it came from (or would have: see `found`).
    pub file: PathBuf,
    /// False when the default file does not exist and the defaults apply.
    pub found: bool,
    pub mail: MailConfig,
    pub serve: ServeConfig,
    pub store: StoreConfig,
}

/// `[store]`: a PostgreSQL database instead of the file (`url`), the file holding its
/// password, and this host's key file for it.
#[derive(Default)]
pub struct StoreConfig {
    pub url: Option<String>,
    pub password: Option<Zeroizing<String>>,
    /// `None`: `mfa-console.key` beside the config file.
    pub key_file: Option<PathBuf>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field(
                "password",
                &self.password.as_ref().map(|_| "(from its file)"),
            )
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// `[serve]`: where the authentication service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The Unix socket; `None`: `verify.sock` beside the database.
    pub socket: Option<PathBuf>,
    /// The group that may use the socket (mode 0660).
    pub socket_group: Option<String>,
    /// The HTTP listener, off unless set.
    pub listen: Option<std::net::SocketAddr>,
    /// Certificate chain and private key (PEM); required off loopback.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Verifications worked on at once (each password check takes 19 MiB).
    pub workers: usize,
    /// Requests that may wait for a worker; more get 503.
    pub queue: usize,
    /// The RADIUS listener (UDP), off unless set.
    pub radius_listen: Option<std::net::SocketAddr>,
    /// `[[serve.radius_client]]`: the NAS that may ask over RADIUS.
    pub radius_clients: Vec<RadiusClient>,
}

/// One `[[serve.radius_client]]`: a NAS (VPN gateway, firewall, Wi-Fi controller) that
/// asks over RADIUS, known by its source address and its shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusClient {
    pub name: String,
    /// The source addresses it sends from: an address, or a network in CIDR form.
    pub network: IpNetwork,
    pub secret_file: PathBuf,
    pub secret: RadiusSecret,
    pub mode: RadiusMode,
}

/// A shared secret; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct RadiusSecret(Zeroizing<Vec<u8>>);

impl RadiusSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for RadiusSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RadiusSecret(hidden)")
    }
}

/// How a RADIUS client's User-Password is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadiusMode {
    /// The product's password; the code follows in a second request after an
    /// Access-Challenge.
    PasswordAndCode,
    /// The product's password with the 6-digit code right after it, in one field.
    Append,
    /// The NAS checked the password itself; User-Password is the code.
    CodeOnly,
}

impl RadiusMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RadiusMode::PasswordAndCode => "password-and-code",
            RadiusMode::Append => "append",
            RadiusMode::CodeOnly => "code-only",
        }
    }
}

/// An address, or a network in CIDR form (`10.0.0.0/24`, `2001:db8::/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNetwork {
    pub fn parse(text: &str) -> Option<IpNetwork> {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|n| *n <= max)?,
            None => max,
        };
        Some(IpNetwork {
            addr: Self::masked(addr, prefix),
            prefix,
        })
    }

    fn masked(addr: std::net::IpAddr, prefix: u8) -> std::net::IpAddr {
        use std::net::IpAddr;
        match addr {
            IpAddr::V4(a) => {
                let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }

    /// Whether `ip` is in the network; an IPv4 address seen as `::ffff:a.b.c.d` counts
    /// as itself.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && Self::masked(ip, self.prefix) == self.addr
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// The shortest RADIUS shared secret accepted (RFC 2865 §3 prefers at least 16 octets).
pub const MIN_RADIUS_SECRET: usize = 16;

impl ServeConfig {
    /// One more than the cores: a core never idles while a verification waits for its
    /// commit to reach the disk.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get() + 1)
            .unwrap_or(2)
            .clamp(1, 64)
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            socket: None,
            socket_group: None,
            listen: None,
            tls: None,
            workers: Self::default_workers(),
            queue: DEFAULT_QUEUE,
            radius_listen: None,
            radius_clients: Vec::new(),
        }
    }
}

/// Requests that may wait for a worker, by default.
pub const DEFAULT_QUEUE: usize = 256;

#[derive(Debug)]
pub struct MailConfig {
    pub from: String,
    pub transport: Transport,
    pub templates: Templates,
    /// Where replacement templates are looked for.
    pub templates_dir: PathBuf,
}

#[derive(Debug)]
pub enum Transport {
    /// `.eml` files in a folder beside the database.
    Outbox {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
}

#[derive(Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    password: Option<Zeroizing<String>>,
    ca_pem: Option<Vec<u8>>,
}

// ---- the file as written ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    mail: RawMail,
    #[serde(default)]
    serve: RawServe,
    #[serde(default)]
    store: RawStore,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServe {
    socket: Option<Spanned<String>>,
    socket_group: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    workers: Option<Spanned<i64>>,
    queue: Option<Spanned<i64>>,
    radius_listen: Option<Spanned<String>>,
    #[serde(default)]
    radius_client: Vec<Spanned<RawRadiusClient>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadiusClient {
    name: Spanned<String>,
    address: Spanned<String>,
    secret_file: Spanned<String>,
    mode: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMail {
    transport: Option<Spanned<RawTransport>>,
    from: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    security: Option<Spanned<RawSecurity>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    /// Only here to refuse it with a useful message.
    password: Option<Spanned<IgnoredAny>>,
    ca_file: Option<Spanned<String>>,
    timeout_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawTransport {
    Outbox,
    Smtp,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawSecurity {
    None,
    Starttls,
    Tls,
}

/// The keys of `[mail]`, what each takes.
const MAIL_KEYS: [(&str, &str); 9] = [
    ("transport", "\"outbox\" or \"smtp\""),
    (
        "from",
        "a sender address, e.g. \"MFA console <mfa@corp.example>\"",
    ),
    ("host", "the relay's host name, e.g. \"mail.corp.example\""),
    ("port", "a port number from 1 to 65535"),
    ("security", "\"none\", \"starttls\" or \"tls\""),
    ("username", "the relay login name, as a string"),
    (
        "password_file",
        "the path of a file holding only the relay password",
    ),
    ("ca_file", "the path of a PEM file with the internal CA"),
    ("timeout_seconds", "a whole number of seconds from 1 to 300"),
];

impl Config {
    /// `config.toml` beside the database.
    pub fn default_path(db: &Path) -> PathBuf {
        folder_of(db).join(FILE_NAME)
    }

    /// Reads the config for the database `db`: `explicit` when given (it must exist),
    /// else `config.toml` beside the database (the defaults when it does not exist).
    pub fn load(db: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let file = explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Self::default_path(db));
        let text = match crate::bounded::read(&file, MAX_CONFIG_BYTES) {
            Ok(Some(bytes)) => {
                Some(
                    String::from_utf8(bytes).map_err(|_| ConfigError::Unreadable {
                        path: file.clone(),
                        reason: "it is not UTF-8 text".into(),
                    })?,
                )
            }
            Ok(None) => {
                return Err(ConfigError::Unreadable {
                    path: file,
                    reason: format!(
                        "it is larger than {}, far more than any config file; check the path",
                        crate::bounded::size(MAX_CONFIG_BYTES)
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if explicit.is_some() {
                    return Err(ConfigError::Missing(file));
                }
                None
            }
            Err(e) => {
                return Err(ConfigError::Unreadable {
                    path: file,
                    reason: e.to_string(),
                });
            }
        };
        Self::from_text(db, &file, text.as_deref())
    }

    /// Checks `text` as the content of `file` (`None`: the file does not exist).
    pub fn from_text(db: &Path, file: &Path, text: Option<&str>) -> Result<Config, ConfigError> {
        let src = text.unwrap_or("");
        // Syntax first, so that a broken file is called that rather than a bad value.
        toml::from_str::<toml::Table>(src).map_err(|e| {
            let mut err = toml_error(file, src, &e);
            if let ConfigError::Invalid { problem, .. } = &mut err {
                *problem = format!(
                    "this is not valid TOML ({problem}); write key = value lines under a [mail] header"
                );
            }
            err
        })?;
        let raw: RawConfig = toml::from_str(src).map_err(|e| toml_error(file, src, &e))?;
        let templates_dir = folder_of(file).join(TEMPLATES_DIR);
        let templates = Templates::load(&templates_dir)?;
        let mail = Checker {
            file,
            src,
            section: "mail",
        }
        .mail(db, raw.mail, templates, templates_dir)?;
        let serve = Checker {
            file,
            src,
            section: "serve",
        }
        .serve(raw.serve)?;
        let store = Checker {
            file,
            src,
            section: "store",
        }
        .store(raw.store)?;
        Ok(Config {
            file: file.to_path_buf(),
            found: text.is_some(),
            mail,
            serve,
            store,
        })
    }

    /// The mailer these settings describe.
    pub fn mailer(&self) -> Result<Arc<dyn Mailer>, ConfigError> {
        let inner: Arc<dyn Mailer> = match &self.mail.transport {
            Transport::Outbox { dir } => Arc::new(Outbox::new(dir, self.mail.from.clone())),
            Transport::Smtp(s) => {
                let smtp = Smtp::new(SmtpSettings {
                    host: s.host.clone(),
                    port: s.port,
                    security: s.security,
                    from: self.mail.from.clone(),
                    credentials: match (&s.username, &s.password) {
                        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                        _ => None,
                    },
                    ca_pem: s.ca_pem.clone(),
                    timeout: s.timeout,
                })
                .map_err(|source| ConfigError::Mail {
                    path: self.file.clone(),
                    source,
                })?;
                Arc::new(smtp)
            }
        };
        Ok(Arc::new(WithTemplates::new(
            inner,
            self.mail.templates.clone(),
        )))
    }

    /// Where mail goes and how, in lines for people.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![(
            "Config file",
            if self.found {
                self.file.display().to_string()
            } else {
                format!("{} (not found: the defaults apply)", self.file.display())
            },
        )];
        if let Some(url) = &self.store.url {
            let key = self
                .store
                .key_file
                .clone()
                .unwrap_or_else(|| folder_of(&self.file).join("mfa-console.key"));
            v.push((
                "Database",
                format!(
                    "{url} (password {}; key file {})",
                    if self.store.password.is_some() {
                        "from [store] password_file"
                    } else {
                        "none given"
                    },
                    key.display()
                ),
            ));
        }
        match &self.mail.transport {
            Transport::Outbox { dir } => {
                v.push((
                    "Transport",
                    format!(
                        "outbox: each message is written as an .eml file into {}",
                        dir.display()
                    ),
                ));
            }
            Transport::Smtp(s) => {
                let relay = Smtp::relay_name(&s.host, s.port);
                let security = match s.security {
                    Security::None => "no encryption".to_string(),
                    Security::StartTls => "STARTTLS required".to_string(),
                    Security::Tls => "TLS from the start".to_string(),
                };
                v.push((
                    "Transport",
                    format!("smtp: the mail relay at {relay}, {security}"),
                ));
                v.push((
                    "Login",
                    match (&s.username, &s.password_file) {
                        (Some(u), Some(p)) => {
                            format!("as {u:?}, password from {}", p.display())
                        }
                        _ => "none".into(),
                    },
                ));
                if s.security != Security::None {
                    v.push((
                        "Trusted CAs",
                        match &s.ca_file {
                            Some(p) => format!("the system's, plus {}", p.display()),
                            None => "the system's".into(),
                        },
                    ));
                }
                v.push(("Timeout", format!("{} s", s.timeout.as_secs())));
            }
        }
        v.push(("From", self.mail.from.clone()));
        if self.serve.radius_listen.is_some() || !self.serve.radius_clients.is_empty() {
            v.push((
                "RADIUS",
                match self.serve.radius_listen {
                    Some(a) => format!("serve answers on {a} (UDP)"),
                    None => "off: set radius_listen in [serve] (or serve --radius-listen)".into(),
                },
            ));
        }
        for c in &self.serve.radius_clients {
            v.push((
                "RADIUS NAS",
                format!(
                    "{} from {}, {}, shared secret in {} (readable by this account only)",
                    c.name,
                    c.network,
                    c.mode.as_str(),
                    c.secret_file.display()
                ),
            ));
        }
        let overridden = self.mail.templates.overridden();
        v.push((
            "Templates",
            if overridden.is_empty() {
                format!(
                    "built-in (replace one with a file of the same name in {})",
                    self.mail.templates_dir.display()
                )
            } else {
                format!(
                    "{} from {}, the rest built-in",
                    overridden
                        .iter()
                        .map(|t| t.file_name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.mail.templates_dir.display()
                )
            },
        ));
        v
    }
}

fn folder_of(p: &Path) -> PathBuf {
    p.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The dotted key written on line `line` (1-based): its table header plus the key before
/// `=`, or the header itself on a header line.
fn key_on_line(src: &str, line: usize) -> String {
    let lines: Vec<&str> = src.lines().collect();
    let Some(text) = lines.get(line.saturating_sub(1)) else {
        return String::new();
    };
    let header = |l: &str| {
        let t = l.trim();
        t.strip_prefix('[')
            .and_then(|r| r.split(']').next())
            .map(|h| h.trim().trim_matches('[').trim().to_string())
    };
    if let Some(h) = header(text) {
        return h;
    }
    let Some((key, _)) = text.split_once('=') else {
        return String::new();
    };
    let key = key.trim().trim_matches('"').trim_matches('\'').trim();
    let section = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .find_map(|l| header(l));
    match section {
        Some(s) if !s.is_empty() => format!("{s}.{key}"),
        _ => key.to_string(),
    }
}

fn toml_error(file: &Path, src: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|s| line_of(src, s.start));
    let mut key = line.map(|l| key_on_line(src, l)).unwrap_or_default();
    // `password` is a field only to refuse it with a better message: never suggest it.
    let message = e
        .message()
        .trim()
        .replace('\n', " ")
        .replace(", `password`,", ",");
    // For an unknown key toml points at the key; name it as written.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(name) = rest.split('`').next()
    {
        let bare = key.rsplit('.').next().unwrap_or("");
        if bare != name {
            key = name.to_string();
        }
    }
    let bare = key.rsplit('.').next().unwrap_or("").to_string();
    let known = MAIL_KEYS.iter().find(|(k, _)| *k == bare);
    let problem = if message.starts_with("unknown field") {
        if !key.contains('.') && known.is_some() {
            format!("{message}; mail settings go under a [mail] header")
        } else {
            format!("{message}; check the spelling (README, \"Email delivery\", lists every key)")
        }
    } else if let Some((_, what)) = known {
        format!("{message}; use {what}")
    } else {
        message
    };
    ConfigError::Invalid {
        path: file.to_path_buf(),
        line,
        key,
        problem,
    }
}

struct Checker<'a> {
    file: &'a Path,
    src: &'a str,
    section: &'static str,
}

impl Checker<'_> {
    fn at<T>(&self, v: &Spanned<T>, key: &str, problem: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.to_path_buf(),
            line: Some(line_of(self.src, v.span().start)),
            key: format!("{}.{key}", self.section),
            problem,
        }
    }

    /// For a key that is missing: the line of the `[mail]` header, if there is one.
    fn missing(&self, key: &str, problem: String) -> ConfigError {
        let line = self
            .src
            .lines()
            .position(|l| {
                l.trim()
                    .strip_prefix("[mail]")
                    .is_some_and(|r| r.trim().is_empty() || r.trim().starts_with('#'))
            })
            .map(|i| i + 1);
        ConfigError::Invalid {
            path: self.file.to_path_buf(),
            line,
            key: format!("mail.{key}"),
            problem,
        }
    }

    fn path(&self, v: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            return Err(self.at(v, key, "is empty: give the path of a file".into()));
        }
        let p = Path::new(s);
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            folder_of(self.file).join(p)
        })
    }

    fn store(&self, s: RawStore) -> Result<StoreConfig, ConfigError> {
        let url = match &s.url {
            Some(v) if !crate::store::PgLocation::is_url(v.get_ref()) => {
                return Err(self.at(
                    v,
                    "url",
                    "is not a PostgreSQL URL: write \"postgresql://USER@HOST:PORT/DATABASE\" (for a file, leave [store] out and use --db PATH)".into(),
                ));
            }
            // Checked here as it will be used, so a password in it is refused before the
            // URL is shown anywhere (config check prints the URL).
            Some(v) => match crate::store::PgLocation::parse(v.get_ref(), None, PathBuf::new()) {
                Ok(_) => Some(v.get_ref().trim().to_string()),
                Err(problem) => return Err(self.at(v, "url", problem)),
            },
            None => None,
        };
        let password = match &s.password_file {
            Some(v) => {
                let path = self.path(v, "password_file")?;
                Some(self.read_secret_file(v, "password_file", &path, "the database password")?)
            }
            None => None,
        };
        let key_file = s
            .key_file
            .as_ref()
            .map(|v| self.path(v, "key_file"))
            .transpose()?;
        Ok(StoreConfig {
            url,
            password,
            key_file,
        })
    }

    fn serve(&self, s: RawServe) -> Result<ServeConfig, ConfigError> {
        let socket = s
            .socket
            .as_ref()
            .map(|v| self.path(v, "socket"))
            .transpose()?;
        let socket_group = match &s.socket_group {
            Some(g) => {
                let name = g.get_ref().trim();
                if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(self.at(
                        g,
                        "socket_group",
                        format!("{name:?} is not a group name: give the name of a group, e.g. socket_group = \"mfa\""),
                    ));
                }
                Some(name.to_string())
            }
            None => None,
        };
        let listen = match &s.listen {
            Some(l) => Some(l.get_ref().trim().parse::<std::net::SocketAddr>().map_err(|_| {
                self.at(
                    l,
                    "listen",
                    format!(
                        "{:?} is not an address and port: use e.g. listen = \"127.0.0.1:8420\" or \"[::1]:8420\"",
                        l.get_ref()
                    ),
                )
            })?),
            None => None,
        };
        let tls = match (&s.tls_cert, &s.tls_key) {
            (Some(c), Some(k)) => Some((self.path(c, "tls_cert")?, self.path(k, "tls_key")?)),
            (Some(c), None) => {
                return Err(self.at(
                    c,
                    "tls_cert",
                    "has no tls_key beside it: name the private key's PEM file with tls_key".into(),
                ));
            }
            (None, Some(k)) => {
                return Err(self.at(k, "tls_key", "has no tls_cert beside it: name the certificate chain's PEM file with tls_cert".into()));
            }
            (None, None) => None,
        };
        if let (Some(addr), Some(l)) = (listen, &s.listen)
            && !addr.ip().is_loopback()
            && tls.is_none()
        {
            return Err(self.at(
                l,
                "listen",
                format!("{addr} is reachable from other hosts, so it needs TLS: set tls_cert and tls_key (PEM files), or listen on 127.0.0.1"),
            ));
        }
        let count = |v: &Option<Spanned<i64>>,
                     key: &str,
                     max: i64,
                     default: usize|
         -> Result<usize, ConfigError> {
            match v {
                Some(n) if (1..=max).contains(n.get_ref()) => Ok(*n.get_ref() as usize),
                Some(n) => Err(self.at(n, key, format!("must be a whole number from 1 to {max}"))),
                None => Ok(default),
            }
        };
        let workers = count(&s.workers, "workers", 64, ServeConfig::default_workers())?;
        let queue = count(&s.queue, "queue", 100_000, DEFAULT_QUEUE)?;
        let radius_listen = match &s.radius_listen {
            Some(l) => Some(l.get_ref().trim().parse::<std::net::SocketAddr>().map_err(|_| {
                self.at(
                    l,
                    "radius_listen",
                    format!(
                        "{:?} is not an address and port: use e.g. radius_listen = \"127.0.0.1:1812\" or \"0.0.0.0:1812\"",
                        l.get_ref()
                    ),
                )
            })?),
            None => None,
        };
        let mut radius_clients: Vec<RadiusClient> = Vec::new();
        for c in &s.radius_client {
            let c = self.radius_client(c.get_ref())?;
            if let Some(other) = radius_clients.iter().find(|o| o.name == c.name) {
                return Err(self.at(
                    &s.radius_client[radius_clients.len()].get_ref().name,
                    "radius_client.name",
                    format!(
                        "{:?} names two radius clients: give each its own name",
                        other.name
                    ),
                ));
            }
            if let Some(other) = radius_clients.iter().find(|o| o.network == c.network) {
                return Err(self.at(
                    &s.radius_client[radius_clients.len()].get_ref().address,
                    "radius_client.address",
                    format!(
                        "{} is already the address of radius client {:?}: a source address belongs to one client",
                        c.network, other.name
                    ),
                ));
            }
            radius_clients.push(c);
        }
        Ok(ServeConfig {
            socket,
            socket_group,
            listen,
            tls,
            workers,
            queue,
            radius_listen,
            radius_clients,
        })
    }

    fn radius_client(&self, c: &RawRadiusClient) -> Result<RadiusClient, ConfigError> {
        let name = c.name.get_ref().trim();
        crate::core::check_client_name(name)
            .map_err(|e| self.at(&c.name, "radius_client.name", e))?;
        let network = IpNetwork::parse(c.address.get_ref()).ok_or_else(|| {
            self.at(
                &c.address,
                "radius_client.address",
                format!(
                    "{:?} is not an address or network: use e.g. address = \"192.0.2.10\" or \"10.1.0.0/16\"",
                    c.address.get_ref()
                ),
            )
        })?;
        let mode = match c.mode.as_ref().map(|m| m.get_ref().trim()) {
            None | Some("password-and-code") => RadiusMode::PasswordAndCode,
            Some("append") => RadiusMode::Append,
            Some("code-only") => RadiusMode::CodeOnly,
            Some(other) => {
                return Err(self.at(
                    c.mode.as_ref().unwrap_or(&c.name),
                    "radius_client.mode",
                    format!(
                        "{other:?} is not a mode: use \"password-and-code\" (a challenge asks for the code), \"append\" (the code right after the password) or \"code-only\" (the NAS checked the password)"
                    ),
                ));
            }
        };
        let secret_file = self.path(&c.secret_file, "radius_client.secret_file")?;
        let secret = self.read_secret_file(
            &c.secret_file,
            "radius_client.secret_file",
            &secret_file,
            "the shared secret",
        )?;
        if secret.chars().count() < MIN_RADIUS_SECRET {
            let shown = secret_file.display();
            return Err(self.at(
                &c.secret_file,
                "radius_client.secret_file",
                format!(
                    "the shared secret in {shown} is shorter than {MIN_RADIUS_SECRET} characters: write a longer random one into it (e.g. `openssl rand -base64 24 > {shown}`) and give the NAS the same"
                ),
            ));
        }
        Ok(RadiusClient {
            name: name.to_string(),
            network,
            secret_file,
            secret: RadiusSecret::new(secret.as_bytes().to_vec()),
            mode,
        })
    }

    fn mail(
        &self,
        db: &Path,
        m: RawMail,
        templates: Templates,
        templates_dir: PathBuf,
    ) -> Result<MailConfig, ConfigError> {
        if let Some(p) = &m.password {
            return Err(self.at(
                p,
                "password",
                "the password does not belong in the config file: write it into a file only this account can read (chmod 600) and name that file with password_file".into(),
            ));
        }
        let from = match &m.from {
            Some(f) => {
                let text = f.get_ref().trim();
                text.parse::<lettre::message::Mailbox>().map_err(|e| {
                    self.at(
                        f,
                        "from",
                        format!(
                            "{text:?} is not a valid sender address ({e}); use e.g. from = \"MFA console <mfa@corp.example>\""
                        ),
                    )
                })?;
                text.to_string()
            }
            None => DEFAULT_FROM.to_string(),
        };
        let kind = m.transport.as_ref().map(|t| *t.get_ref());
        let transport = match kind {
            None | Some(RawTransport::Outbox) => {
                // A relay setting with the outbox means a forgotten `transport = "smtp"`.
                let smtp_only: [(&str, Option<std::ops::Range<usize>>); 7] = [
                    ("host", m.host.as_ref().map(|v| v.span())),
                    ("port", m.port.as_ref().map(|v| v.span())),
                    ("security", m.security.as_ref().map(|v| v.span())),
                    ("username", m.username.as_ref().map(|v| v.span())),
                    ("password_file", m.password_file.as_ref().map(|v| v.span())),
                    ("ca_file", m.ca_file.as_ref().map(|v| v.span())),
                    (
                        "timeout_seconds",
                        m.timeout_seconds.as_ref().map(|v| v.span()),
                    ),
                ];
                if let Some((key, Some(span))) = smtp_only.into_iter().find(|(_, s)| s.is_some()) {
                    return Err(ConfigError::Invalid {
                        path: self.file.to_path_buf(),
                        line: Some(line_of(self.src, span.start)),
                        key: format!("mail.{key}"),
                        problem: "is a relay setting, but mail goes to the outbox: add transport = \"smtp\" to use the relay, or remove this line".into(),
                    });
                }
                Transport::Outbox {
                    dir: Outbox::beside(db).dir().to_path_buf(),
                }
            }
            Some(RawTransport::Smtp) => {
                if m.from.is_none() {
                    return Err(self.missing(
                        "from",
                        "is missing: transport = \"smtp\" needs the sender address the relay accepts, e.g. from = \"MFA console <mfa@corp.example>\"".into(),
                    ));
                }
                Transport::Smtp(self.smtp(&m)?)
            }
        };
        Ok(MailConfig {
            from,
            transport,
            templates,
            templates_dir,
        })
    }

    fn smtp(&self, m: &RawMail) -> Result<SmtpConfig, ConfigError> {
        let Some(h) = &m.host else {
            return Err(self.missing(
                "host",
                "is missing: transport = \"smtp\" needs the relay's host name, e.g. host = \"mail.corp.example\"".into(),
            ));
        };
        let host = h.get_ref().trim();
        if host.is_empty()
            || host.contains("://")
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(self.at(
                h,
                "host",
                format!(
                    "{host:?} is not a host name: give the name or address only, e.g. host = \"mail.corp.example\" (the port goes in port)"
                ),
            ));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let security = match m.security.as_ref().map(|s| *s.get_ref()) {
            None | Some(RawSecurity::Starttls) => Security::StartTls,
            Some(RawSecurity::None) => Security::None,
            Some(RawSecurity::Tls) => Security::Tls,
        };
        let port = match &m.port {
            Some(p) => u16::try_from(*p.get_ref())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    self.at(
                        p,
                        "port",
                        format!(
                            "{} is not a port: use a number from 1 to 65535",
                            p.get_ref()
                        ),
                    )
                })?,
            None => security.default_port(),
        };
        let timeout = match &m.timeout_seconds {
            Some(t) => {
                let n = *t.get_ref();
                if !(1..=MAX_TIMEOUT_SECONDS).contains(&n) {
                    return Err(self.at(
                        t,
                        "timeout_seconds",
                        format!("{n} is out of range: use a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"),
                    ));
                }
                Duration::from_secs(n.unsigned_abs())
            }
            None => Duration::from_secs(DEFAULT_TIMEOUT_SECONDS),
        };
        let (username, password_file, password) = match (&m.username, &m.password_file) {
            (None, None) => (None, None, None),
            (Some(u), None) => {
                return Err(self.at(
                    u,
                    "username",
                    "is set without password_file: add password_file = \"PATH\" naming a file that holds the password, or remove username".into(),
                ));
            }
            (None, Some(p)) => {
                return Err(self.at(
                    p,
                    "password_file",
                    "is set without username: add username = \"...\" for the relay login, or remove password_file".into(),
                ));
            }
            (Some(u), Some(p)) => {
                let user = u.get_ref().trim();
                if user.is_empty() || user.chars().any(char::is_control) {
                    return Err(self.at(
                        u,
                        "username",
                        "is empty or holds control characters: give the relay login name".into(),
                    ));
                }
                if security == Security::None && !is_loopback(&host) {
                    return Err(self.at(
                        u,
                        "username",
                        format!(
                            "would send the password unencrypted to {host}: set security = \"starttls\" or \"tls\" (plain login is allowed only to a relay on this machine)"
                        ),
                    ));
                }
                let path = self.path(p, "password_file")?;
                let password = self.read_password(p, &path)?;
                (Some(user.to_string()), Some(path), Some(password))
            }
        };
        let (ca_file, ca_pem) = match &m.ca_file {
            None => (None, None),
            Some(c) => {
                if security == Security::None {
                    return Err(self.at(
                        c,
                        "ca_file",
                        "is only used with TLS, but security = \"none\": set security = \"starttls\" or \"tls\", or remove ca_file".into(),
                    ));
                }
                let path = self.path(c, "ca_file")?;
                let pem = crate::bounded::read(&path, MAX_CA_FILE_BYTES)
                    .map_err(|e| {
                        self.at(
                            c,
                            "ca_file",
                            format!("{} cannot be read ({e}); check the path", path.display()),
                        )
                    })?
                    .ok_or_else(|| {
                        self.at(
                            c,
                            "ca_file",
                            format!(
                                "{} is larger than {}: give the file with only the internal CA's certificate(s)",
                                path.display(),
                                crate::bounded::size(MAX_CA_FILE_BYTES)
                            ),
                        )
                    })?;
                let text = String::from_utf8_lossy(&pem);
                if !text.contains("-----BEGIN CERTIFICATE-----")
                    || lettre::transport::smtp::client::Certificate::from_pem(&pem).is_err()
                {
                    return Err(self.at(
                        c,
                        "ca_file",
                        format!(
                            "{} holds no PEM certificate: it should contain \"-----BEGIN CERTIFICATE-----\" blocks (export the CA certificate as PEM)",
                            path.display()
                        ),
                    ));
                }
                (Some(path), Some(pem))
            }
        };
        Ok(SmtpConfig {
            host,
            port,
            security,
            username,
            password_file,
            ca_file,
            timeout,
            password,
            ca_pem,
        })
    }

    fn read_password(
        &self,
        v: &Spanned<String>,
        path: &Path,
    ) -> Result<Zeroizing<String>, ConfigError> {
        self.read_secret_file(v, "password_file", path, "the relay password")
    }

    /// A file holding one secret: readable by this account only (mode 0600), small,
    /// UTF-8, not empty; a final newline is not part of it.
    fn read_secret_file(
        &self,
        v: &Spanned<String>,
        key: &str,
        path: &Path,
        what: &str,
    ) -> Result<Zeroizing<String>, ConfigError> {
        let shown = path.display();
        let meta = fs::metadata(path).map_err(|e| {
            self.at(
                v,
                key,
                format!("{shown} cannot be read ({e}); check the path"),
            )
        })?;
        if !meta.is_file() {
            return Err(self.at(v, key, format!("{shown} is not a file")));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(self.at(
                v,
                key,
                format!(
                    "{shown} can be read by other users: run `chmod 600 {shown}` and try again"
                ),
            ));
        }
        let bytes = Zeroizing::new(
            crate::bounded::read(path, MAX_PASSWORD_FILE_BYTES)
                .map_err(|e| {
                    self.at(
                        v,
                        key,
                        format!("{shown} cannot be read ({e}); check that this account owns it"),
                    )
                })?
                .ok_or_else(|| {
                    self.at(
                        v,
                        key,
                        format!(
                            "{shown} is larger than {}: it should hold only {what}",
                            crate::bounded::size(MAX_PASSWORD_FILE_BYTES)
                        ),
                    )
                })?,
        );
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| self.at(v, key, format!("{shown} is not UTF-8 text")))?;
        let password = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_string());
        if password.is_empty() {
            return Err(self.at(v, key, format!("{shown} is empty: write {what} into it")));
        }
        Ok(password)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn radius_client_networks_hold_their_addresses_only() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let one = IpNetwork::parse("192.0.2.10").unwrap();
        assert!(one.contains(ip("192.0.2.10")));
        assert!(!one.contains(ip("192.0.2.11")));
        assert!(one.contains(ip("::ffff:192.0.2.10")), "IPv4 seen as IPv6");
        let net = IpNetwork::parse("10.1.7.9/16").unwrap();
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert!(net.contains(ip("10.1.255.1")));
        assert!(!net.contains(ip("10.2.0.1")));
        let all = IpNetwork::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6 = IpNetwork::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0",
            "host.example",
            "10.0.0.0/",
            "/8",
        ] {
            assert!(IpNetwork::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_radius_secret_never_shows_in_debug() {
        let s = RadiusSecret::new(b"very secret shared secret".to_vec());
        assert!(!format!("{s:?}").contains("very secret"));
    }

    #[test]
    fn the_store_section_names_a_postgresql_database_and_refuses_what_would_leak() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let pw = dir.path().join("db-password");
        fs::write(&pw, "s3cret\n").unwrap();
        fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
        let text = "[store]\nurl = \"postgresql://mfa@db.example:5432/mfa\"\npassword_file = \"db-password\"\n";
        let c = Config::from_text(&dir.path().join("mfa-console"), &file, Some(text)).unwrap();
        assert_eq!(
            c.store.url.as_deref(),
            Some("postgresql://mfa@db.example:5432/mfa")
        );
        assert_eq!(
            c.store.password.as_deref().map(String::as_str),
            Some("s3cret")
        );
        assert!(
            !format!("{:?}", c.store).contains("s3cret"),
            "the password never shows"
        );
        let summary = format!("{:?}", c.summary());
        assert!(
            !summary.contains("s3cret") && summary.contains("db.example"),
            "{summary}"
        );
        // A password file others can read is refused, with the way out.
        fs::set_permissions(&pw, fs::Permissions::from_mode(0o644)).unwrap();
        let e = Config::from_text(&dir.path().join("mfa-console"), &file, Some(text))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("store.password_file") && e.contains("chmod 600"),
            "{e}"
        );
        // A file path is not a database URL.
        let e = err("[store]\nurl = \"/srv/mfa/org.redb\"\n");
        assert!(
            e.contains("store.url") && e.contains("postgresql://"),
            "{e}"
        );
        let e = err("[store]\nhost = \"db\"\n");
        assert!(e.contains("host"), "{e}");
    }

    fn err(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        Config::from_text(&dir.path().join("org.redb"), &file, Some(text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn line_numbers_and_keys() {
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(key_on_line("[mail]\n\nport = \"x\"\n", 3), "mail.port");
        assert_eq!(key_on_line("[mail]\n", 1), "mail");
        assert_eq!(key_on_line("x = 1\n", 1), "x");
    }

    #[test]
    fn missing_default_file_means_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("org.redb");
        let c = Config::load(&db, None).unwrap();
        assert!(!c.found);
        assert!(
            matches!(&c.mail.transport, Transport::Outbox { dir: d } if *d == dir.path().join("outbox"))
        );
        assert_eq!(c.mail.from, DEFAULT_FROM);
    }

    #[test]
    fn missing_explicit_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Config::load(
            &dir.path().join("org.redb"),
            Some(&dir.path().join("nope.toml")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope.toml does not exist"), "{e}");
    }

    #[test]
    fn unknown_key_named_with_line() {
        let e = err("[mail]\ntransport = \"smtp\"\nhots = \"x\"\n");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("hots"), "{e}");
    }
}
