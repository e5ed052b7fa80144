//! A client connection before the HTTP/1.1 server takes it: a handler with
//! a cheaper path for its common requests reads and answers them on the
//! socket itself ([`Handler::front`](crate::Handler::front)), and hands the
//! connection, with the bytes it has read and not answered, to hyper at
//! the first request it leaves to the full server.
//!
//! The socket keeps its deadlines either way: the idle and head timeouts
//! are [`ClientIo`]'s, and a request head counts as complete once the
//! front calls [`Conn::begin`], as when hyper's service is called.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::sync::watch;

use crate::conn::{ClientIo, InRequest, Phase};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8 * 1024;

/// A client connection as a handler's front sees it.
pub struct Conn {
    io: ClientIo,
    phase: Arc<Phase>,
    /// Bytes read from the client and not yet answered.
    pub buf: BytesMut,
    /// Turns true when the server stops: an idle connection then ends.
    draining: watch::Receiver<bool>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("unanswered", &self.buf.len())
            .finish()
    }
}

impl Conn {
    pub(crate) fn new(io: ClientIo, phase: Arc<Phase>, draining: watch::Receiver<bool>) -> Conn {
        Conn {
            io,
            phase,
            buf: BytesMut::new(),
            draining,
        }
    }

    /// Reads more of what the client sends into [`buf`](Conn::buf): the
    /// count, 0 at its end. Also 0 once the server is draining: the
    /// connection is between requests whenever the front reads. An error
    /// is a broken connection or a deadline passed (idle, or a head begun
    /// and not completed in time).
    pub async fn read(&mut self) -> io::Result<usize> {
        if self.draining() {
            return Ok(0);
        }
        self.buf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            read = self.io.read_buf(&mut self.buf) => read,
            _ = self.draining.wait_for(|draining| *draining) => Ok(0),
        }
    }

    /// Resolves when the client has gone (the end of its input, or an
    /// error) while its request is being answered: the answer is then
    /// abandoned, as hyper abandons it. Watched only while nothing else
    /// of the client's is waiting: bytes sent meanwhile (a pipelined
    /// request) are kept in [`buf`](Conn::buf) and end the watch, so the
    /// requests before a half-close are answered.
    pub async fn gone(&mut self) {
        if self.buf.is_empty() {
            self.buf.reserve(READ_CHUNK);
            if let Ok(0) | Err(_) = self.io.read_buf(&mut self.buf).await {
                return;
            }
        }
        std::future::pending().await
    }

    /// The server is stopping: an answer now is the connection's last.
    pub fn draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// The request head in [`buf`](Conn::buf) is complete: its deadline
    /// no longer applies, until the guard is dropped (answered).
    pub fn begin(&self) -> InRequest {
        self.phase.begin()
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await
    }

    /// The socket for hyper (the unanswered bytes first, then the
    /// client), and the drain signal, held until the connection ends.
    pub(crate) fn into_io(self) -> (Rewound, watch::Receiver<bool>) {
        let io = Rewound {
            prefix: self.buf.freeze(),
            io: self.io,
        };
        (io, self.draining)
    }
}

/// A client socket with bytes already read put back in front.
pub(crate) struct Rewound {
    prefix: Bytes,
    io: ClientIo,
}

impl AsyncRead for Rewound {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
