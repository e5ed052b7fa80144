//! [`SessionStore`] on a real Redis server.
//!
//! Access path: one shared multiplexed connection (redis-rs
//! `ConnectionManager`), not a deadpool pool; or, for a URL
//! `redis-cluster://host:port,host:port`, the redis-rs cluster client
//! (keys spread over the cluster's slots). A deadpool-redis checkout runs
//! `UNWATCH`+`PING` before the caller's command, a second round trip per
//! request; the multiplexed connection pipelines every node task's commands
//! over one socket and reconnects by itself after an outage. The
//! measurements behind this choice are in ARCHITECTURE.md.

use std::time::Duration;

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

/// How the store is reached: one server, or a Redis Cluster.
#[derive(Clone)]
enum Connection {
    /// One multiplexed, reconnecting connection.
    Single(ConnectionManager),
    /// A cluster client; connected on first use (and again after a failed
    /// attempt), so a node starts while the cluster is still forming.
    Cluster {
        client: Box<redis::cluster::ClusterClient>,
        conn: std::sync::Arc<tokio::sync::OnceCell<redis::cluster_async::ClusterConnection>>,
    },
}

/// A Redis-backed session store shared by every task of a node.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
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
        let conn = match config.url.strip_prefix("redis-cluster://") {
            Some(nodes) => {
                let urls: Vec<String> = nodes
                    .split(',')
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| format!("redis://{}", n.trim()))
                    .collect();
                if urls.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "{:?}: name at least one cluster node, like redis-cluster://127.0.0.1:7000,127.0.0.1:7001",
                        config.url
                    )));
                }
                let client = redis::cluster::ClusterClientBuilder::new(urls)
                    .connection_timeout(config.timeout)
                    .response_timeout(config.timeout)
                    .build()
                    .map_err(|e| {
                        ConfigError::Invalid(format!("invalid cluster URL {:?}: {e}", config.url))
                    })?;
                Connection::Cluster {
                    client: Box::new(client),
                    conn: Default::default(),
                }
            }
            None => {
                let client = redis::Client::open(config.url.as_str()).map_err(|e| {
                    ConfigError::Invalid(format!("invalid redis URL {:?}: {e}", config.url))
                })?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.timeout))
                    .set_response_timeout(Some(config.timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(500));
                Connection::Single(
                    ConnectionManager::new_lazy_with_config(client, manager_config).map_err(
                        |e| ConfigError::Invalid(format!("redis connection set-up: {e}")),
                    )?,
                )
            }
        };
        Ok(RedisStore {
            conn,
            timeout: config.timeout,
            rtt: config.rtt,
        })
    }

    /// Sends one command (routed by its key on a cluster) under the store
    /// timeout.
    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        self.bounded(async {
            match &self.conn {
                Connection::Single(conn) => cmd.query_async(&mut conn.clone()).await,
                Connection::Cluster { client, conn } => {
                    let conn = conn
                        .get_or_try_init(|| client.get_async_connection())
                        .await?;
                    cmd.query_async(&mut conn.clone()).await
                }
            }
        })
        .await
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
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("EX").arg(ttl.as_secs().max(1));
        self.query(cmd).await
    }

    async fn get(
        &self,
        key: &str,
        refresh: Option<Duration>,
    ) -> Result<Option<String>, StoreError> {
        let cmd = match refresh {
            None => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(key);
                cmd
            }
            Some(ttl) => {
                let mut cmd = redis::cmd("GETEX");
                cmd.arg(key).arg("EX").arg(ttl.as_secs().max(1));
                cmd
            }
        };
        self.query(cmd).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        let removed: u64 = self.query(cmd).await?;
        Ok(removed > 0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(redis::cmd("PING")).await.map(drop)
    }

    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(key);
        self.query(cmd).await
    }

    /// ZADD, EXPIRE and ZRANGE of the evicted ranks in one pipeline (one
    /// key, so one cluster slot); a ZREM only when something is evicted.
    async fn index_add(
        &self,
        index: &str,
        member: &str,
        score: u64,
        keep: usize,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let last_evicted = -i64::try_from(keep).unwrap_or(i64::MAX - 1) - 1;
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD").arg(index).arg(score).arg(member).ignore();
        pipe.cmd("EXPIRE")
            .arg(index)
            .arg(ttl.as_secs().max(1))
            .ignore();
        pipe.cmd("ZRANGE").arg(index).arg(0).arg(last_evicted);
        let (evicted,): (Vec<String>,) = self.query_pipeline(&pipe).await?;
        if !evicted.is_empty() {
            let mut cmd = redis::cmd("ZREM");
            cmd.arg(index).arg(&evicted);
            self.query::<u64>(cmd).await?;
        }
        Ok(evicted)
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(index).arg(member);
        self.query::<u64>(cmd).await.map(drop)
    }
}

impl RedisStore {
    /// Sends a pipeline whose commands all touch one key, under the store
    /// timeout.
    async fn query_pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        self.bounded(async {
            match &self.conn {
                Connection::Single(conn) => pipe.query_async(&mut conn.clone()).await,
                Connection::Cluster { client, conn } => {
                    let conn = conn
                        .get_or_try_init(|| client.get_async_connection())
                        .await?;
                    pipe.query_async(&mut conn.clone()).await
                }
            }
        })
        .await
    }
}
