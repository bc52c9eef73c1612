//! RADIUS end to end: the real `mfa-console serve` answering UDP on loopback, asked by a
//! NAS built on the product's codec (tests/common/radius.rs), which checks the Response
//! Authenticator and Message-Authenticator of every answer. The tests that drive the
//! real `radclient` (freeradius-utils) are ignored by default; `.ci/run` installs it and
//! runs them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/serve.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/radius.rs"]
#[allow(dead_code)]
mod nas;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use harness::{ALICE_PW, Org, Totp, serve_refused, wait_for};
use mfa_console::core::PolicyKey;
use mfa_console::serve::radius::packet::{self, attr};
use mfa_console::store::Method;
use nas::{Nas, SECRET, client_table, free_udp_port, secret_file, serve_radius};
use serde_json::Value;

fn alice() -> (Org, Totp) {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    let totp = org.enroll_totp("alice");
    (org, totp)
}

fn audit_kinds(org: &Org, kind: &str) -> Vec<Value> {
    org.audit()
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn assert_generic_reject(a: &nas::Answer) {
    assert!(a.is_reject(), "{a:?}");
    assert!(
        a.message()
            .contains("the username, password or code is not right"),
        "one generic refusal: {a:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------

#[test]
fn code_only_accepts_a_fresh_code_and_refuses_a_replay_and_a_wrong_code() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut n = Nas::new(addr);
    let code = totp.code();
    let a = n.ask("alice", &code, None);
    assert!(a.is_accept(), "{a:?}");
    let replay = n.ask("alice", &code, None);
    assert_generic_reject(&replay);
    let wrong = n.ask("alice", &totp.wrong_code(), None);
    assert_generic_reject(&wrong);
    let unknown = n.ask("nobody", &code, None);
    assert!(unknown.is_reject(), "{unknown:?}");
    // Audited with the client's name.
    let ok = audit_kinds(&org, "sign-in.ok");
    assert!(
        ok.iter().any(|e| e["details"]
            .as_str()
            .unwrap_or("")
            .contains("radius vpn (from 127.0.0.1")),
        "{ok:?}"
    );
    let failed = audit_kinds(&org, "code.failed");
    assert_eq!(failed.len(), 2, "the replay and the wrong code: {failed:?}");
}

#[test]
fn password_and_code_asks_by_challenge_and_its_state_is_single_use() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "password-and-code")]);
    let mut n = Nas::new(addr);
    let first = n.ask("alice", ALICE_PW, None);
    assert!(first.is_challenge(), "{first:?}");
    assert_eq!(first.message(), "Verification code:");
    let state = first.state.clone().expect("a State");
    assert_eq!(state.len(), 16, "128 random bits");
    let code = totp.code();
    let second = n.ask("alice", &code, Some(&state));
    assert!(second.is_accept(), "{second:?}");
    // The State is used up: the same State again is refused, even with a fresh code.
    org.reset_replay(totp.user_id);
    let again = n.ask("alice", &code, Some(&state));
    assert_generic_reject(&again);
    // A second challenge has another State.
    let other = n.ask("alice", ALICE_PW, None);
    assert!(other.is_challenge(), "{other:?}");
    assert_ne!(other.state.as_deref(), Some(&state[..]));
    // A State made for alice does not carry bob's request.
    org.add_user("bob", Some("another fine passphrase 4"));
    let bob_state = other.state.clone().unwrap();
    let as_bob = n.ask("bob", &code, Some(&bob_state));
    assert_generic_reject(&as_bob);
    // A wrong code after a challenge is refused and counted.
    let c = n.ask("alice", ALICE_PW, None);
    let wrong = n.ask("alice", &totp.wrong_code(), Some(&c.state.unwrap()));
    assert_generic_reject(&wrong);
    // A wrong password gets no challenge.
    let bad = n.ask("alice", "not her password at all", None);
    assert_generic_reject(&bad);
    let unknown = n.ask("nobody", "not her password at all", None);
    assert_generic_reject(&unknown);
    let asked = audit_kinds(&org, "sign-in.password-accepted");
    assert!(!asked.is_empty(), "the first step is audited");
}

#[test]
fn a_password_changed_between_challenge_and_code_makes_the_challenge_worthless() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "password-and-code")]);
    let mut n = Nas::new(addr);
    let first = n.ask("alice", ALICE_PW, None);
    assert!(first.is_challenge(), "{first:?}");
    org.core
        .set_temporary_password(
            mfa_console::core::Actor::Operator,
            "alice",
            "a temporary passphrase 11",
        )
        .expect("a temporary password");
    let second = n.ask("alice", &totp.code(), first.state.as_deref());
    assert_generic_reject(&second);
}

#[test]
fn a_user_with_email_only_is_sent_a_code_with_the_challenge() {
    let org = Org::new();
    org.method(Method::Email, true);
    org.add_user("bob", Some("another fine passphrase 4"));
    org.enroll_email("bob");
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "password-and-code")]);
    let mut n = Nas::new(addr);
    let before = org.emls().len();
    let c = n.ask("bob", "another fine passphrase 4", None);
    assert!(c.is_challenge(), "{c:?}");
    assert!(c.message().starts_with("A code was sent to b"), "{c:?}");
    assert!(c.message().ends_with("Verification code:"), "{c:?}");
    let emls = wait_for("the code's message", || {
        let e = org.emls();
        (e.len() > before).then_some(e)
    });
    let code = harness::code_in_eml(emls.last().unwrap());
    let a = n.ask("bob", &code, c.state.as_deref());
    assert!(a.is_accept(), "{a:?}");
    // A wrong password sends nothing.
    let bad = n.ask("bob", "not his password at all", None);
    assert_generic_reject(&bad);
    assert_eq!(org.emls().len(), before + 1);
}

#[test]
fn append_mode_takes_password_and_code_in_one_field() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("fw", "127.0.0.1", "append")]);
    let mut n = Nas::new(addr);
    let a = n.ask("alice", &format!("{ALICE_PW}{}", totp.code()), None);
    assert!(a.is_accept(), "{a:?}");
    let wrong = n.ask("alice", &format!("{ALICE_PW}{}", totp.wrong_code()), None);
    assert_generic_reject(&wrong);
    // The password alone: the code is asked by a challenge.
    let c = n.ask("alice", ALICE_PW, None);
    assert!(c.is_challenge(), "{c:?}");
}

// ---------------------------------------------------------------------------------------
// The same decisions as the HTTP API
// ---------------------------------------------------------------------------------------

#[test]
fn lockout_is_shared_and_the_reply_says_until_when() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut n = Nas::new(addr);
    // The organization locks after 3 failures.
    for _ in 0..2 {
        assert!(n.ask("alice", &totp.wrong_code(), None).is_reject());
    }
    let third = n.ask("alice", &totp.wrong_code(), None);
    assert!(third.is_reject(), "{third:?}");
    assert!(third.message().contains("locked"), "{third:?}");
    let right = n.ask("alice", &totp.code(), None);
    assert!(right.is_reject(), "locked is locked: {right:?}");
    assert!(
        right
            .message()
            .contains("locked after repeated failures until"),
        "{right:?}"
    );
    // The CLI sees the same lock.
    let show = org.cli_ok(&["user", "show", "alice"]);
    assert!(show.to_lowercase().contains("locked"), "{show}");
}

#[test]
fn mfa_off_grace_past_grace_and_integration_users() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    org.add_user("svc", Some("integration token phrase 5"));
    org.policy(PolicyKey::GraceDays, "0");
    org.policy(PolicyKey::Enforcement, "required");
    let (s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "password-and-code")]);
    let mut n = Nas::new(addr);
    let past = n.ask("alice", ALICE_PW, None);
    assert!(past.is_reject(), "{past:?}");
    assert!(
        past.message().contains("configure MFA in the console"),
        "{past:?}"
    );
    org.cli_ok(&["user", "set", "svc", "--role", "integration"]);
    let svc = n.ask("svc", "integration token phrase 5", None);
    assert!(
        svc.is_accept(),
        "an integration account is not asked: {svc:?}"
    );
    org.policy(PolicyKey::GraceDays, "7");
    let grace = n.ask("alice", ALICE_PW, None);
    assert!(grace.is_accept(), "{grace:?}");
    assert!(
        grace
            .message()
            .contains("configure MFA in the console within"),
        "{grace:?}"
    );
    org.method(Method::Authenticator, false);
    let off = n.ask("alice", ALICE_PW, None);
    assert!(off.is_accept(), "MFA off: the password alone: {off:?}");
    assert_eq!(off.reply_message, None);
    drop(s);
}

#[test]
fn a_recovery_code_is_accepted_once_and_says_how_many_are_left() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut n = Nas::new(addr);
    let code = totp.recovery[2].clone();
    let a = n.ask("alice", &code, None);
    assert!(a.is_accept(), "{a:?}");
    assert!(a.message().contains("9 left"), "{a:?}");
    assert_generic_reject(&n.ask("alice", &code, None));
}

// ---------------------------------------------------------------------------------------
// What is dropped
// ---------------------------------------------------------------------------------------

#[test]
fn requests_without_a_right_message_authenticator_are_dropped_and_audited() {
    let (org, totp) = alice();
    let (s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut n = Nas::new(addr);
    let unsigned = n.build("alice", &totp.code(), None, Vec::new(), false);
    n.assert_dropped(&unsigned.bytes, "a request without Message-Authenticator");
    let mut wrong_secret = Nas::from_address("127.0.0.1", addr, "not-the-right-shared-secret");
    let forged = wrong_secret.build("alice", &totp.code(), None, Vec::new(), true);
    wrong_secret.assert_dropped(&forged.bytes, "a request signed with another secret");
    // A changed byte after signing (BlastRADIUS changes attributes).
    let mut tampered = n.build("alice", &totp.code(), None, Vec::new(), true);
    let at = tampered.bytes.len() - 20;
    tampered.bytes[at] ^= 0x40;
    n.assert_dropped(&tampered.bytes, "a tampered request");
    wait_for("the audit event", || {
        (!audit_kinds(&org, "radius.bad-authenticator").is_empty()).then_some(())
    });
    let err = s.stderr();
    assert!(
        err.contains("it has no Message-Authenticator, which this service requires"),
        "{err}"
    );
    // The code was never looked at: it still works.
    assert!(n.ask("alice", &totp.code(), None).is_accept());
}

#[test]
fn requests_from_unknown_addresses_are_dropped_and_audited() {
    let (org, totp) = alice();
    let (s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut stranger = Nas::from_address("127.0.0.2", addr, SECRET);
    let sent = stranger.build("alice", &totp.code(), None, Vec::new(), true);
    stranger.assert_dropped(&sent.bytes, "a request from an unknown address");
    // Many more: at most one audit event for the burst (rate-limited).
    for _ in 0..50 {
        let again = stranger.build("alice", &totp.code(), None, Vec::new(), true);
        stranger.send(&again.bytes);
    }
    let events = wait_for("the audit event", || {
        let e = audit_kinds(&org, "radius.unknown-client");
        (!e.is_empty()).then_some(e)
    });
    std::thread::sleep(Duration::from_millis(500));
    let events_after = audit_kinds(&org, "radius.unknown-client");
    assert_eq!(events_after.len(), 1, "rate-limited: {events:?}");
    assert_eq!(events_after[0]["subject"], "radius from 127.0.0.2");
    let err = s.stderr();
    assert_eq!(
        err.matches("no [[serve.radius_client]] has this address")
            .count(),
        1,
        "one log line for the burst: {err}"
    );
}

#[test]
fn bad_packets_are_dropped_counted_and_the_service_keeps_answering() {
    let (org, totp) = alice();
    let (s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut n = Nas::new(addr);
    let good = n.build("alice", &totp.code(), None, Vec::new(), true).bytes;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("short", good[..19].to_vec()),
        ("oversized", {
            let mut b = good.clone();
            b.resize(5000, 0);
            b[2..4].copy_from_slice(&5000u16.to_be_bytes());
            b
        }),
        ("length field too long", {
            let mut b = good.clone();
            b[3] = b[3].wrapping_add(30);
            b
        }),
        ("attribute overruns", {
            let mut b = good.clone();
            b[21] = 200;
            b
        }),
    ];
    let unknown = n
        .build("alice", "1", None, vec![(0xf0, vec![1, 2])], true)
        .bytes;
    cases.push(("unknown attribute", unknown));
    let bad_ip = n
        .build("alice", "1", None, vec![(attr::NAS_PORT, vec![1])], true)
        .bytes;
    cases.push(("bad encoding (NAS-Port of 1 byte)", bad_ip));
    let accounting = {
        let mut b = good.clone();
        b[0] = 4;
        b
    };
    cases.push(("an Accounting-Request", accounting));
    for (what, bytes) in &cases {
        n.assert_dropped(bytes, what);
    }
    let err = s.stderr();
    assert!(
        err.contains("dropped a bad packet from vpn (127.0.0.1)"),
        "{err}"
    );
    assert!(
        err.matches("dropped a bad packet").count() <= 2,
        "rate-limited: {err}"
    );
    // Still alive and deciding.
    assert!(n.ask("alice", &totp.code(), None).is_accept());
}

#[test]
fn a_retransmission_gets_the_same_answer_and_no_second_verification() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let mut n = Nas::new(addr);
    let sent = n.build("alice", &totp.code(), None, Vec::new(), true);
    n.send(&sent.bytes);
    let first = n
        .receive(&sent, Duration::from_secs(60))
        .expect("an answer");
    assert!(first.is_accept(), "{first:?}");
    n.send(&sent.bytes);
    let second = n
        .receive(&sent, Duration::from_secs(10))
        .expect("the same answer");
    assert_eq!(second.bytes, first.bytes, "the very same answer");
    assert_eq!(audit_kinds(&org, "sign-in.ok").len(), 1);
    assert!(audit_kinds(&org, "code.failed").is_empty(), "not a replay");
    // A wrong code retransmitted counts one failure, not two.
    let wrong = n.build("alice", &totp.wrong_code(), None, Vec::new(), true);
    n.send(&wrong.bytes);
    n.send(&wrong.bytes);
    n.send(&wrong.bytes);
    let a = n
        .receive(&wrong, Duration::from_secs(60))
        .expect("an answer");
    assert!(a.is_reject());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(audit_kinds(&org, "code.failed").len(), 1);
}

// ---------------------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------------------

#[test]
fn one_code_sent_by_two_nas_at_once_is_accepted_exactly_once() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(
        &org,
        &[
            ("vpn-a", "127.0.0.1", "code-only"),
            ("vpn-b", "127.0.0.2", "code-only"),
        ],
    );
    for round in 0..8 {
        org.reset_replay(totp.user_id);
        let code = totp.code();
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["127.0.0.1", "127.0.0.2"]
            .into_iter()
            .map(|local| {
                let b = Arc::clone(&barrier);
                let code = code.clone();
                std::thread::spawn(move || {
                    let mut n = Nas::from_address(local, addr, SECRET);
                    let sent = n.build("alice", &code, None, Vec::new(), true);
                    b.wait();
                    n.send(&sent.bytes);
                    n.receive(&sent, Duration::from_secs(60))
                        .expect("an answer")
                })
            })
            .collect();
        let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let accepted = answers.iter().filter(|a| a.is_accept()).count();
        assert_eq!(accepted, 1, "round {round}: {answers:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Config, client list, logs
// ---------------------------------------------------------------------------------------

#[test]
fn a_secret_file_others_can_read_is_refused_with_the_fix() {
    let org = Org::new();
    let file = secret_file(&org, "nas.secret", SECRET);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    org.write_config(&format!(
        "[serve]\nradius_listen = \"127.0.0.1:{}\"\n{}",
        free_udp_port(),
        client_table("vpn", "10.0.0.1", &file, "code-only")
    ));
    let (status, err) = serve_refused(&org, &["--no-socket"]);
    assert!(!status.success());
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("can be read by other users"), "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", file.display())),
        "{err}"
    );
    assert!(err.contains("serve.radius_client.secret_file"), "{err}");
}

#[test]
fn bad_radius_settings_are_named_with_line_and_key() {
    let org = Org::new();
    let file = secret_file(&org, "nas.secret", SECRET);
    let short = secret_file(&org, "short.secret", "testing123");
    for (table, expect) in [
        (
            client_table("vpn", "10.0.0.300", &file, "code-only"),
            "is not an address or network",
        ),
        (
            client_table("vpn", "10.0.0.0/33", &file, "code-only"),
            "is not an address or network",
        ),
        (
            client_table("vpn", "10.0.0.1", &file, "pap"),
            "is not a mode",
        ),
        (
            client_table("Bad Name", "10.0.0.1", &file, "append"),
            "is not a client name",
        ),
        (
            client_table("vpn", "10.0.0.1", &short, "append"),
            "shorter than 16 characters",
        ),
        (
            format!(
                "{}{}",
                client_table("vpn", "10.0.0.1", &file, "append"),
                client_table("vpn", "10.0.0.2", &file, "append")
            ),
            "names two radius clients",
        ),
        (
            "[[serve.radius_client]]\nname = \"vpn\"\naddress = \"10.0.0.1\"\n".to_string(),
            "secret_file",
        ),
    ] {
        org.write_config(&format!("[serve]\n{table}"));
        let out = org.cli(&["config", "check"], "");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{table}");
        assert!(err.contains(expect), "{table}: {err}");
        assert!(err.contains("line "), "{table}: {err}");
    }
}

#[test]
fn client_list_shows_radius_clients_beside_api_clients() {
    let org = Org::new();
    org.add_client("web", mfa_console::store::ClientMode::CodeOnly);
    let file = secret_file(&org, "nas.secret", SECRET);
    org.write_config(&format!(
        "[serve]\n{}{}",
        client_table("vpn-gw1", "192.0.2.10", &file, "password-and-code"),
        client_table("wifi", "10.1.0.0/16", &file, "code-only")
    ));
    let check = org.cli_ok(&["config", "check"]);
    assert!(
        check.contains("vpn-gw1 from 192.0.2.10, password-and-code, shared secret in"),
        "{check}"
    );
    assert!(!check.contains(SECRET), "never the secret: {check}");
    let table = org.cli_ok(&["client", "list"]);
    for word in [
        "web",
        "api",
        "vpn-gw1",
        "radius",
        "192.0.2.10",
        "10.1.0.0/16",
        "password-and-code",
    ] {
        assert!(table.contains(word), "{word} in:\n{table}");
    }
    let list: Value =
        serde_json::from_str(&org.cli_ok(&["client", "list", "--format", "json"])).unwrap();
    let wifi = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wifi")
        .cloned()
        .unwrap();
    assert_eq!(wifi["kind"], "radius");
    assert_eq!(wifi["mode"], "code-only");
    assert_eq!(wifi["address"], "10.1.0.0/16");
    assert!(!list.to_string().contains(SECRET), "never the secret");
}

#[test]
fn sighup_reads_new_radius_clients() {
    let (org, totp) = alice();
    let (s, addr) = serve_radius(&org, &[("vpn-a", "127.0.0.1", "code-only")]);
    let mut b = Nas::from_address("127.0.0.3", addr, SECRET);
    let sent = b.build("alice", &totp.code(), None, Vec::new(), true);
    b.assert_dropped(&sent.bytes, "not a client yet");
    let file = org.path("radius-secret");
    org.write_config(&format!(
        "[serve]\n{}{}",
        client_table("vpn-a", "127.0.0.1", &file, "code-only"),
        client_table("vpn-b", "127.0.0.3", &file, "code-only")
    ));
    s.signal("HUP");
    wait_for("the reload", || {
        s.stderr().contains("SIGHUP: config re-read").then_some(())
    });
    let a = b.ask("alice", &totp.code(), None);
    assert!(a.is_accept(), "{a:?}");
}

/// SPEC: never a password, code or secret in the log: RADIUS shared secrets and
/// User-Password values included.
#[test]
fn the_log_never_holds_a_shared_secret_password_or_code() {
    let (org, totp) = alice();
    let (s, addr) = serve_radius(
        &org,
        &[
            ("pac", "127.0.0.1", "password-and-code"),
            ("codes", "127.0.0.2", "code-only"),
            ("app", "127.0.0.3", "append"),
        ],
    );
    let mut pac = Nas::new(addr);
    let c = pac.ask("alice", ALICE_PW, None);
    let right = totp.code();
    assert!(pac.ask("alice", &right, c.state.as_deref()).is_accept());
    pac.ask("alice", "not her password at all", None);
    let mut codes = Nas::from_address("127.0.0.2", addr, SECRET);
    let wrong = totp.wrong_code();
    codes.ask("alice", &wrong, None);
    let recovery = totp.recovery[0].clone();
    codes.ask("alice", &recovery, None);
    let mut app = Nas::from_address("127.0.0.3", addr, SECRET);
    let appended = format!("{ALICE_PW}{wrong}");
    app.ask("alice", &appended, None);
    let mut forged = Nas::from_address("127.0.0.1", addr, "a-wrong-secret-of-some-length");
    let f = forged.build("alice", &right, None, Vec::new(), true);
    forged.assert_dropped(&f.bytes, "wrong secret");
    wait_for("the requests in the log", || {
        (s.log().matches("serve: radius").count() >= 6).then_some(())
    });
    let written = format!("{}\n{}", s.log(), s.stderr());
    for (what, secret) in [
        ("the shared secret", SECRET.to_string()),
        (
            "the wrong shared secret",
            "a-wrong-secret-of-some-length".to_string(),
        ),
        ("the password", ALICE_PW.to_string()),
        ("the wrong password", "not her password at all".to_string()),
        ("the right code", right.clone()),
        ("the wrong code", wrong.clone()),
        ("the recovery code", recovery.clone()),
        ("the TOTP secret", totp.secret()),
    ] {
        assert!(
            !written.contains(&secret),
            "{what} is in the service's output:\n{written}"
        );
    }
    assert!(written.contains("radius pac"), "{written}");
}

// ---------------------------------------------------------------------------------------
// The real radclient (freeradius-utils): run by .ci/run with --ignored
// ---------------------------------------------------------------------------------------

const NEEDS_RADCLIENT: &str = "radclient (freeradius-utils) is required for this test; install it with `apt-get install freeradius-utils` (.ci/run does)";

/// Runs `radclient` with `attrs` on stdin; its exit status and stdout + stderr. Fails
/// the test when radclient is not installed (it never passes silently).
fn radclient(addr: &std::net::SocketAddr, secret: &str, attrs: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("radclient")
        .args(["-x", "-t", "3", "-r", "1"])
        .arg(addr.to_string())
        .args(["auth", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{NEEDS_RADCLIENT}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
#[ignore = "needs radclient (freeradius-utils); .ci/run installs it"]
fn radclient_password_and_code_through_a_challenge() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "password-and-code")]);
    let (ok, out) = radclient(
        &addr,
        SECRET,
        &format!(
            "User-Name = alice, User-Password = \"{ALICE_PW}\", Message-Authenticator = 0x00, Response-Packet-Type = Access-Challenge\n"
        ),
    );
    assert!(ok, "{out}");
    assert!(out.contains("Received Access-Challenge"), "{out}");
    assert!(
        out.contains("Reply-Message = \"Verification code:\""),
        "{out}"
    );
    let state = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("State = "))
        .unwrap_or_else(|| panic!("a State in {out}"))
        .trim()
        .to_string();
    let (ok, out) = radclient(
        &addr,
        SECRET,
        &format!(
            "User-Name = alice, User-Password = \"{}\", State = {state}, Message-Authenticator = 0x00\n",
            totp.code()
        ),
    );
    assert!(ok, "{out}");
    assert!(out.contains("Received Access-Accept"), "{out}");
}

#[test]
#[ignore = "needs radclient (freeradius-utils); .ci/run installs it"]
fn radclient_code_only_accept_replay_and_wrong_code() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let code = totp.code();
    let ask = |code: &str| {
        radclient(
            &addr,
            SECRET,
            &format!(
                "User-Name = alice, User-Password = \"{code}\", Message-Authenticator = 0x00\n"
            ),
        )
    };
    let (ok, out) = ask(&code);
    assert!(ok, "{out}");
    assert!(out.contains("Received Access-Accept"), "{out}");
    // radclient itself checks the answer's Message-Authenticator and authenticator.
    assert!(!out.contains("invalid Message-Authenticator"), "{out}");
    let (ok, out) = ask(&code);
    assert!(!ok, "a replayed code is refused: {out}");
    assert!(out.contains("Received Access-Reject"), "{out}");
    let (ok, out) = ask(&totp.wrong_code());
    assert!(!ok, "{out}");
    assert!(out.contains("Received Access-Reject"), "{out}");
}

#[test]
#[ignore = "needs radclient (freeradius-utils); .ci/run installs it"]
fn radclient_without_message_authenticator_and_from_an_unknown_client_gets_no_answer() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "code-only")]);
    let (ok, out) = radclient(
        &addr,
        SECRET,
        &format!("User-Name = alice, User-Password = \"{}\"\n", totp.code()),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("No reply from server"), "dropped: {out}");
    assert!(!audit_kinds(&org, "radius.bad-authenticator").is_empty());
    // radclient sends from 127.0.0.1; a config where that address is no client's.
    drop(_s);
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.9", "code-only")]);
    let (ok, out) = radclient(
        &addr,
        SECRET,
        &format!(
            "User-Name = alice, User-Password = \"{}\", Message-Authenticator = 0x00\n",
            totp.code()
        ),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("No reply from server"), "dropped: {out}");
    wait_for("the audit event", || {
        (!audit_kinds(&org, "radius.unknown-client").is_empty()).then_some(())
    });
}

/// `radtest` (a script around radclient that always adds Message-Authenticator), as
/// the README shows it.
fn radtest(user: &str, password: &str, addr: &std::net::SocketAddr) -> String {
    let out = Command::new("radtest")
        .args([user, password, &addr.to_string(), "0", SECRET])
        .output()
        .unwrap_or_else(|e| panic!("{NEEDS_RADCLIENT}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
#[ignore = "needs radclient (freeradius-utils); .ci/run installs it"]
fn radtest_as_the_readme_shows() {
    let (org, totp) = alice();
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "password-and-code")]);
    let text = radtest("alice", ALICE_PW, &addr);
    assert!(text.contains("Received Access-Challenge"), "{text}");
    assert!(text.contains("Verification code:"), "{text}");
    drop(_s);
    let (_s, addr) = serve_radius(&org, &[("vpn", "127.0.0.1", "append")]);
    let text = radtest("alice", &format!("{ALICE_PW}{}", totp.code()), &addr);
    assert!(text.contains("Received Access-Accept"), "{text}");
    assert_eq!(packet::ACCESS_ACCEPT, 2);
}
