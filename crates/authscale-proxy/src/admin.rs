//! The admin endpoint, on its own loopback listener: read and replace the
//! upstream set, and the proxy's metrics.
//!
//! - `GET /upstreams`: JSON list with health and counters;
//! - `PUT /upstreams`: JSON array of "host:port" strings, the new set;
//! - `GET /policy`, `PUT /policy` (a JSON string): the balancing policy;
//! - `GET /metrics`: Prometheus text; `GET /healthz`.

use std::net::SocketAddr;
use std::sync::Arc;

use authscale_http::respond::{self, Body};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::Proxy;
use crate::upstreams::FailureKind;

const MAX_BODY: usize = 64 * 1024;

/// The admin endpoint of one proxy.
#[derive(Debug)]
pub struct Admin {
    proxy: Arc<Proxy>,
}

impl Admin {
    pub fn new(proxy: Arc<Proxy>) -> Admin {
        Admin { proxy }
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
