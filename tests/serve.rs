//! The authentication service end to end: the real `mfa-console serve` process on a free
//! loopback port and a socket in a temporary folder, asked by a real HTTP client, by the
//! Unix socket protocol, and by raw TCP for what a well-behaved client never sends.
//! Each test starts its own service and kills it when it ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/serve.rs"]
mod harness;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use harness::{
    ALICE_PW, Org, PATIENCE, Service, Totp, code_in_eml, from_of_eml, host_name, now, parse_reply,
    raw_http, read_reply, serve_refused, wait_for,
};
use mfa_console::core::PolicyKey;
use mfa_console::store::{ClientMode, Method};
use rstest::rstest;
use serde_json::{Value, json};

/// alice, with an authenticator; a code-only client `web`.
fn alice_with_authenticator() -> (Org, Totp, String) {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    let totp = org.enroll_totp("alice");
    let key = org.add_client("web", ClientMode::CodeOnly);
    (org, totp, key)
}

fn assert_refused_generic(r: &Value) {
    assert_eq!(r["result"], "refused", "{r}");
    assert!(
        r.get("reason").is_none(),
        "a generic refusal has no reason: {r}"
    );
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("the username, password or code is not right")),
        "{r}"
    );
}

fn assert_error(r: &Value) {
    assert_eq!(r["result"], "error", "{r}");
    assert!(
        r["message"].as_str().is_some_and(|m| m.len() > 10),
        "an error says why: {r}"
    );
}

/// `mfa-console verify USER` with a password line and a code line.
fn cli_verify(org: &Org, user: &str, password: &str, code: &str) -> (bool, String) {
    let out = org.cli(&["verify", user], &format!("{password}\n{code}\n"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn audit_kinds(org: &Org, kind: &str) -> Vec<Value> {
    org.audit()
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. HTTP, code-only client
// ---------------------------------------------------------------------------------------

#[test]
fn code_only_client_probe_accept_replay_wrong_and_unknown_user() {
    let (org, totp, key) = alice_with_authenticator();
    let s = org.serve();

    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body["result"], "code_required");
    assert_eq!(r.body["methods"], json!(["authenticator"]));
    assert!(r.body.get("email").is_none(), "no email method: {r:?}");

    let code = totp.code();
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": code}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"], "accepted");
    assert_eq!(r.body["mfa"], "verified");
    assert_eq!(r.body["method"], "authenticator");

    let replay = s
        .http
        .verify(&key, json!({"username": "alice", "code": code}));
    assert_eq!(replay.status, 401, "a replayed code: {replay:?}");
    assert_refused_generic(&replay.body);

    let wrong = s.http.verify(
        &key,
        json!({"username": "alice", "code": totp.wrong_code()}),
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(
        wrong.body, replay.body,
        "a wrong code and a replay look alike"
    );

    let r = s
        .http
        .verify(&key, json!({"username": "nobody", "code": "123456"}));
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body["result"], "refused");
    assert_eq!(r.body["reason"], "unknown_user");
}

#[test]
fn lockout_is_shared_with_the_cli_both_ways() {
    let (org, totp, key) = alice_with_authenticator();
    let s = org.serve();
    // Probes are not failures.
    for _ in 0..4 {
        let r = s.http.verify(&key, json!({"username": "alice"}));
        assert_eq!(r.body["result"], "code_required", "{r:?}");
    }
    // One failure over HTTP, one through the CLI: two of three.
    let r = s.http.verify(
        &key,
        json!({"username": "alice", "code": totp.wrong_code()}),
    );
    assert_refused_generic(&r.body);
    let (ok, _) = cli_verify(&org, "alice", ALICE_PW, &totp.wrong_code());
    assert!(!ok, "a wrong code through the CLI");
    let shown: Value =
        serde_json::from_str(&org.cli_ok(&["user", "show", "alice", "--format", "json"])).unwrap();
    assert!(
        shown["user"]["locked_until"].is_null(),
        "not locked after two failures and four probes: {shown}"
    );

    // The third, over HTTP, locks.
    let r = s.http.verify(
        &key,
        json!({"username": "alice", "code": totp.wrong_code()}),
    );
    assert_eq!(r.status, 423, "{r:?}");
    assert_eq!(r.body["result"], "locked");
    let until = r.body["until"].as_str().unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("until is RFC 3339");
    assert!(until.timestamp() > now(), "locked until later: {until}");

    // Even the right code is refused now, over HTTP and through the CLI.
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": totp.code()}));
    assert_eq!(r.status, 423, "{r:?}");
    let (ok, err) = cli_verify(&org, "alice", ALICE_PW, &totp.code_at(now() + 30));
    assert!(!ok, "the CLI lets a locked account in");
    assert!(err.contains("locked"), "the CLI says it is locked: {err}");
}

// ---------------------------------------------------------------------------------------
// 2. HTTP, password-and-code client
// ---------------------------------------------------------------------------------------

#[test]
fn password_and_code_client() {
    let (org, totp, code_only) = alice_with_authenticator();
    let key = org.add_client("portal", ClientMode::PasswordAndCode);
    let s = org.serve();

    let r = s
        .http
        .verify(&key, json!({"username": "alice", "password": ALICE_PW}));
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body["result"], "code_required");

    let wrong_pw = s.http.verify(
        &key,
        json!({"username": "alice", "password": "not her password at all", "code": totp.code()}),
    );
    assert_eq!(wrong_pw.status, 401, "{wrong_pw:?}");
    assert_refused_generic(&wrong_pw.body);
    let wrong_code = s.http.verify(
        &key,
        json!({"username": "alice", "password": ALICE_PW, "code": totp.wrong_code()}),
    );
    assert_eq!(
        wrong_code.body, wrong_pw.body,
        "a wrong password and a wrong code answer alike"
    );
    let unknown = s.http.verify(
        &key,
        json!({"username": "nobody", "password": ALICE_PW, "code": "123456"}),
    );
    assert_eq!(
        unknown.body, wrong_pw.body,
        "an unknown user is the generic refusal for password-and-code"
    );

    let r = s.http.verify(
        &key,
        json!({"username": "alice", "password": ALICE_PW, "code": totp.code()}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"], "accepted");
    assert_eq!(r.body["mfa"], "verified");

    let r = s.http.verify(
        &code_only,
        json!({"username": "alice", "password": ALICE_PW, "code": "123456"}),
    );
    assert_eq!(
        r.status, 400,
        "a code-only client sending a password: {r:?}"
    );
    assert_error(&r.body);
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": "123456"}));
    assert_eq!(r.status, 400, "password-and-code without a password: {r:?}");
    assert_error(&r.body);
}

/// A right password on a disabled account counts toward the lockout like a wrong one, so
/// repeating one guess until the lockout tells nothing about it.
#[test]
fn a_right_password_on_a_disabled_account_counts_like_a_wrong_one() {
    let (org, _totp, _) = alice_with_authenticator();
    let key = org.add_client("portal", ClientMode::PasswordAndCode);
    org.cli_ok(&["user", "set", "alice", "--disable"]);
    let s = org.serve();
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            s.http
                .verify(&key, json!({"username": "alice", "password": ALICE_PW}))
                .status
        })
        .collect();
    assert_eq!(statuses, [401, 401, 423], "locked at the threshold (3)");
}

/// The password is checked before the write; a password changed meanwhile makes the
/// checked one count as wrong inside it.
#[test]
fn a_password_changed_between_check_and_decision_is_refused() {
    use mfa_console::core::{Actor, Caller, ServiceAnswer, ServiceRequest};
    let (org, totp, _) = alice_with_authenticator();
    let caller = Caller::Local {
        label: "test".into(),
        mode: ClientMode::PasswordAndCode,
    };
    let req = ServiceRequest {
        username: "alice".into(),
        password: Some(zeroize::Zeroizing::new(ALICE_PW.into())),
        code: Some(zeroize::Zeroizing::new(totp.code())),
        context: String::new(),
    };
    let prepared = org.core.service_prepare(&caller, &req).unwrap();
    org.core
        .set_temporary_password(Actor::Operator, "alice", "brand new temporary 42")
        .unwrap();
    let answers = org
        .core
        .service_verify_prepared(&[(&caller, &req, &prepared)])
        .unwrap();
    assert_eq!(
        answers,
        [ServiceAnswer::Refused {
            unknown_user: false
        }]
    );
}

/// SPEC: the service logs what it did, never a password, a code, a secret or a key.
#[test]
fn the_log_and_stderr_never_hold_a_password_code_secret_or_key() {
    let (org, totp, code_only) = alice_with_authenticator();
    let key = org.add_client("portal", ClientMode::PasswordAndCode);
    let s = org.serve();
    let right = totp.code();
    let wrong = totp.wrong_code();
    s.http.verify(
        &key,
        json!({"username": "alice", "password": "not her password at all", "code": wrong}),
    );
    let ok = s.http.verify(
        &key,
        json!({"username": "alice", "password": ALICE_PW, "code": right}),
    );
    assert_eq!(ok.body["result"], "accepted", "{ok:?}");
    s.http
        .verify(&code_only, json!({"username": "alice", "code": right}));
    let bad_key = format!("{}x", &key[..key.len() - 1]);
    s.http
        .verify(&bad_key, json!({"username": "alice", "code": right}));
    // A code sent as a number is refused as bad input; the parser's words quote it.
    let numeric = s
        .http
        .verify(&code_only, json!({"username": "alice", "code": 482913}));
    assert_eq!(numeric.status, 400, "{numeric:?}");
    let mut c = s.sock();
    c.verify(json!({"op": "verify", "username": "alice", "code": wrong}));
    let recovery = totp.recovery[0].clone();
    c.verify(json!({"op": "verify", "username": "alice", "code": recovery}));
    wait_for("the requests in the log", || {
        (s.log().matches("serve: verify").count() >= 5).then_some(())
    });
    let written = format!("{}\n{}", s.log(), s.stderr());
    for (what, secret) in [
        ("the password", ALICE_PW.to_string()),
        ("the wrong password", "not her password at all".to_string()),
        ("the right code", right.clone()),
        ("the wrong code", wrong.clone()),
        ("the recovery code", recovery.clone()),
        ("the API key", key.clone()),
        ("the code-only API key", code_only.clone()),
        ("the wrong API key", bad_key.clone()),
        ("the TOTP secret", totp.secret()),
        ("the code sent as a number", "482913".to_string()),
    ] {
        assert!(
            !written.contains(&secret),
            "{what} is in the service's output:\n{written}"
        );
    }
    assert!(
        written.contains("user alice"),
        "the log says who asked: {written}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. The Unix socket
// ---------------------------------------------------------------------------------------

#[test]
fn socket_accept_replay_wrong_on_one_connection_and_the_audit_names_the_caller() {
    let (org, totp, key) = alice_with_authenticator();
    let s = org.serve();
    let mut sock = s.sock();

    let r = sock.verify(json!({"username": "alice", "service": "sshd", "rhost": "10.0.0.5"}));
    assert_eq!(r["status"], 401, "{r}");
    assert_eq!(r["result"], "code_required");
    assert_eq!(r["methods"], json!(["authenticator"]));

    let code = totp.code();
    let r = sock.verify(json!({"username": "alice", "code": code, "service": "sshd"}));
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"], "accepted");
    assert_eq!(r["mfa"], "verified");

    let r = sock.verify(json!({"username": "alice", "code": code}));
    assert_eq!(r["status"], 401, "a replay: {r}");
    assert_refused_generic(&r);
    let r = sock.verify(json!({"username": "alice", "code": totp.wrong_code()}));
    assert_eq!(r["status"], 401, "{r}");
    assert_refused_generic(&r);
    let r = sock.verify(json!({"username": "nobody", "code": "123456"}));
    assert_eq!(r["reason"], "unknown_user", "{r}");
    let r = sock.ask(&json!({"op": "health"})).unwrap();
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"], "ok");

    // An HTTP request, for the other label.
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.body["result"], "code_required", "{r:?}");

    let uid = std::fs::metadata(org.dir.path()).unwrap().uid();
    let pam = format!("pam@{} uid {uid}", host_name());
    let events = org.audit();
    let ok = events
        .iter()
        .find(|e| e["kind"] == "sign-in.ok")
        .expect("the socket sign-in is audited");
    let details = ok["details"].as_str().unwrap();
    assert!(details.starts_with(&pam), "{details:?} names {pam:?}");
    assert!(details.contains("sshd"), "{details:?} names the service");
    let failed = events.iter().filter(|e| e["kind"] == "code.failed").count();
    assert_eq!(failed, 2, "the replay and the wrong code");
    let http = events
        .iter()
        .find(|e| e["kind"] == "sign-in.code-asked")
        .expect("the HTTP probe of a code-only client is audited (no password was seen)");
    assert!(
        http["details"].as_str().unwrap().starts_with("client web"),
        "{http}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. What enforcement answers
// ---------------------------------------------------------------------------------------

#[test]
fn mfa_off_lets_the_user_through_without_a_code() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    org.method(Method::Authenticator, false);
    let key = org.add_client("web", ClientMode::CodeOnly);
    let s = org.serve();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"], "accepted");
    assert_eq!(r.body["mfa"], "mfa_off");
}

#[test]
fn optional_and_not_configured_is_accepted() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    let key = org.add_client("web", ClientMode::CodeOnly);
    let s = org.serve();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["mfa"], "not_configured");
}

#[test]
fn required_within_grace_is_accepted_with_the_days_left() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    org.policy(PolicyKey::GraceDays, "7");
    org.policy(PolicyKey::Enforcement, "required");
    let key = org.add_client("web", ClientMode::CodeOnly);
    let s = org.serve();
    let mut sock = s.sock();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["mfa"], "grace");
    let left = r.body["grace_days_left"].as_i64().expect("grace_days_left");
    assert!((6..=7).contains(&left), "{r:?}");
    let r = sock.verify(json!({"username": "alice"}));
    assert_eq!(r["mfa"], "grace", "the socket says the same: {r}");
    assert_eq!(r["grace_days_left"], left);
}

#[test]
fn required_past_grace_asks_to_enroll_and_an_integration_account_passes() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    org.add_user("svc", Some("integration token phrase 5"));
    org.policy(PolicyKey::GraceDays, "0");
    org.policy(PolicyKey::Enforcement, "required");
    let key = org.add_client("web", ClientMode::CodeOnly);
    let s = org.serve();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.body["result"], "enroll_required");
    let r = s.http.verify(&key, json!({"username": "svc"}));
    assert_eq!(r.status, 403, "svc is a member still: {r:?}");

    org.cli_ok(&["user", "set", "svc", "--role", "integration"]);
    let r = s.http.verify(&key, json!({"username": "svc"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"], "accepted");
    assert_eq!(r.body["mfa"], "integration");
}

#[test]
fn a_recovery_code_is_accepted_once() {
    let (org, totp, key) = alice_with_authenticator();
    assert_eq!(totp.recovery.len(), 10);
    let s = org.serve();
    let code = &totp.recovery[3];
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": code}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["method"], "recovery");
    assert_eq!(r.body["recovery_codes_left"], 9);
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": code}));
    assert_eq!(r.status, 401, "a used recovery code: {r:?}");
    assert_refused_generic(&r.body);
}

#[test]
fn cli_changes_take_effect_on_the_very_next_request() {
    let (org, totp, key) = alice_with_authenticator();
    let s = org.serve();
    let mut sock = s.sock();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.body["result"], "code_required", "{r:?}");

    org.cli_ok(&["user", "set", "alice", "--disable"]);
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": totp.code()}));
    assert_eq!(r.status, 401, "a disabled user: {r:?}");
    assert_refused_generic(&r.body);
    let r = sock.verify(json!({"username": "alice", "code": totp.code()}));
    assert_refused_generic(&r);

    org.cli_ok(&["user", "set", "alice", "--enable"]);
    org.cli_ok(&["user", "reset-mfa", "alice"]);
    let r = sock.verify(json!({"username": "alice"}));
    assert_eq!(r["status"], 200, "MFA reset: {r}");
    assert_eq!(r["mfa"], "not_configured");
}

// ---------------------------------------------------------------------------------------
// 5. Email codes
// ---------------------------------------------------------------------------------------

#[test]
fn an_email_code_is_sent_to_the_outbox_accepted_once_and_throttled() {
    let org = Org::new();
    org.method(Method::Email, true);
    org.add_user("alice", Some(ALICE_PW));
    org.enroll_email("alice");
    let key = org.add_client("web", ClientMode::CodeOnly);
    let s = org.serve();

    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.body["result"], "code_required", "{r:?}");
    assert_eq!(r.body["methods"], json!(["email"]));
    let masked = r.body["email"].as_str().unwrap().to_string();
    assert!(
        masked.ends_with("@example.com") && masked.contains('•'),
        "{masked}"
    );

    let before = org.emls().len();
    let r = s
        .http
        .post("/v1/email-code", Some(&key), &json!({"username": "alice"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"], "code_sent");
    assert_eq!(r.body["email"], masked.as_str());
    assert!(r.body["expires"].as_str().unwrap().ends_with('Z'), "{r:?}");
    let emls = org.emls();
    assert_eq!(emls.len(), before + 1, "one message in the outbox");
    let code = code_in_eml(emls.last().unwrap());

    let again = s
        .http
        .post("/v1/email-code", Some(&key), &json!({"username": "alice"}));
    assert_eq!(again.status, 429, "{again:?}");
    assert_eq!(again.body["result"], "throttled");
    let wait = again.body["retry_after"].as_i64().unwrap();
    assert!((1..=30).contains(&wait), "{again:?}");
    assert_eq!(org.emls().len(), before + 1, "no second message");

    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": code}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["method"], "email");
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": code}));
    assert_eq!(r.status, 401, "an email code works once: {r:?}");
}

// ---------------------------------------------------------------------------------------
// 6. API clients and their keys
// ---------------------------------------------------------------------------------------

#[test]
fn missing_wrong_rotated_and_removed_keys_are_refused() {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let probe = json!({"username": "alice"}).to_string();

    let r = s.http.try_post("/v1/verify", None, &probe).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    assert_error(&r.body);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    let r = s
        .http
        .try_post("/v1/verify", Some("mfak_not-a-key-of-anyone"), &probe)
        .unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    assert_error(&r.body);
    assert!(r.header("www-authenticate").is_some());

    let r = s.http.try_post("/v1/verify", Some(&key), &probe).unwrap();
    assert_eq!(r.body["result"], "code_required", "the right key: {r:?}");

    let rotated = org.cli_ok(&["client", "rotate", "web"]).trim().to_string();
    assert!(rotated.starts_with("mfak_") && rotated != key, "{rotated}");
    let r = s.http.try_post("/v1/verify", Some(&key), &probe).unwrap();
    assert_eq!(r.status, 401, "the old key after a rotation: {r:?}");
    assert_error(&r.body);
    let r = s
        .http
        .try_post("/v1/verify", Some(&rotated), &probe)
        .unwrap();
    assert_eq!(r.body["result"], "code_required", "the new key: {r:?}");

    org.cli_ok(&["client", "remove", "web"]);
    let r = s
        .http
        .try_post("/v1/verify", Some(&rotated), &probe)
        .unwrap();
    assert_eq!(r.status, 401, "a removed client's key: {r:?}");
    assert_error(&r.body);
}

#[test]
fn client_list_counts_requests_and_refusals_today() {
    let (org, totp, key) = alice_with_authenticator();
    let other = org.add_client("other", ClientMode::CodeOnly);
    let s = org.serve();
    s.http.verify(&key, json!({"username": "alice"}));
    s.http.verify(
        &key,
        json!({"username": "alice", "code": totp.wrong_code()}),
    );
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": totp.code()}));
    assert_eq!(r.status, 200, "{r:?}");
    s.http.verify(&other, json!({"username": "nobody"}));

    let list: Value =
        serde_json::from_str(&org.cli_ok(&["client", "list", "--format", "json"])).unwrap();
    let row = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {list}"))
    };
    let web = row("web");
    assert_eq!(web["requests_today"], 3, "{web}");
    assert_eq!(web["refusals_today"], 1, "{web}");
    assert!(web["last_request"].is_string(), "{web}");
    let other = row("other");
    assert_eq!(other["requests_today"], 1, "{other}");
    assert_eq!(other["refusals_today"], 1, "{other}");
}

#[test]
fn bad_keys_are_audited_once_per_source_and_answered_slower() {
    let (org, _totp, _key) = alice_with_authenticator();
    let s = org.serve();
    let probe = json!({"username": "alice"}).to_string();
    let first = Instant::now();
    let mut took = Vec::new();
    for i in 0..6 {
        let t = Instant::now();
        let r = s
            .http
            .try_post("/v1/verify", Some(&format!("mfak_wrong{i}")), &probe)
            .unwrap();
        took.push(t.elapsed());
        assert_eq!(r.status, 401, "{r:?}");
    }
    let all_within = first.elapsed() < Duration::from_secs(10);
    assert!(
        took[5] >= Duration::from_millis(400),
        "the sixth bad key in a row is answered at once: {took:?}"
    );
    let events = wait_for("the bad keys to be audited", || {
        let e = audit_kinds(&org, "client.bad-key");
        (!e.is_empty()).then_some(e)
    });
    assert!(
        events[0]["subject"].as_str().unwrap().contains("127.0.0.1"),
        "{}",
        events[0]
    );
    if all_within {
        // Give a second event the time it would need to appear.
        std::thread::sleep(Duration::from_millis(500));
        let n = audit_kinds(&org, "client.bad-key").len();
        assert_eq!(n, 1, "six bad keys within 10 s are one audit event");
    }
    // Once the 10 s are over, the next bad key is audited with the ones not yet counted.
    if let Some(rest) =
        (first + Duration::from_millis(10_500)).checked_duration_since(Instant::now())
    {
        std::thread::sleep(rest);
    }
    let r = s
        .http
        .try_post("/v1/verify", Some("mfak_wrong7"), &probe)
        .unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let events = wait_for("the next bad key to be audited", || {
        let e = audit_kinds(&org, "client.bad-key");
        (e.len() >= 2).then_some(e)
    });
    assert_eq!(events.len(), 2, "{events:?}");
    if all_within {
        assert_eq!(
            events[0]["details"], "6 requests with a missing or wrong API key",
            "{}",
            events[0]
        );
    }
}

#[test]
fn a_wrong_key_takes_no_place_in_a_full_queue_and_its_source_stays_slowed() {
    let (org, _totp, _key) = alice_with_authenticator();
    org.write_config("[serve]\nqueue = 1\n");
    let s = org.serve_with(&["--workers", "1"]);
    let probe = json!({"username": "alice"}).to_string();
    let bad = |s: &Service| {
        let t = Instant::now();
        let r = s
            .http
            .try_post("/v1/verify", Some("mfak_wrong"), &probe)
            .unwrap();
        (r.status, t.elapsed())
    };
    for _ in 0..4 {
        assert_eq!(bad(&s).0, 401);
    }
    // The worker and the queue taken by requests waiting for the database.
    let lock = org.writer_lock_file();
    // Taken from the Unix socket, so that no right key comes from this address.
    lock.lock().unwrap();
    let mut held = Vec::new();
    loop {
        let mut c = s.sock();
        c.set_timeout(Duration::from_secs(2));
        c.send_raw(b"{\"op\": \"verify\", \"username\": \"alice\"}\n")
            .unwrap();
        match c.answer() {
            Ok(Some(r)) => {
                assert_eq!(r["status"], 503, "{r}");
                break;
            }
            _ => held.push(c),
        }
        assert!(held.len() < 10, "no request was turned away");
    }
    let (status, _) = bad(&s);
    lock.unlock().unwrap();
    assert_eq!(
        status, 401,
        "a wrong key is refused before it takes a place in the (full) queue"
    );
    for mut c in held {
        c.set_timeout(PATIENCE);
        assert_eq!(c.answer().unwrap().unwrap()["result"], "code_required");
    }
    let (status, took) = bad(&s);
    assert_eq!(status, 401);
    assert!(
        took >= Duration::from_millis(400),
        "the next wrong key is answered at once, as if the 503 had forgiven the source: {took:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Bad input: answered, nothing written, the service goes on
// ---------------------------------------------------------------------------------------

fn http_request(method: &str, path: &str, key: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunked_request(key: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for part in body.as_bytes().chunks(1000) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The service still decides, and nothing reached the audit log.
fn still_answering_and_nothing_written(org: &Org, s: &Service, key: &str, events_before: usize) {
    let h = s.http.health().unwrap();
    assert_eq!(h.status, 200, "{h:?}");
    assert_eq!(
        org.audit().len(),
        events_before,
        "bad input wrote to the audit log"
    );
    let r = s.http.verify(key, json!({"username": "alice"}));
    assert_eq!(r.body["result"], "code_required", "{r:?}");
    let r = s.sock().ask(&json!({"op": "health"})).unwrap();
    assert_eq!(r["result"], "ok", "{r}");
}

#[rstest]
#[case::malformed_json("POST", "/v1/verify", r#"{"username": "alice", "code": "#.to_string(), 400)]
#[case::unknown_field("POST", "/v1/verify", r#"{"username": "alice", "cod": "123456"}"#.to_string(), 400)]
#[case::not_an_object("POST", "/v1/verify", "[1, 2, 3]".to_string(), 400)]
#[case::long_username("POST", "/v1/verify", json!({"username": "a".repeat(257)}).to_string(), 400)]
#[case::long_code("POST", "/v1/verify", json!({"username": "alice", "code": "1".repeat(65)}).to_string(), 400)]
#[case::over_16_kib("POST", "/v1/verify", json!({"username": "a".repeat(17 * 1024)}).to_string(), 413)]
#[case::wrong_method("GET", "/v1/verify", String::new(), 405)]
#[case::wrong_method_on_health("POST", "/v1/health", String::new(), 405)]
#[case::unknown_path("POST", "/v1/nothing-here", json!({"username": "alice"}).to_string(), 404)]
fn bad_http_input_is_answered_and_writes_nothing(
    #[case] method: &str,
    #[case] path: &str,
    #[case] body: String,
    #[case] status: u16,
) {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let before = org.audit().len();
    let r = raw_http(&s.addr(), &http_request(method, path, &key, &body));
    assert_eq!(r.status, status, "{r:?}");
    assert_error(&r.body);
    still_answering_and_nothing_written(&org, &s, &key, before);
}

#[test]
fn a_chunked_body_over_16_kib_is_refused() {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let before = org.audit().len();
    let body = json!({"username": "a".repeat(17 * 1024)}).to_string();
    let r = raw_http(&s.addr(), &chunked_request(&key, &body));
    assert_eq!(r.status, 413, "{r:?}");
    assert_error(&r.body);
    // A chunked body within the bound is read as any other.
    let small = json!({"username": "alice"}).to_string();
    let r = raw_http(&s.addr(), &chunked_request(&key, &small));
    assert_eq!(r.body["result"], "code_required", "{r:?}");
    still_answering_and_nothing_written(&org, &s, &key, before + 1);
}

/// Waits for the peer to close `stream`; the time it took, or `None` if it never did.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return None;
            }
            Err(_) => return Some((start.elapsed(), got)),
        }
    }
}

#[test]
fn a_client_that_stalls_in_its_headers_is_cut_off_while_others_are_answered() {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let before = org.audit().len();
    let mut stalled = TcpStream::connect(s.addr()).unwrap();
    stalled
        .write_all(b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
        .unwrap();
    // Meanwhile, other clients are answered.
    for _ in 0..3 {
        let r = s.http.verify(&key, json!({"username": "alice"}));
        assert_eq!(r.body["result"], "code_required", "{r:?}");
    }
    let closed = closed_within(&mut stalled, Duration::from_secs(30));
    assert!(
        closed.is_some(),
        "a client stalled in its headers is still connected after 30 s"
    );
    still_answering_and_nothing_written(&org, &s, &key, before + 3);
}

#[test]
fn a_connection_that_sends_nothing_is_closed() {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let mut silent = TcpStream::connect(s.addr()).unwrap();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(
        r.body["result"], "code_required",
        "others are answered: {r:?}"
    );
    let closed = closed_within(&mut silent, Duration::from_secs(30));
    assert!(
        closed.is_some(),
        "a connection that sent nothing is still open after 30 s"
    );
}

#[test]
fn an_http2_connection_that_opens_no_stream_is_closed() {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let mut idle = TcpStream::connect(s.addr()).unwrap();
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(
        r.body["result"], "code_required",
        "others are answered: {r:?}"
    );
    let (_, got) = closed_within(&mut idle, Duration::from_secs(30))
        .expect("an HTTP/2 connection without a stream is still open after 30 s");
    // The service did speak HTTP/2: its SETTINGS frame (type 4) came first.
    assert!(got.len() >= 9 && got[3] == 4, "{got:?}");
}

/// Sends `request` on one connection after another until one is turned away with 503:
/// the connections before it hold the worker or wait in the queue.
fn fill(s: &Service, request: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::new();
    loop {
        let mut c = TcpStream::connect(s.addr()).unwrap();
        c.write_all(request).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        match read_reply(&mut c) {
            Ok(r) => {
                assert_eq!(r.status, 503, "{r:?}");
                return held;
            }
            Err(_) => held.push(c),
        }
        assert!(held.len() < 10, "no request was turned away");
    }
}

#[test]
fn clients_that_give_up_while_queued_leave_the_queue_its_places() {
    let (org, _totp, key) = alice_with_authenticator();
    org.write_config("[serve]\nqueue = 1\n");
    let s = org.serve_with(&["--workers", "1"]);
    let probe = http_request(
        "POST",
        "/v1/verify",
        &key,
        &json!({"username": "alice"}).to_string(),
    );
    // Holding the database's writer lock keeps the worker on its first request.
    let lock = org.writer_lock_file();
    lock.lock().unwrap();
    let held = fill(&s, &probe);
    // They give up: the worker's request runs on, the waiting one is dropped.
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    lock.unlock().unwrap();
    wait_for("the worker to be free", || {
        let r = s.http.verify(&key, json!({"username": "alice"}));
        (r.status != 503).then_some(())
    });

    lock.lock().unwrap();
    let held = fill(&s, &probe);
    lock.unlock().unwrap();
    let statuses: Vec<u16> = held
        .into_iter()
        .map(|mut c| {
            c.set_read_timeout(Some(PATIENCE)).unwrap();
            read_reply(&mut c).unwrap().status
        })
        .collect();
    let decided = statuses.iter().filter(|s| **s != 503).count();
    assert_eq!(
        decided, 2,
        "one worker and one place in the queue, after a client gave up: {statuses:?}"
    );
}

#[test]
fn a_client_that_stalls_in_its_body_is_answered_408_or_cut_off() {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let before = org.audit().len();
    let mut stalled = TcpStream::connect(s.addr()).unwrap();
    stalled
        .write_all(
            format!(
                "POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"username\": \"al"
            )
            .as_bytes(),
        )
        .unwrap();
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(
        r.body["result"], "code_required",
        "others are answered: {r:?}"
    );
    let (_, got) = closed_within(&mut stalled, Duration::from_secs(30))
        .expect("a client stalled in its body is still connected after 30 s");
    if !got.is_empty() {
        let r = parse_reply(&got).unwrap();
        assert_eq!(r.status, 408, "{r:?}");
        assert_error(&r.body);
    }
    still_answering_and_nothing_written(&org, &s, &key, before + 1);
}

#[rstest]
#[case::invalid_json(b"{\"op\": \"verify\", \"username\": \n".to_vec())]
#[case::unknown_op(b"{\"op\": \"delete-everything\", \"username\": \"alice\"}\n".to_vec())]
#[case::unknown_field(b"{\"op\": \"verify\", \"username\": \"alice\", \"cod\": \"1\"}\n".to_vec())]
#[case::no_username(b"{\"op\": \"verify\"}\n".to_vec())]
#[case::line_over_16_kib(format!("{{\"op\": \"verify\", \"username\": \"{}\"}}\n", "a".repeat(17 * 1024)).into_bytes())]
#[case::endless_line_without_newline(vec![b'a'; 20 * 1024])]
fn bad_socket_input_is_answered_400_and_the_connection_closed(#[case] line: Vec<u8>) {
    let (org, _totp, key) = alice_with_authenticator();
    let s = org.serve();
    let before = org.audit().len();
    let mut sock = s.sock();
    // The service may stop reading once it has seen enough.
    let _ = sock.send_raw(&line);
    let r = sock.answer().unwrap().expect("an answer before the close");
    assert_eq!(r["status"], 400, "{r}");
    assert_error(&r);
    let after = sock.answer();
    assert!(
        matches!(after, Ok(None) | Err(_)),
        "the connection stays open after a bad request: {after:?}"
    );
    still_answering_and_nothing_written(&org, &s, &key, before);
}

#[test]
fn a_socket_request_cut_off_before_its_newline_is_told_so() {
    let (org, _totp, _key) = alice_with_authenticator();
    let s = org.serve();
    let stream = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
    let mut sock = harness::Sock::from(stream.try_clone().unwrap());
    sock.send_raw(b"{\"op\": \"health\"}").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let r = sock.answer().unwrap().expect("an answer");
    assert_eq!(r["status"], 400, "{r}");
    let message = r["message"].as_str().unwrap();
    assert!(message.contains("newline"), "{r}");
    assert!(
        !message.contains("16 KiB"),
        "a short request is not too long: {r}"
    );
}

// ---------------------------------------------------------------------------------------
// 8. Overload
// ---------------------------------------------------------------------------------------

#[test]
fn overload_answers_503_with_retry_after_and_nothing_else_goes_wrong() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    let key = org.add_client("portal", ClientMode::PasswordAndCode);
    org.write_config("[serve]\nqueue = 1\n");
    let s = org.serve_with(&["--workers", "1"]);
    let body = json!({"username": "alice", "password": ALICE_PW}).to_string();
    let n = 16;
    let mut overloaded = Vec::new();
    let mut answered = 0;
    for _round in 0..5 {
        let barrier = Arc::new(Barrier::new(n));
        let replies: Vec<_> = (0..n)
            .map(|_| {
                let http = s.http.clone();
                let (key, body, barrier) = (key.clone(), body.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    http.try_post("/v1/verify", Some(&key), &body)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap().expect("every request is answered"))
            .collect();
        for r in replies {
            assert!(
                [200, 401, 503].contains(&r.status),
                "an overloaded service answered {r:?}"
            );
            if r.status == 503 {
                assert_error(&r.body);
                assert!(
                    r.header("retry-after").is_some(),
                    "503 without Retry-After: {r:?}"
                );
                overloaded.push(r);
            } else {
                assert_eq!(r.body["result"], "accepted", "{r:?}");
                answered += 1;
            }
        }
        if !overloaded.is_empty() {
            break;
        }
    }
    assert!(
        !overloaded.is_empty(),
        "one worker and a queue of one took {n} requests at once"
    );
    assert!(answered >= 1, "some requests are decided");
    let r = s.http.verify(&key, serde_json::from_str(&body).unwrap());
    assert_eq!(r.status, 200, "after the burst: {r:?}");
    assert_eq!(s.http.health().unwrap().status, 200);
}

// ---------------------------------------------------------------------------------------
// 9. Races
// ---------------------------------------------------------------------------------------

#[test]
fn twenty_clients_racing_one_code_let_exactly_one_through() {
    let (org, totp, key) = alice_with_authenticator();
    org.policy(PolicyKey::LockoutThreshold, "100");
    let s = org.serve();
    for round in 0..5 {
        org.reset_replay(totp.user_id);
        let code = totp.code();
        let barrier = Arc::new(Barrier::new(20));
        let mut threads = Vec::new();
        for i in 0..20 {
            let barrier = Arc::clone(&barrier);
            let body = json!({"username": "alice", "code": code});
            if i % 2 == 0 {
                let (http, key) = (s.http.clone(), key.clone());
                threads.push(std::thread::spawn(move || {
                    barrier.wait();
                    http.verify(&key, body).body
                }));
            } else {
                let mut sock = s.sock();
                threads.push(std::thread::spawn(move || {
                    barrier.wait();
                    sock.verify(body)
                }));
            }
        }
        let answers: Vec<Value> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let accepted = answers.iter().filter(|a| a["result"] == "accepted").count();
        assert_eq!(accepted, 1, "round {round}: {answers:?}");
        for a in answers.iter().filter(|a| a["result"] != "accepted") {
            assert_refused_generic(a);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 10. SIGKILL in the middle of a burst
// ---------------------------------------------------------------------------------------

#[test]
fn sigkill_mid_burst_loses_no_accepted_code_and_check_passes() {
    let org = Org::new();
    org.policy(PolicyKey::LockoutThreshold, "100");
    let users: Vec<Totp> = (0..6)
        .map(|i| {
            let name = format!("user{i}");
            org.add_user(&name, Some(ALICE_PW));
            org.enroll_totp(&name)
        })
        .collect();
    let users = Arc::new(users);
    let key = org.add_client("web", ClientMode::CodeOnly);
    let mut s = org.serve();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let threads: Vec<_> = (0..users.len())
        .map(|i| {
            let (users, stop, accepted) = (users.clone(), stop.clone(), accepted.clone());
            let (http, key, socket) = (s.http.clone(), key.clone(), s.socket.clone());
            std::thread::spawn(move || {
                let t = &users[i];
                let mut sock = (i % 2 == 1).then(|| harness::Sock::connect(&socket));
                while !stop.load(Ordering::SeqCst) {
                    // The current code (accepted once), then replays and wrong codes.
                    let code = if now() % 3 == 0 {
                        t.wrong_code()
                    } else {
                        t.code()
                    };
                    let body = json!({"username": t.username, "code": code});
                    let result = match sock.as_mut() {
                        Some(sk) => {
                            let mut b = body;
                            b["op"] = json!("verify");
                            match sk.ask(&b) {
                                Ok(a) => a["result"].as_str().unwrap_or("").to_string(),
                                Err(_) => break,
                            }
                        }
                        None => match http.try_post("/v1/verify", Some(&key), &body.to_string()) {
                            Ok(r) => r.body["result"].as_str().unwrap_or("").to_string(),
                            Err(_) => break,
                        },
                    };
                    if result == "accepted" {
                        accepted.lock().unwrap().push((i, code));
                    }
                }
            })
        })
        .collect();
    wait_for("a few codes to be accepted", || {
        (accepted.lock().unwrap().len() >= 3).then_some(())
    });
    // Give the burst a moment of replays and wrong codes, then kill it mid-flight.
    std::thread::sleep(Duration::from_millis(200));
    s.kill();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let out = org.cli(&["check"], "");
    assert!(
        out.status.success(),
        "check after SIGKILL: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let accepted = accepted.lock().unwrap().clone();
    let distinct: HashSet<_> = accepted.iter().collect();
    assert_eq!(
        distinct.len(),
        accepted.len(),
        "a code was accepted twice: {accepted:?}"
    );

    let s = org.serve();
    // The burst's wrong codes may have locked some; a locked answer would prove nothing.
    for t in users.iter() {
        org.core
            .unlock(mfa_console::core::Actor::Operator, &t.username)
            .unwrap();
    }
    for (i, code) in &accepted {
        let r = s
            .http
            .verify(&key, json!({"username": users[*i].username, "code": code}));
        assert_eq!(
            r.body["result"], "refused",
            "user{i}'s code {code}, accepted before the kill, after the restart: {r:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 11. Signals
// ---------------------------------------------------------------------------------------

#[test]
fn sigterm_finishes_the_requests_in_flight_exits_0_and_removes_the_socket() {
    let org = Org::new();
    org.add_user("alice", Some(ALICE_PW));
    let key = org.add_client("portal", ClientMode::PasswordAndCode);
    let mut s = org.serve_with(&["--workers", "1"]);
    let body = json!({"username": "alice", "password": ALICE_PW}).to_string();
    let request = http_request("POST", "/v1/verify", &key, &body);

    // One request whose body is still on its way when the signal comes.
    let mut partial = TcpStream::connect(s.addr()).unwrap();
    let (head, tail) = request.split_at(request.len() - 10);
    partial.write_all(head).unwrap();

    let n = 8;
    let sent = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (addr, request, sent) = (s.addr(), request.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(PATIENCE)).unwrap();
                c.write_all(&request).unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
                read_reply(&mut c)
            })
        })
        .collect();
    wait_for("the requests to be sent", || {
        (sent.load(Ordering::SeqCst) == n).then_some(())
    });
    // Connections are accepted in order: once a later one is answered, all are in.
    assert_eq!(s.http.health().unwrap().status, 200);
    wait_for("the first verification to finish", || {
        s.log().contains("serve: verify").then_some(())
    });
    s.signal("TERM");
    std::thread::sleep(Duration::from_millis(100));
    partial.write_all(tail).unwrap();
    partial.set_read_timeout(Some(PATIENCE)).unwrap();
    let last = read_reply(&mut partial).expect("the request being sent gets its answer");
    assert_eq!(last.status, 200, "{last:?}");
    for t in threads {
        let r = t
            .join()
            .unwrap()
            .expect("each request in flight is answered");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["result"], "accepted");
    }
    let status = s.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    assert!(!s.socket.exists(), "the socket file is left behind");
    assert!(s.stderr().contains("stopped"), "{}", s.stderr());
}

#[test]
fn sigterm_is_not_held_up_by_a_socket_client_that_reads_no_answers() {
    let (org, _totp, _key) = alice_with_authenticator();
    let mut s = org.serve();
    let mut stream = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
    // Requests until the service stops taking them: it is stuck writing answers that
    // nobody reads (the buffers both ways are full, for a second on end).
    stream.set_nonblocking(true).unwrap();
    let line = b"{\"op\": \"health\"}\n".repeat(64);
    let mut pending: &[u8] = &[];
    let mut stuck_since: Option<Instant> = None;
    wait_for("the service to stop reading", || {
        if pending.is_empty() {
            pending = &line;
        }
        match stream.write(pending) {
            Ok(n) => {
                pending = &pending[n..];
                stuck_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *stuck_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(1) {
                    return Some(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the service closed the socket: {e}"),
        }
        None
    });
    assert_eq!(s.http.health().unwrap().status, 200);
    s.signal("TERM");
    let status = s.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    drop(stream);
}

#[test]
fn sighup_rereads_the_config_and_a_broken_one_leaves_the_service_running() {
    let org = Org::new();
    org.method(Method::Email, true);
    org.add_user("alice", Some(ALICE_PW));
    org.enroll_email("alice");
    let key = org.add_client("web", ClientMode::CodeOnly);
    let s = org.serve();

    let config = org.write_config(
        "[serve]\nqueue = 8\n\n[mail]\nfrom = \"Reloaded Sender <reloaded@example.com>\"\n",
    );
    s.signal("HUP");
    wait_for("the service to re-read its config", || {
        s.stderr().contains("SIGHUP: config re-read").then_some(())
    });
    let r = s
        .http
        .post("/v1/email-code", Some(&key), &json!({"username": "alice"}));
    assert_eq!(r.status, 200, "{r:?}");
    let from = from_of_eml(org.emls().last().unwrap());
    assert!(
        from.contains("reloaded@example.com"),
        "the new sender: {from}"
    );

    std::fs::write(&config, "[serve]\nqueue = 8\nbogus = 1\n").unwrap();
    s.signal("HUP");
    let line = wait_for("the service to refuse the broken config", || {
        s.stderr()
            .lines()
            .find(|l| l.contains("not re-read"))
            .map(str::to_string)
    });
    assert!(line.contains(&config.display().to_string()), "{line}");
    assert!(line.contains("line 3"), "{line}");
    assert!(line.contains("serve.bogus"), "{line}");
    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(r.body["result"], "code_required", "still answering: {r:?}");
    assert_eq!(
        s.sock().ask(&json!({"op": "health"})).unwrap()["result"],
        "ok"
    );
}

#[test]
fn sighup_applies_a_new_queue_length() {
    let (org, _totp, key) = alice_with_authenticator();
    org.write_config("[serve]\nqueue = 1\n");
    let s = org.serve_with(&["--workers", "1"]);
    let probe = http_request(
        "POST",
        "/v1/verify",
        &key,
        &json!({"username": "alice"}).to_string(),
    );
    let lock = org.writer_lock_file();
    // How many requests the service takes on (one worker, the queue) before a 503.
    let taken = || {
        lock.lock().unwrap();
        let held = fill(&s, &probe);
        lock.unlock().unwrap();
        for mut c in held.iter().map(|c| c.try_clone().unwrap()) {
            c.set_read_timeout(Some(PATIENCE)).unwrap();
            let r = read_reply(&mut c).unwrap();
            assert_eq!(r.body["result"], "code_required", "{r:?}");
        }
        held.len()
    };
    assert_eq!(taken(), 2);
    org.write_config("[serve]\nqueue = 3\n");
    s.signal("HUP");
    wait_for("the service to re-read its config", || {
        s.stderr().contains("SIGHUP: config re-read").then_some(())
    });
    assert_eq!(taken(), 4, "the new queue length after SIGHUP");
}

// ---------------------------------------------------------------------------------------
// 12. TLS
// ---------------------------------------------------------------------------------------

/// A test CA and a certificate it signed for 127.0.0.1: the PEM files of the certificate
/// and its key, and the CA's certificate (DER).
fn test_certificate(org: &Org) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Serve Test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let cert = org.path("cert.pem");
    let keyfile = org.path("key.pem");
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&keyfile, leaf_key.serialize_pem()).unwrap();
    (cert, keyfile, ca.der().to_vec())
}

#[test]
fn https_with_a_certificate_from_a_test_ca() {
    let (org, totp, key) = alice_with_authenticator();
    let (cert, keyfile, ca) = test_certificate(&org);
    let s = org.serve_tls(&cert, &keyfile, &ca);
    let r = s
        .http
        .verify(&key, json!({"username": "alice", "code": totp.code()}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["result"], "accepted");

    let untrusting = harness::Http::new(&s.http.base, None);
    assert!(
        untrusting.health().is_err(),
        "a client without the test CA connected"
    );
    let plain = harness::Http::new(&format!("http://{}", s.addr()), None);
    assert!(
        plain.health().is_err(),
        "plain HTTP was answered on the TLS port"
    );
}

#[test]
fn tls_clients_that_stall_in_the_handshake_or_after_it_are_cut_off() {
    let (org, _totp, key) = alice_with_authenticator();
    let (cert, keyfile, ca) = test_certificate(&org);
    let s = org.serve_tls(&cert, &keyfile, &ca);

    // Half a handshake: a few bytes of a ClientHello, then nothing.
    let mut half = TcpStream::connect(s.addr()).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])
        .unwrap();

    // A whole handshake, then nothing.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(ca.clone()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut silent = TcpStream::connect(s.addr()).unwrap();
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut silent).expect("the TLS handshake");
    }

    let r = s.http.verify(&key, json!({"username": "alice"}));
    assert_eq!(
        r.body["result"], "code_required",
        "others are answered: {r:?}"
    );
    assert!(
        closed_within(&mut half, Duration::from_secs(30)).is_some(),
        "a half handshake is still connected after 30 s"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(30)).is_some(),
        "a TLS client that sends no request is still connected after 30 s"
    );
}

#[test]
fn listening_off_loopback_without_tls_is_refused_at_start() {
    let org = Org::new();
    let port = harness::free_port().to_string();
    let socket = org.path("verify.sock");
    let (status, err) = serve_refused(
        &org,
        &[
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--socket",
            socket.to_str().unwrap(),
        ],
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("TLS"), "{err}");
    assert!(err.contains("--tls-cert"), "{err}");
    assert!(!socket.exists(), "a refused start left a socket");
}

// ---------------------------------------------------------------------------------------
// 13. Config errors
// ---------------------------------------------------------------------------------------

#[rstest]
#[case::off_loopback_without_tls("[serve]\nlisten = \"0.0.0.0:1\"\n", 2, "serve.listen", "TLS")]
#[case::unknown_key(
    "[serve]\nworkers = 2\nlisen = \"127.0.0.1:1\"\n",
    3,
    "serve.lisen",
    "unknown field"
)]
#[case::no_workers("[serve]\nworkers = 0\n", 2, "serve.workers", "from 1 to 64")]
#[case::no_queue("# limits\n[serve]\n\nqueue = -1\n", 4, "serve.queue", "from 1 to")]
#[case::not_an_address(
    "[serve]\nlisten = \"localhost\"\n",
    2,
    "serve.listen",
    "not an address"
)]
fn a_bad_serve_config_is_refused_with_file_line_and_key(
    #[case] text: &str,
    #[case] line: usize,
    #[case] key: &str,
    #[case] words: &str,
) {
    let org = Org::new();
    let file = org.write_config(text);
    let socket = org.path("verify.sock");
    let (status, err) = serve_refused(&org, &["--socket", socket.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains(&format!("line {line}")), "{err}");
    assert!(err.contains(key), "{err}");
    assert!(err.contains(words), "{err}");
    assert!(!socket.exists(), "a refused start left a socket");
}

#[test]
fn a_port_in_use_is_refused_at_start_and_leaves_no_socket() {
    let org = Org::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let socket = org.path("verify.sock");
    let (status, err) = serve_refused(
        &org,
        &["--listen", &addr, "--socket", socket.to_str().unwrap()],
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot listen") && err.contains(&addr),
        "{err}"
    );
    assert!(!socket.exists(), "a refused start left a socket file");
}

#[test]
fn a_socket_group_that_does_not_exist_is_refused_and_leaves_no_socket() {
    let org = Org::new();
    let socket = org.path("verify.sock");
    let (status, err) = serve_refused(
        &org,
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--socket-group",
            "no-such-group-here",
        ],
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("no-such-group-here"), "{err}");
    assert!(!socket.exists(), "a refused start left a socket file");
}
