//! Which client requests the front serves itself, and their heads
//! rewritten for the upstream on the bytes.
//!
//! A request is *plain* when the hyper path would admit it unchanged
//! except for the forwarding headers: HTTP/1.1, a common method other than
//! HEAD and CONNECT, an origin-form target of URI characters, exactly one
//! valid `Host`, no hop-by-hop header, no `Transfer-Encoding` or `Expect`,
//! at most one `Content-Length` (digits) whose body is already in the
//! buffer and within the limit, and a head that fits the upstreams' limits
//! once the forwarding headers are added. For those the rewrite is the
//! hyper path's (`headers::forward_request`): client claims of origin and
//! `X-Forwarded-Proto` dropped, `X-Forwarded-For` joined and extended,
//! `X-Forwarded-Proto: http` and `Via` added, the body framed by its
//! length. Every other request goes to the hyper path, which serves it or
//! refuses it with its reason, as it always has.

use std::io::Write as _;
use std::mem::MaybeUninit;
use std::net::SocketAddr;

use authscale_http::framing::MAX_HEADERS;
use hyper::Method;

/// The most body bytes a plain request carries (it must also be in the
/// buffer already, with its head).
const MAX_PLAIN_BODY: usize = 64 * 1024;

/// What the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not yet a whole request head.
    Partial,
    /// A plain request, rewritten.
    Plain(Plain),
    /// A request (or bytes) for the hyper path.
    Other,
}

/// A plain request: the first `len` bytes of the buffer, its head and
/// body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plain {
    pub method: Method,
    pub len: usize,
    pub bodiless: bool,
    /// The balancing cookie's value, when one was asked for and sent.
    pub cookie: Option<String>,
}

/// How the front treats a request header, by name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    ContentLength,
    ForwardedFor,
    Cookie,
    /// Dropped: the client's claims of origin and `X-Forwarded-Proto`.
    Dropped,
    /// Hop-by-hop, framing and expectations: the hyper path's.
    Declined,
    Kept,
}

/// The header's kind by its name, compared as HTTP does, without case.
/// The names `headers.rs` lists as hop-by-hop and as client claims.
fn kind(name: &str) -> Kind {
    let is = |other: &str| name.eq_ignore_ascii_case(other);
    match name.len() {
        2 if is("te") => Kind::Declined,
        4 if is("host") => Kind::Host,
        6 if is("cookie") => Kind::Cookie,
        6 if is("expect") => Kind::Declined,
        7 if is("trailer") || is("upgrade") => Kind::Declined,
        9 if is("forwarded") || is("x-real-ip") => Kind::Dropped,
        10 if is("connection") || is("keep-alive") => Kind::Declined,
        14 if is("content-length") => Kind::ContentLength,
        15 if is("x-forwarded-for") => Kind::ForwardedFor,
        15 if is("x-forwarded-ssl") || is("front-end-https") => Kind::Dropped,
        16 if is("proxy-connection") => Kind::Declined,
        16 if is("x-forwarded-host") || is("x-forwarded-port") => Kind::Dropped,
        17 if is("transfer-encoding") => Kind::Declined,
        17 if is("x-forwarded-proto") => Kind::Dropped,
        18 if is("proxy-authenticate") => Kind::Declined,
        18 if is("x-forwarded-scheme") => Kind::Dropped,
        19 if is("proxy-authorization") => Kind::Declined,
        _ => Kind::Kept,
    }
}

/// The methods the front forwards; others (HEAD, CONNECT, TRACE,
/// extensions) go to the hyper path.
fn method(name: &str) -> Option<Method> {
    Some(match name {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        "OPTIONS" => Method::OPTIONS,
        _ => return None,
    })
}

/// A byte of an origin-form target the front passes on as is: RFC 3986's
/// unreserved and sub-delimiter characters, `:@/?` and `%`. Others
/// (a fragment's `#`, quotes, braces) go to the hyper path, whose URI
/// parser decides.
fn target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// Reads the request at the start of `buf`; for a plain one, writes what
/// goes upstream (head and body) to `out`. `cookie_name` asks for the
/// balancing cookie's value; `max_body` is the proxy's body limit.
pub(crate) fn parse(
    buf: &[u8],
    client: SocketAddr,
    max_body: usize,
    cookie_name: Option<&str>,
    out: &mut Vec<u8>,
) -> Parsed {
    // Left uninitialised: httparse writes the ones it finds (a 3 KiB fill
    // per request otherwise).
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    // Measured as it came, as the hyper path measures it: 431 is hyper's
    // to answer.
    if head_len > authscale_http::MAX_HEAD_BYTES {
        return Parsed::Other;
    }
    let (Some(name), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return Parsed::Other;
    };
    let Some(method) = method(name) else {
        return Parsed::Other;
    };
    if !target.starts_with('/') || !target.bytes().all(target_byte) {
        return Parsed::Other;
    }
    out.clear();
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // The head's size as `forward::head_size` counts it, and the lines the
    // upstream will read.
    let mut size = name.len() + target.len() + 12;
    let mut lines = 0;
    let mut hosts = 0;
    let mut length: Option<usize> = None;
    let mut forwarded_for = false;
    let mut cookie = None;
    for header in request.headers.iter() {
        size += header.name.len() + header.value.len() + 4;
        match kind(header.name) {
            Kind::Declined => return Parsed::Other,
            Kind::Dropped => continue,
            Kind::ForwardedFor => {
                forwarded_for = true;
                continue;
            }
            Kind::ContentLength => {
                if length.is_some() {
                    return Parsed::Other;
                }
                match digits(header.value) {
                    Some(n) => length = Some(n),
                    None => return Parsed::Other,
                }
                // Written below, from the length.
                lines += 1;
                continue;
            }
            Kind::Host => {
                hosts += 1;
                if crate::headers::check_host_value(header.value).is_err() {
                    return Parsed::Other;
                }
            }
            Kind::Cookie => {
                if let (Some(name), None) = (cookie_name, &cookie) {
                    // As `HeaderValue::to_str` reads it: visible ASCII.
                    cookie = std::str::from_utf8(header.value)
                        .ok()
                        .filter(|value| {
                            value
                                .bytes()
                                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
                        })
                        .and_then(|value| crate::headers::cookie_in(value, name));
                }
            }
            Kind::Kept => {}
        }
        lines += 1;
        out.extend_from_slice(header.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(header.value);
        out.extend_from_slice(b"\r\n");
    }
    let body_len = length.unwrap_or(0);
    // X-Forwarded-For, X-Forwarded-Proto and Via are added.
    if hosts != 1
        || size > crate::forward::FORWARDABLE_HEAD
        || lines + 3 > MAX_HEADERS
        || body_len > max_body.min(MAX_PLAIN_BODY)
        || buf.len() - head_len < body_len
    {
        return Parsed::Other;
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if forwarded_for {
        for header in request.headers.iter() {
            if kind(header.name) != Kind::ForwardedFor {
                continue;
            }
            let value = header.value.trim_ascii();
            if !value.is_empty() {
                out.extend_from_slice(value);
                out.extend_from_slice(b", ");
            }
        }
    }
    crate::headers::write_ip(out, client.ip());
    out.extend_from_slice(b"\r\nx-forwarded-proto: http\r\nvia: ");
    out.extend_from_slice(crate::headers::VIA.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(n) = length {
        let _ = write!(out, "content-length: {n}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&buf[head_len..head_len + body_len]);
    Parsed::Plain(Plain {
        method,
        len: head_len + body_len,
        bodiless: body_len == 0,
        cookie,
    })
}

/// A `Content-Length` value of digits only, as a number.
fn digits(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
