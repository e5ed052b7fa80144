//! [`SessionStore`] on a real Redis server.
//!
//! Access path ([`StoreClient`]): one shared multiplexed connection
//! (redis-rs `ConnectionManager`, the default), or a deadpool-redis pool
//! (kept to measure the design card's choice against); or, for a URL
//! `redis-cluster://host:port,host:port`, the redis-rs cluster client
//! (keys spread over the cluster's slots). A deadpool-redis checkout runs
//! `UNWATCH`+`PING` before the caller's command, a second round trip per
//! request; the multiplexed connection pipelines every node task's commands
//! over one socket and reconnects by itself after an outage. The
//! measurements behind this choice are in ARCHITECTURE.md.
//!
//! `rediss://` (and `rediss-cluster://`) speak TLS through rustls and verify
//! the server's certificate and name, against the system roots or a CA
//! given in [`RedisStoreConfig::ca_pem`]; verification cannot be turned off.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::delay_line::DelayLine;
use crate::redact::redact_urls;
use crate::store_log::ErrorLog;
use crate::{ConfigError, IndexEntry, SessionStore, StoreError};

/// The key of the readiness write probe: tiny, and gone after its TTL.
const READY_PROBE_KEY: &str = "authscale:ready-probe";

/// Where the store is and how long a call may take.
#[derive(Clone)]
pub struct RedisStoreConfig {
    /// `redis://[user:password@]host:port[/db]`, `rediss://…` for TLS, or
    /// `redis-cluster://host:port,host:port` (`rediss-cluster://` for TLS).
    pub url: String,
    /// Upper bound on every store call, connection set-up and the one
    /// retry of a lookup included.
    pub timeout: Duration,
    /// Added before every call: the network distance to the store, for a
    /// scale model on one machine (a delay line on its own thread, to tens
    /// of microseconds). Zero: none.
    pub rtt: Duration,
    /// How a single server is reached (a cluster URL has its own client).
    pub client: StoreClient,
    /// PEM certificates of the CA that signed the store's certificate,
    /// trusted instead of the system roots (a private or lab CA). Only
    /// with a `rediss` URL.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreConfig")
            .field("url", &redact_urls(&self.url))
            .field("timeout", &self.timeout)
            .field("rtt", &self.rtt)
            .field("client", &self.client)
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| pem.len()))
            .finish()
    }
}

pub use authscale_schema::StoreClient;

/// How the store is reached: one server, or a Redis Cluster.
#[derive(Clone)]
enum Connection {
    /// One multiplexed, reconnecting connection.
    Single(ConnectionManager),
    /// A pool of connections, checked out (and recycled) per command.
    Pool(deadpool_redis::Pool),
    /// A cluster client; connected on first use (and again after a failed
    /// attempt), so a node starts while the cluster is still forming.
    Cluster {
        client: Box<redis::cluster::ClusterClient>,
        conn: Arc<tokio::sync::OnceCell<redis::cluster_async::ClusterConnection>>,
    },
}

/// Whether a command may be sent a second time after a broken connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// A lookup or an overwrite: sending it twice does no harm.
    Once,
    /// Deleting reports whether the key existed; a repeat would say no.
    Never,
}

/// A Redis-backed session store shared by every task of a node.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    timeout: Duration,
    rtt: Duration,
    delay: Option<Arc<DelayLine>>,
    errors: Arc<ErrorLog>,
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
        // Every message below may quote the URL: none may show its password.
        let invalid = |message: String| ConfigError::Invalid(redact_urls(&message));
        if config.timeout.is_zero() {
            return Err(invalid(
                "the store timeout must be greater than zero".into(),
            ));
        }
        let url = config.url.trim();
        let shown = crate::redact::shown_url(url);
        let tls = url.starts_with("rediss://") || url.starts_with("rediss-cluster://");
        if url.contains("#insecure") {
            return Err(invalid(format!(
                "{shown}: certificate verification cannot be turned off; \
                 give the CA that signed the store's certificate instead"
            )));
        }
        let certificates = match &config.ca_pem {
            Some(_) if !tls => {
                return Err(invalid(format!(
                    "{shown}: a CA certificate is only used over TLS: use a rediss:// URL"
                )));
            }
            Some(pem) => Some(trusted_ca(pem)?),
            None => None,
        };
        if tls {
            install_tls_provider();
        }
        let cluster = url
            .strip_prefix("redis-cluster://")
            .map(|nodes| (nodes, "redis"))
            .or_else(|| {
                url.strip_prefix("rediss-cluster://")
                    .map(|nodes| (nodes, "rediss"))
            });
        let conn = match cluster {
            Some((nodes, scheme)) => {
                let urls: Vec<String> = nodes
                    .split(',')
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| format!("{scheme}://{}", n.trim()))
                    .collect();
                if urls.is_empty() {
                    return Err(invalid(format!(
                        "{shown}: name at least one cluster node, like redis-cluster://127.0.0.1:7000,127.0.0.1:7001"
                    )));
                }
                let mut builder = redis::cluster::ClusterClientBuilder::new(urls)
                    .connection_timeout(config.timeout)
                    .response_timeout(config.timeout)
                    .tcp_settings(no_delay());
                if let Some(certificates) = certificates {
                    builder = builder.certs(certificates);
                }
                let client = builder
                    .build()
                    .map_err(|e| invalid(format!("invalid cluster URL {shown}: {e}")))?;
                Connection::Cluster {
                    client: Box::new(client),
                    conn: Default::default(),
                }
            }
            None if config.client == StoreClient::Deadpool => {
                if certificates.is_some() {
                    return Err(invalid(
                        "the deadpool store client takes no CA file: use the manager client for rediss:// with a private CA".into(),
                    ));
                }
                // The pool as deadpool-redis ships it (its recycling sends
                // UNWATCH and PING on every checkout), on connections set up
                // like the manager's, so the two differ only by the pool.
                let info = connection_info(url)
                    .map_err(|e| invalid(format!("invalid redis URL {shown}: {e}")))?;
                let manager = deadpool_redis::Manager::new(info)
                    .map_err(|e| invalid(format!("invalid redis URL {shown}: {e}")))?;
                let pool_config = deadpool_redis::PoolConfig {
                    timeouts: deadpool_redis::Timeouts {
                        wait: Some(config.timeout),
                        create: Some(config.timeout),
                        recycle: Some(config.timeout),
                    },
                    ..Default::default()
                };
                Connection::Pool(
                    deadpool_redis::Pool::builder(manager)
                        .config(pool_config)
                        .runtime(deadpool_redis::Runtime::Tokio1)
                        .build()
                        .map_err(|e| invalid(format!("store pool set-up: {e}")))?,
                )
            }
            None => {
                let info = connection_info(url)
                    .map_err(|e| invalid(format!("invalid redis URL {shown}: {e}")))?;
                let client = match certificates {
                    Some(certificates) => redis::Client::build_with_tls(info, certificates),
                    None => redis::Client::open(info),
                }
                .map_err(|e| invalid(format!("invalid redis URL {shown}: {e}")))?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.timeout))
                    .set_response_timeout(Some(config.timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(500));
                Connection::Single(
                    ConnectionManager::new_lazy_with_config(client, manager_config)
                        .map_err(|e| invalid(format!("redis connection set-up: {e}")))?,
                )
            }
        };
        let delay = if config.rtt.is_zero() {
            None
        } else {
            let line = DelayLine::start()
                .map_err(|e| invalid(format!("cannot start the store delay thread: {e}")))?;
            Some(Arc::new(line))
        };
        Ok(RedisStore {
            conn,
            timeout: config.timeout,
            rtt: config.rtt,
            delay,
            errors: Arc::new(ErrorLog::new(Duration::from_secs(1))),
        })
    }

    /// Sends one command (routed by its key on a cluster) under the store
    /// timeout. A command that may be repeated is sent once more when the
    /// connection turned out broken: the manager has begun to reconnect,
    /// and the second attempt waits for that, so the first request after a
    /// store restart succeeds instead of failing. Both attempts share the
    /// one timeout, so a dead store still fails within it.
    async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
        retry: Retry,
    ) -> Result<T, StoreError> {
        self.request(Request::Cmd(&cmd), retry).await
    }

    /// As `query`, for a pipeline whose commands all touch one key (one
    /// cluster slot).
    async fn query_pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        retry: Retry,
    ) -> Result<T, StoreError> {
        self.request(Request::Pipe(pipe), retry).await
    }

    async fn request<T: redis::FromRedisValue>(
        &self,
        request: Request<'_>,
        retry: Retry,
    ) -> Result<T, StoreError> {
        let call = async {
            match self.send(request).await {
                Err(e) if retry == Retry::Once && broken_connection(&e) => self.send(request).await,
                result => result,
            }
        };
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            // An error reply from the server (OOM, READONLY, MISCONF, …).
            Ok(Err(e)) if e.code().is_some() => {
                let code = e.code().unwrap_or_default();
                let detail = e.detail().unwrap_or_default();
                Err(StoreError::Refused(redact_urls(&format!(
                    "{code} {detail}"
                ))))
            }
            Ok(Err(e)) => Err(StoreError::Backend(redact_urls(&e.to_string()))),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        };
        match &result {
            Ok(_) => self.errors.success(),
            Err(e) => self.errors.error(e),
        }
        result
    }

    /// One attempt: the modelled network distance, then the command.
    async fn send<T: redis::FromRedisValue>(&self, request: Request<'_>) -> redis::RedisResult<T> {
        if let Some(delay) = &self.delay {
            delay.wait(self.rtt).await;
        }
        match &self.conn {
            Connection::Single(conn) => request.send(&mut conn.clone()).await,
            Connection::Pool(pool) => {
                let mut conn = pool.get().await.map_err(pool_error)?;
                request.send(&mut conn).await
            }
            Connection::Cluster { client, conn } => {
                let conn = conn
                    .get_or_try_init(|| client.get_async_connection())
                    .await?;
                request.send(&mut conn.clone()).await
            }
        }
    }
}

/// What goes to the store in one round trip.
#[derive(Clone, Copy)]
enum Request<'a> {
    Cmd(&'a redis::Cmd),
    Pipe(&'a redis::Pipeline),
}

impl Request<'_> {
    async fn send<T: redis::FromRedisValue>(
        self,
        conn: &mut impl redis::aio::ConnectionLike,
    ) -> redis::RedisResult<T> {
        match self {
            Request::Cmd(cmd) => cmd.query_async(conn).await,
            Request::Pipe(pipe) => pipe.query_async(conn).await,
        }
    }
}

/// TCP_NODELAY on every store connection: commands multiplexed on one
/// connection must not wait for the store's answer to the previous ones
/// (Nagle), or a throttled store batches them by its own stalls. redis-rs
/// leaves Nagle on by default.
fn no_delay() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// A single-server store URL as connection settings, with TCP_NODELAY.
/// Whether `url` is a store URL the nodes can use (checked without
/// connecting); the error never repeats the URL, which may hold a password.
pub fn check_store_url(url: &str) -> Result<(), String> {
    connection_info(url).map(|_| ()).map_err(|e| e.to_string())
}

fn connection_info(url: &str) -> redis::RedisResult<redis::ConnectionInfo> {
    Ok(redis::IntoConnectionInfo::into_connection_info(url)?.set_tcp_settings(no_delay()))
}

/// A failed checkout as a redis error: the server's own error when the
/// pool could not connect or recycle, else an I/O error (so a lookup is
/// retried once, as with the manager).
fn pool_error(e: deadpool_redis::PoolError) -> redis::RedisError {
    match e {
        deadpool_redis::PoolError::Backend(e) => e,
        other => redis::RedisError::from(std::io::Error::other(other.to_string())),
    }
}

/// Whether the error means the connection is gone (the manager then
/// reconnects), as opposed to an answer from the server.
fn broken_connection(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// The CA certificates of `pem`, checked now so a wrong file fails at start.
fn trusted_ca(pem: &[u8]) -> Result<redis::TlsCertificates, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Invalid(format!("the store CA file is not PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(ConfigError::Invalid(
            "the store CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    })
}

/// rustls needs a process-wide crypto provider; authscale uses aws-lc-rs
/// throughout (see `crypto.rs`). Installing it explicitly keeps the choice
/// independent of which rustls features the dependency graph unifies.
fn install_tls_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // An Err means the embedding program installed one; it stands.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

impl SessionStore for RedisStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("EX").arg(ttl.as_secs().max(1));
        // Setting the same value twice is the same as once.
        self.query(cmd, Retry::Once).await
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
        self.query(cmd, Retry::Once).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        let removed: u64 = self.query(cmd, Retry::Never).await?;
        Ok(removed > 0)
    }

    /// A write, not a `PING`: a store out of memory under `noeviction`, a
    /// read-only replica or one that stopped writes after a failed save
    /// still answers `PING` but cannot hold a new session. One small key
    /// with a short TTL, only when readiness is asked for.
    async fn ping(&self) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(READY_PROBE_KEY)
            .arg(unix_millis())
            .arg("PX")
            .arg(10_000);
        self.query::<String>(cmd, Retry::Once).await.map(drop)
    }

    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(key);
        // Not repeated: a second GETDEL would find the key gone.
        self.query(cmd, Retry::Never).await
    }

    /// ZADD, EXPIRE and ZRANGE of the evicted ranks in one pipeline (one
    /// key, so one cluster slot); a ZREM only when something is evicted.
    async fn index_add(&self, entry: IndexEntry<'_>) -> Result<Vec<String>, StoreError> {
        let index = entry.index;
        let last_evicted = -i64::try_from(entry.keep).unwrap_or(i64::MAX - 1) - 1;
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(index)
            .arg(entry.score)
            .arg(entry.member)
            .ignore();
        pipe.cmd("EXPIRE")
            .arg(index)
            .arg(entry.ttl.as_secs().max(1))
            .ignore();
        pipe.cmd("ZRANGE").arg(index).arg(0).arg(last_evicted);
        // ZADD of the same member and score, EXPIRE and ZRANGE: repeatable.
        let (evicted,): (Vec<String>,) = self.query_pipeline(&pipe, Retry::Once).await?;
        if !evicted.is_empty() {
            let mut cmd = redis::cmd("ZREM");
            cmd.arg(index).arg(&evicted);
            self.query::<u64>(cmd, Retry::Once).await?;
        }
        Ok(evicted)
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(index).arg(member);
        self.query::<u64>(cmd, Retry::Once).await.map(drop)
    }
}

/// A value for the probe key that says when it was written.
fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
