//! Sweeping a deployment the lab does not run (a cluster, or processes
//! started by hand): before each step a scale command sets the node count,
//! the lab waits for readiness and loads the target. What cannot be
//! measured from outside (CPU budgets, per-node CPU, the balancer) is left
//! out of the step, and the report says so.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use authscale_load::{LoadConfig, Target, process_cpu_seconds};

use crate::experiment::{External, Plan};
use crate::record::{Component, Latency, LittlesLaw, Run, Step};
use crate::store::Store;

/// Every mode and N of the plan against the external deployment; false
/// when interrupted.
pub async fn sweep(
    plan: &Plan,
    external: &External,
    run: &mut Run,
    dir: &Path,
    progress: bool,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<bool> {
    let e = &plan.experiment;
    let target = Target::resolve(&external.target, external.allow_remote).await?;
    let store = match &external.store_url {
        Some(url) => Some(Store::existing(url).await?),
        None => None,
    };
    let ready = external
        .ready_url
        .clone()
        .unwrap_or_else(|| format!("{}/readyz", external.target.trim_end_matches('/')));
    for mode in &e.modes {
        for &n in &e.nodes {
            scale(&external.scale_command, mode, n).await?;
            wait_ready(&ready, Duration::from_secs(120)).await?;
            let connections = plan.connections(n);
            let mut config = LoadConfig::new(target.clone());
            config.connections = connections;
            config.warmup = plan.warmup;
            config.duration = plan.duration;
            config.timeout = Duration::from_secs(5);
            config.scenario = crate::sweep::scenario(e, mode, connections)?;
            let me = std::process::id();
            let snapshot = || async {
                let counters = match &store {
                    Some(store) => Some(store.counters().await?),
                    None => None,
                };
                let mut node_requests = None;
                for url in &external.node_metrics {
                    *node_requests.get_or_insert(0) += scrape_requests(url).await?;
                }
                Ok::<_, anyhow::Error>((process_cpu_seconds(me), counters, node_requests))
            };
            let load = authscale_load::run(config, stop.as_mut(), None);
            let at_warmup = async {
                tokio::time::sleep(plan.warmup).await;
                snapshot().await
            };
            let (result, start) = tokio::join!(load, at_warmup);
            let end = snapshot().await?;
            let (start, result) = (start?, result?);
            if result.interrupted {
                return Ok(false);
            }
            let requests = result.requests.max(1) as f64;
            let seconds = result.measured_seconds.max(1e-9);
            let measured = |cpu: f64| Component {
                cpu_seconds: cpu,
                cpu_us_per_request: cpu * 1e6 / requests,
                limit_cores: 1.0,
                capped: false,
                utilization: cpu / seconds,
                cpu_period_ms: None,
                throttling: None,
            };
            let mut components = BTreeMap::new();
            components.insert("load".to_owned(), measured(end.0 - start.0));
            let mut store_commands = BTreeMap::new();
            if let (Some(a), Some(b)) = (&start.1, &end.1) {
                let delta = b.since(a);
                components.insert("store".to_owned(), measured(delta.cpu_seconds));
                store_commands = delta.commands;
            }
            let total: u64 = store_commands.values().sum();
            let api: u64 = result.by_step.get("api").map_or(0, |c| c.values().sum());
            let reads = store_commands.get("get").copied().unwrap_or(0)
                + store_commands.get("getex").copied().unwrap_or(0);
            let in_flight = result.achieved_rate * result.latency_us.uncorrected.mean / 1e6;
            let step = Step {
                mode: mode.clone(),
                nodes: n,
                capacity: e.capacity,
                connections,
                offered_rate: None,
                throughput: result.success_rate,
                requests: result.requests,
                errors: result.errors,
                error_rate: result.errors as f64 / requests,
                seconds,
                latency_ms: Latency::of(&result.latency_us.corrected),
                latency_uncorrected_ms: Latency::of(&result.latency_us.uncorrected),
                components,
                store_commands_per_request: total as f64 / requests,
                store_reads_per_protected_request: if api > 0 {
                    reads as f64 / api as f64
                } else {
                    0.0
                },
                store_commands,
                littles_law: LittlesLaw {
                    expected_in_flight: connections as f64,
                    rate_times_latency: in_flight,
                    ratio: in_flight / connections as f64,
                    within_10_percent: (in_flight / connections as f64 - 1.0).abs() <= 0.1,
                },
                node_requests: end.2.zip(start.2).map(|(e, s)| e.saturating_sub(s)),
                probes: Vec::new(),
                slices: Vec::new(),
                load: result,
                store_delay: None,
            };
            if progress {
                eprintln!(
                    "  {:<8} N={:<2} {:>8.0} req/s  p99 {:>7.2} ms  errors {}",
                    step.mode, n, step.throughput, step.latency_ms.p99, step.errors
                );
            }
            run.steps.push(step);
            run.write(dir)?;
        }
    }
    Ok(true)
}

/// The total of `authscale_requests_total` on a node's `/metrics`.
async fn scrape_requests(url: &str) -> anyhow::Result<u64> {
    let (addr, path) = resolve_url(url).await?;
    let (status, body) = crate::http::call(addr, "GET", &path, "").await?;
    anyhow::ensure!(status == 200, "{url} answered {status}");
    Ok(body
        .lines()
        .filter(|l| l.starts_with("authscale_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

/// `http://host:port/path` → (address, path).
async fn resolve_url(url: &str) -> anyhow::Result<(std::net::SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("URL {url:?} must be http://"))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let addr = tokio::net::lookup_host(authority)
        .await
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("no address for {authority}"))?;
    Ok((addr, path))
}

/// Runs the scale command for `n` nodes of `mode`; it must succeed.
async fn scale(template: &str, mode: &str, n: u32) -> anyhow::Result<()> {
    let command = template
        .replace("{n}", &n.to_string())
        .replace("{mode}", mode);
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("sh")
            .args(["-c", &command])
            .output(),
    )
    .await
    .with_context(|| format!("scale command timed out after 300 s: {command}"))?
    .with_context(|| format!("cannot run the scale command: {command}"))?;
    anyhow::ensure!(
        output.status.success(),
        "the scale command failed ({}): {command}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Polls an `http://host:port/path` URL until it answers 200.
async fn wait_ready(url: &str, within: Duration) -> anyhow::Result<()> {
    let (addr, path) = resolve_url(url).await?;
    crate::http::wait_ok(addr, &path, within).await
}
