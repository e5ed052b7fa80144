//! The session store of a sweep: a `redis-server` the lab starts (no
//! persistence, loopback, its own CPU budget), or an existing one named by
//! URL (then it is neither capped nor flushed). Its own counters come from
//! `INFO`, which works either way.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use redis::aio::MultiplexedConnection;

use crate::cgroup::CpuGroup;
use crate::process::Managed;

/// What INFO says of the store's work so far.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreCounters {
    /// used_cpu_user + used_cpu_sys, seconds.
    pub cpu_seconds: f64,
    /// Calls per command (`get`, `setex`, …).
    pub commands: BTreeMap<String, u64>,
}

impl StoreCounters {
    pub fn since(&self, earlier: &StoreCounters) -> StoreCounters {
        StoreCounters {
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
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
    process: Option<Managed>,
    conn: MultiplexedConnection,
    pub version: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts a redis-server on a free loopback port, in `group` if given.
    pub async fn start(group: Option<CpuGroup>) -> anyhow::Result<Store> {
        let binary =
            std::env::var("AUTHSCALE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            let args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
                "--daemonize",
                "no",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            // The group can only hold one process: build it per attempt.
            let process = match Managed::start(
                "redis-server",
                Path::new(&binary),
                &args,
                None,
                false,
            )
            .await
            {
                Ok(p) => p,
                Err(e) => {
                    return Err(e.context(
                        "redis-server could not start: run scripts/setup.sh, or pass --redis-url",
                    ));
                }
            };
            let url = format!("redis://127.0.0.1:{port}");
            match connect(&url, Duration::from_secs(5)).await {
                Ok(conn) => {
                    if let Some(group) = &group {
                        group.add(process.pid)?;
                    }
                    let mut store = Store {
                        url,
                        owned: true,
                        process: Some(process),
                        conn,
                        version: String::new(),
                    };
                    store.version = store
                        .info_field("server", "redis_version")
                        .await
                        .unwrap_or_default();
                    if let Some(group) = group {
                        // The group lives as long as the process it caps.
                        store.attach_group(group);
                    }
                    return Ok(store);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    /// Uses an existing store; authscale neither caps nor flushes it.
    pub async fn existing(url: &str) -> anyhow::Result<Store> {
        let conn = connect(url, Duration::from_secs(5)).await?;
        let mut store = Store {
            url: url.to_owned(),
            owned: false,
            process: None,
            conn,
            version: String::new(),
        };
        store.version = store
            .info_field("server", "redis_version")
            .await
            .unwrap_or_default();
        Ok(store)
    }

    fn attach_group(&mut self, group: CpuGroup) {
        if let Some(process) = self.process.take() {
            self.process = Some(process.with_group(group));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    pub fn process(&self) -> Option<&Managed> {
        self.process.as_ref()
    }

    /// Deletes every key, between modes, on a store the lab owns.
    pub async fn flush(&self) -> anyhow::Result<()> {
        if self.owned {
            redis::cmd("FLUSHALL")
                .query_async::<()>(&mut self.conn.clone())
                .await?;
        }
        Ok(())
    }

    pub async fn counters(&self) -> anyhow::Result<StoreCounters> {
        let mut conn = self.conn.clone();
        let cpu: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await?;
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
        Ok(StoreCounters {
            cpu_seconds: field("used_cpu_user:") + field("used_cpu_sys:"),
            commands,
        })
    }

    async fn info_field(&mut self, section: &str, name: &str) -> anyhow::Result<String> {
        let text: String = redis::cmd("INFO")
            .arg(section)
            .query_async(&mut self.conn)
            .await?;
        Ok(text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default())
    }
}

async fn connect(url: &str, within: Duration) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(url).with_context(|| format!("invalid redis URL {url:?}"))?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match client.get_multiplexed_async_connection().await {
            Ok(mut conn) => {
                if redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
                {
                    return Ok(conn);
                }
            }
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(anyhow::anyhow!("the store at {url} does not answer: {e}"));
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
