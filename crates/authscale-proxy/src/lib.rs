//! The reverse proxy in front of the nodes (round-robin by default; least
//! connections, or a cookie's hash for sticky sessions): HTTP/1.1 on both
//! sides, per-upstream keep-alive pools, streamed bodies with a progress
//! deadline and a size limit, errors classified by side, passive and active
//! health checks, one retry of idempotent requests, and an admin endpoint
//! (optionally token-protected) that changes the upstream set without a
//! restart. Plain requests are read and answered by the proxy's own front
//! end; hyper serves every other one.

mod admin;
mod balance;
mod client;
mod config;
mod forward;
mod front;
mod handler;
mod headers;
mod health;
mod metrics;
mod upload;
mod upstreams;

pub use admin::Admin;
pub use admin::AdminAccess;
pub use authscale_http::{ServerLimits, bind, serve, serve_with};
pub use balance::Policy;
pub use client::{ClientBody, Relay};
pub use config::{ConfigError, ProxyConfig};
pub use forward::Proxy;
pub use health::run_health_checks;
pub use upstreams::Upstreams;
