//! The session store of a sweep: a `redis-server` the lab starts
//! (loopback, its own CPU budget, its own folder under the temporary
//! directory; no persistence unless a fault run asks for an append-only
//! file), or an existing one named by URL (then it is neither capped nor
//! flushed). Its own counters come from `INFO`, which works either way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use std::sync::Mutex;

use redis::aio::ConnectionManager;

use crate::cgroup::CpuGroup;
use crate::process::Managed;
use authscale_schema::Persistence;

/// What INFO says of the store's work so far.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreCounters {
    /// used_cpu_user + used_cpu_sys, seconds.
    pub cpu_seconds: f64,
    /// Calls per command (`get`, `setex`, …).
    pub commands: BTreeMap<String, u64>,
    /// Times the lab's server was put on a CPU (None for an external
    /// store, or where the kernel keeps no schedstat).
    #[serde(default)]
    pub runs: Option<u64>,
}

impl StoreCounters {
    pub fn since(&self, earlier: &StoreCounters) -> StoreCounters {
        StoreCounters {
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
            runs: Managed::runs_between(earlier.runs, self.runs),
            commands: self
                .commands
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.saturating_sub(earlier.commands.get(k).copied().unwrap_or(0)),
                    )
                })
                .filter(|(k, v)| {
                    *v > 0 && !k.starts_with("info") && !k.starts_with("config") && k != "ping"
                })
                .collect(),
        }
    }

    pub fn total_commands(&self) -> u64 {
        self.commands.values().sum()
    }
}

/// The store of a sweep.
pub struct Store {
    pub url: String,
    pub owned: bool,
    /// The lab's redis-server (None for an external store, or while a
    /// fault run has it stopped).
    process: Mutex<Option<Managed>>,
    /// The port the lab's server listens on (kept across restarts).
    port: u16,
    /// The lab's server's working folder (its append-only file, if any),
    /// kept across restarts and removed with the store.
    dir: PathBuf,
    /// What the lab's server keeps across a restart.
    persistence: Mutex<Persistence>,
    /// Reconnects by itself after the server restarts.
    conn: ConnectionManager,
    pub version: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &authscale_auth::redact_urls(&self.url))
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

fn binary() -> String {
    std::env::var("AUTHSCALE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// Starts redis-server on `port`, working in `dir`, and waits until it
/// answers (it first reloads its append-only file, if it keeps one); caps
/// it.
async fn launch(
    port: u16,
    dir: &Path,
    persistence: Persistence,
    group: Option<CpuGroup>,
) -> anyhow::Result<Managed> {
    let aof: &[&str] = match persistence {
        Persistence::None => &["--appendonly", "no"],
        Persistence::Aof => &["--appendonly", "yes", "--appendfsync", "everysec"],
    };
    let port = port.to_string();
    let dir = dir.display().to_string();
    let args: Vec<String> = [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir,
        "--save",
        "",
    ]
    .iter()
    .chain(aof)
    .chain(&["--loglevel", "warning", "--daemonize", "no"])
    .map(|s| s.to_string())
    .collect();
    let process = Managed::start("redis-server", Path::new(&binary()), &args, None, false)
        .await
        .map_err(|e| {
            e.context("redis-server could not start: run scripts/setup.sh, or pass --redis-url")
        })?;
    // Loading a large append-only file takes a while: PING answers LOADING
    // until it is done.
    ping_until(
        &format!("redis://127.0.0.1:{port}"),
        Duration::from_secs(30),
    )
    .await?;
    match group {
        Some(group) => {
            group.add(process.pid)?;
            Ok(process.with_group(group))
        }
        None => Ok(process),
    }
}

impl Store {
    /// Starts a redis-server on a free loopback port, in `group` if given.
    pub async fn start(group: Option<CpuGroup>) -> anyhow::Result<Store> {
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("authscale-lab-{}-store-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the store's folder {}", dir.display()))?;
        let url = format!("redis://127.0.0.1:{port}");
        // A store that cannot start leaves no folder behind (the server, if
        // it started, is stopped when `process` drops).
        let started = async {
            let process = launch(port, &dir, Persistence::None, group).await?;
            Ok::<_, anyhow::Error>((process, manager(&url).await?))
        }
        .await;
        let (process, conn) = match started {
            Ok(started) => started,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(Store {
            conn,
            url,
            owned: true,
            process: Mutex::new(Some(process)),
            port,
            dir,
            persistence: Mutex::new(Persistence::None),
            version: String::new(),
        }
        .with_version()
        .await)
    }

    /// Uses an existing store; authscale neither caps nor flushes it.
    pub async fn existing(url: &str) -> anyhow::Result<Store> {
        ping_until(url, Duration::from_secs(5)).await?;
        Ok(Store {
            conn: manager(url).await?,
            url: url.to_owned(),
            owned: false,
            process: Mutex::new(None),
            port: 0,
            dir: PathBuf::new(),
            persistence: Mutex::new(Persistence::None),
            version: String::new(),
        }
        .with_version()
        .await)
    }

    /// The store with the version its server reports (empty when it does
    /// not say).
    async fn with_version(mut self) -> Store {
        self.version = self
            .info_field("server", "redis_version")
            .await
            .unwrap_or_default();
        self
    }

    pub fn pid(&self) -> Option<u32> {
        self.with_process(|p| p.pid)
    }

    pub fn throttling(&self) -> Option<crate::Throttling> {
        self.with_process(Managed::throttling).flatten()
    }

    pub fn cpu_period(&self) -> Option<Duration> {
        self.with_process(Managed::cpu_period).flatten()
    }

    fn with_process<T>(&self, f: impl FnOnce(&Managed) -> T) -> Option<T> {
        self.process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(f)
    }

    /// Kills the lab's server (a store outage). No-op for an external store.
    pub async fn stop(&self) {
        let process = self
            .process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut process) = process {
            process.kill().await;
        }
    }

    /// Starts the lab's server again on the same port from the same
    /// folder: empty, or from its append-only file when it keeps one.
    pub async fn restart(&self, group: Option<CpuGroup>) -> anyhow::Result<u32> {
        anyhow::ensure!(self.owned, "the lab does not restart an external store");
        let persistence = self.persistence();
        let process = launch(self.port, &self.dir, persistence, group).await?;
        let pid = process.pid;
        *self.process.lock().unwrap_or_else(|e| e.into_inner()) = Some(process);
        Ok(pid)
    }

    pub fn persistence(&self) -> Persistence {
        *self.persistence.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the lab's server keep `persistence` from now on: when it
    /// changes, the server is replaced by an empty one that does (in a
    /// cleared folder, so no earlier file is reloaded). Returns the new
    /// server's pid, or None when nothing changed. `group` is called only
    /// once the old server (and its CPU group) is gone.
    pub async fn set_persistence(
        &self,
        persistence: Persistence,
        group: impl FnOnce() -> anyhow::Result<Option<CpuGroup>>,
    ) -> anyhow::Result<Option<u32>> {
        if persistence == self.persistence() {
            return Ok(None);
        }
        anyhow::ensure!(
            self.owned,
            "the lab cannot change the persistence of an external store"
        );
        self.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the store's folder {}", self.dir.display()))?;
        *self.persistence.lock().unwrap_or_else(|e| e.into_inner()) = persistence;
        self.restart(group()?).await.map(Some)
    }

    /// Deletes every key, between modes, on a store the lab owns.
    pub async fn flush(&self) -> anyhow::Result<()> {
        if self.owned {
            self.query::<()>(&["FLUSHALL"]).await?;
        }
        Ok(())
    }

    pub async fn counters(&self) -> anyhow::Result<StoreCounters> {
        let cpu: String = self.query(&["INFO", "cpu"]).await?;
        let stats: String = self.query(&["INFO", "commandstats"]).await?;
        let field = |name: &str| {
            cpu.lines()
                .find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
                .unwrap_or(0.0)
        };
        let commands = stats
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))?
                    .trim()
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect();
        let runs = self
            .process
            .lock()
            .ok()
            .and_then(|p| p.as_ref().and_then(Managed::runs));
        Ok(StoreCounters {
            cpu_seconds: field("used_cpu_user:") + field("used_cpu_sys:"),
            commands,
            runs,
        })
    }

    /// One command; retried once, because the first command after a
    /// restart of the server fails while the connection re-establishes.
    async fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> anyhow::Result<T> {
        let command = || {
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            cmd
        };
        match command().query_async(&mut self.conn.clone()).await {
            Ok(value) => Ok(value),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(command().query_async(&mut self.conn.clone()).await?)
            }
        }
    }

    /// What the server keeps on disk, as its own configuration says
    /// (`save '…', appendonly …, appendfsync …`), or why it cannot say
    /// (a managed Redis may refuse `CONFIG`).
    pub async fn persistence_settings(&self) -> String {
        let mut said = Vec::new();
        for key in ["save", "appendonly", "appendfsync"] {
            match self.query::<Vec<String>>(&["CONFIG", "GET", key]).await {
                Ok(pair) => {
                    let value = pair.get(1).cloned().unwrap_or_default();
                    said.push(if key == "save" {
                        format!("save '{value}'")
                    } else {
                        format!("{key} {value}")
                    });
                }
                Err(e) => return format!("unknown (CONFIG GET refused: {e})"),
            }
        }
        said.join(", ")
    }

    async fn info_field(&mut self, section: &str, name: &str) -> anyhow::Result<String> {
        let text: String = self.query(&["INFO", section]).await?;
        Ok(text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default())
    }
}

impl Drop for Store {
    /// Stops the lab's server before its folder goes.
    fn drop(&mut self) {
        if let Some(mut process) = self
            .process
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            process.stop();
        }
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Waits until the server at `url` answers PING.
async fn ping_until(url: &str, within: Duration) -> anyhow::Result<()> {
    let client = redis::Client::open(url)
        .with_context(|| format!("invalid redis URL {}", authscale_auth::shown_url(url)))?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let error = match client.get_multiplexed_async_connection().await {
            Ok(mut conn) => match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(anyhow::anyhow!(
                "the store at {} does not answer: {}",
                authscale_auth::redact_urls(url),
                authscale_auth::redact_urls(&error.to_string())
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn manager(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)
        .with_context(|| format!("invalid redis URL {}", authscale_auth::shown_url(url)))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
