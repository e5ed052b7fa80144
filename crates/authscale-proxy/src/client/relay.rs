//! An upstream's answer body on its way to the client, decoded from the
//! connection's framing (Content-Length, chunked, or to the close).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use authscale_http::body::{BoxError, FramePoll};
use bytes::{Buf as _, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;

use super::pool::Link;
use crate::upstreams::{FailureKind, Upstream};

/// The largest response head accepted from an upstream.
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// Bytes asked of the socket per read.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// An upstream's answer body on its way to the client: whole, or read from
/// the connection as the client takes it. The connection goes back to its
/// upstream's pool once the body has ended cleanly.
pub struct Relay {
    whole: Option<Bytes>,
    stream: Option<Streaming>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("whole", &self.whole.as_ref().map(Bytes::len))
            .field("streaming", &self.stream.is_some())
            .finish()
    }
}

struct Streaming {
    link: Link,
    framing: Decoding,
    upstream: Arc<Upstream>,
    max_idle: Duration,
    close: bool,
}

pub(super) enum Decoding {
    Length(usize),
    Chunked(Chunk),
    UntilClose,
}

/// Where a chunked body's decoder stands.
#[derive(Clone, Copy)]
pub(super) enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

impl Relay {
    /// A body already read (its connection already given back).
    pub(super) fn whole(body: Bytes) -> Relay {
        Relay {
            whole: (!body.is_empty()).then_some(body),
            stream: None,
        }
    }
}

impl Relay {
    /// A body read from `link` as the client takes it, framed by
    /// `framing`; the connection goes back to `upstream`'s pool at a clean
    /// end unless `close`.
    pub(super) fn streamed(
        link: Link,
        framing: Decoding,
        upstream: Arc<Upstream>,
        max_idle: Duration,
        close: bool,
    ) -> Relay {
        Relay {
            whole: None,
            stream: Some(Streaming {
                link,
                framing,
                upstream,
                max_idle,
                close,
            }),
        }
    }

    /// The body has ended cleanly: its connection goes back to the pool
    /// unless it must close.
    fn finish(&mut self) {
        if let Some(done) = self.stream.take() {
            done.upstream
                .pool
                .give_back(done.link, done.close, done.max_idle);
        }
    }
}

/// The upstream broke the body off or framed it wrongly.
#[derive(Debug, thiserror::Error)]
#[error("upstream response body: {0}")]
pub struct RelayError(&'static str);

impl Body for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> FramePoll {
        let this = self.get_mut();
        if let Some(body) = this.whole.take() {
            return Poll::Ready(Some(Ok(Frame::data(body))));
        }
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(stream.poll_data(cx)) {
            Ok(Some(data)) => {
                // The last bytes of a Content-Length body: the client side
                // may not ask again, so the connection goes back now.
                if matches!(stream.framing, Decoding::Length(0)) {
                    this.finish();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Ok(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Err(e) => {
                // The upstream's fault, counted against it (the client's
                // connection then ends without the rest of the body).
                if let Some(broken) = this.stream.take() {
                    broken.upstream.count_failure(FailureKind::Transport);
                    tracing::warn!(side = "upstream", upstream = %broken.upstream.addr, error = %e, "response body broken off");
                }
                Poll::Ready(Some(Err(Box::new(e))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.whole.is_none() && self.stream.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.whole, &self.stream) {
            (Some(body), _) => SizeHint::with_exact(body.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            (None, Some(s)) => match s.framing {
                Decoding::Length(left) => SizeHint::with_exact(left as u64),
                _ => SizeHint::default(),
            },
        }
    }
}

impl Streaming {
    /// The next piece of the body, or None at its end.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, RelayError>> {
        loop {
            let buf = &mut self.link.buf;
            match &mut self.framing {
                Decoding::Length(0) => return Poll::Ready(Ok(None)),
                Decoding::Length(left) if !buf.is_empty() => {
                    let n = (*left).min(buf.len());
                    *left -= n;
                    return Poll::Ready(Ok(Some(buf.split_to(n).freeze())));
                }
                Decoding::UntilClose if !buf.is_empty() => {
                    return Poll::Ready(Ok(Some(buf.split().freeze())));
                }
                Decoding::Chunked(state) => match *state {
                    Chunk::Size => match httparse::parse_chunk_size(buf) {
                        Ok(httparse::Status::Complete((len, 0))) => {
                            buf.advance(len);
                            *state = Chunk::Trailers;
                            continue;
                        }
                        Ok(httparse::Status::Complete((len, size))) => {
                            buf.advance(len);
                            *state = Chunk::Data(size);
                            continue;
                        }
                        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
                        _ => return Poll::Ready(Err(RelayError("bad chunk size"))),
                    },
                    Chunk::Data(left) if !buf.is_empty() => {
                        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                        let left = left - n as u64;
                        *state = if left == 0 {
                            Chunk::DataEnd
                        } else {
                            Chunk::Data(left)
                        };
                        return Poll::Ready(Ok(Some(buf.split_to(n).freeze())));
                    }
                    Chunk::Data(_) => {}
                    Chunk::DataEnd if buf.len() >= 2 => {
                        if &buf[..2] != b"\r\n" {
                            return Poll::Ready(Err(RelayError("chunk not ended by CRLF")));
                        }
                        buf.advance(2);
                        *state = Chunk::Size;
                        continue;
                    }
                    Chunk::DataEnd => {}
                    Chunk::Trailers => {
                        // Trailer fields are not forwarded; the body ends at
                        // the empty line.
                        if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                            buf.advance(at + 2);
                            if at == 0 {
                                self.framing = Decoding::Length(0);
                            }
                            continue;
                        }
                        if buf.len() >= MAX_HEAD {
                            return Poll::Ready(Err(RelayError("trailers too large")));
                        }
                    }
                },
                Decoding::Length(_) | Decoding::UntilClose => {}
            }
            // More bytes are needed.
            let read = ready!(poll_read(&self.link.stream, cx, &mut self.link.buf));
            match read {
                Ok(0) if matches!(self.framing, Decoding::UntilClose) => {
                    return Poll::Ready(Ok(None));
                }
                Ok(0) => return Poll::Ready(Err(RelayError("connection closed mid-body"))),
                Ok(_) => {}
                Err(_) => return Poll::Ready(Err(RelayError("connection failed mid-body"))),
            }
        }
    }
}

/// One read into `buf` once the socket is readable.
fn poll_read(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<std::io::Result<usize>> {
    loop {
        ready!(stream.poll_read_ready(cx))?;
        buf.reserve(READ_CHUNK);
        match stream.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            result => return Poll::Ready(result),
        }
    }
}
