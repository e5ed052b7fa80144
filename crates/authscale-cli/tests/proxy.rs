//! `authscale proxy` as a real process in front of real `authscale node`
//! processes: balance, failover, stickiness, admin, health checks. Header
//! semantics, streaming and upstream errors, against upstreams served by
//! the test: `proxy_forwarding.rs`.

mod support;

use support::{bin, exited, in_flight, proxy, refuses, run};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authscale_testkit::{ChildProcess, get, request};

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

/// The ids of the nodes that answered `n` sequential `/api/me` requests
/// sent to `proxy`.
async fn nodes_answering(proxy: SocketAddr, n: usize) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..n {
        let reply = get(proxy, "/api/me").await.json();
        seen.insert(reply["node"].as_str().expect("node").to_owned());
    }
    seen
}

/// Whether the proxy whose admin endpoint is `admin` lists `upstream` as
/// healthy (None: not listed).
async fn healthy(admin: SocketAddr, upstream: SocketAddr) -> Option<bool> {
    let listing = get(admin, "/upstreams").await.json();
    listing
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["addr"] == upstream.to_string()))
        .map(|r| r["healthy"] == true)
}

/// Waits (up to 5 s) until the proxy's health of `upstream` is `wanted`;
/// fails saying `otherwise`.
async fn until_healthy(admin: SocketAddr, upstream: SocketAddr, wanted: bool, otherwise: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while healthy(admin, upstream).await != Some(wanted) {
        assert!(Instant::now() < deadline, "{otherwise}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nodes a, b and c on free ports, and their addresses.
fn three_nodes() -> ([ChildProcess; 3], Vec<SocketAddr>) {
    let nodes = ["a", "b", "c"].map(|id| support::node(id, &[]));
    let addrs = nodes.iter().map(ChildProcess::addr).collect();
    (nodes, addrs)
}

#[tokio::test]
async fn round_robin_spreads_sequential_requests_evenly() {
    let (_nodes, addrs) = three_nodes();
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
    let (mut nodes, addrs) = three_nodes();
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

#[tokio::test]
async fn cookie_hash_pins_a_cookie_to_one_node() {
    let (_nodes, addrs) = three_nodes();
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
    assert_eq!(nodes_answering(proxy.addr(), 6).await.len(), 3);
}

#[tokio::test]
async fn the_admin_endpoint_changes_the_upstream_set_without_a_restart() {
    let (a, b) = (support::node("a", &[]), support::node("b", &[]));
    let proxy = proxy(&[a.addr()], &[]);
    let admin = proxy.addrs()[1];
    assert_eq!(get(proxy.addr(), "/api/me").await.json()["node"], "a");
    let body = format!(r#"["{}","{}"]"#, a.addr(), b.addr());
    let reply = request(admin, "PUT", "/upstreams", &[], body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(nodes_answering(proxy.addr(), 4).await.len(), 2);
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
    let (a, mut b) = (support::node("a", &[]), support::node("b", &[]));
    let proxy = proxy(
        &[a.addr(), b.addr()],
        &["--health-interval", "100ms", "--cooldown", "60s"],
    );
    let admin = proxy.addrs()[1];
    let b_addr = b.addr();
    b.kill();
    // No traffic at all: only the probes can notice.
    let down = "the probe did not mark the dead upstream down";
    until_healthy(admin, b_addr, false, down).await;
    for _ in 0..10 {
        assert_eq!(get(proxy.addr(), "/api/me").await.json()["node"], "a");
    }
    let _b = ChildProcess::spawn_server(
        bin(),
        &["node", "--listen", &b_addr.to_string(), "--node-id", "b"],
    );
    let back = "the probe did not bring the upstream back";
    until_healthy(admin, b_addr, true, back).await;
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
        let stderr = refuses(&args, expected);
        // The error alone: no warning about a setting the run never reached.
        assert!(!stderr.contains("WARN"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn the_proxy_refuses_itself_as_an_upstream() {
    let node = support::node("a", &[]);
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
    let stderr = exited(
        &run(["proxy", "--listen", &listen, "--upstream", &listen]),
        2,
    );
    assert!(
        stderr.contains("--upstream: upstream") && stderr.contains("own listeners"),
        "{stderr}"
    );
}
