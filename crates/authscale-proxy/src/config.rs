//! The proxy's validated configuration.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Policy;

/// How the proxy balances and how patient it is.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub policy: Policy,
    /// The cookie whose value pins a client under `Policy::CookieHash`.
    pub cookie_name: String,
    /// How long an upstream that refused or reset a connection is skipped.
    pub cooldown: Duration,
    /// Bound on opening a connection to an upstream.
    pub connect_timeout: Duration,
    /// Bound on waiting for an upstream's response head once it has the
    /// whole request (or since it last took body bytes); 504 beyond it.
    pub upstream_timeout: Duration,
    /// A request body gets 408 once waiting on the client totals this long
    /// plus one second per KiB it has sent: a stall this long, or a drip
    /// slower than 1 KiB/s.
    pub body_timeout: Duration,
    /// A client keep-alive connection with no new request for this long
    /// is closed.
    pub idle_timeout: Duration,
    /// The largest request body forwarded; 413 beyond it.
    pub max_body: usize,
    /// How long an idle pooled upstream connection is kept. Must be shorter
    /// than the upstreams' own idle timeout, or a request can be sent on a
    /// connection the upstream is closing that very moment.
    pub upstream_idle_timeout: Duration,
    /// Probe every upstream's `/healthz` this often; None: passive only.
    pub health_interval: Option<Duration>,
    /// Permit upstreams outside the loopback range.
    pub allow_remote: bool,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            policy: Policy::RoundRobin,
            cookie_name: "sid".into(),
            cooldown: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            upstream_timeout: Duration::from_secs(30),
            // A phone on a weak link stalls for seconds, not half a minute.
            body_timeout: Duration::from_secs(30),
            idle_timeout: authscale_http::ServerLimits::default().idle_timeout,
            max_body: 8 * 1024 * 1024,
            // Half the nodes' default idle timeout.
            upstream_idle_timeout: Duration::from_secs(30),
            health_interval: None,
            allow_remote: false,
        }
    }
}

/// A configuration or upstream list that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("upstream {0} is not a loopback address; pass --allow-remote to proxy to other hosts")]
    Remote(SocketAddr),
    #[error(
        "upstream {0} is one of this proxy's own listeners (proxy or admin): its requests would come back to it"
    )]
    Own(SocketAddr),
    #[error("upstream {0} is listed twice")]
    Duplicate(SocketAddr),
    #[error("{0}")]
    Invalid(String),
}

/// Checks an upstream list against the configuration.
pub(crate) fn check_upstreams(addrs: &[SocketAddr], allow_remote: bool) -> Result<(), ConfigError> {
    for (i, addr) in addrs.iter().enumerate() {
        if addr.port() == 0 {
            return Err(ConfigError::Invalid(format!(
                "upstream {addr}: port 0 is no address to connect to"
            )));
        }
        // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is its IPv4 address.
        if !allow_remote && !addr.ip().to_canonical().is_loopback() {
            return Err(ConfigError::Remote(*addr));
        }
        if addrs[..i].contains(addr) {
            return Err(ConfigError::Duplicate(*addr));
        }
    }
    Ok(())
}
