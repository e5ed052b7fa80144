//! A minimal HTTP/1.1 client for tests: one connection per request, so
//! every call is independent; plus a raw exchange for malformed input.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request on a fresh connection; panics on transport errors
/// (a test expecting an answer wants to see them).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect to server");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request");
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .expect("response within 30 s")
        .expect("a response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("response body");
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    }
}

/// `GET path` with no extra headers.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"").await
}

/// `POST /login` with the JSON credentials `user` and `password`.
pub async fn login(addr: SocketAddr, user: &str, password: &str) -> Reply {
    let body = format!(r#"{{"user":"{user}","password":"{password}"}}"#);
    let json = [("content-type", "application/json")];
    request(addr, "POST", "/login", &json, body.as_bytes()).await
}

/// The `sid=…` pair of a login reply's Set-Cookie, ready for a Cookie header.
pub fn session_cookie(reply: &Reply) -> String {
    let set_cookie = reply.header("set-cookie").expect("a Set-Cookie header");
    set_cookie
        .split(';')
        .next()
        .expect("a cookie pair")
        .to_owned()
}

/// `Bearer TOKEN`, the Authorization value for a token login reply's
/// access token.
pub fn bearer(reply: &Reply) -> String {
    let token = reply.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    format!("Bearer {token}")
}

/// Writes raw bytes and returns whatever comes back before the server
/// closes the connection or 5 s pass.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect to server");
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}
