//! HTTP/2 to a target that picks it by ALPN (`--http2`): hyper's client
//! connection, one per generator connection (a virtual user's requests
//! are sequential, so one stream is open at a time). The request is the
//! same HTTP/1.1 text the plain path writes, read back once per request
//! into hyper's types: HTTP/2 is the measured protocol here, not the
//! generator's fast path.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::Outcome;
use crate::reply::{Keep, Reply, cookie_pair};
use crate::transport::{Stream, Transport};

const MAX_HEADERS: usize = 64;

/// Headers of HTTP/1.1 that HTTP/2 forbids (RFC 9113 §8.2.2) or carries
/// otherwise (`Host` becomes `:authority`).
const DROPPED: [&str; 7] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

pub(crate) struct H2 {
    sender: http2::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for H2 {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl H2 {
    pub async fn handshake(stream: Stream) -> Result<H2, Outcome> {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|_| Outcome::ConnectError)?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(H2 { sender, driver })
    }

    /// One request; the connection stays open unless it failed.
    pub async fn exchange(
        &mut self,
        transport: &Transport,
        request: &[u8],
        keep: Keep<'_>,
    ) -> Result<(Reply, bool), Outcome> {
        let request = translate(transport.authority(), request).ok_or(Outcome::IoError)?;
        self.sender.ready().await.map_err(|_| Outcome::IoError)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|_| Outcome::IoError)?;
        let (head, body) = response.into_parts();
        let mut reply = Reply {
            status: head.status.as_u16(),
            ..Reply::default()
        };
        for (name, value) in &head.headers {
            let Ok(value) = value.to_str() else { continue };
            if let Some(cookie) = keep.cookie
                && name == hyper::header::SET_COOKIE
                && reply
                    .cookie
                    .as_deref()
                    .is_none_or(|pair| pair.ends_with('='))
            {
                if let Some(pair) = cookie_pair(value, cookie) {
                    reply.cookie = Some(pair);
                }
            } else if let Some(wanted) = keep.header
                && name.as_str().eq_ignore_ascii_case(wanted)
                && reply.header.is_none()
            {
                reply.header = Some(value.trim().to_owned());
            }
        }
        // The body is read to its end either way: an unread stream would
        // hold the connection's flow-control window.
        let body = body.collect().await.map_err(|_| Outcome::IoError)?;
        if keep.body {
            reply.body = body.to_bytes().to_vec();
        }
        Ok((reply, false))
    }
}

/// The HTTP/1.1 request text as an HTTP/2 request to `authority`.
fn translate(authority: &str, text: &[u8]) -> Option<hyper::Request<Full<Bytes>>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = parsed.parse(text).ok()? else {
        return None;
    };
    let mut builder = hyper::Request::builder()
        .method(parsed.method?)
        .uri(format!("https://{authority}{}", parsed.path?))
        .version(hyper::Version::HTTP_2);
    for header in parsed.headers.iter() {
        if !DROPPED.iter().any(|d| header.name.eq_ignore_ascii_case(d)) {
            builder = builder.header(header.name, header.value);
        }
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(&text[head_len..])))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_text_becomes_an_http2_request_without_connection_headers() {
        let text = b"POST /login HTTP/1.1\r\nHost: app.test:8443\r\nConnection: keep-alive\r\n\
                     Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let request = translate("app.test:8443", text).expect("translated");
        assert_eq!(request.method(), hyper::Method::POST);
        assert_eq!(request.uri(), "https://app.test:8443/login");
        assert_eq!(request.version(), hyper::Version::HTTP_2);
        assert!(request.headers().get("host").is_none());
        assert!(request.headers().get("connection").is_none());
        assert_eq!(
            request.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
    }
}
