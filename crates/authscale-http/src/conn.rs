//! One client connection's socket: the idle (keep-alive) timeout between
//! requests, a deadline on each request head once its first byte has come
//! (the slowloris guard), and a lingering close.
//!
//! Both deadlines are checked lazily. Each connection has one timer that
//! ticks every quarter of the head timeout; a read between requests
//! notes the time its phase began and, at a tick, closes a connection
//! whose phase has run past its limit. Arming a timer per request (hyper's
//! header timer, or a sleep per head) cost the proxy 4% of its
//! instructions per forwarded request; the price here is up to a quarter
//! of the head timeout of lateness.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, and how much of it at most.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Where the connection is in its request cycle, shared between the socket
/// and the service.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    in_request: AtomicBool,
    /// Requests begun so far: a change tells the socket that the head it
    /// was timing is complete.
    requests: AtomicU64,
}

impl Phase {
    /// Marks a request head as complete until the guard is dropped (its
    /// answer's body has ended, or the connection is gone).
    pub(crate) fn begin(self: &Arc<Self>) -> InRequest {
        self.requests.fetch_add(1, Relaxed);
        self.in_request.store(true, Relaxed);
        InRequest(self.clone())
    }
}

/// A request in progress on a connection: its head is complete and its
/// answer not yet given. Dropping it ends the request.
#[derive(Debug)]
pub struct InRequest(Arc<Phase>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.in_request.store(false, Relaxed);
    }
}

/// The socket as hyper sees it.
pub(crate) struct ClientIo {
    /// Taken on drop, to linger.
    stream: Option<TcpStream>,
    phase: Arc<Phase>,
    limits: Limits,
    /// Where the connection is between requests, and since when.
    waiting: Waiting,
    /// Wakes the connection to check its deadlines; reset only when it
    /// fires.
    tick: Pin<Box<Sleep>>,
}

/// A client connection's deadlines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// No new request for this long closes the connection.
    pub idle: Duration,
    /// A head not complete this long after its first byte closes it.
    pub head: Duration,
}

impl Limits {
    /// How often a connection checks its deadlines.
    fn tick(&self) -> Duration {
        (self.head.min(self.idle) / 4).max(Duration::from_millis(10))
    }
}

/// Between requests: idle since a time, or receiving the head of request
/// number `.0` since a time. Inside a request nothing is timed here (the
/// body is the handler's to time).
#[derive(Debug, Clone, Copy)]
enum Waiting {
    /// Not yet noted: the first read after a request notes the time.
    Unnoted,
    Idle(Instant),
    Head(u64, Instant),
}

impl ClientIo {
    pub(crate) fn new(stream: TcpStream, phase: Arc<Phase>, limits: Limits) -> ClientIo {
        let now = Instant::now();
        ClientIo {
            stream: Some(stream),
            phase,
            limits,
            waiting: Waiting::Idle(now),
            tick: Box::pin(tokio::time::sleep_until(now + limits.tick())),
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        match self.stream.as_mut() {
            Some(stream) => Ok(Pin::new(stream)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// The limit the connection has run past, if any, at a tick.
    fn overdue(&self, now: Instant) -> Option<&'static str> {
        match self.waiting {
            Waiting::Idle(since) if now.duration_since(since) >= self.limits.idle => {
                Some("no new request within the idle timeout")
            }
            Waiting::Head(_, since) if now.duration_since(since) >= self.limits.head => {
                Some("request head not complete in time")
            }
            _ => None,
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = this.stream()?.poll_read(cx, buf);
        let requests = this.phase.requests.load(Relaxed);
        if let Waiting::Head(at, _) = this.waiting
            && at != requests
        {
            // That head is complete: its request has begun.
            this.waiting = Waiting::Unnoted;
        }
        // Between requests only: body bytes are the handler's to time. (After
        // an early answer, the rest of a body counts as head bytes here; a
        // connection still uploading after its answer gets the head timeout.)
        if this.phase.in_request.load(Relaxed) {
            this.waiting = Waiting::Unnoted;
            // The tick stays armed through a request: hyper may not read
            // again once its answer is out, and then only the tick wakes
            // the connection to its idle deadline.
            if this.tick.as_mut().poll(cx).is_ready() {
                this.tick
                    .as_mut()
                    .reset(Instant::now() + this.limits.tick());
                let _ = this.tick.as_mut().poll(cx);
            }
            return polled;
        }
        let got_bytes = matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before;
        match this.waiting {
            Waiting::Unnoted | Waiting::Idle(_) if got_bytes => {
                this.waiting = Waiting::Head(requests, Instant::now());
            }
            Waiting::Unnoted => this.waiting = Waiting::Idle(Instant::now()),
            _ => {}
        }
        if this.tick.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if let Some(why) = this.overdue(now) {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)));
            }
            this.tick.as_mut().reset(now + this.limits.tick());
            // Registers the next tick's wake-up.
            let _ = this.tick.as_mut().poll(cx);
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream()?.poll_shutdown(cx)
    }
}

impl Drop for ClientIo {
    /// Closing a socket with unread input makes the kernel send a reset,
    /// which can destroy the answer just written before the client reads
    /// it (an early 413 to a client still uploading). So the write side is
    /// shut first and the rest of the input read and discarded, briefly.
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(linger(stream));
        }
    }
}

async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}
