//! The node's validated configuration and its startup errors.

use std::time::Duration;

use authscale_auth::{ConfigError, RedisStoreConfig, SessionConfig, ThrottleConfig, TokenConfig};

/// Which auth scheme protects `/api/me`: the one closed set of modes,
/// defined (with what each needs) in the schema crate.
pub use authscale_schema::AuthMode;

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
    /// A request body gets 408 once waiting on the client totals this long
    /// plus one second per KiB it has sent: a stall this long, or a drip
    /// slower than 1 KiB/s.
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
