//! Test support shared by every authscale crate: a real `redis-server` on a
//! free loopback port, a real `authscale` child process, servers of the
//! test's own on free ports, and a small HTTP client. Everything started
//! here is stopped when its handle is dropped.

mod client;
mod process;
mod redis;
mod serve;
mod tls;

pub use client::{Reply, bearer, get, login, raw_exchange, request, session_cookie};
pub use process::{ChildProcess, free_port};
pub use redis::{RedisCluster, RedisServer, unrelated_ca_pem};
pub use serve::{answering_server, silent_server, spawn_on_free_port};
pub use tls::{Seen, TLS_SESSION, TLS_TOKEN, TlsServer};

/// Says that a test did not run and why (`reason`); fails instead where the
/// environment variable `require` is `1`, as CI sets it.
pub fn skip_unless_required(require: &str, reason: &str) {
    assert!(
        std::env::var(require).as_deref() != Ok("1"),
        "{require}=1 but {reason}"
    );
    eprintln!("NOT run (set {require}=1 to fail instead): {reason}");
}

/// The folder with the test keys (`keys/`).
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
