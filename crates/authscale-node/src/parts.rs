//! The pieces of HTTP a node's handlers share: which route a path is,
//! the cookie header, reading a login body (413/415/408/400 for what is
//! wrong), and the answers' common shapes.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use authscale_http::respond::{self, Body};

/// The largest login body accepted; anything larger is answered 413.
pub(crate) const MAX_LOGIN_BODY: usize = 4096;

#[derive(Deserialize)]
pub(crate) struct LoginRequest {
    pub user: String,
    pub password: String,
}

pub(crate) fn cookie_header<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
}

pub(crate) fn user_body(user: &str, node: &str) -> String {
    serde_json::json!({ "user": user, "node": node }).to_string()
}

/// 429 with `Retry-After` in whole seconds, rounded up.
pub(crate) fn too_many_failures(wait: std::time::Duration) -> Response<Body> {
    let mut response = respond::error(
        StatusCode::TOO_MANY_REQUESTS,
        authscale_auth::Reason::TooManyFailures.as_str(),
    );
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// Credentials must not be cached by any intermediary (RFC 6749 §5.1).
pub(crate) fn no_store(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// An answer given without reading the whole request body: the rest of
/// the body is still on the connection, so it closes (and says so, so a
/// proxy does not send its next request down a connection being closed).
fn closing(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// Reads and parses a login body, answering 413/415/400 for what is wrong,
/// and 408 when the client sends no body bytes for `timeout`.
pub(crate) async fn read_login<B>(
    headers: &hyper::HeaderMap,
    body: B,
    timeout: std::time::Duration,
) -> Result<LoginRequest, Response<Body>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let json = content_type
            .to_str()
            .map(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            })
            .unwrap_or(false);
        if !json {
            return Err(closing(respond::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/json",
            )));
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_LOGIN_BODY as u64) {
        return Err(closing(respond::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "login body over 4096 bytes",
        )));
    }
    let body = authscale_http::TimedBody::new(Box::pin(body), timeout);
    let bytes = match Limited::new(body, MAX_LOGIN_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(closing(respond::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "login body over 4096 bytes",
            )));
        }
        Err(e) if e.is::<authscale_http::BodyTimeout>() => {
            return Err(closing(respond::error(
                StatusCode::REQUEST_TIMEOUT,
                &e.to_string(),
            )));
        }
        Err(e) => {
            return Err(closing(respond::error(
                StatusCode::BAD_REQUEST,
                &format!("unreadable body: {e}"),
            )));
        }
    };
    serde_json::from_slice::<LoginRequest>(&bytes).map_err(|e| {
        respond::error(
            StatusCode::BAD_REQUEST,
            &format!("expected JSON {{\"user\": string, \"password\": string}}: {e}"),
        )
    })
}
