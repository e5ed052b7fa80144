//! Sweeping a deployment the lab does not run (a cluster, or processes
//! started by hand): before each step a scale command sets the node count,
//! the lab waits for readiness and loads the target. What cannot be
//! measured from outside (CPU budgets, per-node CPU, the balancer) is left
//! out of the step, and the report says so.

use authscale_schema::{AuthMode, Component, RunStatus};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use authscale_load::{LoadConfig, process_cpu_seconds};

use crate::host::{build_facts, finish, results_dir, unix_now};
use crate::lab::{Finished, LabOptions, scenario};
use crate::progress::external_step_line;
use crate::step::{Span, step_from_load};
use crate::store::Store;
use authscale_schema::{External, Plan};
use authscale_schema::{Host, Run, SCHEMA, utc};

/// The external path: no store, proxy, nodes or cgroups of the lab's own.
pub(crate) async fn sweep_external(
    plan: Plan,
    options: LabOptions,
    external: &External,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Finished> {
    let started = unix_now();
    let dir = results_dir(&options.out_dir, &plan, started)?;
    let mut run = Run {
        schema: SCHEMA.to_owned(),
        plan: plan.clone(),
        host: Host {
            caps: "external".into(),
            caps_detail: format!(
                "external deployment at {}: no CPU budgets, nodes and balancer not measured",
                external.target
            ),
            store: external
                .store_url
                .as_deref()
                .map_or_else(|| "not measured".into(), authscale_auth::shown_url),
            ..build_facts()
        },
        started_at: utc(started),
        finished_at: None,
        status: RunStatus::Running,
        error: None,
        warnings: vec![format!(
            "external deployment ({}): the lab neither caps nor measures its nodes or balancer; only the load generator{} is measured",
            external.target,
            if external.store_url.is_some() {
                " and the store"
            } else {
                ""
            }
        )]
        .into_iter()
        .chain(crate::host::provenance_warning())
        .collect(),
        pids: Vec::new(),
        steps: Vec::new(),
        revocations: Vec::new(),
        faults: Vec::new(),
        isolation: None,
        stages: None,
    };
    if options.progress {
        eprintln!("results: {}", dir.display());
    }
    run.write(&dir)?;
    tokio::pin!(stop);
    let outcome = sweep(&plan, external, &mut run, &dir, options.progress, &mut stop).await;
    finish(&mut run, outcome);
    run.write(&dir)?;
    Ok(Finished { dir, run })
}

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
    let target = authscale_load::resolve_target(&external.target, external.allow_remote).await?;
    let store = match &external.store_url {
        Some(url) => Some(Store::existing(url).await?),
        None => None,
    };
    let ready = external
        .ready_url
        .clone()
        .unwrap_or_else(|| format!("{}/readyz", external.target.trim_end_matches('/')));
    for &mode in &e.modes {
        for &n in &e.nodes {
            scale(&external.scale_command, mode, n).await?;
            wait_ready(&ready, Duration::from_secs(120)).await?;
            let connections = plan.connections(n);
            let mut config = LoadConfig::new(target.clone());
            config.connections = connections;
            config.warmup = plan.warmup;
            config.duration = plan.duration;
            config.timeout = Duration::from_secs(5);
            config.scenario = scenario(e, mode, connections)?;
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
            let span = Span::of(&result);
            let measured = |cpu: f64| span.component(cpu, 1.0, None, None);
            let mut components = BTreeMap::new();
            components.insert(Component::Load, measured(end.0 - start.0));
            let mut store_commands = BTreeMap::new();
            if let (Some(a), Some(b)) = (&start.1, &end.1) {
                let delta = b.since(a);
                components.insert(Component::Store, measured(delta.cpu_seconds));
                store_commands = delta.commands;
            }
            let step = step_from_load(
                mode,
                n,
                e.capacity,
                None,
                result,
                components,
                store_commands,
                end.2.zip(start.2).map(|(e, s)| e.saturating_sub(s)),
            );
            if progress {
                eprintln!("{}", external_step_line(&step));
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
async fn scale(template: &str, mode: AuthMode, n: u32) -> anyhow::Result<()> {
    let command = template
        .replace("{n}", &n.to_string())
        .replace("{mode}", mode.as_str());
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
