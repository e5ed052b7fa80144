//! Which way should a node reach Redis? Measures, side by side in one run
//! against one real redis-server, the throughput of GET under concurrency
//! and the store commands each GET costs, for:
//!
//! - `deadpool`: a deadpool-redis pool as shipped (every checkout recycles
//!   the connection with a pipelined UNWATCH+PING);
//! - `multiplexed`: one shared `MultiplexedConnection`, cloned per task;
//! - `manager`: one shared `ConnectionManager` (multiplexed, reconnecting),
//!   the path authscale nodes use.
//!
//! Run: `cargo run --release -p authscale-bench --example store_paths`
//! Options via environment: TASKS (default 64), SECONDS (2), ROUNDS (3).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authscale_testkit::RedisServer;
use redis::AsyncCommands;

#[derive(Clone)]
enum Path {
    Deadpool(deadpool_redis::Pool),
    Multiplexed(redis::aio::MultiplexedConnection),
    Manager(redis::aio::ConnectionManager),
}

impl Path {
    fn name(&self) -> &'static str {
        match self {
            Path::Deadpool(_) => "deadpool",
            Path::Multiplexed(_) => "multiplexed",
            Path::Manager(_) => "manager",
        }
    }

    async fn get(&self, key: &str) -> redis::RedisResult<Option<String>> {
        match self {
            Path::Deadpool(pool) => {
                let mut conn = pool.get().await.map_err(|e| {
                    redis::RedisError::from((redis::ErrorKind::Io, "pool", e.to_string()))
                })?;
                conn.get(key).await
            }
            Path::Multiplexed(conn) => conn.clone().get(key).await,
            Path::Manager(conn) => conn.clone().get(key).await,
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn measure(path: &Path, tasks: u64, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (path, done, stop) = (path.clone(), done.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                path.get("authscale:bench:key").await.expect("GET");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    if !RedisServer::available() {
        eprintln!("skipped: redis-server not found (run scripts/setup.sh)");
        return;
    }
    let tasks = env_u64("TASKS", 64);
    let seconds = env_u64("SECONDS", 2);
    let rounds = env_u64("ROUNDS", 3);
    let redis = RedisServer::start();
    redis.command(&["SET", "authscale:bench:key", "v1\tuser1\t0\t99999999999"]);
    // One runtime thread: a node's share of the machine, and the same
    // budget for every path.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let paths = runtime.block_on(async {
        let client = redis::Client::open(redis.url()).expect("client");
        let pool = deadpool_redis::Config::from_url(redis.url())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("pool");
        vec![
            Path::Deadpool(pool),
            Path::Multiplexed(
                client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("conn"),
            ),
            Path::Manager(client.get_connection_manager().await.expect("manager")),
        ]
    });

    println!(
        "GET throughput, {tasks} concurrent tasks on one runtime thread, {rounds} interleaved rounds of {seconds}s"
    );
    println!(
        "{:<12} {:>12} {:>10} {:>16}",
        "path", "GET/s", "vs pool", "cmds per GET"
    );
    let mut results = Vec::new();
    for path in &paths {
        // Warm the pool or connection, then count one round's commands.
        runtime.block_on(measure(path, tasks, 1));
        redis.command(&["CONFIG", "RESETSTAT"]);
        let rate = runtime.block_on(measure(path, tasks, seconds));
        let gets = redis.calls_of("get").max(1);
        let total: u64 = redis
            .command_calls()
            .iter()
            .filter(|(name, _)| name != "config|resetstat")
            .map(|(_, n)| n)
            .sum();
        results.push((path.name(), vec![rate], total as f64 / gets as f64));
    }
    for _ in 1..rounds {
        for (i, path) in paths.iter().enumerate() {
            results[i]
                .1
                .push(runtime.block_on(measure(path, tasks, seconds)));
        }
    }
    let pool_rate = median(results[0].1.clone());
    for (name, rates, commands) in results {
        let rate = median(rates);
        println!(
            "{name:<12} {rate:>12.0} {:>9.2}x {commands:>16.2}",
            rate / pool_rate
        );
    }
}
