//! Revocation latency: after a user logs out, how long until every node
//! refuses the credential. Measured by probing each node directly (not
//! through the proxy) right after the logout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;

use authscale_schema::{AuthMode, Revocation};

use crate::http;

/// Logs `user` in through the proxy, makes one request on every node (so a
/// node cache holds the session), logs out, then probes every node until
/// all refuse or `window` passes.
pub async fn probe(
    mode: AuthMode,
    proxy: SocketAddr,
    nodes: &[SocketAddr],
    seed: u64,
    user: u64,
    window: Duration,
) -> anyhow::Result<Revocation> {
    let password = authscale_auth::Directory::new(seed, u64::MAX).password(user);
    let body =
        serde_json::json!({ "user": authscale_auth::Directory::name(user), "password": password })
            .to_string();
    // Sticky sessions are pinned by a stable client cookie; send it everywhere.
    let client = format!("uid={user}");
    let login = http::send(proxy, "POST", "/login", &[("Cookie", &client)], &body).await?;
    anyhow::ensure!(
        login.status == 200,
        "{mode}: the probe's login answered {}: {}",
        login.status,
        login.body
    );
    let (header, value, expires_in) =
        match login.header("set-cookie").and_then(|c| c.split(';').next()) {
            Some(pair) => ("Cookie", format!("{client}; {pair}"), None),
            None => {
                let token: serde_json::Value =
                    serde_json::from_str(&login.body).context("login body")?;
                let token = token["access_token"]
                    .as_str()
                    .context("no session cookie and no access token")?
                    .to_owned();
                let expires =
                    token_expiry(&token).map(|exp| exp.saturating_sub(authscale_auth::unix_now()));
                ("Authorization", format!("Bearer {token}"), expires)
            }
        };
    let credential = [("Cookie", client.as_str()), (header, value.as_str())];
    let credential: &[(&str, &str)] = if header == "Cookie" {
        &credential[1..]
    } else {
        &credential
    };
    let mut accepted_before = 0;
    for node in nodes {
        if http::send(*node, "GET", "/api/me", credential, "")
            .await?
            .status
            == 200
        {
            accepted_before += 1;
        }
    }
    let logout = http::send(proxy, "POST", "/logout", credential, "").await?;
    anyhow::ensure!(
        logout.status == 204,
        "{mode}: the probe's logout answered {}",
        logout.status
    );
    let revoked = Instant::now();
    let mut refused: Vec<Option<f64>> = vec![None; nodes.len()];
    while revoked.elapsed() < window && refused.iter().any(Option::is_none) {
        for (i, node) in nodes.iter().enumerate() {
            if refused[i].is_none()
                && http::send(*node, "GET", "/api/me", credential, "")
                    .await?
                    .status
                    == 401
            {
                refused[i] = Some(revoked.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let latency_ms = refused
        .iter()
        .try_fold(0.0f64, |max, r| r.map(|ms| max.max(ms)));
    Ok(Revocation {
        mode,
        nodes: nodes.len() as u32,
        accepted_before,
        latency_ms,
        per_node_ms: refused,
        window_ms: window.as_secs_f64() * 1000.0,
        token_expires_in_s: expires_in,
    })
}

/// The `exp` claim of a JWT, read without verification (the nodes verify).
fn token_expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["exp"].as_u64()
}
