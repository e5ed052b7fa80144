//! The target URL (`Target`), resolved and checked against the loopback-only rule.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{LoadError, Target, Tls};

/// Parses `http[s]://HOST[:PORT][/]` and resolves HOST. Refuses addresses
/// outside 127.0.0.0/8 and ::1 unless `allow_remote`. An `https://` target
/// trusts the system's roots and speaks HTTP/1.1 until [`TlsOptions`] say
/// otherwise.
pub async fn resolve_target(url: &str, allow_remote: bool) -> Result<Target, LoadError> {
    let (rest, default_port, secure) = if let Some(rest) = url.strip_prefix("http://") {
        (rest, 80, false)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (rest, 443, true)
    } else {
        return Err(LoadError::Invalid(format!(
            "--target {url:?} must start with http:// or https://"
        )));
    };
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
        format!("{authority}:{default_port}")
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&with_port)
        .await
        .map_err(|e| LoadError::Resolve(authority.to_owned(), e.to_string()))?
        .collect();
    let addr = *addrs
        .first()
        .ok_or_else(|| LoadError::Resolve(authority.to_owned(), "no address".into()))?;
    if !allow_remote && let Some(remote) = addrs.iter().find(|a| !is_loopback(a)) {
        return Err(LoadError::Remote(remote.to_string()));
    }
    let tls = secure.then(|| Tls {
        server_name: server_name(authority),
        ca_file: None,
        insecure: false,
        http2: false,
    });
    Ok(Target {
        url: url.to_owned(),
        host: authority.to_owned(),
        addr,
        tls,
    })
}

/// Plain HTTP to `addr`, a loopback address the caller knows (a node or
/// proxy it started): no lookup. Any other address is refused, as
/// [`resolve_target`] refuses it without `allow_remote`.
pub fn loopback_target(addr: SocketAddr) -> Result<Target, LoadError> {
    if !is_loopback(&addr) {
        return Err(LoadError::Remote(addr.to_string()));
    }
    Ok(Target {
        url: format!("http://{addr}"),
        host: addr.to_string(),
        addr,
        tls: None,
    })
}

/// The loopback rule: 127.0.0.0/8 and ::1, also IPv4-mapped
/// (`::ffff:127.0.0.1`).
fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The host of an authority, without its port or an IPv6 address's brackets.
fn server_name(authority: &str) -> String {
    if let Some(inner) = authority.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner).to_owned();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
        _ => authority.to_owned(),
    }
}

/// The TLS settings of `load` and `[external]`: each refused for an
/// `http://` target, where it would silently do nothing.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (a test service only; said loudly).
    pub insecure: bool,
    /// Offer HTTP/2 by ALPN.
    pub http2: bool,
}

impl TlsOptions {
    pub fn apply(self, target: &mut Target) -> Result<(), LoadError> {
        let Some(tls) = target.tls.as_mut() else {
            let given = [
                (self.ca_file.is_some(), "--ca-file"),
                (self.insecure, "--insecure"),
                (self.http2, "--http2"),
            ];
            return match given.iter().find(|(on, _)| *on) {
                Some((_, flag)) => Err(LoadError::Invalid(format!(
                    "{flag} applies to https:// targets; {} is http://",
                    target.url
                ))),
                None => Ok(()),
            };
        };
        if self.insecure && self.ca_file.is_some() {
            return Err(LoadError::Invalid(
                "--insecure and --ca-file contradict each other: --insecure checks no certificate"
                    .into(),
            ));
        }
        if let Some(file) = &self.ca_file
            && let Err(e) = std::fs::metadata(file)
        {
            return Err(LoadError::Invalid(format!(
                "--ca-file {}: {e}",
                file.display()
            )));
        }
        tls.ca_file = self.ca_file;
        tls.insecure = self.insecure;
        tls.http2 = self.http2;
        Ok(())
    }
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
        // A known address: the same target without a lookup, and the
        // same refusal.
        let known = loopback_target("127.0.0.1:8000".parse().expect("addr")).expect("loopback");
        let resolved = resolve_target("http://127.0.0.1:8000", false)
            .await
            .expect("loopback");
        assert_eq!(
            (known.url, known.host, known.addr, known.tls),
            (resolved.url, resolved.host, resolved.addr, resolved.tls)
        );
        assert!(matches!(
            loopback_target("192.0.2.1:80".parse().expect("addr")),
            Err(LoadError::Remote(_))
        ));
        // An IPv4-mapped address is what it maps: loopback or not.
        let mapped = |ip: &str| loopback_target(format!("[::ffff:{ip}]:80").parse().expect("addr"));
        assert!(mapped("127.0.0.1").is_ok());
        assert!(matches!(mapped("10.0.0.1"), Err(LoadError::Remote(_))));
        for bad in [
            "ftp://127.0.0.1",
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

    #[tokio::test]
    async fn https_targets_name_their_host_and_default_to_443() {
        let t = resolve_target("https://localhost", false)
            .await
            .expect("https");
        assert_eq!(t.addr.port(), 443);
        assert_eq!(t.host, "localhost");
        assert_eq!(
            t.tls.as_ref().map(|tls| tls.server_name.as_str()),
            Some("localhost")
        );
        let t = resolve_target("https://[::1]:8443/", false)
            .await
            .expect("ipv6");
        assert_eq!(t.addr.port(), 8443);
        assert_eq!(t.tls.map(|tls| tls.server_name), Some("::1".to_owned()));
        let plain = resolve_target("http://127.0.0.1:8000", false)
            .await
            .expect("http");
        assert!(plain.tls.is_none());
    }

    #[tokio::test]
    async fn tls_settings_are_refused_where_they_would_do_nothing() {
        let insecure = TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        };
        let missing_ca = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        for (url, options, says) in [
            (
                "http://127.0.0.1:8000",
                insecure,
                "--insecure applies to https://",
            ),
            (
                "https://127.0.0.1:8443",
                missing_ca,
                "--ca-file /nonexistent/ca.pem",
            ),
        ] {
            let mut target = resolve_target(url, false).await.expect(url);
            let err = options.apply(&mut target).expect_err(url);
            assert!(err.to_string().contains(says), "{url}: {err}");
        }
        let mut secure = resolve_target("https://127.0.0.1:8443", false)
            .await
            .expect("https");
        TlsOptions {
            http2: true,
            ..TlsOptions::default()
        }
        .apply(&mut secure)
        .expect("http2 over https");
        assert!(secure.tls.is_some_and(|tls| tls.http2));
    }
}
