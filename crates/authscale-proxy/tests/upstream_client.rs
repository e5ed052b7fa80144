//! The proxy's own HTTP/1.1 client against upstreams that answer with
//! hand-written bytes: every response framing of RFC 9112 §6.3 reaches the
//! client whole, keep-alive connections are reused only when the framing
//! allows it, and a pooled connection the upstream closed is replaced
//! without a failure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use authscale_proxy::{Proxy, ProxyConfig, Upstreams};
use authscale_testkit::{raw_exchange, request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a scripted upstream does with one request.
enum Act {
    Answer(Vec<u8>),
    /// Close the connection without a word.
    Close,
}

/// An upstream on a free port that reads request heads (no bodies) and
/// answers each with `script(connection number, request number on it,
/// request head)`. Returns its address and its count of connections.
async fn scripted(
    script: impl Fn(usize, usize, &str) -> Act + Send + Sync + 'static,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let script = Arc::new(script);
    let addr = authscale_testkit::spawn_on_free_port(|listener| async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = count.fetch_add(1, Relaxed);
            tokio::spawn(serve_script(stream, n, script.clone()));
        }
    })
    .await;
    (addr, connections)
}

async fn serve_script(
    mut stream: TcpStream,
    connection: usize,
    script: Arc<impl Fn(usize, usize, &str) -> Act>,
) {
    let mut buf = Vec::new();
    for number in 0.. {
        let head = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end + 4);
                break head;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        match script(connection, number, &head) {
            Act::Answer(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::Close => return,
        }
    }
}

/// A proxy in this process in front of `upstream`.
async fn proxy_to(upstream: SocketAddr) -> SocketAddr {
    let upstreams = Arc::new(Upstreams::new(&[upstream], false).expect("upstreams"));
    let proxy = Arc::new(Proxy::new(upstreams, ProxyConfig::default()));
    authscale_testkit::spawn_on_free_port(|listener| {
        authscale_proxy::serve(listener, proxy, std::future::pending(), Duration::ZERO)
    })
    .await
}

/// The status and body of `GET path` through `proxy`.
async fn got(proxy: SocketAddr, path: &str) -> (u16, String) {
    let reply = request(proxy, "GET", path, &[], b"").await;
    (reply.status, reply.body)
}

fn answer(text: &str) -> Act {
    Act::Answer(text.as_bytes().to_vec())
}

#[tokio::test]
async fn a_chunked_answer_arrives_whole_and_its_connection_is_reused() {
    let (upstream, connections) = scripted(|_, _, _| {
        answer(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
             5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n",
        )
    })
    .await;
    let proxy = proxy_to(upstream).await;
    for _ in 0..3 {
        assert_eq!(got(proxy, "/").await, (200, "hello, world".into()));
    }
    assert_eq!(
        connections.load(Relaxed),
        1,
        "chunked answers keep the connection"
    );
}

#[tokio::test]
async fn close_framed_bodies_end_at_the_close() {
    // Answers each connection once, then closes it.
    let upstream =
        authscale_testkit::answering_server(b"HTTP/1.1 200 OK\r\n\r\nuntil the end").await;
    let proxy = proxy_to(upstream).await;
    // The second request needs a second connection: the first one ended
    // with its body.
    for _ in 0..2 {
        assert_eq!(got(proxy, "/").await, (200, "until the end".into()));
    }
}

#[tokio::test]
async fn head_204_304_and_interim_answers_carry_no_body_and_keep_the_connection() {
    let (upstream, connections) = scripted(|_, _, head| {
        let path = head.split(' ').nth(1).unwrap_or("/");
        match path {
            "/head" => answer("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"),
            "/204" => answer("HTTP/1.1 204 No Content\r\n\r\n"),
            "/304" => answer("HTTP/1.1 304 Not Modified\r\ncontent-length: 3\r\n\r\n"),
            "/continue" => answer(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
                 HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal",
            ),
            _ => answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        }
    })
    .await;
    let proxy = proxy_to(upstream).await;
    let head = request(proxy, "HEAD", "/head", &[], b"").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.header("content-length"), Some("10"));
    assert_eq!(request(proxy, "GET", "/204", &[], b"").await.status, 204);
    assert_eq!(request(proxy, "GET", "/304", &[], b"").await.status, 304);
    assert_eq!(got(proxy, "/continue").await, (200, "final".into()));
    assert_eq!(got(proxy, "/").await, (200, "ok".into()));
    assert_eq!(
        connections.load(Relaxed),
        1,
        "bodiless answers keep the connection"
    );
}

#[tokio::test]
async fn a_large_answer_streams_and_the_connection_is_reused_after_it() {
    const LEN: usize = 300 * 1024;
    let (upstream, connections) = scripted(|_, _, _| {
        let mut bytes = format!("HTTP/1.1 200 OK\r\ncontent-length: {LEN}\r\n\r\n").into_bytes();
        bytes.extend(std::iter::repeat_n(b'x', LEN));
        Act::Answer(bytes)
    })
    .await;
    let proxy = proxy_to(upstream).await;
    for _ in 0..2 {
        let reply = request(proxy, "GET", "/", &[], b"").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.len(), LEN);
    }
    assert_eq!(connections.load(Relaxed), 1);
}

#[tokio::test]
async fn bad_framings_and_heads_are_502_never_relayed() {
    let (upstream, _) = scripted(|_, _, head| {
        let path = head.split(' ').nth(1).unwrap_or("/");
        match path {
            "/two-lengths" => {
                answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc")
            }
            "/bad-length" => answer("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            "/not-http" => answer("SSH-2.0-OpenSSH\r\n\r\n"),
            "/switch" => answer("HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n"),
            "/huge-head" => {
                let mut text = String::from("HTTP/1.1 200 OK\r\n");
                for i in 0..2000 {
                    text.push_str(&format!("x-filler-{i}: {}\r\n", "y".repeat(40)));
                }
                text.push_str("content-length: 0\r\n\r\n");
                Act::Answer(text.into_bytes())
            }
            _ => answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        }
    })
    .await;
    let proxy = proxy_to(upstream).await;
    for path in [
        "/two-lengths",
        "/bad-length",
        "/not-http",
        "/switch",
        "/huge-head",
    ] {
        let reply = request(proxy, "GET", path, &[], b"").await;
        assert_eq!(reply.status, 502, "{path}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_dropped_is_replaced_without_a_failure() {
    // Every connection answers one request, then reads the next and closes
    // without an answer: the second request on it finds it dead.
    let (upstream, connections) = scripted(|_, number, _| match number {
        0 => answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        _ => Act::Close,
    })
    .await;
    let proxy = proxy_to(upstream).await;
    for i in 0..4 {
        assert_eq!(got(proxy, "/").await, (200, "ok".into()), "request {i}");
    }
    assert!(connections.load(Relaxed) >= 4);
    // Nothing was held against the upstream: it is still in rotation.
    let raw = raw_exchange(
        proxy,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
}

#[tokio::test]
async fn a_post_is_not_sent_twice_when_its_pooled_connection_dies() {
    let posts = Arc::new(AtomicUsize::new(0));
    let seen = posts.clone();
    let (upstream, _) = scripted(move |_, number, head| {
        if head.starts_with("POST") {
            seen.fetch_add(1, Relaxed);
        }
        match number {
            0 => answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
            _ => Act::Close,
        }
    })
    .await;
    let proxy = proxy_to(upstream).await;
    assert_eq!(request(proxy, "GET", "/", &[], b"").await.status, 200);
    // Let the pooled connection look alive: the upstream closes it only
    // once the POST arrives.
    let reply = request(proxy, "POST", "/", &[("content-length", "0")], b"").await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(
        posts.load(Relaxed),
        1,
        "the POST reached the upstream more than once"
    );
}
