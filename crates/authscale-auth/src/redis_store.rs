//! [`SessionStore`] on a real Redis server.
//!
//! Access path: one shared multiplexed connection (redis-rs
//! `ConnectionManager`), not a deadpool pool. A deadpool-redis checkout runs
//! `UNWATCH`+`PING` before the caller's command, a second round trip per
//! request; the multiplexed connection pipelines every node task's commands
//! over one socket and reconnects by itself after an outage. The
//! measurements behind this choice are in ARCHITECTURE.md.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{ConfigError, SessionStore, StoreError};

/// Where the store is and how long a call may take.
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Upper bound on every store call, connection set-up included.
    pub timeout: Duration,
    /// Added before every call: the network distance to the store, for a
    /// scale model on one machine (tokio's timer rounds it up to whole
    /// milliseconds). Zero: none.
    pub rtt: Duration,
}

/// A Redis-backed session store shared by every task of a node.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    timeout: Duration,
    rtt: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Prepares the connection without contacting Redis, so a node can start
    /// (and report not-ready) while the store is down. Call it inside a
    /// tokio runtime: the connection manager spawns its task here.
    pub fn new(config: &RedisStoreConfig) -> Result<RedisStore, ConfigError> {
        if config.timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "the store timeout must be greater than zero".into(),
            ));
        }
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            ConfigError::Invalid(format!("invalid redis URL {:?}: {e}", config.url))
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| ConfigError::Invalid(format!("redis connection set-up: {e}")))?;
        Ok(RedisStore {
            conn,
            timeout: config.timeout,
            rtt: config.rtt,
        })
    }

    /// Runs one store call under the store timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let call = async {
            if !self.rtt.is_zero() {
                tokio::time::sleep(self.rtt).await;
            }
            call.await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StoreError::Backend(e.to_string())),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

impl SessionStore for RedisStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let secs = ttl.as_secs().max(1);
        self.bounded(conn.set_ex::<_, _, ()>(key, value, secs))
            .await
    }

    async fn get(
        &self,
        key: &str,
        refresh: Option<Duration>,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        match refresh {
            None => self.bounded(conn.get(key)).await,
            Some(ttl) => {
                let expiry = redis::Expiry::EX(ttl.as_secs().max(1));
                self.bounded(conn.get_ex(key, expiry)).await
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: u64 = self.bounded(conn.del(key)).await?;
        Ok(removed > 0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.bounded(redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map(drop)
    }
}
