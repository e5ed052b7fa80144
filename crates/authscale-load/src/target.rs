//! The target URL (`Target`), resolved and checked against the loopback-only rule.

use std::net::SocketAddr;

use crate::{LoadError, Target};

/// Parses `http://HOST[:PORT][/]` and resolves HOST. Refuses addresses
/// outside 127.0.0.0/8 and ::1 unless `allow_remote`.
pub async fn resolve_target(url: &str, allow_remote: bool) -> Result<Target, LoadError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        LoadError::Invalid(format!(
            "--target {url:?} must start with http:// (https is not supported)"
        ))
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(LoadError::Invalid(format!(
            "--target {url:?} must be a base URL like http://127.0.0.1:8000 (no path)"
        )));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&with_port)
        .await
        .map_err(|e| LoadError::Resolve(authority.to_owned(), e.to_string()))?
        .collect();
    let addr = *addrs
        .first()
        .ok_or_else(|| LoadError::Resolve(authority.to_owned(), "no address".into()))?;
    if !allow_remote && let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(LoadError::Remote(remote.to_string()));
    }
    Ok(Target {
        url: url.to_owned(),
        host: authority.to_owned(),
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_targets_resolve_and_others_are_refused() {
        let t = resolve_target("http://127.0.0.1:8000", false)
            .await
            .expect("loopback");
        assert_eq!(t.addr, "127.0.0.1:8000".parse().expect("addr"));
        let t = resolve_target("http://localhost:9/", false)
            .await
            .expect("localhost");
        assert!(t.addr.ip().is_loopback());
        assert!(matches!(
            resolve_target("http://192.0.2.1:80", false).await,
            Err(LoadError::Remote(_))
        ));
        assert!(resolve_target("http://192.0.2.1:80", true).await.is_ok());
        for bad in [
            "https://127.0.0.1",
            "127.0.0.1:80",
            "http://127.0.0.1:80/path",
            "http://",
        ] {
            assert!(
                matches!(resolve_target(bad, false).await, Err(LoadError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
