//! The node's validated configuration and its startup errors.

use std::time::Duration;

use authscale_auth::{ConfigError, RedisStoreConfig, SessionConfig, ThrottleConfig, TokenConfig};

/// Which auth scheme protects `/api/me`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl AuthMode {
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

    /// Whether the mode needs the shared store.
    pub fn uses_store(self) -> bool {
        matches!(
            self,
            AuthMode::Session | AuthMode::SessionCached | AuthMode::TokenDenylist
        )
    }

    /// Whether clients hold a session cookie (else a bearer token, or nothing).
    pub fn uses_cookie(self) -> bool {
        matches!(
            self,
            AuthMode::Session | AuthMode::SessionCached | AuthMode::Sticky
        )
    }
}

impl std::str::FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<AuthMode, String> {
        match s {
            "none" => Ok(AuthMode::None),
            "session" => Ok(AuthMode::Session),
            "token" => Ok(AuthMode::Token),
            "session-cached" => Ok(AuthMode::SessionCached),
            "token-denylist" => Ok(AuthMode::TokenDenylist),
            "sticky" => Ok(AuthMode::Sticky),
            other => Err(format!(
                "unknown auth mode {other:?}: expected none, session, token, session-cached, token-denylist or sticky"
            )),
        }
    }
}

/// Everything a node needs, validated by [`crate::Node::new`].
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub auth: AuthMode,
    /// Required in the modes that use the shared store.
    pub store: Option<RedisStoreConfig>,
    pub session: SessionConfig,
    /// session-cached: how long a node trusts a cached lookup, and how many
    /// it keeps. sticky: the session capacity of the node's memory.
    pub session_cache_ttl: Duration,
    pub session_capacity: usize,
    /// Required in token mode.
    pub token: Option<TokenConfig>,
    /// Seed and size of the synthetic user directory.
    pub directory_seed: u64,
    pub users: u64,
    /// Failed-login throttling per account (node-local).
    pub login_throttle: ThrottleConfig,
    /// CPU work per protected request, microseconds.
    pub work_us: u64,
    /// How long in-flight requests may take to finish on shutdown.
    pub drain_timeout: Duration,
    /// A client that sends no request-body bytes for this long gets 408.
    pub body_timeout: Duration,
    /// A keep-alive connection with no new request for this long is closed.
    pub idle_timeout: Duration,
    /// A name for this node in responses and metrics.
    pub node_id: String,
}

impl NodeConfig {
    pub fn new(auth: AuthMode) -> NodeConfig {
        NodeConfig {
            auth,
            store: None,
            session: SessionConfig::default(),
            session_cache_ttl: Duration::from_secs(1),
            session_capacity: 100_000,
            token: None,
            directory_seed: 1,
            users: 10_000,
            login_throttle: ThrottleConfig::default(),
            work_us: 0,
            drain_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            idle_timeout: authscale_http::ServerLimits::default().idle_timeout,
            node_id: "node".into(),
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Invalid(String),
}
