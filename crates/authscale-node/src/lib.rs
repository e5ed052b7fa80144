//! One authscale node: an HTTP/1.1 server with a login, a protected route
//! that does a calibrated amount of CPU work, logout, health, readiness and
//! Prometheus metrics, in one of the auth modes.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so the
//! binary and the tests run the very same code.

mod config;
mod metrics;
mod parts;
mod route;
mod routes;
mod sessions;
mod work;

pub use authscale_http::{ServerLimits, bind, serve, serve_with};
pub use config::{AuthMode, NodeConfig, NodeError};
pub use metrics::Metrics;
pub use routes::Node;
pub use work::Work;
