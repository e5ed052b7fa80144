//! Malformed requests get a clear 4xx with a reason, never a 5xx or a hang;
//! shutdown drains in-flight requests.

mod common;

use std::time::Duration;

use authscale_node::AuthMode;
use authscale_testkit::{get, raw_exchange, request};
use common::{TestNode, base_config, hs256_config};

#[tokio::test]
async fn bad_requests_get_4xx_with_reasons() {
    let node = TestNode::start(hs256_config()).await;
    let json = [("content-type", "application/json")];
    // (method, path, headers, body, expected status)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("POST", "/login", json.to_vec(), b"{not json".to_vec(), 400),
        (
            "POST",
            "/login",
            json.to_vec(),
            b"{\"user\":1,\"password\":2}".to_vec(),
            400,
        ),
        ("POST", "/login", json.to_vec(), b"".to_vec(), 400),
        ("POST", "/login", json.to_vec(), vec![0xff, 0xfe, 0x00], 400),
        (
            "POST",
            "/login",
            json.to_vec(),
            b"{\"user\":\"user1\",\"password\":\"wrong\"}".to_vec(),
            401,
        ),
        (
            "POST",
            "/login",
            json.to_vec(),
            b"{\"user\":\"nobody\",\"password\":\"x\"}".to_vec(),
            401,
        ),
        (
            "POST",
            "/login",
            vec![("content-type", "text/plain")],
            b"{}".to_vec(),
            415,
        ),
        ("POST", "/login", json.to_vec(), vec![b' '; 5000], 413),
        ("GET", "/nope", vec![], vec![], 404),
        ("GET", "/login", vec![], vec![], 405),
        ("DELETE", "/api/me", vec![], vec![], 405),
        ("POST", "/healthz", vec![], vec![], 405),
        ("GET", "/api/me", vec![], vec![], 401),
    ];
    for (method, path, headers, body, status) in cases {
        let reply = request(node.addr, method, path, &headers, &body).await;
        assert_eq!(
            reply.status,
            status,
            "{method} {path} {:?}: {}",
            String::from_utf8_lossy(&body),
            reply.body
        );
        assert!(
            reply.json()["reason"].is_string(),
            "{method} {path}: {}",
            reply.body
        );
    }
    let reply = request(node.addr, "GET", "/login", &[], b"").await;
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = request(node.addr, "PUT", "/metrics", &[], b"").await;
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn oversized_heads_get_431_and_garbage_gets_400() {
    let node = TestNode::start(base_config(AuthMode::None)).await;
    let big = "a".repeat(9 * 1024);
    let reply = request(node.addr, "GET", "/api/me", &[("x-big", &big)], b"").await;
    assert_eq!(reply.status, 431);
    let answer = raw_exchange(node.addr, b"\x16\x03\x01 garbage garbage\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    let answer = raw_exchange(
        node.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // A streamed body over the limit, with no Content-Length, is cut at 4 KiB.
    let head = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let mut raw = head.as_bytes().to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(format!("{:x}\r\n{}\r\n", 2048, " ".repeat(2048)).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(node.addr, &raw).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    // Non-ASCII bytes in a credential header.
    let answer = raw_exchange(
        node.addr,
        b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "none mode ignores credentials: {answer:?}"
    );
    // The node is still serving.
    assert_eq!(get(node.addr, "/healthz").await.status, 200);
}

#[tokio::test]
async fn health_and_metrics_report_the_node() {
    let node = TestNode::start(hs256_config()).await;
    assert_eq!(get(node.addr, "/healthz").await.status, 200);
    assert_eq!(get(node.addr, "/readyz").await.status, 200);
    let auth = common::bearer(&node.login(1).await);
    for _ in 0..3 {
        assert_eq!(node.me_with(&[("authorization", &auth)]).await.status, 200);
    }
    assert_eq!(
        node.me_with(&[("authorization", "Bearer a.b.c")])
            .await
            .status,
        401
    );
    let metrics = get(node.addr, "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    let text = metrics.body;
    assert!(
        text.contains(r#"authscale_requests_total{route="/api/me",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"authscale_requests_total{route="/api/me",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"authscale_auth_failures_total{reason="malformed"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"alg="HS256""#) && text.contains(r#"backend="aws_lc_rs""#),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let mut config = base_config(AuthMode::None);
    config.work_us = 300_000; // a request that takes a while
    let mut node = TestNode::start(config).await;
    let addr = node.addr;
    let in_flight = tokio::spawn(async move { request(addr, "GET", "/api/me", &[], b"").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    node.shutdown().await;
    let reply = in_flight.await.expect("request task");
    assert_eq!(reply.status, 200);
    // New connections are refused once serve has returned.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
