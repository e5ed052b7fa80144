//! Regression tests for hostile clients, one per finding of an outside
//! probe, against real `authscale` processes over raw TCP sockets.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authscale_testkit::get;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use support::{Ending, admin_call, assert_upstreams_untouched, exchange, metric, node, proxy};

const PATIENCE: Duration = Duration::from_secs(20);

fn login_head(length: usize) -> String {
    format!(
        "POST /login HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Finding 1: a client whose body fails (bad chunk size, truncated, reset
/// mid-upload, too large for the node) gets a 4xx and leaves both
/// upstreams in rotation; one bad request used to take an upstream out.
#[tokio::test]
async fn broken_client_bodies_never_take_an_upstream_out() {
    let (a, b) = (node("a", &[]), node("b", &[]));
    // A long cool-down: any mark-down would still show at the end.
    let proxy = proxy(&[a.addr(), b.addr()], &["--cooldown", "60s"]);
    let (front, admin) = (proxy.addr(), proxy.addrs()[1]);

    let bad_chunk = b"POST /login HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    for _ in 0..4 {
        let answer = exchange(front, bad_chunk, Ending::HalfClose, PATIENCE).await;
        assert_eq!(answer.statuses(), [400], "{}", answer.text());
    }
    let truncated = format!("{}{{\"user\":", login_head(100));
    for _ in 0..4 {
        let answer = exchange(front, truncated.as_bytes(), Ending::HalfClose, PATIENCE).await;
        assert_eq!(answer.statuses(), [400], "{}", answer.text());
    }
    for _ in 0..4 {
        let _ = exchange(front, truncated.as_bytes(), Ending::Reset, PATIENCE).await;
    }
    // A login body far over the node's 4 KiB limit: the node answers 413
    // before reading it; the proxy passes that on, every time.
    let mut large = login_head(200 * 1024)
        .replace("Host: app\r\n", "Host: app\r\nConnection: close\r\n")
        .into_bytes();
    large.extend(std::iter::repeat_n(b'x', 200 * 1024));
    for attempt in 0..15 {
        let answer = exchange(front, &large, Ending::Stall, PATIENCE).await;
        assert_eq!(
            answer.statuses(),
            [413],
            "attempt {attempt}: {}",
            answer.text()
        );
    }
    // Both upstreams still serve, and nothing was held against them.
    let mut nodes = std::collections::HashSet::new();
    for _ in 0..4 {
        let reply = get(front, "/api/me").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        nodes.insert(reply.json()["node"].as_str().unwrap_or("?").to_owned());
    }
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert_upstreams_untouched(admin, "after broken bodies").await;
    let (_, metrics) = admin_call(admin, "GET", "/metrics", &[], "").await;
    assert!(
        metric(
            &metrics,
            r#"authscale_proxy_errors_total{side="downstream",kind="malformed"}"#
        ) >= 4,
        "{metrics}"
    );
    for status in ["502", "503", "504"] {
        let series = format!(r#"authscale_proxy_local_answers_total{{status="{status}"}}"#);
        assert_eq!(metric(&metrics, &series), 0, "{series}");
    }
}

/// Finding 2: a declared body that never comes used to hold the node's
/// connection for minutes. Now 408 after the body timeout, and closed.
#[tokio::test]
async fn a_stalled_body_gets_408_and_the_connection_is_closed() {
    let node = node("a", &["--body-timeout", "1s"]);
    let mut stalled = login_head(1000).into_bytes();
    stalled.push(b'{');
    let answer = exchange(node.addr(), &stalled, Ending::Stall, PATIENCE).await;
    assert!(answer.closed, "the node kept the connection");
    assert_eq!(answer.statuses(), [408], "{}", answer.text());

    // Through the proxy, which gives up on the client first (the node
    // behind it would wait its default 30 s).
    let patient = support::node("b", &[]);
    let proxy = proxy(&[patient.addr()], &["--body-timeout", "1s"]);
    let answer = exchange(proxy.addr(), &stalled, Ending::Stall, PATIENCE).await;
    assert!(answer.closed, "the proxy kept the connection");
    assert_eq!(answer.statuses(), [408], "{}", answer.text());
    assert_upstreams_untouched(proxy.addrs()[1], "after a stalled body").await;
}

/// Idle keep-alive connections are closed after the idle timeout, on the
/// node and on the proxy; a connection in use is not.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let node = node("a", &["--idle-timeout", "1s"]);
    let proxy = proxy(&[node.addr()], &["--idle-timeout", "1s"]);
    for target in [node.addr(), proxy.addr()] {
        let started = Instant::now();
        let answer = exchange(
            target,
            b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n",
            Ending::Stall,
            PATIENCE,
        )
        .await;
        assert_eq!(answer.statuses(), [200], "{}", answer.text());
        assert!(answer.closed, "{target}: idle connection kept");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{target}: closed before the idle timeout"
        );
    }
}

/// A head trickled in a line at a time (slowloris) is cut off at the head
/// timeout although bytes keep coming, on the node and on the proxy, and
/// never reaches a handler. With `--idle-timeout 2s` the head timeout is
/// 2 s, checked every 0.5 s.
#[tokio::test]
async fn a_head_trickled_in_is_cut_off_at_the_head_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = node("a", &["--idle-timeout", "2s"]);
    let proxy = proxy(&[node.addr()], &["--idle-timeout", "2s"]);
    for target in [node.addr(), proxy.addr()] {
        let stream = tokio::net::TcpStream::connect(target)
            .await
            .expect("connect");
        let (mut read, mut write) = stream.into_split();
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            let _ = write
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: app\r\n")
                .await;
            for i in 0..30 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let line = format!("X-Slow-{i}: a\r\n");
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(8), read.read_to_end(&mut answer))
            .await
            .is_ok();
        let took = started.elapsed();
        trickle.abort();
        assert!(closed, "{target}: a trickled head kept the connection");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
            "{target}: closed after {took:?}, not at the 2 s head timeout"
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(
            !text.contains(" 200 "),
            "{target}: the head was served: {text}"
        );
    }
}

/// An upstream that reports the headers it received, and counts requests.
#[derive(Debug, Default)]
struct Mirror {
    requests: AtomicU64,
}

impl authscale_http::Handler for Mirror {
    type Body = Full<Bytes>;
    type BodyError = std::convert::Infallible;

    async fn handle(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut seen = serde_json::Map::new();
        for name in req.headers().keys() {
            let values: Vec<serde_json::Value> = req
                .headers()
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
                .collect();
            seen.insert(name.to_string(), values.into());
        }
        Response::new(Full::new(Bytes::from(
            serde_json::Value::Object(seen).to_string(),
        )))
    }
}

/// Finding 6: the client's `X-Forwarded-Proto` reached the node, only the
/// first of several `X-Forwarded-For` was kept, and requests with no or
/// two `Host` headers were forwarded.
#[tokio::test]
async fn forwarding_headers_come_from_the_proxy_and_host_is_required_once() {
    let mirror = Arc::new(Mirror::default());
    let upstream = authscale_testkit::spawn_on_free_port(|listener| {
        let pending = std::future::pending();
        authscale_http::serve(listener, mirror.clone(), pending, Duration::ZERO)
    })
    .await;
    let proxy = proxy(&[upstream], &[]);
    let answer = exchange(
        proxy.addr(),
        b"GET /h HTTP/1.1\r\nHost: app\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nConnection: close\r\n\r\n",
        Ending::Stall,
        PATIENCE,
    )
    .await;
    assert_eq!(answer.statuses(), [200], "{}", answer.text());
    let text = answer.text();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let seen: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(seen["x-forwarded-proto"], serde_json::json!(["http"]));
    assert_eq!(
        seen["x-forwarded-for"],
        serde_json::json!(["10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"])
    );
    assert_eq!(seen["host"], serde_json::json!(["app"]));

    let before = mirror.requests.load(Ordering::Relaxed);
    for (request, reason) in [
        (
            &b"GET /h HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
            "missing Host",
        ),
        (
            &b"GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"[..],
            "more than one Host",
        ),
        (
            &b"GET /h HTTP/1.1\r\nHost: a\r\nHost: a\r\nConnection: close\r\n\r\n"[..],
            "more than one Host",
        ),
    ] {
        let answer = exchange(proxy.addr(), request, Ending::Stall, PATIENCE).await;
        assert_eq!(answer.statuses(), [400], "{}", answer.text());
        assert!(answer.text().contains(reason), "{}", answer.text());
    }
    assert_eq!(
        mirror.requests.load(Ordering::Relaxed),
        before,
        "a request without a single Host reached the upstream"
    );
}

/// A file holding `contents`, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(contents: &str) -> TempFile {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "authscale-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The admin port took `PUT /upstreams []` from any local process and
/// any Host (DNS rebinding). Now: foreign Host → 421; with a token file,
/// no or a wrong token → 401. Without a token the lab's calls still work.
#[tokio::test]
async fn the_admin_port_checks_host_and_the_configured_token() {
    let node = node("a", &[]);
    let open = proxy(&[node.addr()], &[]);
    let admin = open.addrs()[1];
    let set = format!(r#"["{}"]"#, node.addr());
    for host in ["evil.example", "evil.example:80", "localhost.evil.example"] {
        let (status, body) = admin_call(admin, "PUT", "/upstreams", &[("Host", host)], "[]").await;
        assert_eq!(status, 421, "{host}: {body}");
    }
    // The lab's way: Host is the admin address itself; also localhost.
    assert_eq!(
        admin_call(admin, "PUT", "/upstreams", &[], &set).await.0,
        200
    );
    let port = admin.port().to_string();
    let localhost = format!("localhost:{port}");
    let (status, _) = admin_call(admin, "GET", "/upstreams", &[("Host", &localhost)], "").await;
    assert_eq!(status, 200);
    assert_eq!(
        get(open.addr(), "/api/me").await.status,
        200,
        "set unchanged"
    );

    let token = "s3cret-admin-token-0123456789";
    let file = TempFile::new(&format!("{token}\n"));
    let path = file.0.to_str().expect("utf-8 path");
    let guarded = proxy(&[node.addr()], &["--admin-token-file", path]);
    let admin = guarded.addrs()[1];
    let bearer = format!("Bearer {token}");
    let wrong = format!("Bearer {token}x");
    for headers in [
        vec![],
        vec![("Authorization", wrong.as_str())],
        vec![("Authorization", "Basic YWRtaW46YWRtaW4=")],
    ] {
        let (status, body) = admin_call(admin, "PUT", "/upstreams", &headers, "[]").await;
        assert_eq!(status, 401, "{headers:?}: {body}");
    }
    assert_eq!(
        get(guarded.addr(), "/api/me").await.status,
        200,
        "set unchanged"
    );
    let (status, _) = admin_call(
        admin,
        "PUT",
        "/upstreams",
        &[("Authorization", &bearer), ("Host", "evil.example")],
        "[]",
    )
    .await;
    assert_eq!(status, 421, "a token does not excuse a foreign Host");
    let (status, body) = admin_call(
        admin,
        "PUT",
        "/upstreams",
        &[("Authorization", &bearer)],
        "[]",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(guarded.addr(), "/api/me").await.status, 503);
}

/// Found by the fuzz test: CONNECT, and requests with both framings (the
/// shape of request smuggling), came back as 502 with the upstream marked
/// down. CONNECT is now refused with 400; double framings are refused, or
/// closed by hyper, or (hyper drops `Content-Length` when chunked comes
/// last, RFC 9112 §6.3) forwarded as chunked, or, with a coding before
/// chunked, answered 501 (RFC 9112 §6.1); no other 5xx.
#[tokio::test]
async fn smuggling_framings_and_connect_are_refused_at_the_proxy() {
    let (a, b) = (node("a", &[]), node("b", &[]));
    let proxy = proxy(&[a.addr(), b.addr()], &["--cooldown", "60s"]);
    for request in [
        &b"POST /login HTTP/1.1\r\nHost: app\r\nContent-Length: 46\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nxyz\r\n"[..],
        &b"POST /login HTTP/1.1\r\nHost: app\r\nContent-Length: 46\r\nTransfer-Encoding: gzip, chunked\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nxyz\r\n"[..],
        &b"GET /api/me HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99999999999999999999\r\n\r\n"[..],
    ] {
        let answer = exchange(proxy.addr(), request, Ending::HalfClose, PATIENCE).await;
        assert!(
            answer.statuses().iter().all(|s| *s < 500 || *s == 501),
            "{}: {}",
            String::from_utf8_lossy(request),
            answer.text()
        );
    }
    let connect = b"CONNECT /api/me HTTP/1.0\r\nHost: other\r\n\r\n1\r\nHost: app\r\n\r\n";
    let answer = exchange(proxy.addr(), connect, Ending::HalfClose, PATIENCE).await;
    assert_eq!(answer.statuses(), [400], "{}", answer.text());
    assert_upstreams_untouched(proxy.addrs()[1], "after smuggling shapes").await;
}
