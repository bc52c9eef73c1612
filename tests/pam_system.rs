//! The PAM module with the real system clients: `pamtester`, and `sshd` with
//! keyboard-interactive after a public key, signed in to by a scripted `ssh`.
//!
//! They need packages a fresh machine lacks (pamtester, openssh-server) and root (sshd and
//! the PAM service files in /etc/pam.d), so `cargo test` reports them ignored; `.ci/run`
//! installs the packages and runs them with `cargo test -- --ignored`. A missing tool or
//! missing root fails the test: it never passes without having run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// The organization and the running service, as the service's own tests make them.
#[path = "common/serve.rs"]
#[allow(dead_code)]
mod harness;

use harness::{Org, bin, free_port, now};

// A PostgreSQL server of the tests' own, for two service nodes on one database.
#[cfg(not(no_postgres))]
#[path = "common/pg.rs"]
mod pg;

/// The module `cargo test` built beside the binaries (`deps/` holds the fresh one).
fn module() -> PathBuf {
    let dir = bin().parent().unwrap().to_path_buf();
    for p in [
        dir.join("deps/libpam_mfa_console.so"),
        dir.join("libpam_mfa_console.so"),
    ] {
        if p.exists() {
            return p;
        }
    }
    panic!(
        "pam_mfa_console.so is not built in {}: run the workspace's `cargo test` (or `cargo build`)",
        dir.display()
    );
}

fn need(tool: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!("{tool} is missing: apt-get install {package} (.ci/run does)");
}

fn need_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .unwrap();
    assert_eq!(
        uid, "0",
        "this test writes a PAM service file into /etc/pam.d and runs sshd: run it as root"
    );
}

/// SIGTERM, and the service gone.
fn stop(serve: &mut harness::Service) {
    serve.signal("TERM");
    assert!(serve.wait_exit().success());
}

/// A PAM service file in /etc/pam.d for the life of the test.
struct PamService {
    path: PathBuf,
    name: String,
}

impl PamService {
    fn new(name: &str, auth_line: &str) -> Self {
        let path = Path::new("/etc/pam.d").join(name);
        std::fs::write(
            &path,
            format!(
                "{auth_line}\naccount required pam_permit.so\nsession required pam_permit.so\n"
            ),
        )
        .unwrap();
        Self {
            path,
            name: name.into(),
        }
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn pamtester(service: &str, user: &str, code: &str) -> Output {
    let mut child = Command::new(need("pamtester", "pamtester"))
        .args([service, user, "authenticate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A module that refuses before asking (the service stopped) lets pamtester end
    // before it reads: the pipe is then closed, and its answer is in the output.
    let written = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
#[ignore = "needs pamtester (apt-get install pamtester) and root; .ci/run runs it"]
fn pamtester_signs_in_with_a_fresh_code_and_refuses_a_replayed_one_and_a_stopped_service() {
    need_root();
    need("pamtester", "pamtester");
    let org = Org::new();
    org.add_user("alice", None);
    let app = org.enroll_totp("alice");
    let mut serve = org.serve();
    let svc = PamService::new(
        "mfa-console-test-pamtester",
        &format!(
            "auth required {} socket={} mode=code-only",
            module().display(),
            serve.socket.display()
        ),
    );
    let code = app.code();
    let ok = pamtester(&svc.name, "alice", &code);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("successfully authenticated"),
        "{}",
        text(&ok)
    );
    assert!(text(&ok).contains("Verification code"), "{}", text(&ok));

    let replay = pamtester(&svc.name, "alice", &code);
    assert!(
        !replay.status.success(),
        "a replayed code was accepted: {}",
        text(&replay)
    );

    let wrong = pamtester(&svc.name, "alice", "000000");
    assert!(!wrong.status.success(), "{}", text(&wrong));

    stop(&mut serve);
    let down = pamtester(&svc.name, "alice", &app.code_at(now() + 30));
    assert!(!down.status.success(), "{}", text(&down));
    assert!(
        text(&down).contains("The verification service is not reachable; ask your administrator."),
        "{}",
        text(&down)
    );
}

#[cfg(not(no_postgres))]
#[test]
#[ignore = "needs pamtester (apt-get install pamtester) and root; .ci/run runs it"]
fn pamtester_signs_in_through_either_of_two_nodes_on_one_postgresql_database() {
    need_root();
    need("pamtester", "pamtester");
    let org = Org::on(|dir| pg::server().new_location(dir));
    org.add_user("alice", None);
    let app = org.enroll_totp("alice");
    let a = org.serve_node("a");
    let b = org.serve_node("b");
    let line = |socket: &Path| {
        format!(
            "auth required {} socket={} mode=code-only",
            module().display(),
            socket.display()
        )
    };
    let via_a = PamService::new("mfa-console-test-node-a", &line(&a.socket));
    let via_b = PamService::new("mfa-console-test-node-b", &line(&b.socket));
    let code = app.code();
    let ok = pamtester(&via_a.name, "alice", &code);
    assert!(ok.status.success(), "through node A: {}", text(&ok));
    assert!(
        text(&ok).contains("successfully authenticated"),
        "{}",
        text(&ok)
    );
    // The code node A accepted is spent on node B too: one replay guard.
    let replay = pamtester(&via_b.name, "alice", &code);
    assert!(
        !replay.status.success(),
        "node B accepted the code node A had: {}",
        text(&replay)
    );
    // The next step's code goes through node B.
    let next = pamtester(&via_b.name, "alice", &app.code_at(now() + 30));
    assert!(next.status.success(), "through node B: {}", text(&next));
    let audit = org.audit();
    let accepted = audit
        .iter()
        .filter(|e| e["kind"] == "sign-in.ok" && e["subject"] == "alice")
        .count();
    assert_eq!(
        accepted, 2,
        "both sign-ins in the one audit trail: {audit:?}"
    );
}

/// sshd on loopback with `AuthenticationMethods publickey,keyboard-interactive` and the
/// module as its PAM stack, as the README shows it.
struct Sshd {
    child: Child,
    port: u16,
    _pam: PamService,
    _link: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?} failed: {}", text(&o));
    o
}

impl Sshd {
    fn start(dir: &Path, socket: &Path, user_key_pub: &Path) -> Self {
        let sshd = need("sshd", "openssh-server");
        // sshd names its PAM service after the name it was started by: a link of our own
        // gives it a service file of our own, and the system's sshd is left alone.
        let name = format!("sshd-mfa-test-{}", std::process::id());
        let link = dir.join(&name);
        std::os::unix::fs::symlink(&sshd, &link).unwrap();
        let pam = PamService::new(
            &name,
            &format!(
                "auth required {} socket={} mode=code-only",
                module().display(),
                socket.display()
            ),
        );
        let host_key = dir.join("host_key");
        run(Command::new(need("ssh-keygen", "openssh-client"))
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key));
        let auth_keys = dir.join("authorized_keys");
        std::fs::copy(user_key_pub, &auth_keys).unwrap();
        std::fs::set_permissions(&auth_keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 StrictModes no\nPermitRootLogin yes\nUsePAM yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n\
                 LogLevel VERBOSE\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                auth_keys.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new(&link)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _pam: pam,
            _link: link,
        }
    }
}

/// `ssh` with the key, answering the keyboard-interactive prompt with `code` through an
/// askpass script (no terminal needed).
fn ssh(dir: &Path, port: u16, key: &Path, code: &str) -> Output {
    let askpass = dir.join("askpass.sh");
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{code}'\n")).unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    Command::new(need("ssh", "openssh-client"))
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PreferredAuthentications=publickey,keyboard-interactive",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=10",
            "-p",
            &port.to_string(),
            "-i",
        ])
        .arg(key)
        .args(["root@127.0.0.1", "echo signed-in-with-mfa"])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs openssh-server (apt-get install openssh-server) and root; .ci/run runs it"]
fn sshd_with_a_key_and_a_code_lets_in_once_and_refuses_a_replay_and_a_stopped_service() {
    need_root();
    let org = Org::new();
    org.add_user("root", None);
    let app = org.enroll_totp("root");
    let mut serve = org.serve();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("user_key");
    run(Command::new(need("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    let sshd = Sshd::start(dir.path(), &serve.socket, &key.with_extension("pub"));

    let code = app.code();
    let ok = ssh(dir.path(), sshd.port, &key, &code);
    assert!(
        ok.status.success() && text(&ok).contains("signed-in-with-mfa"),
        "key + fresh code did not sign in: {}\nsshd: {}",
        text(&ok),
        std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
    );

    let replay = ssh(dir.path(), sshd.port, &key, &code);
    assert!(
        !replay.status.success() && !text(&replay).contains("signed-in-with-mfa"),
        "a replayed code signed in: {}",
        text(&replay)
    );

    let audit = org.cli_ok(&["audit", "--format", "jsonl"]);
    assert!(
        audit.contains("pam@") && audit.contains("uid 0"),
        "the sign-in is audited with the PAM caller: {audit}"
    );

    stop(&mut serve);
    let down = ssh(dir.path(), sshd.port, &key, &app.code_at(now() + 30));
    assert!(
        !down.status.success() && !text(&down).contains("signed-in-with-mfa"),
        "signed in with the service stopped: {}",
        text(&down)
    );
}
