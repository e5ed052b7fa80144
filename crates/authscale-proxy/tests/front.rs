//! The proxy's front end (plain requests served without hyper): at
//! shutdown a request in flight is answered and an idle keep-alive
//! connection does not hold the stop up; a streamed answer reaches the
//! client as it comes, on either path, even past the idle timeout, and a
//! connection idle after a slow answer is still closed in time; a
//! client that leaves mid-answer takes the upstream exchange with it; the
//! requests before a half-close are answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use authscale_proxy::{Proxy, ProxyConfig, Upstreams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// An upstream that answers every request after `delay`.
async fn slow_upstream(delay: Duration) -> SocketAddr {
    authscale_testkit::spawn_on_free_port(move |listener| async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        tokio::time::sleep(delay).await;
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    })
    .await
}

/// An upstream that answers each request head with `pieces`, each written
/// after its delay, and then keeps the connection open. The flag turns
/// true when the proxy closes its connection.
async fn streaming_upstream(
    pieces: &'static [(u64, &'static [u8])],
) -> (SocketAddr, Arc<AtomicBool>) {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    let addr = authscale_testkit::spawn_on_free_port(move |listener| async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let flag = flag.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        buf.clear();
                        for (delay, bytes) in pieces {
                            // Waiting, it watches for the proxy closing.
                            let wait = tokio::time::sleep(Duration::from_millis(*delay));
                            tokio::select! {
                                () = wait => {}
                                read = stream.read(&mut chunk) => if let Ok(0) | Err(_) = read {
                                    flag.store(true, Relaxed);
                                    return;
                                },
                            }
                            if stream.write_all(bytes).await.is_err() {
                                flag.store(true, Relaxed);
                                return;
                            }
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => {
                            flag.store(true, Relaxed);
                            return;
                        }
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    })
    .await;
    (addr, closed)
}

/// A proxy in this process in front of `upstream`, stopped by the sender;
/// its address and the task that ends when it has stopped.
async fn proxy(
    upstream: SocketAddr,
    drain: Duration,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let limits = authscale_proxy::ServerLimits {
        drain,
        ..Default::default()
    };
    proxy_with(upstream, limits).await
}

async fn proxy_with(
    upstream: SocketAddr,
    limits: authscale_proxy::ServerLimits,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let upstreams = Arc::new(Upstreams::new(&[upstream], false).expect("upstreams"));
    let proxy = Arc::new(Proxy::new(upstreams, ProxyConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        authscale_proxy::serve_with(listener, proxy, shutdown, limits)
            .await
            .expect("serve");
    });
    (addr, stop, task)
}

async fn send_plain(addr: SocketAddr) -> TcpStream {
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("send");
    client
}

#[tokio::test]
async fn a_plain_request_in_flight_is_answered_before_the_proxy_stops() {
    let upstream = slow_upstream(Duration::from_millis(300)).await;
    let (addr, stop, stopped) = proxy(upstream, Duration::from_secs(5)).await;
    let mut client = send_plain(addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).expect("stop");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer))
        .await
        .expect("answered and closed within the drain")
        .expect("read");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nlate"), "{text}");
    // The last answer of a stopping server says so, as hyper's do.
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the proxy stopped")
        .expect("serve task");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_does_not_hold_up_the_stop() {
    let upstream = slow_upstream(Duration::ZERO).await;
    let drain = Duration::from_secs(5);
    let (addr, stop, stopped) = proxy(upstream, drain).await;
    // One answered request, then the connection sits idle.
    let mut client = send_plain(addr).await;
    let mut chunk = [0u8; 1024];
    let n = client.read(&mut chunk).await.expect("answer");
    assert!(chunk[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    let asked = Instant::now();
    stop.send(()).expect("stop");
    tokio::time::timeout(drain, stopped)
        .await
        .expect("stopped before the drain deadline")
        .expect("serve task");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "an idle connection held the stop up for {:?}",
        asked.elapsed()
    );
    // The connection was closed.
    let n = tokio::time::timeout(Duration::from_secs(2), client.read(&mut chunk))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";

/// Reads from `client` until `wanted` has come, or `within` has passed;
/// what came.
async fn read_until(client: &mut TcpStream, wanted: &str, within: Duration) -> String {
    let mut got = Vec::new();
    let deadline = Instant::now() + within;
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(wanted) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, client.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_streamed_answer_reaches_the_client_as_it_comes() {
    static PIECES: [(u64, &[u8]); 3] = [
        (0, CHUNKED_HEAD),
        (0, b"5\r\nfirst\r\n"),
        (3000, b"0\r\n\r\n"),
    ];
    let (upstream, _) = streaming_upstream(&PIECES).await;
    let (addr, _stop, _task) = proxy(upstream, Duration::ZERO).await;
    let mut client = send_plain(addr).await;
    let got = read_until(&mut client, "first", Duration::from_secs(2)).await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(got.ends_with("5\r\nfirst\r\n"), "held back: {got:?}");
}

#[tokio::test]
async fn a_client_that_leaves_mid_answer_takes_the_upstream_exchange_with_it() {
    static PIECES: [(u64, &[u8]); 3] = [
        (0, CHUNKED_HEAD),
        (0, b"5\r\nfirst\r\n"),
        (10_000, b"0\r\n\r\n"),
    ];
    let (upstream, closed) = streaming_upstream(&PIECES).await;
    let (addr, _stop, _task) = proxy(upstream, Duration::ZERO).await;
    let mut client = send_plain(addr).await;
    let got = read_until(&mut client, "first", Duration::from_secs(2)).await;
    assert!(got.contains("first"), "{got:?}");
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !closed.load(Relaxed) {
        assert!(
            Instant::now() < deadline,
            "the upstream connection outlived the client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requests_before_a_half_close_are_answered() {
    let upstream = slow_upstream(Duration::ZERO).await;
    let (addr, _stop, _task) = proxy(upstream, Duration::ZERO).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("send");
    client.shutdown().await.expect("half-close");
    let got = read_until(&mut client, "late", Duration::from_secs(3)).await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
}

#[tokio::test]
async fn an_answer_streaming_past_the_idle_timeout_is_not_cut_off_on_either_path() {
    static PIECES: [(u64, &[u8]); 6] = [
        (0, CHUNKED_HEAD),
        (400, b"1\r\na\r\n"),
        (400, b"1\r\nb\r\n"),
        (400, b"1\r\nc\r\n"),
        (400, b"1\r\nd\r\n"),
        (0, b"0\r\n\r\n"),
    ];
    let (upstream, _) = streaming_upstream(&PIECES).await;
    let limits = authscale_proxy::ServerLimits {
        idle_timeout: Duration::from_millis(500),
        drain: Duration::ZERO,
    };
    let (addr, _stop, _task) = proxy_with(upstream, limits).await;
    // Plain (the front), and with a header that sends it to hyper.
    for extra in ["", "Connection: keep-alive\r\n"] {
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET /stream HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        client.write_all(request.as_bytes()).await.expect("send");
        let got = read_until(&mut client, "0\r\n\r\n", Duration::from_secs(5)).await;
        assert!(
            got.contains("1\r\nd\r\n0\r\n\r\n"),
            "cut off ({extra:?}): {got:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_idle_after_a_slow_answer_is_closed_on_either_path() {
    // Slower than a tick of the deadlines (a quarter of the idle timeout):
    // a late head, and a body that streams.
    static PIECES: [(u64, &[u8]); 4] = [
        (0, CHUNKED_HEAD),
        (300, b"4\r\nlate\r\n"),
        (300, b"4\r\nlate\r\n"),
        (0, b"0\r\n\r\n"),
    ];
    let limits = authscale_proxy::ServerLimits {
        idle_timeout: Duration::from_millis(500),
        drain: Duration::ZERO,
    };
    let late_head = slow_upstream(Duration::from_millis(400)).await;
    let streaming = streaming_upstream(&PIECES).await.0;
    let cases = [
        (late_head, "", "late"),
        (late_head, "Connection: keep-alive\r\n", "late"),
        (streaming, "", "0\r\n\r\n"),
        (streaming, "Connection: keep-alive\r\n", "0\r\n\r\n"),
    ];
    for (upstream, extra, end) in cases {
        let (addr, _stop, _task) = proxy_with(upstream, limits).await;
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET /slow HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        client.write_all(request.as_bytes()).await.expect("send");
        let got = read_until(&mut client, end, Duration::from_secs(3)).await;
        assert!(got.ends_with(end), "{got:?}");
        let answered = Instant::now();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), client.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("still open 3 s after the answer ({extra:?})"))
            .ok();
        assert!(
            answered.elapsed() >= Duration::from_millis(400),
            "closed before the idle timeout ({extra:?})"
        );
    }
}
