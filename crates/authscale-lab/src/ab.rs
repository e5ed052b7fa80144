//! `ab`: two builds (or two configurations) of the node measured side by
//! side. Both sides' nodes run at the same time, each in its own CPU
//! group on the same budget, behind one proxy and one store; round after
//! round the proxy is pointed at A's nodes and at B's for one slice each,
//! A first in even rounds and B first in odd ones (ABBA), so machine drift
//! hits both sides alike and the report can pair them by round.
//!
//! The lab records the slices; the ratios and verdicts are the report's.

use authscale_schema::AuthMode;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use authscale_load::{LoadConfig, LoopMode};

use crate::cgroup::{Caps, CpuGroup, remove_parent};
use crate::http;
use crate::process::Managed;
use crate::store::{Store, StoreCounters};
use authscale_schema::Experiment;
use authscale_schema::{AB_SCHEMA, AbRun, AbSide, AbSlice, Latency, Side, utc};

/// A comparison's plan.
#[derive(Debug, Clone)]
pub struct AbOptions {
    pub a: AbSide,
    pub b: AbSide,
    /// The binary that runs the proxy (shared by both sides).
    pub proxy_bin: PathBuf,
    /// Budgets, work, users and seed (its modes and nodes are ignored).
    pub experiment: Experiment,
    pub mode: AuthMode,
    /// Nodes per side.
    pub nodes: u32,
    pub rounds: u32,
    pub slice: Duration,
    pub warmup: Duration,
    /// A line per round on stderr.
    pub progress: bool,
}

/// Why a comparison did not finish.
#[derive(Debug)]
pub enum AbError {
    /// One side cannot run (missing binary, bad node arguments, a node
    /// that never became ready): nothing to compare.
    Side { side: Side, reason: String },
    /// The lab itself failed (store, proxy, load).
    Lab(anyhow::Error),
}

impl std::fmt::Display for AbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AbError::Side { side, reason } => write!(f, "side {side} cannot run: {reason}"),
            AbError::Lab(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for AbError {}

impl From<anyhow::Error> for AbError {
    fn from(e: anyhow::Error) -> AbError {
        AbError::Lab(e)
    }
}

/// Runs the comparison. `stop` (Ctrl-C) ends it early with an error.
pub async fn ab(options: AbOptions, stop: impl Future<Output = ()>) -> Result<AbRun, AbError> {
    for (side, s) in [(Side::A, &options.a), (Side::B, &options.b)] {
        if !s.bin.is_file() {
            return Err(AbError::Side {
                side,
                reason: format!("no binary at {}", s.bin.display()),
            });
        }
    }
    let caps = Caps::detect();
    let parent = format!("authscale-ab-{}", std::process::id());
    remove_parent(&caps, &parent);
    let outcome = run(&options, &caps, &parent, stop).await;
    remove_parent(&caps, &parent);
    outcome
}

async fn run(
    options: &AbOptions,
    caps: &Caps,
    parent: &str,
    stop: impl Future<Output = ()>,
) -> Result<AbRun, AbError> {
    let e = &options.experiment;
    let clock = Instant::now();
    let started_at = utc(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()));
    let period = crate::duration::parse(&e.cpu_period).map_err(|m| anyhow::anyhow!(m))?;
    let mut warnings = Vec::new();
    if let Caps::None { reason } = caps {
        warnings.push(format!("CPU budgets are NOT enforced ({reason})"));
    }
    let store = Store::start(CpuGroup::create(
        caps,
        parent,
        "store",
        e.store_cpu,
        period,
    )?)
    .await?;
    let proxy = crate::lab::start_proxy(&options.proxy_bin).await?;
    let secret = std::env::temp_dir().join(format!("authscale-ab-{}.secret", std::process::id()));
    let mut key = vec![0u8; 48];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    crate::lab::write_private(&secret, &key)?;
    let lab = Ab {
        options,
        caps,
        parent,
        store,
        proxy,
        secret,
    };
    let outcome = lab.slices(stop).await;
    let _ = std::fs::remove_file(&lab.secret);
    let slices = outcome?;
    Ok(AbRun {
        schema: AB_SCHEMA.to_owned(),
        mode: options.mode,
        nodes: options.nodes,
        rounds: options.rounds,
        slice_ms: options.slice.as_secs_f64() * 1000.0,
        warmup_ms: options.warmup.as_secs_f64() * 1000.0,
        node_cpu: e.node_cpu,
        work_us: e.work_us,
        caps: caps.label().to_owned(),
        node_cpu_period_ms: (!matches!(caps, Caps::None { .. }))
            .then(|| crate::cgroup::effective_period(e.node_cpu, period).as_secs_f64() * 1000.0),
        started_at,
        wall_seconds: clock.elapsed().as_secs_f64(),
        a: options.a.clone(),
        b: options.b.clone(),
        warnings,
        slices,
    })
}

struct Ab<'a> {
    options: &'a AbOptions,
    caps: &'a Caps,
    parent: &'a str,
    store: Store,
    proxy: Managed,
    secret: PathBuf,
}

impl Ab<'_> {
    async fn slices(&self, stop: impl Future<Output = ()>) -> Result<Vec<AbSlice>, AbError> {
        let o = self.options;
        let mut sets = Vec::new();
        for (side, s) in [(Side::A, &o.a), (Side::B, &o.b)] {
            let mut nodes = Vec::new();
            for index in 0..o.nodes as usize {
                let node = self
                    .start_node(side, s, index)
                    .await
                    .map_err(|e| AbError::Side {
                        side,
                        reason: format!("{e:#}"),
                    })?;
                nodes.push(node);
            }
            for node in &nodes {
                http::wait_ok(node.addr(), "/readyz", Duration::from_secs(10))
                    .await
                    .map_err(|e| AbError::Side {
                        side,
                        reason: format!("a node never became ready: {e:#}"),
                    })?;
            }
            sets.push((side, nodes));
        }
        tokio::pin!(stop);
        // One unrecorded visit of each side: first connections, first logins.
        for (_, nodes) in &sets {
            self.point_at(nodes).await?;
            self.measure(
                nodes,
                Duration::ZERO,
                o.warmup.max(Duration::from_millis(200)),
                &mut stop,
            )
            .await?;
        }
        let mut slices = Vec::new();
        for round in 0..o.rounds {
            let started = Instant::now();
            let order: Vec<usize> = if round % 2 == 0 {
                vec![0, 1]
            } else {
                vec![1, 0]
            };
            for i in order {
                let (side, nodes) = &sets[i];
                self.point_at(nodes).await?;
                let mut slice = self.measure(nodes, o.warmup, o.slice, &mut stop).await?;
                slice.side = *side;
                slice.round = round;
                slice.seq = slices.len() as u32;
                // A side that fails most of its requests measures its
                // errors, not its cost: nothing to compare.
                if slice.requests == 0 || slice.errors * 2 > slice.requests {
                    return Err(AbError::Side {
                        side: *side,
                        reason: format!(
                            "{} of {} requests failed in round {round}",
                            slice.errors, slice.requests
                        ),
                    });
                }
                slices.push(slice);
            }
            if o.progress {
                let last = &slices[slices.len() - 2..];
                eprintln!(
                    "  round {}/{}: {} in {:.1} s",
                    round + 1,
                    o.rounds,
                    last.iter()
                        .map(|s| format!(
                            "{} {:.0} req/s {:.1} µs/req",
                            s.side, s.throughput, s.node_cpu_us_per_protected_request
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(slices)
    }

    /// Points the proxy at one side's nodes, with the policy the mode needs.
    async fn point_at(&self, nodes: &[Managed]) -> anyhow::Result<()> {
        // Sticky sessions live on one node: the proxy must pin users.
        let policy = self.options.mode.proxy_policy();
        let admin = self.proxy.addrs[1];
        let (status, answer) =
            http::call(admin, "PUT", "/policy", &format!("\"{policy}\"")).await?;
        anyhow::ensure!(
            status == 200,
            "the proxy refused policy {policy}: {status} {answer}"
        );
        let list: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
        let body = serde_json::to_string(&list)?;
        let (status, answer) = http::call(admin, "PUT", "/upstreams", &body).await?;
        anyhow::ensure!(
            status == 200,
            "the proxy refused the upstream set: {status} {answer}"
        );
        Ok(())
    }

    /// One closed-loop load against the proxy; the figures of the side
    /// it points at.
    async fn measure(
        &self,
        nodes: &[Managed],
        warmup: Duration,
        duration: Duration,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<AbSlice> {
        let e = &self.options.experiment;
        let connections = e.connections_per_node * u64::from(self.options.nodes);
        let target =
            authscale_load::resolve_target(&format!("http://{}", self.proxy.addrs[0]), false)
                .await?;
        let mut config = LoadConfig::new(target);
        config.connections = connections;
        config.scenario = crate::lab::scenario(e, self.options.mode, connections)?;
        config.mode = LoopMode::Closed;
        config.warmup = warmup;
        config.duration = duration;
        config.timeout = Duration::from_secs(5);
        let snapshot = || async {
            let cpu: f64 = nodes.iter().map(Managed::cpu_seconds).sum();
            Ok::<(f64, StoreCounters), anyhow::Error>((cpu, self.store.counters().await?))
        };
        let load = authscale_load::run(config, stop.as_mut(), None);
        let at_warmup = async {
            tokio::time::sleep(warmup).await;
            snapshot().await
        };
        let (load, start) = tokio::join!(load, at_warmup);
        let end = snapshot().await?;
        let (load, start) = (load?, start?);
        anyhow::ensure!(!load.interrupted, "interrupted");
        let requests = load.requests.max(1);
        let protected: u64 = load.by_step.get("api").map_or(0, |c| c.values().sum());
        let latency = Latency::of(&load.latency_us.corrected);
        Ok(AbSlice {
            side: Side::A,
            round: 0,
            seq: 0,
            seconds: load.measured_seconds,
            requests: load.requests,
            protected_requests: protected,
            errors: load.errors,
            throughput: load.success_rate,
            p50_ms: latency.p50,
            p99_ms: latency.p99,
            node_cpu_us_per_protected_request: (end.0 - start.0) * 1e6 / protected.max(1) as f64,
            store_commands_per_request: end.1.since(&start.1).total_commands() as f64
                / requests as f64,
        })
    }

    /// One node of `side`: the lab's node arguments, then the side's own.
    /// A flag given once may not be repeated, so a setting the side names
    /// itself is left out of the lab's (`--jwt-key` replaces the lab's
    /// HMAC key: `--jwt-alg RS256 --jwt-key k=PRIV.pem,PUB.pem`).
    async fn start_node(&self, side: Side, s: &AbSide, index: usize) -> anyhow::Result<Managed> {
        let o = self.options;
        let e = &o.experiment;
        let name = format!("{}-node{}", side.to_string().to_lowercase(), index + 1);
        let users = e.users.max(e.connections_per_node * u64::from(o.nodes)) + 1;
        let names = |flags: &[&str]| {
            s.node_args.iter().any(|a| {
                let flag = a.split('=').next().unwrap_or(a);
                flags.contains(&flag)
            })
        };
        let mut args: Vec<String> = vec![
            "node".into(),
            "--auth".into(),
            o.mode.to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--node-id".into(),
            name.clone(),
        ];
        let mut unless_named = |flag: &str, value: String, also: &[&str]| {
            if !names(&[&[flag][..], also].concat()) {
                args.extend([flag.to_owned(), value]);
            }
        };
        unless_named("--seed", e.seed.to_string(), &[]);
        unless_named("--users", users.to_string(), &[]);
        unless_named("--threads", "1".into(), &[]);
        unless_named("--work-us", e.work_us.to_string(), &[]);
        if o.mode.uses_store() {
            unless_named("--store-timeout", e.store_timeout.clone(), &[]);
            unless_named("--store-rtt", e.store_rtt.clone(), &[]);
        }
        if o.mode.caches_sessions() {
            unless_named("--session-cache-ttl", e.session_cache_ttl.clone(), &[]);
        }
        if o.mode.issues_tokens() {
            let key = format!("lab={}", self.secret.display());
            unless_named("--jwt-secret", key, &["--jwt-key"]);
        }
        if o.mode.uses_store() {
            args.extend(["--redis-url".into(), self.store.url.clone()]);
        }
        args.extend(s.node_args.iter().cloned());
        let period = crate::duration::parse(&e.cpu_period).map_err(|m| anyhow::anyhow!(m))?;
        let group = CpuGroup::create(self.caps, self.parent, &name, e.node_cpu, period)?;
        Managed::start(&name, &s.bin, &args, group, true).await
    }
}
