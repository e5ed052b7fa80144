//! What the request benchmark and the instruction counts share: logging
//! user42 in through a node's handler, and the protected request it then
//! makes with its credential.

use authscale_node::{AuthMode, Node};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

/// Logs user42 in through the handler and returns the credential header.
pub async fn credential(node: &Node, mode: AuthMode) -> Option<(&'static str, String)> {
    let password = authscale_auth::Directory::new(1, 1000).password(42);
    let body = format!(r#"{{"user":"user42","password":"{password}"}}"#);
    let login = Request::post("/login")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = node.handle(login).await;
    assert_eq!(response.status(), 200, "login in {}", mode.as_str());
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    if mode.uses_cookie() {
        cookie.map(|c| ("cookie", c))
    } else if mode == AuthMode::None {
        None
    } else {
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        Some((
            "authorization",
            format!("Bearer {}", json["access_token"].as_str().expect("token")),
        ))
    }
}

pub fn me(credential: &Option<(&'static str, String)>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/api/me").header("host", "bench");
    if let Some((name, value)) = credential {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(Bytes::new())).expect("request")
}
