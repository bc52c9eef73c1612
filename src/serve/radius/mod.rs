//! RADIUS (RFC 2865, UDP) for VPN gateways, firewalls and Wi-Fi controllers: PAP
//! Access-Requests from the NAS named in `[[serve.radius_client]]`, each known by its
//! source address and shared secret.
//!
//! Every request must carry a right Message-Authenticator (RFC 3579; the BlastRADIUS
//! attack, CVE-2024-3596, forges answers to requests without one), and every answer
//! carries one. A packet from an unknown address, without a right Message-Authenticator,
//! or badly encoded is dropped (never answered), counted, and told in the log at most
//! once every 10 s per kind; the first two are also audited, rate-limited like wrong API
//! keys. A retransmission (same source, Identifier and Request Authenticator within 5 s)
//! gets the answer already sent, never a second verification.
//!
//! The decisions are the core's, through the same gate, workers and group commit as the
//! socket and the HTTP API; this module only maps RADIUS to a request and the answer
//! back: Access-Accept, Access-Reject (with a Reply-Message saying "locked until …" or
//! "configure MFA in the console"), or Access-Challenge with a State when a code is due.

pub mod packet;
mod state;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::watch;
use zeroize::Zeroizing;

use self::packet::{Packet, attr};
use self::state::{Challenge, Challenges, Duplicates, RequestKey, Seen};
use super::{FirstFactor, Outcome, Settled, Shared, Work, warn};
use crate::cli::CliError;
use crate::config::{RadiusClient, RadiusMode};
use crate::core::{Caller, GENERIC_REFUSAL, MfaState, ServiceAnswer, ServiceRequest};
use crate::store::ClientMode;

pub use state::{CHALLENGE_LIFETIME, DUPLICATE_WINDOW, MAX_CHALLENGES};

/// What the prompt of a challenge says (OpenVPN and Cisco show it to the user).
pub const CODE_PROMPT: &str = "Verification code:";
/// At most one log line per kind of dropped packet this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Digits of the code at the end of the password in `append` mode.
const APPENDED_DIGITS: usize = 6;

/// Packets dropped so far, by reason (shown in the rate-limited log lines).
#[derive(Default)]
pub struct Counters {
    pub bad_packets: AtomicU64,
    pub unknown_source: AtomicU64,
    pub bad_authenticator: AtomicU64,
    pub retransmissions: AtomicU64,
    pub not_decided: AtomicU64,
}

/// The RADIUS listener's state, shared by its tasks.
pub struct Radius {
    clients: RwLock<Arc<Vec<RadiusClient>>>,
    challenges: Mutex<Challenges>,
    duplicates: Mutex<Duplicates>,
    pub counters: Counters,
    unknown_sources: super::BadKeys,
    bad_authenticators: super::BadKeys,
    logged: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl Radius {
    pub fn new(clients: Vec<RadiusClient>) -> Self {
        Self {
            clients: RwLock::new(Arc::new(clients)),
            challenges: Mutex::new(Challenges::default()),
            duplicates: Mutex::new(Duplicates::default()),
            counters: Counters::default(),
            unknown_sources: super::BadKeys::default(),
            bad_authenticators: super::BadKeys::default(),
            logged: Mutex::new(HashMap::new()),
        }
    }

    /// SIGHUP: the clients of the config file just read.
    pub fn set_clients(&self, clients: Vec<RadiusClient>) {
        match self.clients.write() {
            Ok(mut c) => *c = Arc::new(clients),
            Err(p) => *p.into_inner() = Arc::new(clients),
        }
    }

    fn clients(&self) -> Arc<Vec<RadiusClient>> {
        match self.clients.read() {
            Ok(c) => Arc::clone(&c),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The client a source address belongs to: the most specific network holding it.
    fn client_for(&self, ip: IpAddr) -> Option<RadiusClient> {
        self.clients()
            .iter()
            .filter(|c| c.network.contains(ip))
            .max_by_key(|c| c.network.prefix)
            .cloned()
    }

    /// A log line of this kind, unless one was written less than 10 s ago; the ones
    /// held back are counted into the next.
    fn log_limited(&self, kind: &'static str, line: impl FnOnce() -> String) {
        let now = Instant::now();
        let held = match self.logged.lock() {
            Ok(mut m) => {
                let e = m.entry(kind).or_insert((now - LOG_EVERY * 2, 0));
                if now.duration_since(e.0) < LOG_EVERY {
                    e.1 += 1;
                    return;
                }
                let held = e.1;
                *e = (now, 0);
                held
            }
            Err(_) => 0,
        };
        let mut text = format!("radius: {}", line());
        if held > 0 {
            text.push_str(&format!(
                " ({held} more like it not logged in the last 10 s)"
            ));
        }
        warn(&text);
    }

    fn lock_duplicates(&self) -> std::sync::MutexGuard<'_, Duplicates> {
        match self.duplicates.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        }
    }

    fn lock_challenges(&self) -> std::sync::MutexGuard<'_, Challenges> {
        match self.challenges.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        }
    }
}

/// Binds the RADIUS port.
pub fn bind(addr: SocketAddr) -> Result<std::net::UdpSocket, CliError> {
    let s = std::net::UdpSocket::bind(addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "another RADIUS server (freeradius?) or service uses it; stop it or pick another port with radius_listen"
        } else {
            "check the address, or pick another with radius_listen"
        };
        CliError::Message(format!("cannot listen for RADIUS on {addr}: {e}; {hint}"))
    })?;
    s.set_nonblocking(true)
        .map_err(|e| CliError::Message(format!("cannot listen for RADIUS on {addr}: {e}")))?;
    Ok(s)
}

/// Receives until `stop`, then waits for the requests being decided.
pub async fn receive_loop(
    socket: std::net::UdpSocket,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let socket = match UdpSocket::from_std(socket) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            warn(&format!("radius: the UDP socket cannot be used: {e}"));
            return;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Room for any datagram, so an oversized packet is seen whole and refused as such.
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    warn(&format!("radius: could not receive: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        match arrive(&shared.radius, &buf[..n], from) {
            Arrival::Dropped => {}
            Arrival::Audit { kind, count } => {
                let s = Arc::clone(&shared);
                tasks.spawn_blocking(move || {
                    let source = format!("radius from {}", from.ip());
                    if let Err(e) = s.core().audit_radius_dropped(&source, kind, count) {
                        warn(&format!("radius: could not audit a dropped request: {e}"));
                    }
                });
            }
            Arrival::Resend(bytes) => {
                let _ = socket.send_to(&bytes, from).await;
            }
            Arrival::Decide(job) => {
                let s = Arc::clone(&shared);
                let socket = Arc::clone(&socket);
                tasks.spawn(async move {
                    let key = job.key;
                    match decide(&s, &job).await {
                        Some(bytes) => {
                            // Remembered first: a retransmission may arrive as soon as
                            // the answer has left.
                            s.radius
                                .lock_duplicates()
                                .answered(key, bytes.clone(), Instant::now());
                            let _ = socket.send_to(&bytes, from).await;
                        }
                        None => s.radius.lock_duplicates().forget(&key),
                    }
                });
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// An Access-Request from a known client, signed right, not a retransmission.
struct Job {
    client: RadiusClient,
    packet: Packet,
    source: IpAddr,
    key: RequestKey,
}

enum Arrival {
    Dropped,
    /// Dropped, and an audit event is due for this many such requests.
    Audit {
        kind: &'static str,
        count: u64,
    },
    Resend(Vec<u8>),
    Decide(Box<Job>),
}

/// The checks made on every datagram before any decision, in the order that costs an
/// attacker the most and the service the least.
fn arrive(r: &Radius, bytes: &[u8], from: SocketAddr) -> Arrival {
    use crate::core::audit::kind;
    let ip = from.ip();
    let Some(client) = r.client_for(ip) else {
        let n = r.counters.unknown_source.fetch_add(1, Ordering::Relaxed) + 1;
        r.log_limited("unknown", || {
            format!(
                "dropped a request from {ip}: no [[serve.radius_client]] has this address ({n} dropped for this reason since the start)"
            )
        });
        let penalty = r.unknown_sources.record(ip);
        return if penalty.audit > 0 {
            Arrival::Audit {
                kind: kind::RADIUS_UNKNOWN_CLIENT,
                count: penalty.audit,
            }
        } else {
            Arrival::Dropped
        };
    };
    let packet = match Packet::decode(bytes) {
        Ok(p) if p.code == packet::ACCESS_REQUEST => p,
        Ok(p) => {
            let n = r.counters.bad_packets.fetch_add(1, Ordering::Relaxed) + 1;
            r.log_limited("bad", || {
                format!(
                    "dropped a packet from {} ({ip}): code {} is not an Access-Request; this port answers only authentication ({n} bad packets since the start)",
                    client.name, p.code
                )
            });
            return Arrival::Dropped;
        }
        Err(e) => {
            let n = r.counters.bad_packets.fetch_add(1, Ordering::Relaxed) + 1;
            r.log_limited("bad", || {
                format!(
                    "dropped a bad packet from {} ({ip}): {e} ({n} bad packets since the start)",
                    client.name
                )
            });
            return Arrival::Dropped;
        }
    };
    if !packet.message_authenticator_ok(client.secret.bytes(), None) {
        let n = r.counters.bad_authenticator.fetch_add(1, Ordering::Relaxed) + 1;
        let why = if packet.get(attr::MESSAGE_AUTHENTICATOR).is_none() {
            "it has no Message-Authenticator, which this service requires (BlastRADIUS, CVE-2024-3596): turn Message-Authenticator on in the NAS's RADIUS settings (radclient: add `Message-Authenticator = 0x00`)"
        } else {
            "its Message-Authenticator is wrong: the NAS and its secret_file do not hold the same shared secret"
        };
        r.log_limited("authenticator", || {
            format!(
                "dropped a request from {} ({ip}): {why} ({n} dropped for this reason since the start)",
                client.name
            )
        });
        let penalty = r.bad_authenticators.record(ip);
        return if penalty.audit > 0 {
            Arrival::Audit {
                kind: kind::RADIUS_BAD_AUTHENTICATOR,
                count: penalty.audit,
            }
        } else {
            Arrival::Dropped
        };
    }
    let key: RequestKey = (from, packet.identifier, packet.authenticator);
    match r.lock_duplicates().arrive(key, Instant::now()) {
        Seen::New => Arrival::Decide(Box::new(Job {
            client,
            packet,
            source: ip,
            key,
        })),
        Seen::Answered(bytes) => {
            r.counters.retransmissions.fetch_add(1, Ordering::Relaxed);
            Arrival::Resend(bytes)
        }
        Seen::InFlight => {
            r.counters.retransmissions.fetch_add(1, Ordering::Relaxed);
            Arrival::Dropped
        }
        Seen::Full => {
            let n = r.counters.not_decided.fetch_add(1, Ordering::Relaxed) + 1;
            r.log_limited("busy", || {
                format!(
                    "dropped a request from {} ({ip}): too many requests in flight; the NAS will retry ({n} not decided since the start)",
                    client.name
                )
            });
            Arrival::Dropped
        }
    }
}

/// How the User-Password of one request is read.
enum Reading {
    /// The product's password (perhaps with the code appended).
    First {
        password: Zeroizing<String>,
        code: Option<Zeroizing<String>>,
    },
    /// The code alone: code-only mode, or the answer to a challenge.
    Code {
        code: Zeroizing<String>,
        proof: Option<crate::core::PasswordProof>,
    },
}

/// Decides one request and encodes its answer; `None`: not answered (the service is at
/// its bound or failed), so the NAS retries or asks another server.
async fn decide(shared: &Arc<Shared>, job: &Job) -> Option<Vec<u8>> {
    let r = &shared.radius;
    let p = &job.packet;
    let c = &job.client;
    let secret = c.secret.bytes();
    let reject = |message: &str| -> Option<Vec<u8>> {
        encode(packet::ACCESS_REJECT, p, message_attrs(message), secret)
    };
    let Some(user_name) = p.user_name().map(str::to_string) else {
        r.log_limited("request", || {
            format!(
                "refused a request from {} ({}): it has no User-Name",
                c.name, job.source
            )
        });
        return reject(GENERIC_REFUSAL);
    };
    let Some(hidden) = p.get(attr::USER_PASSWORD) else {
        let what = if p.get(attr::CHAP_PASSWORD).is_some() {
            "CHAP"
        } else if p.get(attr::EAP_MESSAGE).is_some() {
            "EAP"
        } else {
            "no User-Password"
        };
        r.log_limited("request", || {
            format!(
                "refused a request from {} ({}): it uses {what}; this service reads PAP only (set the NAS to PAP)",
                c.name, job.source
            )
        });
        return reject("This service takes PAP only: the NAS must send User-Password.");
    };
    let Some(typed) = packet::reveal_password(hidden, secret, &p.authenticator) else {
        r.log_limited("request", || {
            format!(
                "refused a request from {} ({}): its User-Password is not text",
                c.name, job.source
            )
        });
        return reject(GENERIC_REFUSAL);
    };
    let state = p.get(attr::STATE);
    let reading = match (c.mode, state) {
        (RadiusMode::CodeOnly, _) => Reading::Code {
            code: typed,
            proof: None,
        },
        (_, Some(state)) => {
            let proof =
                r.lock_challenges()
                    .take(state, &c.name, job.source, &user_name, Instant::now());
            match proof {
                Some(proof) => Reading::Code {
                    code: typed,
                    proof: Some(proof),
                },
                None => {
                    r.log_limited("challenge", || {
                        format!(
                            "refused a request from {} ({}): its State names no open challenge (expired after {} s, already answered, or another user's); the user signs in again",
                            c.name,
                            job.source,
                            CHALLENGE_LIFETIME.as_secs()
                        )
                    });
                    return reject(GENERIC_REFUSAL);
                }
            }
        }
        (RadiusMode::Append, None) => {
            let (password, code) = split_appended(&typed);
            Reading::First { password, code }
        }
        (RadiusMode::PasswordAndCode, None) => Reading::First {
            password: typed,
            code: None,
        },
    };
    let mode = match c.mode {
        RadiusMode::CodeOnly => ClientMode::CodeOnly,
        RadiusMode::Append | RadiusMode::PasswordAndCode => ClientMode::PasswordAndCode,
    };
    let caller = Caller::Local {
        label: format!("radius {}", c.name),
        mode,
    };
    let label = caller.label();
    let mut context = format!("from {}", job.source);
    if let Some(station) = p
        .get(attr::CALLING_STATION_ID)
        .and_then(|v| std::str::from_utf8(v).ok())
    {
        let station: String = station.chars().take(64).collect();
        context.push_str(&format!(", calling station {station}"));
    }
    let (first, password, code) = match reading {
        Reading::First { password, code } => (FirstFactor::AsTheModeSays, Some(password), code),
        Reading::Code {
            code,
            proof: Some(proof),
        } => (FirstFactor::Proven(proof), None, Some(code)),
        Reading::Code { code, proof: None } => (FirstFactor::AsTheModeSays, None, Some(code)),
    };
    let name_for_request = user_name.clone();
    let started = Instant::now();
    let (caller_again, context_again) = (caller.clone(), context.clone());
    let settled = super::settle(shared, Work::Verify, caller, first, move |_| {
        Ok(ServiceRequest {
            username: name_for_request,
            password,
            code,
            context,
        })
    })
    .await;
    let (answer, proof) = match settled {
        Settled::Full => {
            let n = r.counters.not_decided.fetch_add(1, Ordering::Relaxed) + 1;
            r.log_limited("busy", || {
                format!(
                    "did not answer a request from {}: the service is at its limit of waiting requests; the NAS will retry ({n} not decided since the start)",
                    c.name
                )
            });
            return None;
        }
        Settled::WorkerFailed => return None,
        Settled::Done {
            outcome: Outcome::Failed(e),
            ..
        } => {
            r.counters.not_decided.fetch_add(1, Ordering::Relaxed);
            warn(&format!(
                "radius: could not decide a request from {} (not answered; the NAS will retry): {e}",
                c.name
            ));
            return None;
        }
        Settled::Done {
            outcome: Outcome::Bad(_),
            ..
        } => return reject(GENERIC_REFUSAL),
        Settled::Done {
            outcome: Outcome::Answered(a),
            proof,
            ..
        } => (a, proof),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        "serve: {label} user {}: {} ({ms:.1} ms)",
        crate::core::text::escape_control(&user_name),
        super::proto::summary(&answer)
    );
    match answer {
        ServiceAnswer::Accepted {
            mfa,
            recovery_codes_left,
            ..
        } => {
            let message = match (mfa, recovery_codes_left) {
                (MfaState::Grace { days_left }, _) => Some(format!(
                    "MFA is required: configure MFA in the console within {days_left} days."
                )),
                (_, Some(n)) => Some(format!(
                    "A recovery code was used; {n} left. Configure a new authenticator soon."
                )),
                _ => None,
            };
            encode(
                packet::ACCESS_ACCEPT,
                p,
                message.map(|m| message_attrs(&m)).unwrap_or_default(),
                secret,
            )
        }
        ServiceAnswer::CodeRequired { methods, .. } => {
            let Some(proof) = proof.filter(|_| c.mode != RadiusMode::CodeOnly) else {
                // Code-only with an empty User-Password.
                return reject("A verification code is required.");
            };
            // A user with email as the only method gets the code by email now, as the
            // PAM module offers it: the NAS has no way to ask for one.
            let mut prompt = CODE_PROMPT.to_string();
            if methods == [crate::store::Method::Email] {
                let name = user_name.clone();
                let sent = super::settle(
                    shared,
                    Work::EmailCode,
                    caller_again,
                    FirstFactor::Proven(proof.clone()),
                    move |_| {
                        Ok(ServiceRequest {
                            username: name,
                            password: None,
                            code: None,
                            context: context_again,
                        })
                    },
                )
                .await;
                match sent {
                    Settled::Done {
                        outcome: Outcome::Answered(ServiceAnswer::CodeSent { email, .. }),
                        ..
                    } => prompt = format!("A code was sent to {email}. {CODE_PROMPT}"),
                    Settled::Done {
                        outcome: Outcome::Answered(ServiceAnswer::Throttled { .. }),
                        ..
                    } => {
                        prompt = format!(
                            "A code was sent by email less than 30 s ago; type that one. {CODE_PROMPT}"
                        )
                    }
                    Settled::Done {
                        outcome: Outcome::Failed(e),
                        ..
                    } => {
                        warn(&format!(
                            "radius: the email code for a request from {} was not sent: {e}",
                            c.name
                        ));
                        return reject(
                            "The code could not be sent by email; try again later or ask your administrator.",
                        );
                    }
                    _ => return reject(GENERIC_REFUSAL),
                }
            }
            let opened = r.lock_challenges().open(
                Challenge {
                    client: c.name.clone(),
                    source: job.source,
                    user_name,
                    proof,
                    expires: Instant::now() + CHALLENGE_LIFETIME,
                },
                Instant::now(),
            );
            match opened {
                Ok(state) => {
                    let mut attrs = message_attrs(&prompt);
                    attrs.push((attr::STATE, state.to_vec()));
                    // RFC 2869 §5.10 Prompt: 0 = do not echo the answer.
                    attrs.push((76, 0u32.to_be_bytes().to_vec()));
                    encode(packet::ACCESS_CHALLENGE, p, attrs, secret)
                }
                Err(_) => {
                    r.log_limited("challenge", || {
                        format!(
                            "refused a request from {}: {MAX_CHALLENGES} challenges are waiting for their code already",
                            c.name
                        )
                    });
                    reject("Too many sign-ins are waiting for a code; try again in a minute.")
                }
            }
        }
        ServiceAnswer::Locked { until } => reject(&format!(
            "Sign-in is locked after repeated failures until {}. An administrator can unlock it sooner.",
            crate::core::clock::format_time(until)
        )),
        ServiceAnswer::EnrollRequired => reject(
            "Multi-factor authentication is required for this account: configure MFA in the console first.",
        ),
        ServiceAnswer::Refused { .. }
        | ServiceAnswer::CodeSent { .. }
        | ServiceAnswer::Throttled { .. } => reject(GENERIC_REFUSAL),
    }
}

/// `append` mode: the password, then exactly six digits. Without six digits at the
/// end, the whole field is the password (a user who is not asked for a code).
fn split_appended(typed: &str) -> (Zeroizing<String>, Option<Zeroizing<String>>) {
    let chars: Vec<char> = typed.chars().collect();
    if chars.len() > APPENDED_DIGITS {
        let (pw, code) = chars.split_at(chars.len() - APPENDED_DIGITS);
        if code.iter().all(|c| c.is_ascii_digit()) {
            return (
                Zeroizing::new(pw.iter().collect()),
                Some(Zeroizing::new(code.iter().collect())),
            );
        }
    }
    (Zeroizing::new(typed.to_string()), None)
}

fn message_attrs(message: &str) -> Vec<(u8, Vec<u8>)> {
    let mut m = message.as_bytes().to_vec();
    if m.len() > packet::MAX_VALUE {
        let mut end = packet::MAX_VALUE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
    }
    vec![(attr::REPLY_MESSAGE, m)]
}

fn encode(code: u8, request: &Packet, attrs: Vec<(u8, Vec<u8>)>, secret: &[u8]) -> Option<Vec<u8>> {
    match packet::encode_response(code, request, attrs, secret) {
        Ok(b) => Some(b),
        Err(e) => {
            warn(&format!("radius: could not encode an answer: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_mode_splits_six_trailing_digits_only() {
        let (pw, code) = split_appended("quiet meadow lantern 9123456");
        assert_eq!(pw.as_str(), "quiet meadow lantern 9");
        assert_eq!(code.as_deref().map(String::as_str), Some("123456"));
        let (pw, code) = split_appended("no code here");
        assert_eq!((pw.as_str(), code.is_none()), ("no code here", true));
        let (pw, code) = split_appended("123456");
        assert_eq!((pw.as_str(), code.is_none()), ("123456", true));
    }
}
