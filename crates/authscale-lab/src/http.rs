//! The few HTTP calls the lab makes: readiness, the proxy's admin
//! endpoint, the revocation probe and scraping an external cluster's
//! `/metrics`. They go through hyper's client (as the proxy's do), so any
//! HTTP/1.1 framing a server picks, chunked included, is decoded; each call
//! opens its own connection and is bounded in time and size.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long a whole call (connect, request, the full answer) may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take: a node that is not listening yet refuses
/// at once, so this only bounds an unreachable address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read (a /metrics page is a few tens of kB).
const MAX_BODY: usize = 16 << 20;

/// An answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// Sends one request; returns the status and the body.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let answer = send(addr, method, path, &[], body).await?;
    Ok((answer.status, answer.body))
}

/// Sends one request with extra headers.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<Answer> {
    let what = || format!("{method} http://{addr}{path}");
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).with_context(what)?)
        .uri(format!("http://{addr}{path}"))
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(
            HeaderName::from_bytes(name.as_bytes()).with_context(what)?,
            HeaderValue::from_str(value).with_context(what)?,
        );
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .with_context(what)?;
    let exchange = async {
        let response = client().request(request).await?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the body: {e}"))?
            .to_bytes();
        Ok::<_, anyhow::Error>(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .with_context(|| format!("{} timed out after {TIMEOUT:?}", what()))?
        .with_context(what)
}

/// A client that keeps no idle connection: the lab kills and restarts
/// processes on the same address, and a pooled connection to a killed one
/// would only fail the next call.
fn client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// Waits until `GET path` answers 200, up to `within`.
pub async fn wait_ok(addr: SocketAddr, path: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match call(addr, "GET", path, "").await {
            Ok((200, _)) => return Ok(()),
            result if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("http://{addr}{path} not ready after {within:?}: {result:?}");
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests;
