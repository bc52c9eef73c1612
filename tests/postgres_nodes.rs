//! Several service nodes on one PostgreSQL database: separate `mfa-console serve`
//! processes, each with its own socket and HTTP port, on a server these tests start. They
//! share one roster, one replay guard, one lockout and one audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(not(no_postgres))]
#[path = "common/serve.rs"]
#[allow(dead_code)]
mod harness;
#[cfg(not(no_postgres))]
#[path = "common/pg.rs"]
mod pg;

#[cfg(no_postgres)]
#[test]
#[ignore = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install postgresql to run the tests of several nodes on one database"]
fn several_nodes_on_one_postgresql_database() {
    panic!(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install postgresql to run the tests of several nodes on one database"
    );
}

#[cfg(not(no_postgres))]
mod nodes {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::{Duration, Instant};

    use mfa_console::core::PolicyKey;
    use mfa_console::store::ClientMode;
    use serde_json::{Value, json};

    use super::harness::{ALICE_PW, Org, Totp};
    use super::pg;

    fn org_on(server: &pg::Server) -> Org {
        Org::on(|dir| server.new_location(dir))
    }

    /// alice with an authenticator; a code-only client `web`.
    fn alice(org: &Org) -> (Totp, String) {
        org.add_user("alice", Some(ALICE_PW));
        let totp = org.enroll_totp("alice");
        (totp, org.add_client("web", ClientMode::CodeOnly))
    }

    #[test]
    fn twenty_clients_racing_one_code_across_two_nodes_let_exactly_one_through() {
        let org = org_on(pg::server());
        let (totp, key) = alice(&org);
        org.policy(PolicyKey::LockoutThreshold, "100");
        let a = org.serve_node("a");
        let b = org.serve_node("b");
        for round in 0..5 {
            org.reset_replay(totp.user_id);
            let code = totp.code();
            let barrier = Arc::new(Barrier::new(20));
            let threads: Vec<_> = (0..20)
                .map(|i| {
                    let barrier = Arc::clone(&barrier);
                    let body = json!({"username": "alice", "code": code});
                    let node = if i % 2 == 0 { &a } else { &b };
                    let (http, key) = (node.http.clone(), key.clone());
                    let mut sock = (i % 4 >= 2).then(|| node.sock());
                    std::thread::spawn(move || {
                        barrier.wait();
                        match sock.as_mut() {
                            Some(s) => s.verify(body),
                            None => http.verify(&key, body).body,
                        }
                    })
                })
                .collect();
            let answers: Vec<Value> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let accepted = answers.iter().filter(|r| r["result"] == "accepted").count();
            assert_eq!(accepted, 1, "round {round}: {answers:?}");
            assert!(
                answers
                    .iter()
                    .all(|r| r["result"] == "accepted" || r["result"] == "refused"),
                "round {round}: {answers:?}"
            );
        }
    }

    #[test]
    fn a_lockout_reached_through_one_node_holds_on_the_other() {
        let org = org_on(pg::server());
        let (totp, key) = alice(&org);
        let a = org.serve_node("a");
        let b = org.serve_node("b");
        // The threshold is 3: two failures on A, the third on B locks.
        for node in [&a, &a] {
            let r = node.http.verify(
                &key,
                json!({"username": "alice", "code": totp.wrong_code()}),
            );
            assert_eq!(r.body["result"], "refused", "{r:?}");
        }
        let r = b.http.verify(
            &key,
            json!({"username": "alice", "code": totp.wrong_code()}),
        );
        assert_eq!(
            r.status, 423,
            "the third failure, on the other node, locks: {r:?}"
        );
        // The right code is refused on both nodes now.
        for node in [&a, &b] {
            let r = node
                .http
                .verify(&key, json!({"username": "alice", "code": totp.code()}));
            assert_eq!(r.status, 423, "{r:?}");
            assert_eq!(r.body["result"], "locked");
        }
        // The lockout counter is one row in the database.
        let shown: Value =
            serde_json::from_str(&org.cli_ok(&["user", "show", "alice", "--format", "json"]))
                .unwrap();
        assert!(!shown["user"]["locked_until"].is_null(), "{shown}");
    }

    #[test]
    fn sigkill_of_a_node_mid_burst_loses_nothing_it_acknowledged() {
        let org = org_on(pg::server());
        org.policy(PolicyKey::LockoutThreshold, "100");
        let users: Arc<Vec<Totp>> = Arc::new(
            (0..6)
                .map(|i| {
                    let name = format!("user{i}");
                    org.add_user(&name, Some(ALICE_PW));
                    org.enroll_totp(&name)
                })
                .collect(),
        );
        let key = org.add_client("web", ClientMode::CodeOnly);
        let mut a = org.serve_node("a");
        let b = org.serve_node("b");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
        let threads: Vec<_> = (0..users.len())
            .map(|i| {
                let (users, stop, accepted) = (users.clone(), stop.clone(), accepted.clone());
                let (http, key) = (a.http.clone(), key.clone());
                std::thread::spawn(move || {
                    let t = &users[i];
                    while !stop.load(Ordering::SeqCst) {
                        let code = t.code();
                        let body = json!({"username": t.username, "code": code});
                        match http.try_post("/v1/verify", Some(&key), &body.to_string()) {
                            Ok(r) if r.body["result"] == "accepted" => {
                                accepted.lock().unwrap().push((i, code));
                            }
                            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // Let some codes through, then kill node A in the middle of the burst.
        let start = Instant::now();
        while accepted.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(150));
        a.kill();
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        let accepted = accepted.lock().unwrap().clone();
        assert!(
            !accepted.is_empty(),
            "some codes were accepted before the kill"
        );
        // Every code node A acknowledged is spent on node B: the acceptance was committed.
        for (i, code) in &accepted {
            let r = b
                .http
                .verify(&key, json!({"username": users[*i].username, "code": code}));
            assert_eq!(
                r.body["result"], "refused",
                "an acknowledged code of user{i} was not kept: {r:?}"
            );
        }
        let check = org.cli(&["check"], "");
        assert!(
            check.status.success(),
            "check after the kill: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }

    #[test]
    fn a_restarted_database_server_fails_requests_cleanly_then_serves_again() {
        // A server of this test's own: it is stopped and started again.
        let server = pg::Server::start(&["fsync=off"]);
        let org = org_on(&server);
        let (totp, key) = alice(&org);
        org.policy(PolicyKey::LockoutThreshold, "100");
        let a = org.serve_node("a");
        let b = org.serve_node("b");
        for node in [&a, &b] {
            let r = node
                .http
                .verify(&key, json!({"username": "alice", "code": totp.code()}));
            assert!(r.body["result"] == "accepted" || r.body["result"] == "refused");
        }
        server.stop();
        for node in [&a, &b] {
            let started = Instant::now();
            let r = node
                .http
                .verify(&key, json!({"username": "alice", "code": totp.code()}));
            assert_eq!(r.status, 503, "while the server is down: {r:?}");
            let message = r.body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!(
                    "the database server at 127.0.0.1:{} is not reachable",
                    server.port
                )),
                "{r:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "failed at once, not after a long wait"
            );
            assert_eq!(
                node.http.health().unwrap().status,
                200,
                "the node still runs"
            );
        }
        server.restart();
        // No node is restarted: the next requests connect again.
        org.reset_replay(totp.user_id);
        for node in [&a, &b] {
            let r = node.http.verify(
                &key,
                json!({"username": "alice", "code": totp.wrong_code()}),
            );
            assert_eq!(r.status, 401, "decided again after the restart: {r:?}");
            assert_eq!(r.body["result"], "refused", "{r:?}");
        }
        let r = b
            .http
            .verify(&key, json!({"username": "alice", "code": totp.code()}));
        assert_eq!(r.body["result"], "accepted", "{r:?}");
        server.stop();
    }

    #[test]
    fn a_change_made_on_another_host_is_seen_within_a_second() {
        // The console checks the generation every second; a change by another process
        // (here the command line, as another host would) moves it.
        let org = org_on(pg::server());
        let before = org.core.generation().unwrap();
        let out = org.cli(&["user", "add", "zed", "--email", "zed@example.com"], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = org.core.generation().unwrap();
        assert!(after > before, "generation {before} → {after}");
        let names: Vec<String> = org
            .core
            .store()
            .read(|tx| tx.users())
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert!(names.contains(&"zed".to_string()), "{names:?}");
    }

    /// Someone who can write the PostgreSQL database but not read the key file changes
    /// the audit log with SQL; `check` reports each change by event number.
    #[test]
    fn audit_log_changes_made_with_sql_are_reported_by_check() {
        let server = pg::server();
        let cases: [(&str, &str); 4] = [
            (
                "UPDATE audit SET record = convert_to(replace(convert_from(record, 'UTF8'), '\"details\":\"', '\"details\":\"edited '), 'UTF8') WHERE seq = 3",
                "event 3 was altered after it was written",
            ),
            ("DELETE FROM audit WHERE seq = 3", "event 3 is missing"),
            (
                "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
                "the newest events were deleted",
            ),
            (
                "DELETE FROM audit; DELETE FROM meta WHERE key = 'audit_chain_head'",
                "every event was deleted",
            ),
        ];
        for (sql, said) in cases {
            let org = org_on(server);
            org.add_user("alice", Some(ALICE_PW));
            org.add_user("bob", Some(ALICE_PW));
            let (ok, out) = run_org(&org, &["check"]);
            assert!(ok, "before: {out}");
            let mfa_console::store::Location::Postgres(l) = &org.location else {
                panic!("a PostgreSQL organization")
            };
            let database = l.shown().rsplit('/').next().unwrap().to_string();
            let mut c = postgres::Client::connect(&server.url(&database), postgres::NoTls).unwrap();
            c.batch_execute(sql).unwrap();
            let (ok, out) = run_org(&org, &["check"]);
            assert!(!ok, "{sql}: check passed: {out}");
            assert!(out.contains(said), "{sql}: expected {said:?} in: {out}");
        }
    }

    #[test]
    fn rotate_key_on_postgresql_keeps_secrets_readable_and_other_hosts_need_the_new_key_file() {
        let org = org_on(pg::server());
        let (totp, key) = alice(&org);
        let old_key = std::fs::read(org.path("mfa-console.key")).unwrap();
        let (ok, out) = run_org(&org, &["rotate-key"]);
        assert!(ok, "{out}");
        assert!(out.contains("Re-encrypted 1 secret(s)"), "{out}");
        let (ok, out) = run_org(&org, &["check"]);
        assert!(
            ok && out.contains("sealed secrets:     ok (1 checked)"),
            "{out}"
        );
        // A host still holding the old key file refuses, and names the file.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("config.toml"), "").unwrap();
        let old = other.path().join("mfa-console.key");
        std::fs::write(&old, &old_key).unwrap();
        std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mfa_console::store::Location::Postgres(l) = &org.location else {
            panic!("a PostgreSQL organization")
        };
        let out = std::process::Command::new(super::harness::bin())
            .env_remove("MFA_CONSOLE_DB")
            .args(["--db", l.shown(), "--config"])
            .arg(other.path().join("config.toml"))
            .arg("check")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            said.contains("does not belong to this database")
                && said.contains(&old.display().to_string()),
            "{said}"
        );
        // The new key verifies a code on a node.
        let a = org.serve_node("a");
        let r = a
            .http
            .verify(&key, json!({"username": "alice", "code": totp.code()}));
        assert_eq!(r.body["result"], "accepted", "{r:?}");
    }

    #[test]
    fn a_write_sees_what_the_writer_before_it_committed_whatever_the_default_isolation() {
        // A database whose default is REPEATABLE READ: a write that waited for the lock
        // must still read what the writer before it committed.
        let server = pg::server();
        let org = org_on(server);
        let mfa_console::store::Location::Postgres(l) = &org.location else {
            panic!("a PostgreSQL organization")
        };
        let database = l.shown().rsplit('/').next().unwrap().to_string();
        let mut admin = postgres::Client::connect(&server.url(&database), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {database} SET default_transaction_isolation = 'repeatable read'"
            ))
            .unwrap();
        let store = mfa_console::store::Store::open(&org.location).unwrap();
        let first = {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .write(|tx| {
                        tx.put_meta("probe", b"written")?;
                        std::thread::sleep(Duration::from_millis(400));
                        Ok::<_, mfa_console::store::StoreError>(())
                    })
                    .unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let seen = store.write(|tx| tx.meta("probe")).unwrap();
        first.join().unwrap();
        assert_eq!(
            seen.as_deref(),
            Some(&b"written"[..]),
            "the second write read a stale snapshot"
        );
    }

    #[test]
    fn a_name_with_a_control_character_is_refused_alone_without_failing_its_batch() {
        let org = org_on(pg::server());
        let (totp, key) = alice(&org);
        let a = org.serve_node("a");
        let barrier = Arc::new(Barrier::new(2));
        let bad = {
            let (http, key, barrier) = (a.http.clone(), key.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                http.verify(&key, json!({"username": "a\u{0}b", "code": "123456"}))
            })
        };
        barrier.wait();
        let good = a
            .http
            .verify(&key, json!({"username": "alice", "code": totp.code()}));
        let bad = bad.join().unwrap();
        assert_eq!(good.body["result"], "accepted", "{good:?}");
        assert_eq!(bad.body["result"], "refused", "{bad:?}");
    }

    fn run_org(org: &Org, args: &[&str]) -> (bool, String) {
        let out = org.command().args(args).output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The binary with `--config` the folder's config file and no `--db` yet.
    fn bin(org: &Org) -> std::process::Command {
        let mut c = std::process::Command::new(super::harness::bin());
        c.env_remove("MFA_CONSOLE_DB")
            .env_remove("MFA_CONSOLE_CONFIG")
            .arg("--config")
            .arg(org.path("config.toml"));
        c
    }

    fn run(org: &Org, args: &[&str]) -> (bool, String) {
        let out = bin(org).args(args).output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn report(org: &Org, db: &str) -> String {
        let (ok, out) = run(org, &["--db", db, "report", "--format", "csv"]);
        assert!(ok, "{out}");
        out
    }

    #[test]
    fn store_copy_moves_a_file_into_postgresql_and_back_with_the_same_report() {
        // A file database with users, an authenticator, a client and an audit trail.
        let org = Org::new();
        for i in 0..40 {
            org.add_user(&format!("user{i}"), Some(ALICE_PW));
        }
        org.enroll_totp("user3");
        org.add_client("web", ClientMode::CodeOnly);
        std::fs::write(org.path("config.toml"), "").unwrap();
        let server = pg::server();
        let database = server.new_database();
        let url = server.url(&database);
        let file = org.db.to_str().unwrap().to_string();
        let (ok, said) = run(&org, &["--db", &file, "store", "copy", "--to", &url]);
        assert!(ok, "{said}");
        assert!(said.contains("The copy passed its check"), "{said}");
        assert!(
            said.contains("sealed secrets:     ok (1 checked)"),
            "{said}"
        );
        assert_eq!(
            report(&org, &file),
            report(&org, &url),
            "the same report on both"
        );
        let (ok, checked) = run(&org, &["--db", &url, "check"]);
        assert!(ok && checked.contains("All checks passed"), "{checked}");
        // A copy into a database that holds an organization is refused.
        std::fs::remove_file(org.path("mfa-console.key")).unwrap();
        let (ok, err) = run(&org, &["--db", &file, "store", "copy", "--to", &url]);
        assert!(!ok);
        assert!(
            err.contains("already holds an mfa-console organization"),
            "{err}"
        );
        assert!(
            !org.path("mfa-console.key").exists(),
            "nothing is left of the refused copy"
        );
        // The refused copy changed nothing there.
        let (ok, _) = run(&org, &["--db", &url, "check"]);
        assert!(!ok, "its key file is gone now, so the copy cannot be read");
        // And back into a new file, from the first copy (its key restored from the file's).
        std::fs::copy(
            org.db.with_extension("redb.key"),
            org.path("mfa-console.key"),
        )
        .unwrap();
        let back = org.path("back.redb");
        let back = back.to_str().unwrap();
        let (ok, out) = run(&org, &["--db", &url, "store", "copy", "--to", back]);
        assert!(ok, "{out}");
        assert_eq!(report(&org, &file), report(&org, back));
        let (ok, checked) = run(&org, &["--db", back, "check"]);
        assert!(ok, "{checked}");
    }
}
