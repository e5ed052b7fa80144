//! `ab`: two builds (or two configurations) of the node measured side by
//! side. Both sides' nodes run at the same time, each in its own CPU
//! group on the same budget, behind one proxy and one store; round after
//! round the proxy is pointed at A's nodes and at B's for one slice each,
//! A first in even rounds and B first in odd ones (ABBA), so machine drift
//! hits both sides alike and the report can pair them by round.
//!
//! The lab records the slices; the ratios and verdicts are the report's.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use authscale_load::{LoadConfig, LoopMode};

use crate::Stop;
use crate::cgroup::{Caps, CpuGroup, remove_parent};
use crate::http;
use crate::process::Managed;
use crate::store::{Store, StoreCounters};
use authscale_schema::NodeLaunch;
use authscale_schema::{AB_SCHEMA, AbRun, AbSide, AbSlice, AbStages, Costlier, Latency, Side, utc};

mod plan;
pub use plan::{AbError, AbOptions, Rounds, added_work_us};

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
    let period = e.cpu_period.0;
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
    let proxy = crate::launch::start_proxy(&options.proxy_bin).await?;
    let secret = crate::launch::new_token_key("ab")?;
    let lab = Ab {
        options,
        caps,
        parent,
        store,
        proxy,
        secret,
    };
    tokio::pin!(stop);
    let mut stop: Stop<'_> = stop;
    let outcome = async {
        let costlier = match options.b_costlier {
            Some(share) => Some(lab.calibrate(share, &mut stop).await?),
            None => None,
        };
        let mut b = options.b.clone();
        if let Some(c) = &costlier {
            b.node_args
                .extend(["--work-us".to_owned(), c.work_us.to_string()]);
        }
        let (slices, stages) = lab.slices(&b, &mut stop).await?;
        Ok::<_, AbError>((slices, stages, costlier, b))
    }
    .await;
    let _ = std::fs::remove_file(&lab.secret);
    let (slices, stages, costlier, b) = outcome?;
    Ok(AbRun {
        schema: AB_SCHEMA.to_owned(),
        mode: options.mode,
        nodes: options.nodes,
        rounds: slices.len() as u32 / 2,
        block_rounds: Some(options.block),
        stages,
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
        b,
        b_costlier: costlier,
        warnings,
        slices,
    })
}

/// The block number of the calibration's nodes (`ab --b-costlier`).
const CALIBRATION: u32 = u32::MAX;

struct Ab<'a> {
    options: &'a AbOptions,
    caps: &'a Caps,
    parent: &'a str,
    store: Store,
    proxy: Managed,
    secret: PathBuf,
}

impl Ab<'_> {
    /// B's extra work for a regression of `share` of A's cost: A's nodes
    /// alone for three slices, their mean node CPU per protected request.
    async fn calibrate(&self, share: f64, stop: &mut Stop<'_>) -> Result<Costlier, AbError> {
        let o = self.options;
        let nodes = self.start_side(Side::A, &o.a, CALIBRATION).await?;
        self.point_at(&nodes).await?;
        self.measure(
            &nodes,
            Duration::ZERO,
            o.warmup.max(Duration::from_millis(200)),
            stop,
        )
        .await?;
        let mut costs = Vec::new();
        for _ in 0..3 {
            let slice = self.measure(&nodes, o.warmup, o.slice, stop).await?;
            costs.push(slice.node_cpu_us_per_protected_request);
        }
        let cost = costs.iter().sum::<f64>() / costs.len() as f64;
        let work_us = added_work_us(o.experiment.work_us, cost, share);
        if o.progress {
            eprintln!(
                "calibration: A's nodes {cost:.1} µs per protected request; B works {work_us} µs \
                 ({} + {:.0}% of {cost:.1})",
                o.experiment.work_us,
                100.0 * share
            );
        }
        Ok(Costlier {
            share,
            a_cost_us: cost,
            work_us,
        })
    }

    async fn slices(
        &self,
        b: &AbSide,
        stop: &mut Stop<'_>,
    ) -> Result<(Vec<AbSlice>, Option<AbStages>), AbError> {
        let o = self.options;
        let block = o.block.max(1);
        let (mut rounds, mut stages) = match &o.rounds {
            Rounds::Fixed(n) => (*n, None),
            Rounds::Adaptive {
                first, precision, ..
            } => (
                *first,
                Some(AbStages {
                    precision: *precision,
                    ..AbStages::default()
                }),
            ),
        };
        let mut sets: Vec<(Side, Vec<Managed>)> = Vec::new();
        let mut slices = Vec::new();
        let mut round = 0;
        let measuring = Instant::now();
        loop {
            if round == rounds {
                let Rounds::Adaptive {
                    first,
                    max_time,
                    needed,
                    ..
                } = &o.rounds
                else {
                    break;
                };
                let Some(stages) = stages.as_mut() else {
                    break;
                };
                // After the first stage, and again after each part of the
                // second: the rounds needed in all, as many whole pairs of
                // blocks of them as the time left allows (timed from the
                // first block, so a calibration does not shorten it).
                let elapsed = measuring.elapsed().as_secs_f64();
                if round == *first {
                    stages.first_seconds = elapsed;
                    stages.first = round;
                    stages.max_seconds = max_time.as_secs_f64();
                }
                let per_round = elapsed / f64::from(round.max(1));
                let left = max_time.as_secs_f64() - elapsed;
                let pair = 2 * block;
                let fit = ((left / per_round).max(0.0) as u32) / pair * pair;
                stages.needed = needed(&slices).max(round);
                let more = (stages.needed - round).div_ceil(pair) * pair;
                rounds = round + more.min(fit);
                if rounds == round {
                    break;
                }
            }
            if round % block == 0 {
                // A new block: every node afresh, the side started first
                // alternating (whichever side starts second measured 3–5%
                // cheaper per request in A/A runs), so neither side keeps
                // a process's or a start order's luck.
                sets.clear();
                let mut order = [(Side::A, &o.a), (Side::B, b)];
                if (round / block) % 2 == 1 {
                    order.reverse();
                }
                for (side, s) in order {
                    sets.push((side, self.start_side(side, s, round / block).await?));
                }
                sets.sort_by_key(|(side, _)| *side == Side::B);
                // One unrecorded visit of each side: first connections,
                // first logins.
                for (_, nodes) in &sets {
                    self.point_at(nodes).await?;
                    self.measure(
                        nodes,
                        Duration::ZERO,
                        o.warmup.max(Duration::from_millis(200)),
                        stop,
                    )
                    .await?;
                }
            }
            let started = Instant::now();
            let order: Vec<usize> = if round % 2 == 0 {
                vec![0, 1]
            } else {
                vec![1, 0]
            };
            for i in order {
                let (side, nodes) = &sets[i];
                self.point_at(nodes).await?;
                let mut slice = self.measure(nodes, o.warmup, o.slice, stop).await?;
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
                    rounds,
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
            round += 1;
        }
        Ok((slices, stages))
    }

    /// Starts one side's nodes (block `block`'s) and waits until they are
    /// ready.
    async fn start_side(
        &self,
        side: Side,
        s: &AbSide,
        block: u32,
    ) -> Result<Vec<Managed>, AbError> {
        let o = self.options;
        let refuse = |reason: String| AbError::Side { side, reason };
        let mut nodes = Vec::new();
        for index in 0..o.nodes as usize {
            let node = self
                .start_node(side, s, index, block)
                .await
                .map_err(|e| refuse(format!("{e:#}")))?;
            nodes.push(node);
        }
        for node in &nodes {
            http::wait_ok(node.addr(), "/readyz", Duration::from_secs(10))
                .await
                .map_err(|e| refuse(format!("a node never became ready: {e:#}")))?;
        }
        Ok(nodes)
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
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<AbSlice> {
        let e = &self.options.experiment;
        let connections = e.connections_per_node * u64::from(self.options.nodes);
        let target = authscale_load::loopback_target(self.proxy.addrs[0])?;
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
        if load.interrupted {
            return Err(plan::Stopped.into());
        }
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

    /// One node of `side`: the lab's settings in its launch file, then the
    /// side's own flags, which win over the file (`--jwt-key` replaces the
    /// lab's HMAC key: `--jwt-alg RS256 --jwt-key k=PRIV.pem,PUB.pem`).
    async fn start_node(
        &self,
        side: Side,
        s: &AbSide,
        index: usize,
        block: u32,
    ) -> anyhow::Result<Managed> {
        let o = self.options;
        let e = &o.experiment;
        let name = format!(
            "{}-node{}-{}",
            side.to_string().to_lowercase(),
            index + 1,
            match block {
                CALIBRATION => "calibration".to_owned(),
                b => format!("block{}", b + 1),
            }
        );
        let users = e.users.max(e.connections_per_node * u64::from(o.nodes)) + 1;
        let names = |flags: &[&str]| {
            s.node_args.iter().any(|a| {
                let flag = a.split('=').next().unwrap_or(a);
                flags.contains(&flag)
            })
        };
        // The lab's settings in the launch file; the side's own flags
        // follow it on the command line and win over it. A side that names
        // its own key gets no lab key beside it.
        let mut launch = NodeLaunch::new(o.mode, &name);
        launch.seed = Some(e.seed);
        launch.users = Some(users);
        launch.threads = Some(1);
        launch.work_us = Some(e.work_us);
        if o.mode.uses_store() {
            launch.redis_url = Some(self.store.url.clone());
            launch.store_timeout = Some(e.store_timeout);
            launch.store_rtt = Some(e.store_rtt);
        }
        if o.mode.caches_sessions() {
            launch.session_cache_ttl = Some(e.session_cache_ttl);
        }
        if o.mode.issues_tokens() && !names(&["--jwt-secret", "--jwt-key"]) {
            launch.jwt_secret = vec![format!("lab={}", self.secret.display())];
        }
        let period = e.cpu_period.0;
        let group = CpuGroup::create(self.caps, self.parent, &name, e.node_cpu, period)?;
        crate::launch::start_node(&s.bin, &launch, &s.node_args, group).await
    }
}

#[cfg(test)]
mod tests {
    use super::added_work_us;

    #[test]
    fn the_regression_scales_with_the_measured_cost() {
        // +10% of 37 µs on one machine, of 55 µs on another: the same
        // regression in share, not in µs.
        assert_eq!(added_work_us(20, 37.0, 0.10), 24);
        assert_eq!(added_work_us(20, 55.0, 0.10), 26);
        assert_eq!(added_work_us(20, 110.0, 0.10), 31);
        assert_eq!(added_work_us(20, 55.0, 0.20), 31);
        assert_eq!(added_work_us(20, 55.0, 0.0), 20);
    }
}
