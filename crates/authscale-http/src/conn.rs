//! One client connection's socket: a deadline on each request head once
//! its first byte has come, and a lingering close.
//!
//! hyper's own header timer starts when a connection becomes ready for its
//! next request, so it bounds idle time and head time together; it serves
//! as the idle (keep-alive) timeout. The head deadline here is the tighter
//! slowloris guard on a head being trickled in.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

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
    /// Marks a request head as complete until the guard is dropped (the
    /// handler has answered, or the connection is gone).
    pub(crate) fn begin(self: &Arc<Self>) -> InRequest {
        self.requests.fetch_add(1, Relaxed);
        self.in_request.store(true, Relaxed);
        InRequest(self.clone())
    }
}

pub(crate) struct InRequest(Arc<Phase>);

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
    head_timeout: Duration,
    /// Running while a head is being received, with the request count it
    /// was started at.
    head_deadline: Option<(u64, Pin<Box<Sleep>>)>,
}

impl ClientIo {
    pub(crate) fn new(stream: TcpStream, phase: Arc<Phase>, head_timeout: Duration) -> ClientIo {
        ClientIo {
            stream: Some(stream),
            phase,
            head_timeout,
            head_deadline: None,
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        match self.stream.as_mut() {
            Some(stream) => Ok(Pin::new(stream)),
            None => Err(io::ErrorKind::NotConnected.into()),
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
        if this
            .head_deadline
            .as_ref()
            .is_some_and(|(at, _)| *at != requests)
        {
            this.head_deadline = None;
        }
        // Between requests only: body bytes are the handler's to time. (After
        // an early answer, the rest of a body counts as head bytes here; a
        // connection still uploading after its answer gets the head timeout.)
        if this.phase.in_request.load(Relaxed) {
            return polled;
        }
        let got_bytes = matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before;
        if got_bytes && this.head_deadline.is_none() {
            let sleep = Box::pin(tokio::time::sleep(this.head_timeout));
            this.head_deadline = Some((requests, sleep));
        }
        if let Some((_, deadline)) = this.head_deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not complete in time",
            )));
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
