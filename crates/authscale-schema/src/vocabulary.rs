//! The closed sets of authscale, each defined once: auth modes (and what
//! each one needs from the rest of the system), the measured components
//! and a run's status. Serde names are the kebab-case strings run.json has
//! always used; with the `clap` feature, the CLI's flags list exactly them.

use serde::{Deserialize, Serialize};

use crate::load::UserAuth;

/// Which auth scheme protects `/api/me`. Everything outside the node asks
/// a mode what it needs through the methods below; adding a mode means
/// answering them here, and serving it in the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// No authentication: the upper bound of throughput.
    None,
    /// A session id in a cookie, looked up in the shared store per request.
    Session,
    /// A JWT in the `Authorization` header, verified locally per request.
    Token,
    /// Session lookups cached on each node for a bounded time: revocation
    /// reaches the other nodes within the cache TTL.
    SessionCached,
    /// A JWT verified locally plus a denylist check in the store, keyed by
    /// (iss, jti): logout revokes at once.
    TokenDenylist,
    /// Sessions in the node's own memory; the proxy pins each user to one
    /// node by cookie. No shared store: sessions die with their node.
    Sticky,
}

/// How a proxy in front of the nodes spreads requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ProxyPolicy {
    /// Each request goes to the next healthy upstream in turn.
    RoundRobin,
    /// The healthy upstream with the fewest requests in flight.
    LeastConn,
    /// A client's cookie value always maps to the same upstream.
    CookieHash,
}

/// What a logout takes away, and when the other nodes notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revokes {
    /// There is no credential to revoke.
    NoCredential,
    /// Every node refuses the credential right after the logout.
    AtOnce,
    /// Other nodes accept it until their cached lookup expires.
    WithinCacheTtl,
    /// Nothing is revoked: the credential is valid until it expires.
    AtExpiry,
}

impl AuthMode {
    /// Every mode, in the order they are documented.
    pub const ALL: [AuthMode; 6] = [
        AuthMode::None,
        AuthMode::Session,
        AuthMode::Token,
        AuthMode::SessionCached,
        AuthMode::TokenDenylist,
        AuthMode::Sticky,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Session => "session",
            AuthMode::Token => "token",
            AuthMode::SessionCached => "session-cached",
            AuthMode::TokenDenylist => "token-denylist",
            AuthMode::Sticky => "sticky",
        }
    }

    /// The credential a client holds: a cookie, a bearer token, or none.
    pub fn credential(self) -> UserAuth {
        match self {
            AuthMode::None => UserAuth::None,
            AuthMode::Session | AuthMode::SessionCached | AuthMode::Sticky => UserAuth::Session,
            AuthMode::Token | AuthMode::TokenDenylist => UserAuth::Token,
        }
    }

    /// Whether clients authenticate at all.
    pub fn has_credential(self) -> bool {
        self.credential() != UserAuth::None
    }

    /// Whether clients hold a session cookie.
    pub fn uses_cookie(self) -> bool {
        self.credential() == UserAuth::Session
    }

    /// Whether the node issues and verifies JWTs (it needs a key).
    pub fn issues_tokens(self) -> bool {
        self.credential() == UserAuth::Token
    }

    /// Whether the nodes need the shared store.
    pub fn uses_store(self) -> bool {
        match self {
            AuthMode::Session | AuthMode::SessionCached | AuthMode::TokenDenylist => true,
            AuthMode::None | AuthMode::Token | AuthMode::Sticky => false,
        }
    }

    /// Whether nodes cache session lookups (they need a cache TTL).
    pub fn caches_sessions(self) -> bool {
        self.revocation() == Revokes::WithinCacheTtl
    }

    /// How the proxy must balance: sticky sessions live on one node, so
    /// the proxy pins each user by a client cookie.
    pub fn proxy_policy(self) -> ProxyPolicy {
        match self {
            AuthMode::Sticky => ProxyPolicy::CookieHash,
            _ => ProxyPolicy::RoundRobin,
        }
    }

    /// Whether clients must send a stable `uid` cookie for the proxy to
    /// pin them by (the login then lands on the node that keeps the session).
    pub fn client_cookie(self) -> bool {
        self.proxy_policy() == ProxyPolicy::CookieHash
    }

    /// What a logout revokes.
    pub fn revocation(self) -> Revokes {
        match self {
            AuthMode::None => Revokes::NoCredential,
            AuthMode::Session | AuthMode::TokenDenylist | AuthMode::Sticky => Revokes::AtOnce,
            AuthMode::SessionCached => Revokes::WithinCacheTtl,
            AuthMode::Token => Revokes::AtExpiry,
        }
    }
}

impl ProxyPolicy {
    /// Every policy, in declaration order.
    pub const ALL: [ProxyPolicy; 3] = [
        ProxyPolicy::RoundRobin,
        ProxyPolicy::LeastConn,
        ProxyPolicy::CookieHash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProxyPolicy::RoundRobin => "round-robin",
            ProxyPolicy::LeastConn => "least-conn",
            ProxyPolicy::CookieHash => "cookie-hash",
        }
    }
}

/// A measured part of the system: its CPU is recorded per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    // Declared in alphabetical order: maps keyed by a component serialize
    // in the same order as when their keys were strings.
    /// The load generator.
    Load,
    /// All nodes together.
    Nodes,
    Proxy,
    Store,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Nodes,
        Component::Store,
        Component::Proxy,
        Component::Load,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Load => "load",
            Component::Nodes => "nodes",
            Component::Proxy => "proxy",
            Component::Store => "store",
        }
    }
}

/// Where a sweep stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Running,
    Complete,
    /// Stopped by the user; the finished steps are kept.
    Interrupted,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
}

macro_rules! display_and_parse {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<$t, String> {
                serde_json::from_value(serde_json::Value::String(s.to_owned()))
                    .map_err(|e| format!("{s:?}: {e}"))
            }
        }
    )*};
}

display_and_parse!(AuthMode, ProxyPolicy, Component, RunStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for mode in AuthMode::ALL {
            let json = serde_json::to_string(&mode).expect("json");
            assert_eq!(json, format!("\"{}\"", mode.as_str()));
            assert_eq!(mode.as_str().parse::<AuthMode>(), Ok(mode));
        }
        for c in Component::ALL {
            assert_eq!(c.as_str().parse::<Component>(), Ok(c));
        }
        let error = "cookies".parse::<AuthMode>().expect_err("unknown");
        assert!(error.contains("session-cached"), "{error}");
    }

    #[test]
    fn what_each_mode_needs_is_consistent() {
        for mode in AuthMode::ALL {
            // A mode that caches lookups caches them from the store.
            assert!(!mode.caches_sessions() || mode.uses_store(), "{mode}");
            // Pinning by cookie is only needed when sessions are node-local.
            assert!(!mode.client_cookie() || !mode.uses_store(), "{mode}");
            assert_eq!(
                mode.revocation() == Revokes::NoCredential,
                !mode.has_credential(),
                "{mode}"
            );
        }
    }
}

/// The client library's access path to one Redis server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StoreClient {
    /// One multiplexed, reconnecting connection (redis-rs
    /// `ConnectionManager`): one round trip per command.
    #[default]
    Manager,
    /// A deadpool-redis pool with its default recycling, which sends
    /// `UNWATCH` and `PING` on every checkout.
    Deadpool,
}

impl StoreClient {
    pub const ALL: [StoreClient; 2] = [StoreClient::Manager, StoreClient::Deadpool];

    pub fn as_str(self) -> &'static str {
        match self {
            StoreClient::Manager => "manager",
            StoreClient::Deadpool => "deadpool",
        }
    }
}

impl std::fmt::Display for StoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StoreClient {
    type Err = String;
    fn from_str(s: &str) -> Result<StoreClient, String> {
        StoreClient::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown store client {s:?}: expected manager or deadpool"))
    }
}

/// How a sweep's load reaches the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Through `authscale proxy` (the design's: one address for clients).
    #[default]
    Proxy,
    /// Client-side: the load generator spreads its connections over the
    /// nodes itself, as DNS round-robin, a gRPC client or a service mesh's
    /// sidecar does; no proxy in the path, and none of its CPU.
    Client,
}

impl Balance {
    pub fn is_proxy(&self) -> bool {
        *self == Balance::Proxy
    }
}

impl std::fmt::Display for Balance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Balance::Proxy => "proxy",
            Balance::Client => "client",
        })
    }
}

/// Whether the harness (load generator, proxy) and the system under test
/// (nodes, store) run on separate CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Isolate {
    /// Everything shares every CPU (the default: on the 2-core reference
    /// machine pinning widened the intervals instead of narrowing them).
    #[default]
    None,
    /// Load generator and proxy on some CPUs, nodes and store on the rest
    /// (falls back to none, with the reason recorded, where it cannot).
    Cpuset,
}
