//! A NAS over real UDP on loopback: it builds Access-Requests with the product's codec
//! (checked against the RFC examples in its own tests), sends them to the running
//! service, and checks every answer's Response Authenticator and Message-Authenticator
//! before it looks at anything else. Also the config of `[[serve.radius_client]]` tables
//! with their secret files (mode 0600).

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use mfa_console::serve::radius::packet::{self, Packet, attr};

use super::harness::{Org, Service};

/// A shared secret long enough for the service (16+ characters).
pub const SECRET: &str = "loopback-nas-secret-7f3a";

/// A UDP port nobody uses right now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// Writes `secret` into `name` beside the database, mode 0600.
pub fn secret_file(org: &Org, name: &str, secret: &str) -> PathBuf {
    let p = org.path(name);
    std::fs::write(&p, format!("{secret}\n")).expect("write the secret file");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    p
}

/// One `[[serve.radius_client]]` table.
pub fn client_table(
    name: &str,
    address: &str,
    secret_file: &std::path::Path,
    mode: &str,
) -> String {
    format!(
        "[[serve.radius_client]]\nname = \"{name}\"\naddress = \"{address}\"\nsecret_file = \"{}\"\nmode = \"{mode}\"\n\n",
        secret_file.display()
    )
}

/// Starts the service with RADIUS on a free loopback port and `clients` (name, address,
/// mode) in its config, all with [`SECRET`].
pub fn serve_radius(org: &Org, clients: &[(&str, &str, &str)]) -> (Service, SocketAddr) {
    let file = secret_file(org, "radius-secret", SECRET);
    let mut config = String::from("[serve]\n");
    for (name, address, mode) in clients {
        config.push_str(&client_table(name, address, &file, mode));
    }
    org.write_config(&config);
    let port = free_udp_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
    let s = org.serve_with(&["--radius-listen", &addr.to_string()]);
    (s, addr)
}

/// What came back, checked.
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: u8,
    pub reply_message: Option<String>,
    pub state: Option<Vec<u8>>,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn is_accept(&self) -> bool {
        self.code == packet::ACCESS_ACCEPT
    }
    pub fn is_reject(&self) -> bool {
        self.code == packet::ACCESS_REJECT
    }
    pub fn is_challenge(&self) -> bool {
        self.code == packet::ACCESS_CHALLENGE
    }
    pub fn message(&self) -> &str {
        self.reply_message.as_deref().unwrap_or("")
    }
}

/// A request as sent: its bytes, to send again as a retransmission.
#[derive(Clone)]
pub struct Sent {
    pub bytes: Vec<u8>,
    pub id: u8,
    pub authenticator: [u8; 16],
}

pub struct Nas {
    pub sock: UdpSocket,
    server: SocketAddr,
    secret: Vec<u8>,
    next_id: u8,
}

impl Nas {
    /// A NAS on 127.0.0.1.
    pub fn new(server: SocketAddr) -> Nas {
        Nas::from_address("127.0.0.1", server, SECRET)
    }

    /// A NAS sending from `local` (any of 127.0.0.0/8) with `secret`.
    pub fn from_address(local: &str, server: SocketAddr, secret: &str) -> Nas {
        let sock = UdpSocket::bind(format!("{local}:0")).expect("bind the NAS's socket");
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("a read timeout");
        let mut first = [0u8; 1];
        getrandom::fill(&mut first).expect("random");
        Nas {
            sock,
            server,
            secret: secret.as_bytes().to_vec(),
            next_id: first[0],
        }
    }

    /// An Access-Request for `user` with `password` as User-Password, `state` when
    /// answering a challenge, `extra` attributes, and a Message-Authenticator when `sign`.
    pub fn build(
        &mut self,
        user: &str,
        password: &str,
        state: Option<&[u8]>,
        extra: Vec<(u8, Vec<u8>)>,
        sign: bool,
    ) -> Sent {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut authenticator = [0u8; 16];
        getrandom::fill(&mut authenticator).expect("random");
        let mut attrs = vec![
            (attr::USER_NAME, user.as_bytes().to_vec()),
            (
                attr::USER_PASSWORD,
                packet::hide_password(password.as_bytes(), &self.secret, &authenticator),
            ),
            (attr::NAS_IP_ADDRESS, vec![127, 0, 0, 1]),
        ];
        if let Some(s) = state {
            attrs.push((attr::STATE, s.to_vec()));
        }
        attrs.extend(extra);
        let bytes = packet::encode_request(id, authenticator, attrs, &self.secret, sign)
            .expect("encode a request");
        Sent {
            bytes,
            id,
            authenticator,
        }
    }

    pub fn send(&self, bytes: &[u8]) {
        self.sock
            .send_to(bytes, self.server)
            .expect("send a datagram");
    }

    /// The answer to `sent`, checked: the Response Authenticator (RFC 2865) and the
    /// Message-Authenticator (RFC 3579) must be right, or the test fails.
    pub fn receive(&self, sent: &Sent, wait: Duration) -> Option<Answer> {
        self.sock
            .set_read_timeout(Some(wait))
            .expect("a read timeout");
        let mut buf = [0u8; 4096];
        loop {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(_) => return None,
            };
            assert_eq!(from, self.server, "an answer from the service");
            let p = Packet::decode(&buf[..n]).expect("the service's answer decodes");
            if p.identifier != sent.id {
                // The answer to an earlier request (one the test did not wait for).
                continue;
            }
            assert!(
                p.response_authenticator_ok(&sent.authenticator, &self.secret),
                "the Response Authenticator is right"
            );
            assert!(
                p.message_authenticator_ok(&self.secret, Some(&sent.authenticator)),
                "every answer carries a right Message-Authenticator"
            );
            return Some(Answer {
                code: p.code,
                reply_message: p
                    .get(attr::REPLY_MESSAGE)
                    .map(|m| String::from_utf8_lossy(m).to_string()),
                state: p.get(attr::STATE).map(<[u8]>::to_vec),
                bytes: buf[..n].to_vec(),
            });
        }
    }

    /// Sends and waits for the answer, which must come.
    pub fn ask(&mut self, user: &str, password: &str, state: Option<&[u8]>) -> Answer {
        let sent = self.build(user, password, state, Vec::new(), true);
        self.send(&sent.bytes);
        self.receive(&sent, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("no answer for {user}"))
    }

    /// Sends bytes that the service must drop: nothing comes back within `wait`.
    pub fn assert_dropped(&self, bytes: &[u8], what: &str) {
        self.send(bytes);
        self.sock
            .set_read_timeout(Some(Duration::from_millis(800)))
            .expect("a read timeout");
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
            panic!("{what}: the service answered ({n} bytes) instead of dropping it");
        }
    }
}
