//! The admin endpoint, on its own loopback listener: read and replace the
//! upstream set, and the proxy's metrics.
//!
//! - `GET /upstreams`: JSON list with health and counters;
//! - `PUT /upstreams`: JSON array of "host:port" strings, the new set;
//! - `GET /policy`, `PUT /policy` (a JSON string): the balancing policy;
//! - `GET /metrics`: Prometheus text; `GET /healthz`.
//!
//! Every request must name this endpoint in `Host`: a loopback name or
//! address, or the listener's own address. A page in a browser that a
//! rebound DNS name points at 127.0.0.1 sends its own name and gets 421.
//! With a token configured, every request must also carry
//! `Authorization: Bearer TOKEN` (compared in constant time) or gets 401.

use std::net::SocketAddr;
use std::sync::Arc;

use authscale_http::framing;
use authscale_http::respond::{self, Body};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;

use crate::Proxy;
use crate::upstreams::FailureKind;

const MAX_BODY: usize = 64 * 1024;

/// Who may use the admin endpoint.
#[derive(Clone)]
pub struct AdminAccess {
    /// The address the admin listener is bound to (accepted as `Host`).
    pub addr: SocketAddr,
    /// The bearer token every request must carry; None: no credential.
    pub token: Option<Vec<u8>>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The admin endpoint of one proxy.
#[derive(Debug)]
pub struct Admin {
    proxy: Arc<Proxy>,
    access: AdminAccess,
}

impl Admin {
    pub fn new(proxy: Arc<Proxy>, access: AdminAccess) -> Admin {
        Admin { proxy, access }
    }

    /// Refuses a request that does not name this endpoint or lacks the
    /// token. (A refusal is the common case of no request at all, so its
    /// size does not matter.)
    #[allow(clippy::result_large_err)]
    fn check_access(&self, req: &Request<Incoming>) -> Result<(), Response<Body>> {
        if let Err(reason) = crate::headers::check_host(req.version(), req.headers()) {
            return Err(respond::error(StatusCode::BAD_REQUEST, reason));
        }
        // An absolute-form target names the host, whatever Host says.
        let host = match req.uri().authority() {
            Some(authority) => authority.as_str(),
            None => req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        };
        if !host_is_local(host, self.access.addr) {
            return Err(respond::error(
                StatusCode::MISDIRECTED_REQUEST,
                "Host must be a loopback name or this endpoint's address",
            ));
        }
        let Some(token) = &self.access.token else {
            return Ok(());
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::as_bytes);
        let challenge = HeaderValue::from_static(r#"Bearer realm="authscale-admin""#);
        match presented {
            // Equal lengths are compared without an early exit; only the
            // length can leak, and a random token's length is no secret.
            Some(presented) if bool::from(presented.ct_eq(token)) => Ok(()),
            Some(_) => Err(respond::unauthorized(challenge, "invalid_token")),
            None => Err(respond::unauthorized(challenge, "token_required")),
        }
    }

    fn list(&self) -> Response<Body> {
        let upstreams = self.proxy.upstreams();
        let rows: Vec<serde_json::Value> = upstreams
            .snapshot()
            .iter()
            .map(|u| {
                let failures: serde_json::Map<String, serde_json::Value> = FailureKind::ALL
                    .iter()
                    .map(|k| (k.as_str().to_owned(), u.failures(*k).into()))
                    .collect();
                serde_json::json!({
                    "addr": u.addr.to_string(),
                    "healthy": upstreams.is_healthy(u),
                    "requests": u.requests(),
                    "in_flight": u.in_flight(),
                    "failures": failures,
                })
            })
            .collect();
        respond::json(StatusCode::OK, serde_json::Value::Array(rows).to_string())
    }

    fn policy(&self) -> Response<Body> {
        respond::json(
            StatusCode::OK,
            serde_json::json!({ "policy": self.proxy.policy().as_str() }).to_string(),
        )
    }

    /// `PUT /policy` with a JSON string: `"round-robin"`, `"least-conn"` or `"cookie-hash"`.
    async fn set_policy(&self, body: Incoming) -> Response<Body> {
        let bytes = match Limited::new(body, 1024).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return respond::error(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 KiB"),
        };
        let name: String = match serde_json::from_slice(&bytes) {
            Ok(name) => name,
            Err(e) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    &format!("expected a JSON string: {e}"),
                );
            }
        };
        match name.parse::<crate::Policy>() {
            Ok(policy) => {
                self.proxy.set_policy(policy);
                tracing::info!(policy = policy.as_str(), "policy changed");
                self.policy()
            }
            Err(e) => respond::error(StatusCode::BAD_REQUEST, &e),
        }
    }

    async fn replace(&self, body: Incoming) -> Response<Body> {
        let bytes: Bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return respond::error(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB"),
        };
        let addrs: Vec<String> = match serde_json::from_slice(&bytes) {
            Ok(addrs) => addrs,
            Err(e) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    &format!("expected a JSON array of \"host:port\" strings: {e}"),
                );
            }
        };
        let mut parsed = Vec::with_capacity(addrs.len());
        for addr in &addrs {
            match addr.parse::<SocketAddr>() {
                Ok(a) => parsed.push(a),
                Err(_) => {
                    return respond::error(
                        StatusCode::BAD_REQUEST,
                        &format!("{addr:?} is not an address like 127.0.0.1:8080"),
                    );
                }
            }
        }
        match self.proxy.upstreams().replace(&parsed) {
            Ok(()) => {
                tracing::info!(upstreams = ?parsed, "upstream set replaced");
                self.list()
            }
            Err(e) => respond::error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        }
    }
}

impl authscale_http::Handler for Admin {
    type Body = Body;
    type BodyError = std::convert::Infallible;

    async fn handle(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        if let Err(refusal) = self.check_access(&req) {
            return refusal;
        }
        if let Some(coding) = framing::unimplemented_transfer_coding(req.headers()) {
            // The body is not read: the connection cannot be reused.
            let mut response = respond::error(StatusCode::NOT_IMPLEMENTED, &coding.to_string());
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/upstreams") => self.list(),
            (&Method::PUT, "/upstreams") => self.replace(req.into_body()).await,
            (_, "/upstreams") => respond::method_not_allowed("GET, PUT"),
            (&Method::GET, "/policy") => self.policy(),
            (&Method::PUT, "/policy") => self.set_policy(req.into_body()).await,
            (_, "/policy") => respond::method_not_allowed("GET, PUT"),
            (&Method::GET, "/metrics") => respond::text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.proxy.render_metrics(),
            ),
            (&Method::GET, "/healthz") => {
                respond::json(StatusCode::OK, r#"{"status":"ok"}"#.into())
            }
            (_, "/metrics" | "/healthz") => respond::method_not_allowed("GET"),
            _ => respond::error(StatusCode::NOT_FOUND, "no_such_route"),
        }
    }
}

/// Whether `host` (a `Host` value, port optional) is a loopback name or
/// address, or the admin listener's own address.
fn host_is_local(host: &str, own: SocketAddr) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == own.ip(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::host_is_local;

    #[test]
    fn only_loopback_and_own_hosts_are_local() {
        let own = "10.1.2.3:9000".parse().expect("addr");
        for host in [
            "localhost",
            "LOCALHOST:9000",
            "127.0.0.1",
            "127.0.0.1:9000",
            "[::1]:9000",
            "[::1]",
            "10.1.2.3:9000",
        ] {
            assert!(host_is_local(host, own), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9000",
            "localhost.evil.example",
            "10.1.2.4:9000",
            "",
            "[::2]:1",
        ] {
            assert!(!host_is_local(host, own), "{host}");
        }
    }
}
