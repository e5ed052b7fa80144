//! `authscale proxy` as a real process in front of upstreams served by
//! this test: hop-by-hop and forwarding headers, a mebibyte streamed both
//! ways, broken, slow and missing upstreams answered 502, 504, 503, a
//! client that leaves early no longer counted in flight, and one
//! connection carrying requests of the proxy's front and of its full
//! server in order.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authscale_testkit::{answering_server, get, raw_exchange, request, spawn_on_free_port};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use support::{in_flight, proxy};

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
    spawn_on_free_port(|listener| {
        let pending = std::future::pending();
        authscale_http::serve(listener, Arc::new(TestUpstream), pending, Duration::ZERO)
    })
    .await
}

/// Sends `request` on `sender` and collects the answer's body.
async fn body_of(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Bytes {
    let response = sender.send_request(request).await.expect("response");
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
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
    let echoed = body_of(&mut sender, upload).await;
    assert!(echoed == body, "upload came back altered");
    let download = Request::get("/blob")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let blob = body_of(&mut sender, download).await;
    assert!(blob == pattern(1 << 20), "download altered");
}

#[tokio::test]
async fn broken_slow_and_missing_upstreams_get_502_504_503() {
    // An upstream that answers garbage.
    let garbage_addr = answering_server(b"this is not HTTP\r\n\r\n").await;
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
async fn one_connection_carries_plain_requests_then_those_for_the_full_server_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = test_upstream().await;
    let proxy = proxy(&[upstream], &[]);
    let mut client = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    // Pipelined in one write: two plain requests (the front's), a chunked
    // upload (the full server's, for the rest of the connection), and a
    // request that closes the connection.
    client
        .write_all(
            b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n\
              POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirst\
              POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n\
              POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthird",
        )
        .await
        .expect("send");
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answers))
        .await
        .expect("the proxy closed the connection after the last answer")
        .expect("read");
    let text = String::from_utf8_lossy(&answers);
    let heads: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &text[at..])
        .collect();
    assert_eq!(heads.len(), 4, "{text}");
    for head in &heads {
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let head = head
            .split("\r\n\r\n")
            .next()
            .expect("head")
            .to_ascii_lowercase();
        assert!(head.contains("\r\nvia: 1.1 authscale"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
    }
    let first = text.find("\r\n\r\nfirst").expect("first body");
    let second = text.find("second").expect("second body");
    let third = text.find("\r\n\r\nthird").expect("third body");
    assert!(first < second && second < third, "{text}");
}
