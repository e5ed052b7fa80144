//! Servers on a free loopback port, run by the test itself: a handler the
//! caller serves, one that never answers, one that answers fixed bytes.

use std::future::Future;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Binds a free loopback port and spawns `serve(listener)` for the rest of
/// the test; the address.
pub async fn spawn_on_free_port<F, S>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> S,
    S: Future + Send + 'static,
    S::Output: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener));
    addr
}

/// A server that accepts every connection, reads nothing and never
/// answers; its address.
pub async fn silent_server() -> SocketAddr {
    spawn_on_free_port(|listener| async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    })
    .await
}

/// A server that reads once (up to 1 KiB) from each connection, writes
/// `answer` and closes it; its address.
pub async fn answering_server(answer: &'static [u8]) -> SocketAddr {
    spawn_on_free_port(move |listener| async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(answer).await;
        }
    })
    .await
}
