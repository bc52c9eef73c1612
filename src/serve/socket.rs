//! The Unix socket for local clients (the PAM module): one JSON request per line, one
//! answer per line. Who may connect is decided by the socket's file permissions (0660,
//! owner and `socket_group`); each request is audited with the peer's uid
//! (`pam@HOST uid N`).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};

use super::proto::{self, Op, SocketRequest};
use super::{Decided, Shared, Work, warn};
use crate::cli::CliError;
use crate::core::Caller;
use crate::store::ClientMode;

/// A connection that sends no complete line, or reads no answer, for this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);
/// Connections open at once.
const MAX_CONNECTIONS: usize = 1024;

/// Creates the socket (replacing a stale one left by a service that died), mode 0660,
/// group `group` when given.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, CliError> {
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(CliError::Message(format!(
                "cannot open the socket {shown}: a file that is not a socket is there; move it away or pick another path with --socket"
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(CliError::Message(format!(
                "cannot open the socket {shown}: another service answers on it (another mfa-console serve?); stop it first or pick another path with --socket"
            )));
        }
        std::fs::remove_file(path).map_err(|e| {
            CliError::Message(format!(
                "cannot replace the stale socket {shown}: {e}; remove it by hand"
            ))
        })?;
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        return Err(CliError::Message(format!(
            "cannot open the socket {shown}: the folder {} does not exist; create it or pick another path with --socket",
            parent.display()
        )));
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        CliError::Message(format!(
            "cannot open the socket {shown}: {e}; check the folder's permissions, or pick another path with --socket"
        ))
    })?;
    let owned = (|| {
        if let Some(g) = group {
            let gid = group_id(g)?;
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
                CliError::Message(format!(
                    "cannot give the socket {shown} to group {g}: {e}; the service must run as root or as a member of {g}"
                ))
            })?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|e| {
            CliError::Message(format!("cannot set the mode of the socket {shown}: {e}"))
        })
    })();
    if let Err(e) = owned {
        // A socket the service will not answer on is not left for clients to find.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// A group's id, by name or number, from the system's group database.
fn group_id(name: &str) -> Result<u32, CliError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let _ = f.next();
            let gid = f.next()?.parse::<u32>().ok()?;
            (n == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| {
            CliError::Message(format!(
                "socket_group {name:?}: no such group in /etc/group; create it (groupadd {name}) or give its number"
            ))
        })
}

pub async fn accept_loop(
    listener: UnixListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    warn(&format!("socket: could not accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            connection(stream, shared, stop).await;
        });
        // Reap the finished ones so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn connection(stream: UnixStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let uid = match stream.peer_cred() {
        Ok(c) => c.uid(),
        Err(e) => {
            warn(&format!(
                "socket: the peer's credentials cannot be read ({e}); connection closed"
            ));
            return;
        }
    };
    let label = format!("pam@{} uid {uid}", shared.host());
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(512));
    loop {
        line.clear();
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE, read_line(&mut reader, &mut line)) => r,
            _ = stop.changed() => return,
        };
        let (status, body, close) = match read {
            Err(_) | Ok(Err(_)) | Ok(Ok(Line::Eof)) => return,
            Ok(Ok(Line::Unfinished)) => {
                let (s, b) = proto::error(
                    400,
                    "the request ended without a newline: end each JSON request with \\n",
                );
                (s, b, true)
            }
            Ok(Ok(Line::TooLong)) => {
                let (s, b) = proto::error(
                    400,
                    "the request is longer than 16 KiB; a request is one line of a few hundred bytes",
                );
                (s, b, true)
            }
            Ok(Ok(Line::Complete)) => match answer(&shared, &label, uid, &line).await {
                Ok((s, b)) => (s, b, false),
                Err((s, b)) => (s, b, true),
            },
        };
        let mut out = serde_json::json!({"status": status});
        if let (Some(o), serde_json::Value::Object(b)) = (out.as_object_mut(), body) {
            o.extend(b);
        }
        let mut text = out.to_string();
        text.push('\n');
        // A client that does not read its answers is cut off like one that does not send,
        // or it would hold its connection, and a stop, for good.
        let written = tokio::time::timeout(IDLE, write.write_all(text.as_bytes())).await;
        if !matches!(written, Ok(Ok(()))) || close {
            return;
        }
    }
}

enum Line {
    Complete,
    Eof,
    /// The client stopped sending part-way through a line.
    Unfinished,
    TooLong,
}

/// Reads one line into `buf` (without the newline), at most [`proto::MAX_REQUEST_BYTES`].
async fn read_line(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Line> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if buf.is_empty() {
                Line::Eof
            } else {
                Line::Unfinished
            });
        }
        if let Some(i) = chunk.iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&chunk[..i]);
            reader.consume(i + 1);
            if buf.len() > proto::MAX_REQUEST_BYTES {
                return Ok(Line::TooLong);
            }
            if buf.ends_with(b"\r") {
                buf.pop();
            }
            return Ok(Line::Complete);
        }
        let n = chunk.len();
        buf.extend_from_slice(chunk);
        reader.consume(n);
        if buf.len() > proto::MAX_REQUEST_BYTES {
            return Ok(Line::TooLong);
        }
    }
}

/// The answer to one line; `Err` closes the connection after sending it.
async fn answer(
    shared: &Arc<Shared>,
    label: &str,
    uid: u32,
    line: &[u8],
) -> Result<(u16, serde_json::Value), (u16, serde_json::Value)> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(proto::error(
            400,
            "an empty line: send one JSON request per line",
        ));
    }
    let r: SocketRequest = proto::parse(line).map_err(|b| proto::error(400, &b.0))?;
    let work = match r.op {
        Op::Health => return Ok(proto::health()),
        Op::Verify => Work::Verify,
        Op::EmailCode => Work::EmailCode,
    };
    let mode: ClientMode = r.mode.map(Into::into).unwrap_or(ClientMode::CodeOnly);
    // Code-only vouches for the first factor: only root (sshd, sudo, login) and the
    // service's own account, which can read the database anyway, may say so. Other
    // members of the socket's group must send the password too.
    if mode == ClientMode::CodeOnly && !may_vouch(uid, own_uid()) {
        return Err(proto::error(
            403,
            "code-only requests on the socket are taken from root and the service's own account only: send \"mode\": \"password-and-code\" with the password",
        ));
    }
    let caller = Caller::Local {
        label: label.to_string(),
        mode,
    };
    let request = proto::to_request(
        mode,
        r.username,
        r.password,
        r.code,
        &[("service", r.service), ("rhost", r.rhost), ("tty", r.tty)],
    )
    .map_err(|b| proto::error(400, &b.0))?;
    match super::decide(shared, work, caller, move |_| Ok(request)).await {
        Decided::Answer(s, b) | Decided::Unidentified(s, b) if s == 400 => Err((s, b)),
        Decided::Answer(s, b) | Decided::Unidentified(s, b) => Ok((s, b)),
    }
}

/// Whether a socket peer may send code-only requests (vouch for the first factor).
fn may_vouch(peer: u32, own: Option<u32>) -> bool {
    peer == 0 || Some(peer) == own
}

/// The uid this process runs as.
fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::may_vouch;

    #[test]
    fn only_root_and_the_service_account_may_vouch_for_the_first_factor() {
        assert!(may_vouch(0, Some(998)));
        assert!(may_vouch(998, Some(998)));
        assert!(
            !may_vouch(1000, Some(998)),
            "a member of the socket's group"
        );
        assert!(!may_vouch(1000, None));
    }
}
