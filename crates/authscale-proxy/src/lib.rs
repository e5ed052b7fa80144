//! The round-robin reverse proxy in front of the nodes: HTTP/1.1 on both
//! sides, per-upstream keep-alive pools, streamed bodies, passive and
//! active health checks, one retry of idempotent requests, and an admin
//! endpoint that changes the upstream set without a restart.

mod admin;
mod balance;
mod config;
mod forward;
mod headers;
mod health;
mod metrics;
mod upstreams;

pub use admin::Admin;
pub use authscale_http::serve;
pub use balance::Policy;
pub use config::{ConfigError, ProxyConfig};
pub use forward::Proxy;
pub use health::run_health_checks;
pub use upstreams::Upstreams;
