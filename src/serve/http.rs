//! The HTTP API: `POST /v1/verify`, `POST /v1/email-code`, `GET /v1/health`, each client
//! with its API key as `Authorization: Bearer KEY`. Plain HTTP on loopback, HTTPS anywhere.
//!
//! Connections are served by hyper with axum's router. A client that sends its headers or
//! body too slowly, or no request at all, is cut off; bodies over 16 KiB are refused; at
//! most [`MAX_CONNECTIONS`] connections are open at once (more wait in the listen backlog).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use super::{Decided, Shared, Work, proto, tls, warn};
use crate::cli::CliError;
use crate::core::Caller;
use crate::store::ClientMode;

/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// The longest a client may take to send its request headers, or its body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for open connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(30);

/// The peer of a connection, put into each request.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

pub fn bind(addr: SocketAddr) -> Result<TcpListener, CliError> {
    let l = std::net::TcpListener::bind(addr).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "another process listens there (perhaps another mfa-console serve): stop it or pick another port"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges: pick a port above 1024"
            }
            std::io::ErrorKind::AddrNotAvailable => "this host has no such address",
            _ => "check the address",
        };
        CliError::Message(format!("cannot listen on {addr}: {e}; {hint}"))
    })?;
    l.set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(l))
        .map_err(|e| CliError::Message(format!("cannot listen on {addr}: {e}")))
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/email-code", post(email_code))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<tls::Reloadable>>,
    mut stop: watch::Receiver<bool>,
) {
    let app = router(Arc::clone(&shared));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn(&format!("HTTP: could not accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        let tls = tls.as_ref().map(|t| t.current());
        tokio::spawn(async move {
            let _slot = slot;
            let activity = Activity::new();
            let seen = Arc::clone(&activity);
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(Peer(peer));
                    let in_flight = seen.begin();
                    let answer = app.clone().oneshot(req);
                    async move {
                        let r = answer.await;
                        drop(in_flight);
                        r
                    }
                },
            );
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(8);
            match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => {}
                        () = activity.idle(READ_TIMEOUT) => {}
                    }
                }
                Some(acceptor) => {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => {}
                        () = activity.idle(READ_TIMEOUT) => {}
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => warn("HTTP: connections still open after 30 s were closed"),
    }
}

/// Whether a connection carries a request. hyper cuts off an HTTP/1 client that starts
/// its headers and stalls, but not one that connects and sends nothing, nor an HTTP/2
/// client that opens no stream: each would hold one of the [`MAX_CONNECTIONS`] for good.
/// Such a connection is closed once it has carried no request for a while.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the last request finished, in milliseconds after `opened`.
    last_done: AtomicU64,
}

/// A request being answered; counted out when dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_done.store(ms, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Resolves once no request has been in flight for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_done.load(Ordering::Acquire));
            let quiet = last.elapsed();
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            if !busy && quiet >= limit {
                return;
            }
            let wait = if busy { limit } else { limit - quiet };
            tokio::time::sleep(wait).await;
        }
    }
}

fn json(status: u16, body: serde_json::Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        code,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        format!("{body}\n"),
    )
        .into_response();
    if status == 503 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn health() -> Response {
    let (s, b) = proto::health();
    json(s, b)
}

async fn not_found() -> Response {
    let (s, b) = proto::error(
        404,
        "no such endpoint: use POST /v1/verify, POST /v1/email-code or GET /v1/health",
    );
    json(s, b)
}

async fn method_not_allowed() -> Response {
    let (s, b) = proto::error(
        405,
        "wrong method: POST /v1/verify and /v1/email-code, GET /v1/health",
    );
    json(s, b)
}

async fn verify(
    State(shared): State<Arc<Shared>>,
    axum::Extension(peer): axum::Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(shared, peer, headers, body, Work::Verify).await
}

async fn email_code(
    State(shared): State<Arc<Shared>>,
    axum::Extension(peer): axum::Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(shared, peer, headers, body, Work::EmailCode).await
}

/// The bearer token, if the header is there and well-formed.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

async fn handle(
    shared: Arc<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Body,
    work: Work,
) -> Response {
    let Some(key) = bearer(&headers) else {
        return bad_key(&shared, peer.ip()).await;
    };
    // The key first: nobody without one has their body read or takes a place in the
    // service's queue.
    let core = shared.core();
    let client = match tokio::task::spawn_blocking(move || core.client_for_key(&key)).await {
        Ok(Ok(Some(c))) => c,
        Ok(Ok(None)) => return bad_key(&shared, peer.ip()).await,
        Ok(Err(e)) => {
            warn(&format!("HTTP: the API key could not be looked up: {e}"));
            let (s, b) = match &e {
                // Said as it is: the database server is down or cut off.
                crate::core::CoreError::Store(u @ crate::store::StoreError::Unreachable { .. }) => {
                    proto::error(503, &u.to_string())
                }
                _ => proto::error(
                    503,
                    "the API key could not be looked up just now; try again in a moment",
                ),
            };
            return json(s, b);
        }
        Err(e) => {
            warn(&format!("HTTP: the API key lookup failed: {e}"));
            let (s, b) = proto::error(
                500,
                "the service could not decide; the reason is in its log",
            );
            return json(s, b);
        }
    };
    let bytes = match tokio::time::timeout(
        READ_TIMEOUT,
        axum::body::to_bytes(body, proto::MAX_REQUEST_BYTES),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            let (s, b) = if too_big {
                proto::error(
                    413,
                    "the body is larger than 16 KiB; a request is a few hundred bytes",
                )
            } else {
                proto::error(400, "the body could not be read")
            };
            return json(s, b);
        }
        Err(_) => {
            let (s, b) = proto::error(408, "the body did not arrive within 10 s");
            return json(s, b);
        }
    };
    let decided = super::decide(&shared, work, Caller::Client(client), move |caller| {
        let r: proto::HttpRequest = proto::parse(&bytes)?;
        let mode: ClientMode = caller.mode();
        proto::to_request(
            mode,
            Some(r.username),
            r.password,
            r.code,
            &[("service", r.service), ("rhost", r.rhost)],
        )
    })
    .await;
    match decided {
        Decided::Answer(s, b) => {
            shared.bad_keys.forgive(peer.ip());
            json(s, b)
        }
        // A 503 before the key was looked at must not clear a source's bad keys.
        Decided::Unidentified(s, b) => json(s, b),
    }
}

/// 401 for a missing or wrong key: audited (at most once per source every 10 s, with
/// the count), and slower the more a source sends.
async fn bad_key(shared: &Arc<Shared>, ip: IpAddr) -> Response {
    let penalty = shared.bad_keys.record(ip);
    if penalty.audit > 0 {
        let s = Arc::clone(shared);
        let source = ip.to_string();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = s
                .core()
                .audit_bad_keys(&format!("http from {source}"), penalty.audit)
            {
                warn(&format!(
                    "could not audit a wrong API key from {source}: {e}"
                ));
            }
        });
        tracing::info!("serve: a missing or wrong API key from {ip}");
    }
    if !penalty.delay.is_zero() {
        tokio::time::sleep(penalty.delay).await;
    }
    let (s, b) = proto::error(
        401,
        "missing or wrong API key: send Authorization: Bearer KEY with the key `mfa-console client add` printed",
    );
    let mut r = json(s, b);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}
