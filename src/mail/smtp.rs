//! Delivery through the organization's SMTP relay: plain, STARTTLS or implicit TLS (rustls,
//! no OpenSSL), optionally logging in and trusting an internal CA.
//!
//! STARTTLS is required when asked for: a relay that does not offer it gets nothing, never
//! a plain-text fallback. Failures come back in plain words naming `host:port`.

use std::error::Error as _;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use zeroize::Zeroizing;

use super::{MailError, Mailer, OutgoingMail, Receipt, build_message};

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain text: only for a relay on this machine or a trusted segment.
    None,
    /// Plain connection upgraded with STARTTLS, which the relay must offer.
    StartTls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

impl Security {
    pub fn name(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::StartTls => "starttls",
            Security::Tls => "tls",
        }
    }

    /// The usual port for each kind.
    pub fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::StartTls => 587,
            Security::Tls => 465,
        }
    }
}

/// Everything an [`Smtp`] mailer needs; the config file fills it.
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The sender, e.g. `MFA console <mfa@corp.example>`.
    pub from: String,
    /// Username and password for AUTH.
    pub credentials: Option<(String, Zeroizing<String>)>,
    /// PEM text of extra trusted roots (an internal CA), besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

pub struct Smtp {
    transport: SmtpTransport,
    from: String,
    relay: String,
    host: String,
    security: Security,
    timeout: Duration,
}

impl Smtp {
    pub fn new(s: SmtpSettings) -> Result<Smtp, MailError> {
        let relay = Self::relay_name(&s.host, s.port);
        let tls = |relay: &str| -> Result<TlsParameters, MailError> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(pem) = &s.ca_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| MailError::Relay {
                    relay: relay.to_string(),
                    problem: format!(
                        "cannot be trusted through ca_file: it does not hold a PEM certificate ({e})"
                    ),
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| MailError::Relay {
                relay: relay.to_string(),
                problem: format!("cannot be reached over TLS: the TLS settings failed ({e})"),
            })
        };
        let mut builder = SmtpTransport::builder_dangerous(&s.host)
            .port(s.port)
            .timeout(Some(s.timeout));
        builder = match s.security {
            Security::None => builder.tls(Tls::None),
            Security::StartTls => builder.tls(Tls::Required(tls(&relay)?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls(&relay)?)),
        };
        if let Some((user, password)) = &s.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
        }
        Ok(Smtp {
            transport: builder.build(),
            from: s.from,
            relay,
            host: s.host,
            security: s.security,
            timeout: s.timeout,
        })
    }

    /// `host:port` (IPv6 addresses in brackets).
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// How a relay is named in messages: `host:port`, IPv6 addresses in brackets.
    pub fn relay_name(host: &str, port: u16) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }

    /// Turns lettre's error into what failed, where, and what to do.
    fn explain(&self, e: &lettre::transport::smtp::Error) -> MailError {
        let relay = self.relay.clone();
        if let Some(code) = e.status() {
            let text = e
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "(no text)".into());
            return MailError::Rejected {
                relay,
                code: code.to_string().parse().unwrap_or(0),
                text: crate::text::single_line(&text),
            };
        }
        let problem = if let Some(tls) = find_rustls_error(e) {
            self.explain_tls(tls)
        } else if let Some(io) = find_io_error(e) {
            self.explain_io(io)
        } else {
            let text = chain(e);
            if text.contains("STARTTLS is not supported") {
                "does not offer STARTTLS, and security = \"starttls\" requires it: nothing was sent. \
                 Use security = \"tls\" if this port expects TLS at once, or enable STARTTLS on the relay"
                    .to_string()
            } else if text.contains("No compatible authentication mechanism") {
                "offers no login method this console can use (PLAIN or LOGIN) on this connection: \
                 check security (most relays offer login only over TLS) or remove username"
                    .to_string()
            } else if e.is_timeout() {
                self.timed_out()
            } else {
                format!("could not be used: {text}")
            }
        };
        MailError::Relay { relay, problem }
    }

    fn timed_out(&self) -> String {
        format!(
            "did not answer within {} s; check that host and port are right and that a firewall lets the connection through, or raise timeout_seconds",
            self.timeout.as_secs()
        )
    }

    fn explain_io(&self, io: &std::io::Error) -> String {
        use std::io::ErrorKind as K;
        match io.kind() {
            K::ConnectionRefused => "refused the connection; check that the relay is running and that host and port in the mail settings are right".into(),
            K::TimedOut | K::WouldBlock => self.timed_out(),
            K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
                let hint = match self.security {
                    Security::Tls => "; if this port expects plain SMTP or STARTTLS, set security = \"starttls\"",
                    _ => "; if this port expects TLS at once (often 465), set security = \"tls\"",
                };
                format!("closed the connection unexpectedly ({io}){hint}")
            }
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => {
                format!("cannot be reached ({io}); check the network and the host name")
            }
            _ if io.to_string().contains("lookup") || io.to_string().contains("resolve") => {
                format!(
                    "could not be found: the name {:?} does not resolve ({io}); check host in the mail settings",
                    self.host
                )
            }
            _ => format!("could not be used ({io})"),
        }
    }

    fn explain_tls(&self, e: &rustls::Error) -> String {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                    "presented a TLS certificate that is not valid for the name {:?}; set host to a name the certificate lists",
                    self.host
                ),
                C::Expired | C::ExpiredContext { .. } => {
                    "presented an expired TLS certificate; renew the relay's certificate".into()
                }
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "presented a TLS certificate that is not valid yet; check the clocks of both machines".into()
                }
                _ => format!(
                    "presented a TLS certificate that is not trusted ({c:?}); check ca_file: it must hold the CA certificate that signed the relay's certificate"
                ),
            },
            other => {
                let hint = match self.security {
                    Security::Tls => "; if this port expects plain SMTP or STARTTLS (often 25 or 587), set security = \"starttls\"",
                    _ => "",
                };
                format!("failed the TLS handshake ({other}){hint}")
            }
        }
    }
}

impl Mailer for Smtp {
    fn send(&self, mail: &OutgoingMail) -> Result<Receipt, MailError> {
        let message = build_message(&self.from, mail)?;
        let response = self
            .transport
            .send(&message)
            .map_err(|e| self.explain(&e))?;
        let text: Vec<&str> = response.message().collect();
        Ok(Receipt(format!(
            "{} answered {}: {}",
            self.describe(),
            response.code(),
            crate::text::single_line(&text.join(" "))
        )))
    }

    fn describe(&self) -> String {
        format!("the mail relay at {}", self.relay)
    }
}

/// Every message in the chain, joined: lettre's own texts are terse.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        next = s.source();
    }
    out
}

fn find_io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = err.source();
    }
    None
}

/// rustls reports a failed handshake inside an `io::Error`, whose `source()` skips the
/// wrapped error itself, so look inside with `get_ref`.
fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(t) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(t);
        }
        next = err.source();
    }
    None
}
