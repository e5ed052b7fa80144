//! The accept loop: HTTP/1.1 keep-alive connections over a bound listener,
//! with head and idle timeouts, and graceful shutdown that drains in-flight
//! requests within a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::conn::{ClientIo, InRequest, Phase};
use crate::front::Conn;

/// Something that answers requests: a node, a proxy, an admin endpoint.
pub trait Handler: Send + Sync + 'static {
    type Body: hyper::body::Body<Data = Bytes, Error = Self::BodyError> + Send + Unpin + 'static;
    type BodyError: Into<Box<dyn std::error::Error + Send + Sync>>;

    /// Answers one request from `peer`. Every outcome is a response.
    fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Self::Body>> + Send;

    /// A client connection ended with an error (reset, bad request head,
    /// timeout). Counted by handlers that report downstream errors.
    fn connection_error(&self, _error: &hyper::Error) {}

    /// Serves what it can of a new connection itself, before hyper: a
    /// handler with a cheaper path for its common requests reads and
    /// answers them on `conn` (see [`Conn`]). Returns the connection, with
    /// the bytes it has read and not answered, to hand it to hyper for the
    /// rest of its life; `None` when the connection is done. By default
    /// hyper serves every request.
    fn front(&self, conn: Conn, _peer: SocketAddr) -> impl Future<Output = Option<Conn>> + Send {
        std::future::ready(Some(conn))
    }
}

/// The request head (request line and headers) may not exceed this; hyper
/// answers 431 beyond it. 8 KiB is also hyper's smallest buffer limit.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// A client has this long to complete a request head once it has started
/// one (slowloris guard).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The accept loop's patience with clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// A connection with no new request for this long after the previous
    /// answer (or its start) is closed; a head, once begun, then has the
    /// head timeout (10 s, or this if shorter). Both are checked every
    /// quarter of the head timeout, so a close comes up to that late.
    pub idle_timeout: Duration,
    /// How long shutdown waits for in-flight requests to finish.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            // Long enough for a phone that pauses between taps, short
            // enough that idle sockets do not pile up.
            idle_timeout: Duration::from_secs(60),
            drain: Duration::from_secs(5),
        }
    }
}

/// Serves `handler` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to `drain` for open requests to finish. The
/// default [`ServerLimits`] otherwise.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let limits = ServerLimits {
        drain,
        ..ServerLimits::default()
    };
    serve_with(listener, handler, shutdown, limits).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
    limits: ServerLimits,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // The idle and head timeouts are the socket's (`conn`), checked at a
    // tick: hyper's header timer would arm a timer per request.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None::<Duration>)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let client_limits = crate::conn::Limits {
        idle: limits.idle_timeout,
        head: HEAD_TIMEOUT.min(limits.idle_timeout),
    };
    let heartbeat = crate::heartbeat::keep_armed();
    // Every connection task holds a receiver until it ends: the drain
    // waits for them all, whether hyper or a handler's front serves it.
    let (draining, connections) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let phase = Arc::new(Phase::default());
        let io = ClientIo::new(stream, phase.clone(), client_limits);
        let conn = Conn::new(io, phase.clone(), connections.clone());
        let handler = handler.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Some(conn) = handler.front(conn, peer).await else {
                return;
            };
            let (io, _draining) = conn.into_io();
            let for_service = handler.clone();
            let service = service_fn(move |req| {
                let handler = for_service.clone();
                let in_request = phase.begin();
                async move {
                    let response = handler.handle(req, peer).await;
                    // In a request until its answer's body has ended: a
                    // long download is not cut off by the idle timeout.
                    let response = response.map(|body| Answering {
                        body,
                        in_request: Some(in_request),
                    });
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let connection = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended with an error");
                handler.connection_error(&e);
            }
        });
    }
    drop(listener);
    drop(connections);
    let drain = limits.drain;
    let _ = draining.send(true);
    let drained = async {
        graceful.shutdown().await;
        draining.closed().await;
    };
    tokio::select! {
        () = drained => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!(?drain, "drain deadline passed; closing remaining connections"),
    }
    drop(heartbeat);
    Ok(())
}

/// An answer's body, holding its request open until the body has ended
/// (or is dropped).
struct Answering<B> {
    body: B,
    in_request: Option<InRequest>,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Answering<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.in_request = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
