//! `authscale proxy` as a real process in front of real `authscale node`
//! processes (and, for edge cases, upstreams served by this test): balance,
//! failover, header semantics, streaming, errors, stickiness, admin.

mod support;

use support::bin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authscale_testkit::{ChildProcess, get, raw_exchange, request};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

fn node(id: &str) -> ChildProcess {
    let flags = "--listen 127.0.0.1:0 --threads 1 --node-id";
    let mut args: Vec<&str> = std::iter::once("node").chain(flags.split(' ')).collect();
    args.push(id);
    ChildProcess::spawn_server(bin(), &args)
}

fn proxy(upstreams: &[SocketAddr], extra: &[&str]) -> ChildProcess {
    let mut args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--threads",
        "2",
    ]
    .map(String::from)
    .to_vec();
    for upstream in upstreams {
        args.push("--upstream".into());
        args.push(upstream.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ChildProcess::spawn_server(bin(), &args)
}

/// `/api/me` requests with status 200 that a node counted itself.
async fn served_by(node: SocketAddr) -> u64 {
    let metrics = get(node, "/metrics").await.body;
    metrics
        .lines()
        .find(|l| l.starts_with(r#"authscale_requests_total{route="/api/me",status="200"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn round_robin_spreads_sequential_requests_evenly() {
    let nodes = [node("a"), node("b"), node("c")];
    let addrs: Vec<SocketAddr> = nodes.iter().map(ChildProcess::addr).collect();
    let proxy = proxy(&addrs, &[]);
    for _ in 0..1000 {
        assert_eq!(get(proxy.addr(), "/api/me").await.status, 200);
    }
    let mut counts = Vec::new();
    for addr in &addrs {
        counts.push(served_by(*addr).await);
    }
    assert_eq!(counts.iter().sum::<u64>(), 1000, "{counts:?}");
    let (min, max) = (counts.iter().min().copied(), counts.iter().max().copied());
    assert!(max.unwrap_or(0) - min.unwrap_or(0) <= 1, "{counts:?}");
}

#[tokio::test]
async fn a_killed_upstream_costs_at_most_one_percent_and_is_used_again_after_restart() {
    let mut nodes = [node("a"), node("b"), node("c")];
    let addrs: Vec<SocketAddr> = nodes.iter().map(ChildProcess::addr).collect();
    let cooldown = Duration::from_millis(500);
    let proxy = proxy(&addrs, &["--cooldown", "500ms"]);
    let target = proxy.addr();
    let total = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let kill_at = Duration::from_millis(800);
    let run_for = Duration::from_millis(2500);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (total, failed) = (total.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            // Bounded in time and in count.
            for _ in 0..20_000 {
                if started.elapsed() > run_for {
                    break;
                }
                let status = get(target, "/api/me").await.status;
                total.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(kill_at).await;
    nodes[1].kill();
    for worker in workers {
        worker.await.expect("worker");
    }
    let (total, failed) = (
        total.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    eprintln!("upstream killed mid-run: {failed} of {total} requests failed");
    assert!(total >= 200, "too little traffic to judge: {total}");
    assert!(failed * 100 <= total, "{failed} of {total} failed");
    // Once the killed upstream is known (marked down, or its failures
    // retried elsewhere), no request fails: counted, not timed.
    let mut late = 0;
    for _ in 0..200 {
        if get(target, "/api/me").await.status != 200 {
            late += 1;
        }
    }
    assert_eq!(late, 0, "failures after the kill was known");

    // Back on the same port: the proxy sends it traffic again.
    let port = addrs[1].port().to_string();
    nodes[1] = ChildProcess::spawn_server(
        bin(),
        &[
            "node",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--node-id",
            "b2",
        ],
    );
    // Waited for with a deadline (after its cool-down the proxy tries it
    // again), counted by the node itself.
    let deadline = Instant::now() + cooldown * 20;
    while served_by(addrs[1]).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the restarted upstream got no traffic"
        );
        for _ in 0..10 {
            assert_eq!(get(target, "/api/me").await.status, 200);
        }
    }
}

/// An upstream run by this test: echoes what it received, serves a large
/// body, stalls, and sets hop-by-hop headers of its own.
#[derive(Debug)]
struct TestUpstream;

impl authscale_http::Handler for TestUpstream {
    type Body = Full<Bytes>;
    type BodyError = std::convert::Infallible;

    async fn handle(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Full<Bytes>> {
        match req.uri().path() {
            "/headers" => {
                let seen: serde_json::Map<String, serde_json::Value> = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").into()))
                    .collect();
                Response::builder()
                    .header("connection", "x-upstream-hop")
                    .header("x-upstream-hop", "secret")
                    .header("keep-alive", "timeout=5")
                    .header("x-end-to-end", "kept")
                    .body(Full::new(Bytes::from(
                        serde_json::Value::Object(seen).to_string(),
                    )))
                    .expect("response")
            }
            "/echo" => {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Response::new(Full::new(body))
            }
            "/blob" => Response::new(Full::new(Bytes::from(pattern(1 << 20)))),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Response::new(Full::new(Bytes::from_static(b"late")))
            }
            _ => Response::new(Full::new(Bytes::new())),
        }
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn test_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(authscale_http::serve(
        listener,
        Arc::new(TestUpstream),
        std::future::pending(),
        Duration::ZERO,
    ));
    addr
}

#[tokio::test]
async fn hop_by_hop_headers_stop_and_forwarding_headers_are_added() {
    let upstream = test_upstream().await;
    let proxy = proxy(&[upstream], &[]);
    let headers = [
        ("connection", "x-client-hop"),
        ("x-client-hop", "secret"),
        ("keep-alive", "timeout=9"),
        ("te", "trailers"),
        ("proxy-authorization", "Basic c2VjcmV0"),
        ("x-end-to-end", "kept"),
    ];
    let reply = request(proxy.addr(), "GET", "/headers", &headers, b"").await;
    assert_eq!(reply.status, 200);
    let seen = reply.json();
    for gone in ["x-client-hop", "keep-alive", "te", "proxy-authorization"] {
        assert!(
            seen.get(gone).is_none(),
            "{gone} reached the upstream: {seen}"
        );
    }
    assert_eq!(
        seen["host"],
        proxy.addr().to_string(),
        "Host as the client sent it"
    );
    assert_eq!(seen["x-end-to-end"], "kept");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["via"], "1.1 authscale");
    assert!(reply.header("x-upstream-hop").is_none());
    assert!(reply.header("keep-alive").is_none());
    assert_eq!(reply.header("x-end-to-end"), Some("kept"));
    assert_eq!(reply.header("via"), Some("1.1 authscale"));
}

#[tokio::test]
async fn a_mebibyte_streams_through_both_ways() {
    let upstream = test_upstream().await;
    let proxy = proxy(&[upstream], &[]);
    let body = pattern(1 << 20);
    let stream = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let upload = Request::post("/echo")
        .header("host", "x")
        .body(Full::new(Bytes::from(body.clone())))
        .expect("request");
    let echoed = sender
        .send_request(upload)
        .await
        .expect("response")
        .into_body()
        .collect()
        .await
        .expect("body");
    assert!(echoed.to_bytes() == body, "upload came back altered");
    let download = Request::get("/blob")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let blob = sender
        .send_request(download)
        .await
        .expect("response")
        .into_body()
        .collect()
        .await
        .expect("body");
    assert!(blob.to_bytes() == pattern(1 << 20), "download altered");
}

#[tokio::test]
async fn broken_slow_and_missing_upstreams_get_502_504_503() {
    // An upstream that answers garbage.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let garbage_addr = garbage.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = garbage.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
        }
    });
    let proxy_garbage = proxy(&[garbage_addr], &[]);
    let answered = |r| tokio::time::timeout(Duration::from_secs(10), r);
    let reply = answered(get(proxy_garbage.addr(), "/"))
        .await
        .expect("answered, not hung");
    assert_eq!(reply.status, 502);

    let slow = test_upstream().await;
    let proxy_slow = proxy(&[slow], &["--upstream-timeout", "300ms"]);
    // The slow upstream answers after far longer than the timeout: 504
    // means the proxy gave up on its own.
    let reply = answered(get(proxy_slow.addr(), "/slow"))
        .await
        .expect("answered, not hung");
    assert_eq!(reply.status, 504);

    let nothing = SocketAddr::from(([127, 0, 0, 1], authscale_testkit::free_port()));
    let proxy_nothing = proxy(&[nothing], &[]);
    let reply = get(proxy_nothing.addr(), "/api/me").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    // Client garbage: 400 from the proxy, which keeps serving.
    let answer = raw_exchange(proxy_nothing.addr(), b"\x00\x01 not a request\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    let metrics = get(proxy_garbage.addrs()[1], "/metrics").await.body;
    assert!(
        metrics.contains(r#"authscale_proxy_errors_total{side="upstream",kind="bad_response"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn cookie_hash_pins_a_cookie_to_one_node() {
    let nodes = [node("a"), node("b"), node("c")];
    let addrs: Vec<SocketAddr> = nodes.iter().map(ChildProcess::addr).collect();
    let proxy = proxy(&addrs, &["--policy", "cookie-hash"]);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let reply = request(
            proxy.addr(),
            "GET",
            "/api/me",
            &[("cookie", "theme=dark; sid=abcdefghijklmnopqrstuv")],
            b"",
        )
        .await;
        seen.insert(reply.json()["node"].as_str().expect("node id").to_owned());
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    // Without the cookie: round-robin.
    let mut spread = std::collections::HashSet::new();
    for _ in 0..6 {
        spread.insert(
            get(proxy.addr(), "/api/me").await.json()["node"]
                .as_str()
                .expect("node")
                .to_owned(),
        );
    }
    assert_eq!(spread.len(), 3);
}

#[tokio::test]
async fn the_admin_endpoint_changes_the_upstream_set_without_a_restart() {
    let (a, b) = (node("a"), node("b"));
    let proxy = proxy(&[a.addr()], &[]);
    let admin = proxy.addrs()[1];
    assert_eq!(get(proxy.addr(), "/api/me").await.json()["node"], "a");
    let body = format!(r#"["{}","{}"]"#, a.addr(), b.addr());
    let reply = request(admin, "PUT", "/upstreams", &[], body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        seen.insert(
            get(proxy.addr(), "/api/me").await.json()["node"]
                .as_str()
                .expect("node")
                .to_owned(),
        );
    }
    assert_eq!(seen.len(), 2);
    assert_eq!(
        request(admin, "PUT", "/upstreams", &[], b"not json")
            .await
            .status,
        400
    );
    assert_eq!(
        request(admin, "PUT", "/upstreams", &[], br#"["nope"]"#)
            .await
            .status,
        400
    );
    assert_eq!(
        request(admin, "PUT", "/upstreams", &[], br#"["192.0.2.1:80"]"#)
            .await
            .status,
        422
    );
    let listed = get(admin, "/upstreams").await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(
        request(admin, "PUT", "/upstreams", &[], b"[]").await.status,
        200
    );
    assert_eq!(get(proxy.addr(), "/api/me").await.status, 503);
}

#[tokio::test]
async fn active_health_checks_take_a_dead_upstream_out_and_bring_it_back() {
    let (a, mut b) = (node("a"), node("b"));
    let proxy = proxy(
        &[a.addr(), b.addr()],
        &["--health-interval", "100ms", "--cooldown", "60s"],
    );
    let admin = proxy.addrs()[1];
    let healthy = |listing: serde_json::Value, addr: SocketAddr| {
        listing
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["addr"] == addr.to_string()))
            .map(|r| r["healthy"] == true)
    };
    let b_addr = b.addr();
    b.kill();
    // No traffic at all: only the probes can notice.
    let deadline = Instant::now() + Duration::from_secs(5);
    while healthy(get(admin, "/upstreams").await.json(), b_addr) != Some(false) {
        assert!(
            Instant::now() < deadline,
            "the probe did not mark the dead upstream down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        assert_eq!(get(proxy.addr(), "/api/me").await.json()["node"], "a");
    }
    let _b = ChildProcess::spawn_server(
        bin(),
        &["node", "--listen", &b_addr.to_string(), "--node-id", "b"],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while healthy(get(admin, "/upstreams").await.json(), b_addr) != Some(true) {
        assert!(
            Instant::now() < deadline,
            "the probe did not bring the upstream back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn bad_proxy_flags_are_usage_errors() {
    for (args, expected) in [
        (vec!["proxy", "--upstream", "nope"], "not an address"),
        (
            vec!["proxy", "--upstream", "192.0.2.1:80"],
            "--allow-remote",
        ),
        (
            vec!["proxy", "--admin", "0.0.0.0:9000"],
            "not a loopback address",
        ),
        (
            vec!["proxy", "--policy", "random"],
            "invalid value 'random' for '--policy <POLICY>'",
        ),
        (
            vec![
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--upstream",
                "127.0.0.1:1",
            ],
            "listed twice",
        ),
        (vec!["proxy", "--cooldown", "soon"], "--cooldown"),
        (
            vec!["proxy", "--connect-timeout", "0s"],
            "--connect-timeout must be greater than zero",
        ),
        (
            vec!["proxy", "--cookie-name", "a b"],
            "is not a cookie name",
        ),
        (vec!["proxy", "--cookie-name", ""], "is not a cookie name"),
        (
            vec!["proxy", "--threads", "0"],
            "--threads must be at least 1",
        ),
    ] {
        let output = std::process::Command::new(bin())
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        // The error alone: no warning about a setting the run never reached.
        assert!(!stderr.contains("WARN"), "{args:?}: {stderr}");
    }
}

/// Requests in flight per upstream, from the admin endpoint.
async fn in_flight(admin: SocketAddr) -> Vec<u64> {
    let listed = get(admin, "/upstreams").await.json();
    listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| u["in_flight"].as_u64().expect("in_flight"))
        .collect()
}

#[tokio::test]
async fn a_client_that_leaves_early_is_no_longer_counted_in_flight() {
    use tokio::io::AsyncWriteExt;
    let slow = test_upstream().await;
    // The upstream timeout is far away: only the client leaving ends these.
    let proxy = proxy(&[slow], &["--upstream-timeout", "60s"]);
    let admin = proxy.addrs()[1];
    for half_close in [false, true] {
        let mut client = tokio::net::TcpStream::connect(proxy.addr())
            .await
            .expect("connect");
        client
            .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .expect("send");
        let deadline = Instant::now() + Duration::from_secs(5);
        while in_flight(admin).await != [1] {
            assert!(Instant::now() < deadline, "the request never went out");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if half_close {
            client.shutdown().await.expect("half-close");
        }
        drop(client);
        // Before the upstream's answer (3 s): the count follows the client.
        let deadline = Instant::now() + Duration::from_secs(2);
        while in_flight(admin).await != [0] {
            assert!(
                Instant::now() < deadline,
                "still counted in flight after the client left (half-close: {half_close})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn the_proxy_refuses_itself_as_an_upstream() {
    let node = node("a");
    let proxy = proxy(&[node.addr()], &[]);
    let (own, admin) = (proxy.addr(), proxy.addrs()[1]);
    let body = format!(r#"["{}","{own}"]"#, node.addr());
    let reply = request(admin, "PUT", "/upstreams", &[], body.as_bytes()).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.body.contains("own listeners"), "{}", reply.body);
    // Nor its admin listener (that would open the admin endpoint to every
    // client), nor itself as an IPv4-mapped IPv6 address.
    let mapped = format!("[::ffff:127.0.0.1]:{}", own.port());
    for upstream in [admin.to_string(), mapped] {
        let body = format!(r#"["{upstream}"]"#);
        let reply = request(admin, "PUT", "/upstreams", &[], body.as_bytes()).await;
        assert_eq!(reply.status, 422, "{upstream}: {}", reply.body);
    }
    // Port 0 is no upstream.
    let reply = request(admin, "PUT", "/upstreams", &[], br#"["127.0.0.1:0"]"#).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    // The set is unchanged and still serves.
    assert_eq!(in_flight(admin).await.len(), 1);
    assert_eq!(get(own, "/api/me").await.json()["node"], "a");
    // At start-up: the same port as --listen.
    let port = authscale_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let output = std::process::Command::new(bin())
        .args(["proxy", "--listen", &listen, "--upstream", &listen])
        .output()
        .expect("run proxy");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--upstream: upstream") && stderr.contains("own listeners"),
        "{stderr}"
    );
}
