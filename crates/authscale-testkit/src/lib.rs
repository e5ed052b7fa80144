//! Test support shared by every authscale crate: a real `redis-server` on a
//! free loopback port, a real `authscale` child process, and a small HTTP
//! client. Everything started here is stopped when its handle is dropped.

mod client;
mod process;
mod redis;
mod tls;

pub use client::{Reply, get, raw_exchange, request};
pub use process::{ChildProcess, free_port};
pub use redis::{RedisCluster, RedisServer, unrelated_ca_pem};
pub use tls::{Seen, TLS_SESSION, TLS_TOKEN, TlsServer};

/// The folder with the test keys (`keys/`).
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
