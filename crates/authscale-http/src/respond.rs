//! Building responses: every answer is JSON with a stable shape, errors carry
//! a machine-readable reason.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

pub type Body = Full<Bytes>;

pub fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `{"error": <status reason>, "reason": <why>}`.
pub fn error(status: StatusCode, reason: &str) -> Response<Body> {
    let body = serde_json::json!({
        "error": status.canonical_reason().unwrap_or("error"),
        "reason": reason,
    });
    json(status, body.to_string())
}

/// 503 with `Retry-After`: the store is down or slow; the client may retry.
pub fn store_unavailable() -> Response<Body> {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// 405 naming the methods the route takes.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// 401 with the challenge of the node's scheme (RFC 6750 §3 for bearer
/// tokens: no error code when no credential was sent).
pub fn unauthorized(challenge: HeaderValue, reason: &str) -> Response<Body> {
    let mut response = error(StatusCode::UNAUTHORIZED, reason);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}
