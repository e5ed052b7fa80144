//! The proxy's HTTP/1.1 client to its upstreams: requests whose body is in
//! memory (none, or a small one read whole) are written as bytes on a
//! pooled keep-alive connection and the answer is parsed with httparse, in
//! the request's own task. A larger, streamed upload goes over a fresh
//! connection driven by hyper's HTTP/1 client (it sends the body while it
//! watches for an early answer).
//!
//! Why not hyper-util's pooled client for every request: it hands each
//! request through a channel to a connection task and back, and checks a
//! connection out of a hashed pool; on the proxy's hot path that was the
//! largest share of its instructions per forwarded request (callgrind,
//! `proxy/forward`).
//! The subset written here is RFC 9112's message framing on the response
//! side (§6.3): no body for HEAD, 1xx, 204 and 304; chunked (which wins
//! over Content-Length, and then the connection is not reused; any other
//! transfer coding is a bad response, as on the request side);
//! Content-Length (digits only; conflicting values are a bad response);
//! otherwise to the connection's close.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use authscale_http::body::{BoxError, FramePoll};
use bytes::{Buf as _, Bytes, BytesMut};
use http_body_util::Full;
use hyper::body::{Body, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

pub(crate) mod pool;
mod relay;

pub(crate) use pool::Link;
pub use relay::Relay;
use relay::{Chunk, Decoding, MAX_HEAD, READ_CHUNK};

use crate::upload::Upload;
use crate::upstreams::{FailureKind, Upstream};

/// The most header lines accepted in an upstream's response head.
const MAX_HEADERS: usize = 100;
/// A Content-Length body up to this size is read whole with its head and
/// answered in one piece; larger ones stream.
const WHOLE_BODY: usize = 64 * 1024;

/// What the client side of the proxy asks of an upstream, its body in
/// memory.
#[derive(Clone, Copy)]
pub(crate) struct Outgoing<'a> {
    pub method: &'a Method,
    pub head: Head<'a>,
    /// Sent after the head.
    pub body: &'a Bytes,
}

/// A request's head as the client side hands it over.
#[derive(Clone, Copy)]
pub(crate) enum Head<'a> {
    /// To be written here from its parts.
    Parts {
        /// The origin-form target: path and query.
        target: &'a str,
        headers: &'a HeaderMap,
    },
    /// Written already: request line, headers (framing included), the
    /// blank line and any body, as the proxy's front rewrote them from the
    /// client's; `bodiless` when there is no body.
    Written { written: &'a [u8], bodiless: bool },
}

impl Outgoing<'_> {
    /// The request carries no body: it may be sent again unchanged.
    pub(crate) fn bodiless(&self) -> bool {
        self.body.is_empty()
            && match self.head {
                Head::Parts { .. } => true,
                Head::Written { bodiless, .. } => bodiless,
            }
    }
}

/// Timeouts and pool limits of the upstream side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub connect_timeout: Duration,
    pub max_idle: Duration,
}

/// How an exchange failed, and whether the upstream may have seen it.
struct Failed {
    kind: FailureKind,
    /// Nothing came back on a pooled connection: the upstream closed it,
    /// most likely as it sat idle.
    stale: bool,
}

impl From<FailureKind> for Failed {
    fn from(kind: FailureKind) -> Failed {
        Failed { kind, stale: false }
    }
}

/// Sends `request` to `upstream` and reads the answer's head (and, when
/// small, its body). A pooled connection that the upstream closed with no
/// answer (the race with its idle close) is replaced by a fresh one once,
/// for an idempotent method: RFC 9110 §9.2.2 allows sending it again,
/// even though the upstream may have read it. Any other method fails with
/// `ClosedIdle`: not sent twice, and not held against the upstream.
pub(crate) async fn exchange(
    upstream: &Arc<Upstream>,
    request: Outgoing<'_>,
    limits: Limits,
) -> Result<Response<Relay>, FailureKind> {
    let link = upstream.pool.checkout(limits.max_idle);
    let link = match link {
        Some(link) => link,
        None => connect(upstream, limits).await?,
    };
    match exchange_on(link, upstream, &request, limits).await {
        Err(Failed { stale: true, .. }) if request.method.is_idempotent() => {
            let link = connect(upstream, limits).await?;
            exchange_on(link, upstream, &request, limits)
                .await
                .map_err(|failed| failed.kind)
        }
        Err(Failed { stale: true, .. }) => Err(FailureKind::ClosedIdle),
        result => result.map_err(|failed| failed.kind),
    }
}

async fn connect(upstream: &Upstream, limits: Limits) -> Result<Link, FailureKind> {
    let stream = open(upstream, limits.connect_timeout).await?;
    Ok(Link {
        stream,
        buf: BytesMut::with_capacity(READ_CHUNK),
        out: Vec::with_capacity(1024),
        reused: false,
    })
}

async fn open(upstream: &Upstream, timeout: Duration) -> Result<TcpStream, FailureKind> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(upstream.addr))
        .await
        .map_err(|_| FailureKind::Connect)?
        .map_err(|_| FailureKind::Connect)?;
    stream.set_nodelay(true).map_err(|_| FailureKind::Connect)?;
    Ok(stream)
}

async fn exchange_on(
    mut link: Link,
    upstream: &Arc<Upstream>,
    request: &Outgoing<'_>,
    limits: Limits,
) -> Result<Response<Relay>, Failed> {
    let head = match request.head {
        Head::Parts { target, headers } => {
            write_request(&mut link.out, request, target, headers, &upstream.authority);
            &link.out[..]
        }
        Head::Written { written, .. } => written,
    };
    if link.stream.write_all(head).await.is_err() {
        return Err(Failed {
            kind: FailureKind::Transport,
            stale: link.reused,
        });
    }
    if !request.body.is_empty() && link.stream.write_all(request.body).await.is_err() {
        return Err(FailureKind::Transport.into());
    }
    link.buf.clear();
    let head = read_head(&mut link, *request.method == Method::HEAD).await?;
    let (parts, framing, close) = head;
    let body = match framing {
        Framing::Length(0) | Framing::None => {
            upstream.pool.give_back(link, close, limits.max_idle);
            Relay::whole(Bytes::new())
        }
        Framing::Length(len) if len <= WHOLE_BODY => {
            while link.buf.len() < len {
                match link.stream.read_buf(&mut link.buf).await {
                    Ok(0) | Err(_) => return Err(FailureKind::Transport.into()),
                    Ok(_) => {}
                }
            }
            let body = link.buf.split_to(len).freeze();
            upstream.pool.give_back(link, close, limits.max_idle);
            Relay::whole(body)
        }
        framing => Relay::streamed(
            link,
            match framing {
                Framing::Length(len) => Decoding::Length(len),
                Framing::Chunked => Decoding::Chunked(Chunk::Size),
                _ => Decoding::UntilClose,
            },
            Arc::clone(upstream),
            limits.max_idle,
            close,
        ),
    };
    Ok(Response::from_parts(parts, body))
}

/// The request line, the headers as the client side left them, `Host`
/// when the client sent none (HTTP/1.0), and the framing of the body.
fn write_request(
    out: &mut Vec<u8>,
    request: &Outgoing<'_>,
    target: &str,
    headers: &HeaderMap,
    authority: &hyper::http::uri::Authority,
) {
    out.clear();
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(header::HOST) {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(authority.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // The body is whole in memory: its length is the framing, whatever
    // the client declared (hyper held the client to its declaration).
    if !request.body.is_empty() || headers.contains_key(header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(request.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How the answer's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads the final response head (interim 1xx answers are skipped); its
/// parts, the body's framing, and whether the connection must close.
async fn read_head(
    link: &mut Link,
    head_request: bool,
) -> Result<(hyper::http::response::Parts, Framing, bool), Failed> {
    loop {
        // The header array (3 KiB) is not held across the read below: it
        // would be part of every exchange's future, copied as it moves.
        let partial = {
            // Left uninitialised: httparse writes the ones it finds.
            let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut response,
                &link.buf,
                &mut headers,
            );
            match parsed {
                Ok(httparse::Status::Complete(len)) => {
                    let code = response.code.unwrap_or(0);
                    if (100..200).contains(&code) && code != 101 {
                        // 100 Continue, 103 Early Hints: the final answer follows.
                        link.buf.advance(len);
                        continue;
                    }
                    let head = parse_head(&response, head_request)?;
                    link.buf.advance(len);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => true,
                Err(_) => false,
            }
        };
        // Over the head limit, or not HTTP.
        if !partial || link.buf.len() >= MAX_HEAD {
            return Err(FailureKind::BadResponse.into());
        }
        link.buf.reserve(READ_CHUNK);
        match link.stream.read_buf(&mut link.buf).await {
            Ok(0) | Err(_) => {
                return Err(Failed {
                    kind: FailureKind::Transport,
                    stale: link.reused && link.buf.is_empty(),
                });
            }
            Ok(_) => {}
        }
    }
}

fn parse_head(
    response: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<(hyper::http::response::Parts, Framing, bool), FailureKind> {
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        // 101: this proxy never asks to switch protocols.
        .filter(|status| *status != StatusCode::SWITCHING_PROTOCOLS)
        .ok_or(FailureKind::BadResponse)?;
    let mut close = response.version == Some(0);
    let mut length: Option<usize> = None;
    let mut coded = false;
    // Room for the `Via` the proxy appends.
    let mut map = HeaderMap::with_capacity(response.headers.len() + 1);
    for h in response.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| FailureKind::BadResponse)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| FailureKind::BadResponse)?;
        if name == header::CONTENT_LENGTH {
            // Digits only (RFC 9110 §8.6: no sign); a list of one value
            // repeated is that value, written once below.
            for item in value.to_str().unwrap_or("x").split(',') {
                let item = item.trim();
                if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FailureKind::BadResponse);
                }
                let n: usize = item.parse().map_err(|_| FailureKind::BadResponse)?;
                if length.is_some_and(|seen| seen != n) {
                    return Err(FailureKind::BadResponse);
                }
                length = Some(n);
            }
            continue;
        } else if name == header::TRANSFER_ENCODING {
            // Only chunked is implemented (as on the request side): another
            // coding would reach the client unlabelled once this hop's
            // Transfer-Encoding is dropped. Refused, 502.
            if coded
                || !value
                    .to_str()
                    .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"))
            {
                return Err(FailureKind::BadResponse);
            }
            coded = true;
        } else if name == header::CONNECTION {
            close |= value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        }
        map.append(name, value);
    }
    let framing = if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else if coded {
        // Transfer-Encoding wins over Content-Length; with both, the
        // connection is not trusted for another request (§6.3, 3).
        close |= length.is_some();
        Framing::Chunked
    } else if let Some(len) = length {
        Framing::Length(len)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        close = true;
    }
    // The next hop's framing is decided by the proxy's server side: one
    // Content-Length, or none for a chunked body.
    if let (Some(len), false) = (length, coded) {
        map.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let mut parts = Response::new(()).into_parts().0;
    parts.status = status;
    parts.version = Version::HTTP_11;
    parts.headers = map;
    Ok((parts, framing, close))
}

/// Sends a request whose body streams from the client (chunked, or larger
/// than the proxy reads whole) on a fresh connection, with hyper's HTTP/1
/// client: it writes the body while it watches for an answer that comes
/// before the body's end (an early 413), which it passes on.
pub(crate) async fn exchange_streamed(
    upstream: &Upstream,
    mut request: Request<Upload>,
    limits: Limits,
) -> Result<Response<Incoming>, FailureKind> {
    let stream = open(upstream, limits.connect_timeout).await?;
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|_| FailureKind::Transport)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(side = "upstream", %error, "streamed upload connection ended");
        }
    });
    if !request.headers().contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(upstream.authority.as_str())
    {
        request.headers_mut().insert(header::HOST, host);
    }
    sender.send_request(request).await.map_err(|e| {
        if e.is_parse() || e.is_parse_status() {
            FailureKind::BadResponse
        } else {
            FailureKind::Transport
        }
    })
}

/// A body-less `GET path` to `upstream`: the active health probe.
pub(crate) async fn probe(
    upstream: &Arc<Upstream>,
    path: &str,
    limits: Limits,
) -> Result<StatusCode, FailureKind> {
    let headers = HeaderMap::new();
    let response = exchange(
        upstream,
        Outgoing {
            method: &Method::GET,
            head: Head::Parts {
                target: path,
                headers: &headers,
            },
            body: &Bytes::new(),
        },
        limits,
    )
    .await?;
    let status = response.status();
    // Read to its end so the connection can be used again.
    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
    Ok(status)
}

/// What the proxy answers its client with: an upstream's answer (relayed,
/// or streamed by hyper after a streamed upload) or its own.
#[derive(Debug)]
pub enum ClientBody {
    Relayed(Relay),
    Streamed(Incoming),
    Local(Full<Bytes>),
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> FramePoll {
        match self.get_mut() {
            ClientBody::Relayed(body) => Pin::new(body).poll_frame(cx),
            ClientBody::Streamed(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            ClientBody::Local(body) => Pin::new(body).poll_frame(cx).map_err(|e| match e {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Relayed(body) => body.is_end_stream(),
            ClientBody::Streamed(body) => body.is_end_stream(),
            ClientBody::Local(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Relayed(body) => body.size_hint(),
            ClientBody::Streamed(body) => body.size_hint(),
            ClientBody::Local(body) => body.size_hint(),
        }
    }
}
