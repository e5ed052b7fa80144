//! The proxy's front end (plain requests served without hyper) at
//! shutdown: a request in flight is answered before the proxy stops, and
//! an idle keep-alive connection does not hold the stop up.

use std::net::SocketAddr;
use std::sync::Arc;
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

/// A proxy in this process in front of `upstream`, stopped by the sender;
/// its address and the task that ends when it has stopped.
async fn proxy(
    upstream: SocketAddr,
    drain: Duration,
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
        authscale_proxy::serve(listener, proxy, shutdown, drain)
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
