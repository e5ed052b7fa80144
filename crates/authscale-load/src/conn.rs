//! One keep-alive connection of the generator: HTTP/1.1 requests written
//! as bytes, responses parsed with httparse, reopened after it breaks;
//! over TLS when the target is `https://`, and HTTP/2 (hyper's client,
//! `h2.rs`) when the server picks it by ALPN.
//!
//! Why not hyper's client: its dispatcher hands every request through a
//! channel to a connection task and back, and that bookkeeping costs more
//! CPU per request than the generator can afford if it is to keep up with
//! wrk on one core. The subset it needs is small: Content-Length and
//! chunked bodies, `Connection: close`, and, for a login, the cookie or
//! header that carries the credential.

use std::pin::Pin;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Outcome;
use crate::h2::H2;
use crate::reply::cookie_pair;
use crate::reply::{Keep, Reply};
use crate::transport::{Protocol, Stream, Transport};

/// Largest response accepted (head and body); nodes answer a few hundred bytes.
const MAX_RESPONSE: usize = 1 << 20;
const MAX_HEADERS: usize = 32;

/// An open connection.
pub(crate) enum Link {
    Http1(Stream),
    Http2(H2),
}

pub(crate) struct Conn {
    link: Option<Link>,
    buf: Vec<u8>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Conn {
    pub fn new() -> Conn {
        Conn {
            link: None,
            buf: Vec::with_capacity(16 * 1024),
            timer: Box::pin(tokio::time::sleep_until(Instant::now().into())),
        }
    }

    /// Writes `request` (a complete HTTP/1.1 request) and reads the reply,
    /// all before `deadline`. Reconnects first when needed; keeps the
    /// connection only when the exchange ended cleanly.
    pub async fn exchange(
        &mut self,
        transport: &Transport,
        request: &[u8],
        keep: Keep<'_>,
        deadline: Instant,
    ) -> Result<Reply, Outcome> {
        self.timer.as_mut().reset(deadline.into());
        let Conn { link, buf, timer } = self;
        let result = tokio::select! {
            biased;
            result = exchange(link, buf, transport, request, keep) => result,
            () = timer.as_mut() => Err(Outcome::Timeout),
        };
        match &result {
            Ok((_, true)) | Err(_) => self.link = None,
            Ok((_, false)) => {}
        }
        result.map(|(reply, _)| reply)
    }
}

/// One exchange; returns the reply and whether the connection must close.
async fn exchange(
    slot: &mut Option<Link>,
    buf: &mut Vec<u8>,
    transport: &Transport,
    request: &[u8],
    keep: Keep<'_>,
) -> Result<(Reply, bool), Outcome> {
    if slot.is_none() {
        let (stream, protocol) = transport
            .connect()
            .await
            .map_err(|_| Outcome::ConnectError)?;
        *slot = Some(match protocol {
            Protocol::Http1 => Link::Http1(stream),
            Protocol::Http2 => Link::Http2(H2::handshake(stream).await?),
        });
    }
    match slot.as_mut() {
        Some(Link::Http1(stream)) => {
            buf.clear();
            if stream.write_all(request).await.is_err() || stream.flush().await.is_err() {
                return Err(Outcome::IoError);
            }
            read_reply(stream, buf, keep).await
        }
        Some(Link::Http2(h2)) => h2.exchange(transport, request, keep).await,
        None => Err(Outcome::ConnectError),
    }
}

async fn read_reply(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    keep: Keep<'_>,
) -> Result<(Reply, bool), Outcome> {
    let keep_body = keep.body;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(head_len))
                if response
                    .code
                    .is_some_and(|c| (100..200).contains(&c) && c != 101) =>
            {
                // An interim answer (100 Continue, 103 Early Hints): the
                // final one follows.
                buf.drain(..head_len);
                continue;
            }
            Ok(httparse::Status::Complete(head_len)) => {
                let head = Head::of(&response, keep);
                let mut reply = Reply {
                    status: head.status,
                    cookie: head.cookie,
                    header: head.header,
                    body: Vec::new(),
                };
                let close = head.close;
                let body = match head.framing {
                    Framing::None => 0..0,
                    Framing::Length(len) => {
                        fill(stream, buf, head_len + len).await?;
                        head_len..head_len + len
                    }
                    Framing::Chunked => {
                        let body = read_chunked(stream, buf, head_len).await?;
                        if keep_body {
                            reply.body = body;
                        }
                        return Ok((reply, close));
                    }
                    Framing::UntilClose => {
                        while read_more(stream, buf).await? > 0 {}
                        return Ok((
                            Reply {
                                body: if keep_body {
                                    buf[head_len..].to_vec()
                                } else {
                                    Vec::new()
                                },
                                ..reply
                            },
                            true,
                        ));
                    }
                };
                if keep_body {
                    reply.body = buf[body].to_vec();
                }
                return Ok((reply, close));
            }
            Ok(httparse::Status::Partial) => {
                if read_more(stream, buf).await? == 0 {
                    return Err(Outcome::IoError);
                }
            }
            Err(_) => return Err(Outcome::IoError),
        }
    }
}

enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    cookie: Option<String>,
    header: Option<String>,
    framing: Framing,
    close: bool,
}

impl Head {
    fn of(response: &httparse::Response<'_, '_>, keep: Keep<'_>) -> Head {
        let status = response.code.unwrap_or(0);
        let mut head = Head {
            status,
            cookie: None,
            header: None,
            framing: Framing::UntilClose,
            close: response.version == Some(0),
        };
        for header in response.headers.iter() {
            let value = std::str::from_utf8(header.value).unwrap_or("");
            if header.name.eq_ignore_ascii_case("content-length") {
                if let Ok(len) = value.trim().parse() {
                    head.framing = Framing::Length(len);
                }
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                if value.to_ascii_lowercase().contains("chunked") {
                    head.framing = Framing::Chunked;
                }
            } else if header.name.eq_ignore_ascii_case("connection") {
                head.close |= value.eq_ignore_ascii_case("close");
            } else if let Some(name) = keep.cookie
                && header.name.eq_ignore_ascii_case("set-cookie")
                && head
                    .cookie
                    .as_deref()
                    .is_none_or(|pair| pair.ends_with('='))
            {
                // A later cookie replaces one that only cleared it, `sid=`.
                if let Some(pair) = cookie_pair(value, name) {
                    head.cookie = Some(pair);
                }
            } else if let Some(name) = keep.header
                && header.name.eq_ignore_ascii_case(name)
                && head.header.is_none()
            {
                head.header = Some(value.trim().to_owned());
            }
        }
        if status == 204 || status == 304 || (100..200).contains(&status) || keep.head_request {
            head.framing = Framing::None;
        }
        head
    }
}

/// Reads until `buf` holds at least `len` bytes.
async fn fill(stream: &mut Stream, buf: &mut Vec<u8>, len: usize) -> Result<(), Outcome> {
    if len > MAX_RESPONSE {
        return Err(Outcome::IoError);
    }
    while buf.len() < len {
        if read_more(stream, buf).await? == 0 {
            return Err(Outcome::IoError);
        }
    }
    Ok(())
}

/// Decodes a chunked body that starts at `start` in `buf`.
async fn read_chunked(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<Vec<u8>, Outcome> {
    let mut body = Vec::new();
    let mut at = start;
    loop {
        let (size_len, size) = loop {
            match httparse::parse_chunk_size(&buf[at..]) {
                Ok(httparse::Status::Complete((len, size))) => break (len, size as usize),
                Ok(httparse::Status::Partial) => {
                    if read_more(stream, buf).await? == 0 {
                        return Err(Outcome::IoError);
                    }
                }
                Err(_) => return Err(Outcome::IoError),
            }
        };
        at += size_len;
        if size == 0 {
            // Trailers are not used by nodes: expect the final CRLF.
            fill(stream, buf, at + 2).await?;
            return Ok(body);
        }
        fill(stream, buf, at + size + 2).await?;
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

async fn read_more(stream: &mut Stream, buf: &mut Vec<u8>) -> Result<usize, Outcome> {
    if buf.len() >= MAX_RESPONSE {
        return Err(Outcome::IoError);
    }
    buf.reserve(8 * 1024);
    stream.read_buf(buf).await.map_err(|_| Outcome::IoError)
}
