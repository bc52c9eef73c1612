//! The socket side: one connection to the service, kept for the requests of one sign-in.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ffi::socket;
use crate::flow::Verifier;
use crate::protocol::{Answer, Request, parse_answer};

/// The longest answer line read; a longer one means something other than the service is
/// talking.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Why the service could not be asked. The text goes to the system log, never to the
/// person signing in.
#[derive(Debug)]
pub enum Trouble {
    Connect(io::Error),
    Send(io::Error),
    Receive(io::Error),
    NoAnswer(Duration),
    Closed,
    TooLong,
    NotAnAnswer(String),
    /// The service answered `error`.
    Service {
        status: Option<u16>,
        message: Option<String>,
    },
    /// A well-formed answer that makes no sense at this point of the sign-in.
    Unexpected(String),
    /// Something listens on the socket, but it runs as an account the service does not:
    /// perhaps someone else's program put in the service's place.
    Impostor(u32),
}

impl Trouble {
    /// Whether `fail=open` may let the user in: only when the service cannot be connected
    /// to at all (no socket, nobody listening). A service that is up, even when it is
    /// busy, broken or answers something unexpected, never opens the door: someone who
    /// could make it so (a flood of requests, a failing relay) would otherwise skip the
    /// second factor. The caller also allows it only before the sign-in's first answer.
    pub fn lets_fail_open(&self) -> bool {
        matches!(self, Trouble::Connect(_))
    }

    /// The service closed a connection it had kept: it closes idle ones after 30 s (while
    /// someone looks for their phone). The request was not read, so it can be sent again.
    fn is_idle_close(&self) -> bool {
        match self {
            Trouble::Closed => true,
            Trouble::Send(e) | Trouble::Receive(e) => matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::NotConnected
            ),
            _ => false,
        }
    }
}

impl fmt::Display for Trouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trouble::Connect(e) => write!(f, "connect: {e}"),
            Trouble::Send(e) => write!(f, "send: {e}"),
            Trouble::Receive(e) => write!(f, "receive: {e}"),
            Trouble::NoAnswer(t) => write!(f, "no answer within {} s", t.as_secs()),
            Trouble::Closed => write!(f, "the connection was closed without an answer"),
            Trouble::TooLong => write!(f, "an answer line is longer than {MAX_ANSWER} bytes"),
            Trouble::NotAnAnswer(why) => write!(f, "not the service's protocol: {why}"),
            Trouble::Service { status, message } => {
                write!(f, "the service answered error")?;
                if let Some(s) = status {
                    write!(f, " {s}")?;
                }
                if let Some(m) = message {
                    write!(f, ": {}", crate::strings::printable(m))?;
                }
                Ok(())
            }
            Trouble::Unexpected(what) => write!(f, "unexpected answer {what}"),
            Trouble::Impostor(uid) => write!(
                f,
                "the socket is served by uid {uid}, which is not root, this program's own account or service_uid=: not trusted"
            ),
        }
    }
}

/// One open connection and the bytes read past the last answer.
pub struct Connection {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl Connection {
    /// Connects, and accepts the service only when it runs as root, as this program's own
    /// account, or as `service_uid`.
    pub fn open(path: &Path, timeout: Duration, service_uid: Option<u32>) -> Result<Self, Trouble> {
        let stream = socket::connect(path, timeout).map_err(Trouble::Connect)?;
        let uid = socket::peer_uid(&stream).map_err(Trouble::Receive)?;
        if !trusted_peer(uid, socket::effective_uid(), service_uid) {
            return Err(Trouble::Impostor(uid));
        }
        Ok(Connection {
            stream,
            pending: Vec::new(),
        })
    }

    /// Sends one request line and reads its answer, each within `timeout`.
    pub fn exchange(&mut self, line: &[u8], timeout: Duration) -> Result<Answer, Trouble> {
        self.stream
            .set_write_timeout(Some(timeout))
            .map_err(Trouble::Send)?;
        socket::send_all(&self.stream, line).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Trouble::NoAnswer(timeout),
            _ => Trouble::Send(e),
        })?;
        let answer = self.read_line(timeout)?;
        parse_answer(&answer).map_err(|e| Trouble::NotAnAnswer(e.0))
    }

    fn read_line(&mut self, timeout: Duration) -> Result<Vec<u8>, Trouble> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                if end > MAX_ANSWER {
                    return Err(Trouble::TooLong);
                }
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                return Ok(line);
            }
            if self.pending.len() > MAX_ANSWER {
                return Err(Trouble::TooLong);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Trouble::NoAnswer(timeout));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(Trouble::Receive)?;
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Trouble::Closed),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Trouble::NoAnswer(timeout));
                }
                Err(e) => return Err(Trouble::Receive(e)),
            }
        }
    }
}

/// Whether the process serving the socket may be believed.
pub fn trusted_peer(peer: u32, own: u32, service_uid: Option<u32>) -> bool {
    peer == 0 || peer == own || Some(peer) == service_uid
}

/// The service at a socket path, connected on the first request.
pub struct SocketVerifier {
    path: PathBuf,
    timeout: Duration,
    service_uid: Option<u32>,
    conn: Option<Connection>,
}

impl SocketVerifier {
    pub fn new(path: &Path, timeout: Duration) -> Self {
        SocketVerifier {
            path: path.to_path_buf(),
            timeout,
            service_uid: None,
            conn: None,
        }
    }

    /// Also trust a service running as this uid (a dedicated service account).
    pub fn with_service_uid(mut self, uid: Option<u32>) -> Self {
        self.service_uid = uid;
        self
    }
}

impl Verifier for SocketVerifier {
    fn exchange(&mut self, request: &Request) -> Result<Answer, Trouble> {
        let line = request
            .encode()
            .map_err(|e| Trouble::NotAnAnswer(format!("cannot write the request: {e}")))?;
        if let Some(mut conn) = self.conn.take() {
            match conn.exchange(&line, self.timeout) {
                Err(t) if t.is_idle_close() => {}
                other => {
                    if other.is_ok() {
                        self.conn = Some(conn);
                    }
                    return other;
                }
            }
        }
        let mut conn = Connection::open(&self.path, self.timeout, self.service_uid)?;
        let answer = conn.exchange(&line, self.timeout)?;
        self.conn = Some(conn);
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::options::Mode;
    use crate::protocol::{Context, Op};
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::thread;

    /// A service on a temporary socket: each connection gets `reply(connection number,
    /// request line)`; `None` closes the connection instead of answering.
    fn serve(
        reply: impl Fn(usize, &str) -> Option<Vec<u8>> + Send + 'static,
    ) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verify.sock");
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let mut out = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    match reply(n, &line) {
                        Some(bytes) => {
                            if out.write_all(&bytes).is_err() {
                                break;
                            }
                        }
                        None => break,
                    }
                }
            }
        });
        (dir, path)
    }

    fn probe(ctx: &Context) -> Request<'_> {
        Request::new(Op::Verify, Mode::CodeOnly, ctx, None, None)
    }

    fn alice() -> Context {
        Context {
            username: "alice".into(),
            ..Context::default()
        }
    }

    #[test]
    fn two_requests_share_one_connection() {
        let (_dir, path) = serve(|n, line| {
            let answer = if line.contains("\"code\"") {
                format!("{{\"result\":\"accepted\",\"mfa\":\"verified\",\"message\":\"{n}\"}}\n")
            } else {
                "{\"result\":\"code_required\",\"methods\":[\"authenticator\"]}\n".to_string()
            };
            Some(answer.into_bytes())
        });
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(2));
        assert_eq!(
            v.exchange(&probe(&ctx)).unwrap(),
            Answer::CodeRequired { email: None }
        );
        let with_code = Request::new(Op::Verify, Mode::CodeOnly, &ctx, None, Some("123456"));
        assert!(matches!(
            v.exchange(&with_code).unwrap(),
            Answer::Accepted { .. }
        ));
    }

    #[test]
    fn a_connection_closed_while_idle_is_opened_again() {
        // The first connection answers once then closes (the service's idle timeout).
        let (_dir, path) = serve(|n, line| {
            if n == 0 && line.contains("\"code\"") {
                None
            } else {
                Some(b"{\"result\":\"refused\"}\n".to_vec())
            }
        });
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(2));
        v.exchange(&probe(&ctx)).unwrap();
        let with_code = Request::new(Op::Verify, Mode::CodeOnly, &ctx, None, Some("1"));
        assert!(matches!(
            v.exchange(&with_code).unwrap(),
            Answer::Refused { .. }
        ));
    }

    #[test]
    fn no_socket_is_a_connect_error_with_the_os_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = alice();
        let mut v = SocketVerifier::new(&dir.path().join("none.sock"), Duration::from_secs(1));
        let t = v.exchange(&probe(&ctx)).unwrap_err();
        assert_eq!(
            t.to_string(),
            "connect: No such file or directory (os error 2)"
        );
        assert!(t.lets_fail_open());
    }

    #[test]
    fn silence_is_a_timeout() {
        let (_dir, path) = serve(|_, _| {
            thread::sleep(Duration::from_secs(3));
            None
        });
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(1));
        let started = Instant::now();
        let t = v.exchange(&probe(&ctx)).unwrap_err();
        assert!(matches!(t, Trouble::NoAnswer(_)), "{t}");
        assert_eq!(t.to_string(), "no answer within 1 s");
        assert!(started.elapsed() < Duration::from_millis(2500));
    }

    #[test]
    fn a_slow_drip_does_not_extend_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verify.sock");
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // One byte every 200 ms, never a newline.
            for _ in 0..50 {
                if s.write_all(b" ").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(200));
            }
        });
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(1));
        let started = Instant::now();
        let t = v.exchange(&probe(&ctx)).unwrap_err();
        assert!(matches!(t, Trouble::NoAnswer(_)), "{t}");
        assert!(started.elapsed() < Duration::from_millis(1800));
    }

    #[test]
    fn an_answer_over_64_kib_is_refused() {
        let (_dir, path) = serve(|_, _| {
            let mut big = b"{\"result\":\"refused\",\"message\":\"".to_vec();
            big.extend(std::iter::repeat_n(b'x', MAX_ANSWER));
            big.extend_from_slice(b"\"}\n");
            Some(big)
        });
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(2));
        assert!(matches!(
            v.exchange(&probe(&ctx)).unwrap_err(),
            Trouble::TooLong
        ));
    }

    #[test]
    fn an_answer_of_exactly_64_kib_is_read() {
        let (_dir, path) = serve(|_, _| {
            let head = b"{\"result\":\"refused\",\"message\":\"";
            let mut line = head.to_vec();
            line.extend(std::iter::repeat_n(b'x', MAX_ANSWER - head.len() - 2));
            line.extend_from_slice(b"\"}\n");
            assert_eq!(line.len(), MAX_ANSWER + 1);
            Some(line)
        });
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(2));
        assert!(matches!(
            v.exchange(&probe(&ctx)).unwrap(),
            Answer::Refused { .. }
        ));
    }

    #[test]
    fn a_service_is_believed_only_as_root_this_account_or_service_uid() {
        assert!(trusted_peer(0, 1000, None));
        assert!(trusted_peer(1000, 1000, None));
        assert!(trusted_peer(998, 0, Some(998)));
        assert!(!trusted_peer(1001, 0, None), "another user's program");
        assert!(!trusted_peer(1001, 1000, Some(998)));
        assert!(!Trouble::Impostor(1001).lets_fail_open());
    }

    #[test]
    fn garbage_is_not_an_answer() {
        let (_dir, path) = serve(|_, _| Some(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()));
        let ctx = alice();
        let mut v = SocketVerifier::new(&path, Duration::from_secs(2));
        let t = v.exchange(&probe(&ctx)).unwrap_err();
        assert!(matches!(t, Trouble::NotAnAnswer(_)), "{t}");
        assert!(
            !t.lets_fail_open(),
            "something answered: not a reason to open"
        );
    }

    #[test]
    fn only_a_service_that_cannot_be_reached_lets_fail_open_in() {
        let err = |status| Trouble::Service {
            status,
            message: None,
        };
        for answered in [
            err(Some(503)),
            err(Some(500)),
            err(None),
            err(Some(400)),
            Trouble::Unexpected("code_sent".into()),
            Trouble::Closed,
            Trouble::NoAnswer(Duration::from_secs(10)),
            Trouble::TooLong,
        ] {
            assert!(!answered.lets_fail_open(), "{answered}");
        }
        assert!(
            Trouble::Connect(io::Error::from_raw_os_error(libc::ECONNREFUSED)).lets_fail_open()
        );
        assert!(Trouble::Connect(io::Error::from_raw_os_error(libc::ENOENT)).lets_fail_open());
    }
}
