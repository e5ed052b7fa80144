//! Sweeping a deployment the lab does not run (a cluster, or processes
//! started by hand): before each step a scale command sets the node count,
//! the lab waits for readiness and loads the target. From outside it reads
//! what the deployment exposes: each instance's and the balancer's
//! `process_cpu_seconds_total` on their `/metrics`, the store's `INFO`,
//! and takes their utilization against the CPU limits the experiment
//! declares, so the report names a bottleneck as for a local run. What is
//! not exposed is left out of the step, and the report says so.

use authscale_schema::{AuthMode, Component, RunStatus};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use authscale_load::{LoadConfig, process_cpu_seconds};

use crate::Stop;
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
                "external deployment at {}: no CPU budgets set by the lab; measured from outside: {}",
                external.target,
                measured_parts(external)
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
            "external deployment ({}): the lab neither caps nor starts its processes; measured from outside: {}",
            external.target,
            measured_parts(external)
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
    let mut stop: Stop<'_> = stop;
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
    stop: &mut Stop<'_>,
) -> anyhow::Result<bool> {
    let e = &plan.experiment;
    let mut target =
        authscale_load::resolve_target(&external.target, external.allow_remote).await?;
    tls_options(external).apply(&mut target)?;
    if external.insecure {
        eprintln!(
            "WARNING: [external] insecure = true: the certificate of {} is not checked",
            external.target
        );
    }
    let store = match &external.store_url {
        Some(url) => Some(Store::existing(url).await?),
        None => None,
    };
    let mut warned_cpu = false;
    let ready = external
        .ready_url
        .clone()
        .unwrap_or_else(|| format!("{}/readyz", external.target.trim_end_matches('/')));
    for &mode in &e.modes {
        for &n in &e.nodes {
            scale(&external.scale_command, mode, n).await?;
            wait_ready(external, &ready, Duration::from_secs(120)).await?;
            let connections = plan.connections(n);
            let mut config = LoadConfig::new(target.clone());
            config.connections = connections;
            config.warmup = plan.experiment.warmup.0;
            config.duration = plan.experiment.duration.0;
            config.timeout = Duration::from_secs(5);
            config.scenario = scenario(e, mode, connections)?;
            if let Some(file) = external.scenarios.get(&mode) {
                config.scenario.file = Some(authscale_schema::Scenario::from_file(
                    std::path::Path::new(file),
                )?);
            }
            let me = std::process::id();
            let instances = instance_urls(external, n);
            let snapshot = || async {
                // Every page at once, each reading with the moment it was
                // taken: a page can be slow to answer.
                let mut pages = tokio::task::JoinSet::new();
                for url in instances.clone() {
                    pages.spawn(
                        async move { scrape(&url).await.map(|page| (page, Instant::now())) },
                    );
                }
                let balancer = external.balancer_metrics.clone();
                let balancer = tokio::spawn(async move {
                    match balancer {
                        Some(url) => scrape(&url)
                            .await
                            .map(|page| page.cpu_seconds.map(|cpu| (cpu, Instant::now()))),
                        None => Ok(None),
                    }
                });
                let load = (process_cpu_seconds(me), Instant::now());
                let counters = match &store {
                    Some(store) => Some((store.counters().await?, Instant::now())),
                    None => None,
                };
                let mut nodes = Scrape::default();
                let mut read_at = Vec::new();
                while let Some(page) = pages.join_next().await {
                    let (page, at) = page??;
                    nodes.add(&page);
                    read_at.push(at);
                }
                let balancer = balancer.await??;
                Ok::<_, anyhow::Error>(Snapshot {
                    load,
                    counters,
                    nodes_at: mean_instant(&read_at),
                    nodes,
                    balancer,
                })
            };
            let load = authscale_load::run(config, stop.as_mut(), None);
            let at_warmup = async {
                tokio::time::sleep(plan.experiment.warmup.0).await;
                snapshot().await
            };
            let (result, start) = tokio::join!(load, at_warmup);
            let end = snapshot().await?;
            let (start, result) = (start?, result?);
            if result.interrupted {
                return Ok(false);
            }
            let span = Span::of(&result);
            // The counters are read around the measured window, not at its
            // edges: what each grew by is scaled to the window, as its rate
            // over the interval between its own two readings.
            let measured = |grew: f64, between: (Instant, Instant), limit: f64| {
                let over = between.1.saturating_duration_since(between.0).as_secs_f64();
                let cpu = if over > 0.0 {
                    grew.max(0.0) * result.measured_seconds / over
                } else {
                    grew.max(0.0)
                };
                span.component(cpu, limit, None, None)
            };
            let mut components = BTreeMap::new();
            components.insert(
                Component::Load,
                measured(end.load.0 - start.load.0, (start.load.1, end.load.1), 1.0),
            );
            let mut store_commands = BTreeMap::new();
            if let (Some((a, a_at)), Some((b, b_at))) = (&start.counters, &end.counters) {
                let delta = b.since(a);
                let limit = external.store_cpu_limit.unwrap_or(1.0);
                components.insert(
                    Component::Store,
                    measured(delta.cpu_seconds, (*a_at, *b_at), limit),
                );
                store_commands = delta.commands;
            }
            // Every instance's CPU, or none: a sum with one missing would
            // understate the nodes.
            if let (Some(a), Some(b)) = (start.nodes.cpu_seconds, end.nodes.cpu_seconds) {
                let limit = external.node_cpu_limit.unwrap_or(1.0) * f64::from(n);
                components.insert(
                    Component::Nodes,
                    measured(b - a, (start.nodes_at, end.nodes_at), limit),
                );
            } else if !instances.is_empty() && !warned_cpu {
                warned_cpu = true;
                run.warnings.push(format!(
                    "an instance's /metrics ({}) has no process_cpu_seconds_total: the nodes' CPU is not measured",
                    end.nodes
                        .without_cpu
                        .as_deref()
                        .or(start.nodes.without_cpu.as_deref())
                        .unwrap_or("?")
                ));
            }
            if let (Some((a, a_at)), Some((b, b_at))) = (start.balancer, end.balancer) {
                components.insert(Component::Proxy, measured(b - a, (a_at, b_at), 1.0));
            }
            let step = step_from_load(
                mode,
                n,
                e.capacity,
                None,
                result,
                components,
                store_commands,
                end.nodes
                    .requests
                    .zip(start.nodes.requests)
                    .map(|(e, s)| e.saturating_sub(s)),
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

/// What the lab reads from outside, as a phrase for the run's warning.
fn measured_parts(external: &External) -> String {
    let mut parts = vec!["the load generator"];
    if external.store_url.is_some() {
        parts.push("the store (INFO)");
    }
    if !external.node_metrics.is_empty() {
        parts.push("the instances (/metrics)");
    }
    if external.balancer_metrics.is_some() {
        parts.push("the balancer (/metrics)");
    }
    parts.join(", ")
}

/// The `/metrics` URLs of a step with `n` instances: a `{i}` pattern for
/// i = 0..n, or the first n of a list.
fn instance_urls(external: &External, n: u32) -> Vec<String> {
    match external.node_metrics.as_slice() {
        [pattern] if pattern.contains("{i}") => (0..n)
            .map(|i| pattern.replace("{i}", &i.to_string()))
            .collect(),
        list => list.iter().take(n as usize).cloned().collect(),
    }
}

/// The counters read from outside around one edge of a step, each with
/// the moment it was read.
struct Snapshot {
    /// The generator's own CPU seconds.
    load: (f64, Instant),
    counters: Option<(crate::store::StoreCounters, Instant)>,
    nodes: Scrape,
    /// The mean moment the instances' pages arrived.
    nodes_at: Instant,
    /// The balancer's CPU seconds.
    balancer: Option<(f64, Instant)>,
}

/// The mean of some moments (now when there are none).
fn mean_instant(moments: &[Instant]) -> Instant {
    let Some(first) = moments.iter().min().copied() else {
        return Instant::now();
    };
    let offsets: Duration = moments.iter().map(|m| m.duration_since(first)).sum();
    first + offsets / moments.len() as u32
}

/// What one or more `/metrics` pages said.
#[derive(Debug, Clone, Default, PartialEq)]
struct Scrape {
    /// `process_cpu_seconds_total`: None if any page lacked it.
    cpu_seconds: Option<f64>,
    /// A page that lacked it.
    without_cpu: Option<String>,
    /// `authscale_requests_total` summed, where any page has it.
    requests: Option<u64>,
    pages: usize,
}

impl Scrape {
    fn add(&mut self, other: &Scrape) {
        self.cpu_seconds = match (self.pages, self.cpu_seconds, other.cpu_seconds) {
            (0, _, cpu) => cpu,
            (_, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.without_cpu = self.without_cpu.clone().or(other.without_cpu.clone());
        self.requests = match (self.requests, other.requests) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.pages += 1;
    }
}

/// Reads a `/metrics` page (Prometheus text).
async fn scrape(url: &str) -> anyhow::Result<Scrape> {
    let (addr, path) = resolve_url(url).await?;
    // An instance busy with the step's load can miss one call's 5 s bound:
    // three tries before the step fails (a counter read late is still a
    // counter; the step's CPU is the difference of two readings).
    let mut tries = 0;
    let (status, body) = loop {
        tries += 1;
        match crate::http::call(addr, "GET", &path, "").await {
            Ok(answer) => break answer,
            Err(e) if tries >= 3 => {
                return Err(e.context(format!("GET {url} failed 3 times")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    anyhow::ensure!(status == 200, "{url} answered {status}");
    let mut page = parse_metrics(&body);
    if page.cpu_seconds.is_none() {
        page.without_cpu = Some(url.to_owned());
    }
    Ok(page)
}

/// `process_cpu_seconds_total` and `authscale_requests_total` (summed over
/// their labels) from Prometheus text.
fn parse_metrics(body: &str) -> Scrape {
    // `name{labels} value [timestamp]`: the value is the first field after
    // the name and its labels.
    let value = |line: &str| {
        let rest = match line.rfind('}') {
            Some(close) => &line[close + 1..],
            None => line.split_once(char::is_whitespace)?.1,
        };
        rest.split_whitespace().next()?.parse::<f64>().ok()
    };
    let named = |line: &str, name: &str| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with([' ', '{']))
    };
    let mut page = Scrape {
        pages: 1,
        ..Scrape::default()
    };
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some(v) = value(line) else { continue };
        if named(line, "process_cpu_seconds_total") {
            *page.cpu_seconds.get_or_insert(0.0) += v;
        } else if named(line, "authscale_requests_total") {
            *page.requests.get_or_insert(0) += v as u64;
        }
    }
    page
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
/// `[external]`'s TLS settings, for the target and an `https://` ready URL.
fn tls_options(external: &External) -> authscale_load::TlsOptions {
    authscale_load::TlsOptions {
        ca_file: external.ca_file.clone(),
        insecure: external.insecure,
        http2: external.http2,
    }
}

/// Polls the ready URL: an `https://` one through the load generator's
/// transport, with the target's TLS settings.
async fn wait_ready(external: &External, url: &str, within: Duration) -> anyhow::Result<()> {
    if let Some(rest) = url.strip_prefix("https://") {
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        let mut target =
            authscale_load::resolve_target(&format!("https://{authority}"), external.allow_remote)
                .await?;
        tls_options(external).apply(&mut target)?;
        return Ok(authscale_load::wait_ready(&target, &path, within).await?);
    }
    let (addr, path) = resolve_url(url).await?;
    crate::http::wait_ok(addr, &path, within).await
}

#[cfg(test)]
mod tests;
