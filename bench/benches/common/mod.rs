//! Set-up shared by the benchmarks: test keys, token schemes, a Redis.

#![allow(dead_code)]

use authscale_auth::{Algorithm, TokenConfig, TokenKeyConfig, TokenScheme, User};
use authscale_testkit::{RedisServer, fixtures_dir};

pub fn key(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join("keys").join(name)).expect("fixture key")
}

/// A token scheme for `alg` with the project's test keys.
pub fn scheme(alg: Algorithm) -> TokenScheme {
    let source = authscale_bench::keys::key_source(alg, key);
    TokenScheme::new(TokenConfig::new(
        alg,
        vec![TokenKeyConfig {
            kid: "bench".into(),
            source,
        }],
    ))
    .expect("scheme")
}

pub fn user() -> User {
    User {
        index: 42,
        name: "user42".into(),
    }
}

/// A Redis for the benchmarks that need one, or None with a clear message.
pub fn redis(bench: &str) -> Option<RedisServer> {
    if RedisServer::available() {
        Some(RedisServer::start())
    } else {
        eprintln!(
            "{bench}: skipped the Redis benchmarks: redis-server not found (run scripts/setup.sh)"
        );
        None
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
