//! An answer written to the client as hyper's HTTP/1.1 server writes it:
//! the status line with the canonical reason, the headers, `Date` when the
//! answer has none, the body framed by its `Content-Length` (added from
//! its size when known) or else chunked, no body (nor `Content-Length`)
//! for 1xx, 204 and 304. A whole answer goes out in one write; a streamed
//! one piece by piece as it comes, with the client watched meanwhile.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::Write as _;
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use authscale_http::Conn;
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use hyper::header::{self, HeaderMap};
use hyper::{Response, StatusCode};

use crate::client::ClientBody;

/// A piece of body up to this size is copied behind what is gathered for
/// one write; a larger one is written on its own, so the write buffer of
/// an idle connection stays small.
const INLINE: usize = 4 * 1024;
/// What is gathered goes out once it reaches this, ready pieces or not:
/// an answer of many small pieces is not held in memory whole.
const GATHERED: usize = 16 * 1024;

/// How writing an answer ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Written whole: the connection may carry another request.
    KeepOpen,
    /// Written, or broken off, and the connection must close: after
    /// `Connection: close` (the proxy's refusals, or a server stopping),
    /// or a body that broke off upstream.
    Close,
    /// The client left while the answer was coming or being written.
    ClientLeft,
}

/// Writes `response` to `conn`, using `out` as the write buffer. What is
/// ready is written together (a whole answer in one write); while a body
/// streams, each piece goes out as it comes, the head first. `closing`
/// (the server is stopping) adds `Connection: close`, as hyper does.
pub(crate) async fn write(
    conn: &mut Conn,
    response: Response<ClientBody>,
    out: &mut Vec<u8>,
    closing: bool,
) -> Ending {
    let (parts, mut body) = response.into_parts();
    let bodyless = parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    out.clear();
    head(out, parts.status, &parts.headers, bodyless);
    let mut chunked = false;
    if !bodyless && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        match body.size_hint().exact() {
            Some(n) => {
                let _ = write!(out, "content-length: {n}\r\n");
            }
            None => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                chunked = true;
            }
        }
    }
    let keep = if closes(&parts.headers) {
        Ending::Close
    } else if closing {
        out.extend_from_slice(b"connection: close\r\n");
        Ending::Close
    } else {
        Ending::KeepOpen
    };
    out.extend_from_slice(b"\r\n");
    if bodyless {
        return sent(conn.write_all(out).await, keep);
    }
    loop {
        // A piece ready now joins what is gathered; when none is, what is
        // gathered goes out before the wait, and the client is watched.
        let ready = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
        let frame = match ready {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if !flush(conn, out).await {
                    return Ending::ClientLeft;
                }
                tokio::select! {
                    frame = body.frame() => frame,
                    () = conn.gone() => return Ending::ClientLeft,
                }
            }
        };
        let data = match frame {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers are not forwarded.
                Err(_) => continue,
            },
            // Broken off upstream: the client sees its connection end
            // without the rest, as from hyper.
            Some(Err(_)) => {
                let _ = conn.write_all(out).await;
                return Ending::Close;
            }
        };
        if data.is_empty() {
            continue;
        }
        if chunked {
            let _ = write!(out, "{:x}\r\n", data.len());
        }
        if data.len() <= INLINE {
            out.extend_from_slice(&data);
        } else if !flush(conn, out).await || conn.write_all(&data).await.is_err() {
            return Ending::ClientLeft;
        }
        if chunked {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() >= GATHERED && !flush(conn, out).await {
            return Ending::ClientLeft;
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    sent(conn.write_all(out).await, keep)
}

/// Writes what is gathered and empties the buffer; false when the
/// client's connection failed.
async fn flush(conn: &mut Conn, out: &mut Vec<u8>) -> bool {
    let written = conn.write_all(out).await.is_ok();
    out.clear();
    written
}

fn sent(written: std::io::Result<()>, ending: Ending) -> Ending {
    match written {
        Ok(()) => ending,
        Err(_) => Ending::ClientLeft,
    }
}

/// The status line, the headers and `Date` when they have none; no
/// `Content-Length` on an answer that has no body (1xx, 204, 304), as
/// hyper writes them.
fn head(out: &mut Vec<u8>, status: StatusCode, headers: &HeaderMap, bodyless: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if bodyless && name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        date(out);
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether the answer says the connection ends with it.
fn closes(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|value| {
        value
            .as_bytes()
            .split(|b| *b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

thread_local! {
    /// The current second and its IMF-fixdate (RFC 9110 §5.6.7): rendered
    /// once a second per thread, as hyper does.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second || text.is_empty() {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_written_as_hyper_writes_it() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().expect("v"));
        headers.insert(
            header::DATE,
            "Mon, 07 Dec 2026 20:00:00 GMT".parse().expect("v"),
        );
        let mut out = Vec::new();
        head(&mut out, StatusCode::OK, &headers, false);
        assert_eq!(
            String::from_utf8(out).expect("text"),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ndate: Mon, 07 Dec 2026 20:00:00 GMT\r\n"
        );
        let mut out = Vec::new();
        head(
            &mut out,
            StatusCode::from_u16(599).expect("code"),
            &HeaderMap::new(),
            false,
        );
        let text = String::from_utf8(out).expect("text");
        assert!(text.starts_with("HTTP/1.1 599 <none>\r\ndate: "), "{text}");
        let date = text.trim_end().rsplit("date: ").next().expect("date");
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }

    #[test]
    fn an_answer_without_a_body_carries_no_content_length() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "3".parse().expect("v"));
        headers.insert(
            header::DATE,
            "Mon, 07 Dec 2026 20:00:00 GMT".parse().expect("v"),
        );
        for (status, bodyless) in [(204, true), (304, true), (200, false)] {
            let mut out = Vec::new();
            let status = StatusCode::from_u16(status).expect("code");
            head(&mut out, status, &headers, bodyless);
            let text = String::from_utf8(out).expect("text");
            assert_eq!(text.contains("content-length"), !bodyless, "{text}");
        }
    }

    #[test]
    fn only_connection_close_ends_the_connection() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONNECTION, value.parse().expect("v"));
            headers
        };
        assert!(closes(&with("close")));
        assert!(closes(&with("keep-alive, Close")));
        assert!(!closes(&with("keep-alive")));
        assert!(!closes(&HeaderMap::new()));
    }
}
