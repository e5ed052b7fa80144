//! `authscale node` and its store, driven through the binary: a store
//! password never reaches stderr (invalid URL at start, errors at run
//! time), and sessions work over `rediss://` with `--redis-ca-file`.

mod support;

use support::{bin, run, session_node, session_node_args, utf8};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use authscale_testkit::{RedisServer, free_port, get, login, request, session_cookie};

const SECRET: &str = "hunter2-store-secret";

#[test]
fn an_invalid_store_url_is_refused_without_showing_its_password() {
    // Malformed in every way a hand-typed URL can be: wherever the
    // password sits, it must not reach the output.
    let urls = [
        format!("redis://admin:{SECRET}@127.0.0.1:notaport"),
        format!("redis://admin:{SECRET}"),
        format!("redis://admin:{SECRET}/127.0.0.1"),
        format!("admin:{SECRET}@127.0.0.1:6379"),
        format!("redis:admin:{SECRET}@127.0.0.1:6379"),
        format!("redis+unix:///tmp/x?pass={SECRET}&db=abc"),
        format!("redis://admin:{SECRET}@127.0.0.1:notaport/0?password={SECRET}"),
    ];
    for url in &urls {
        let output = run(session_node_args(url, &[]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("redis"), "{url}: {stderr}");
        assert!(!stderr.contains(SECRET), "{url}: {stderr}");
        assert!(!String::from_utf8_lossy(&output.stdout).contains(SECRET));
    }
}

#[tokio::test]
async fn store_errors_at_run_time_do_not_show_the_password() {
    // Nothing listens on this port: every store call fails and is logged.
    let url = format!("redis://admin:{SECRET}@127.0.0.1:{}", free_port());
    let log = std::env::temp_dir().join(format!("authscale-store-cli-{}.log", free_port()));
    let mut child = Command::new(bin())
        .args(session_node_args(&url, &[]))
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start authscale node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the address line");
    let addr: std::net::SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("an address in {line:?}"));
    assert_eq!(get(addr, "/readyz").await.status, 503);
    let login = login(addr, "user1", "wrong").await;
    assert_eq!(login.status, 401);
    let me = request(addr, "GET", "/api/me", &[("cookie", "sid=abc")], b"").await;
    assert!(me.status == 401 || me.status == 503, "{}", me.body);
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&log).expect("read the log");
    let _ = std::fs::remove_file(&log);
    assert!(stderr.contains("store unavailable"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(!line.contains(SECRET), "{line}");
}

#[tokio::test]
async fn a_session_node_reaches_its_store_over_tls_with_a_ca_file() {
    let redis = RedisServer::start_tls();
    let ca_file = redis.ca_file();
    let tls = ["--redis-ca-file", utf8(&ca_file), "--store-timeout", "1s"];
    let node = session_node(&redis.tls_url(), &tls);
    let addr = node.addr();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(addr, "/readyz").await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready over TLS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let password =
        String::from_utf8(run(["users", "--first", "3", "--count", "1"]).stdout).expect("utf-8");
    let password = password.split_whitespace().nth(1).expect("a password");
    let login = login(addr, "user3", password).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = session_cookie(&login);
    let me = request(addr, "GET", "/api/me", &[("cookie", &cookie)], b"").await;
    assert_eq!(me.status, 200, "{}", me.body);
    // The session was written through the TLS port into the one server.
    assert_eq!(
        redis.command(&["DBSIZE"]),
        "3",
        "the session, its account's session index and the readiness probe"
    );
}

#[test]
fn a_ca_file_that_is_not_a_certificate_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("authscale-ca-{}", free_port()));
    std::fs::create_dir_all(&dir).expect("folder");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").expect("write");
    let ca_file = ["--redis-ca-file", utf8(&ca)];
    let output = run(session_node_args("rediss://127.0.0.1:6380", &ca_file));
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("no PEM certificate"), "{stderr}");
}
