//! Waiting for a target to answer 200 on a path, over the same transport
//! (TLS and its trust settings included) that its load will use.

use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::reply::Keep;
use crate::transport::Transport;
use crate::{LoadError, Target};

/// Polls `GET path` on `target` until it answers 200, for at most `within`.
pub async fn wait_ready(target: &Target, path: &str, within: Duration) -> Result<(), LoadError> {
    let transport = Transport::new(target)?;
    let _protocol = transport.check(target, Duration::from_secs(10)).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n\r\n",
        target.host
    );
    let deadline = Instant::now() + within;
    let mut conn = Conn::new();
    loop {
        let bound = (Instant::now() + Duration::from_secs(5)).min(deadline);
        let last = match conn
            .exchange(&transport, request.as_bytes(), Keep::NOTHING, bound)
            .await
        {
            Ok(reply) if reply.status == 200 => return Ok(()),
            Ok(reply) => format!("status {}", reply.status),
            Err(outcome) => format!("{outcome:?}"),
        };
        if Instant::now() >= deadline {
            return Err(LoadError::Invalid(format!(
                "{}{path} not ready after {within:?}: {last}",
                target.url.trim_end_matches('/')
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
