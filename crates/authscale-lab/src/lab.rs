//! The lab's processes: the store and the proxy it starts for a sweep, the
//! nodes it adds, how it points the proxy at a node set, and one measured
//! load run (a step, a probe or a slice) against the current set.

use authscale_schema::{AuthMode, Balance, Component, RunStatus};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use authscale_load::{LoadConfig, LoopMode, Progress, ScenarioConfig};

use crate::Stop;
use crate::cgroup::{Caps, CpuGroup, remove_parent};
use crate::cpuset::{Isolate, Isolation, Pinning};
use crate::host::{self, finish, results_dir, unix_now};
use crate::http;
use crate::process::Managed;
use crate::progress;
use crate::step::{Budgets, Snapshot, step};
use crate::store::Store;
use authscale_schema::{CellRounds, Run, SCHEMA, Step, utc};
use authscale_schema::{Experiment, NodeLaunch, Plan};

/// Where and how the lab runs.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The `authscale` binary that runs nodes and the proxy.
    pub bin: PathBuf,
    /// Parent of the run's folder (usually `results/`).
    pub out_dir: PathBuf,
    /// An existing store instead of one the lab starts.
    pub redis_url: Option<String>,
    /// Step lines on stderr.
    pub progress: bool,
    /// A live rate on stderr while a step runs (for a terminal).
    pub live: bool,
    /// For an interleaved sweep with a precision: the rounds each cell
    /// needs, from the run after its first stage (the report's statistics;
    /// without it the sweep measures its first stage only).
    pub needed: Option<Needed>,
}

/// The rule that turns a first stage into the rounds each cell needs.
#[derive(Clone)]
pub struct Needed(pub NeededFn);

/// Given the run after its first stage, the rounds each cell needs.
pub type NeededFn = std::sync::Arc<dyn Fn(&Run) -> Vec<CellRounds> + Send + Sync>;

impl std::fmt::Debug for Needed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Needed(..)")
    }
}

/// A finished (or interrupted) sweep and where it was written.
#[derive(Debug)]
pub struct Finished {
    pub dir: PathBuf,
    pub run: Run,
}

/// A running lab: its store, its proxy (`addrs[0]` serves, `addrs[1]` is
/// the admin API), the token key its nodes share, and where their CPU
/// groups live.
pub(crate) struct Lab<'a> {
    pub plan: &'a Plan,
    pub options: &'a LabOptions,
    pub caps: Caps,
    pub parent: String,
    pub store: Store,
    pub proxy: Managed,
    pub secret: PathBuf,
    /// The CPU pinning of harness and system under test, held for its
    /// drop: last, so its groups are removed after the store and the
    /// proxy stopped.
    pub _isolation: Isolation,
}

impl<'a> Lab<'a> {
    /// Starts the store and the proxy and writes the run's first record;
    /// the lab, the run and the run's folder.
    pub(crate) async fn start(
        plan: &'a Plan,
        options: &'a LabOptions,
    ) -> anyhow::Result<(Lab<'a>, Run, PathBuf)> {
        let caps = Caps::detect();
        let parent = format!("authscale-{}", std::process::id());
        remove_parent(&caps, &parent);
        let started = unix_now();
        // The run's own folder is made once the store and the proxy are
        // up, so a sweep that cannot start leaves no empty folder; the
        // parent is checked now, before anything starts.
        std::fs::create_dir_all(&options.out_dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", options.out_dir.display()))?;

        let mut warnings = plan.experiment.ignored_settings();
        warnings.extend(host::provenance_warning());
        // Before the proxy starts: it inherits the lab's pinning.
        let isolation = Isolation::set_up(plan.experiment.isolate, &caps, &parent);
        if let (Isolate::Cpuset, Pinning::None { reason }) =
            (plan.experiment.isolate, isolation.pinning())
        {
            warnings.push(format!(
                "the harness and the system under test share every CPU: {reason}"
            ));
        }
        if let Caps::None { reason } = &caps {
            warnings.push(format!(
                "CPU budgets are NOT enforced ({reason}): this run is not a scale model (caps: none)"
            ));
        }
        let store = match &options.redis_url {
            Some(url) => {
                warnings.push(format!("the store at {} is not the lab's: it is neither capped nor restarted, and store-cpu is ignored", authscale_auth::shown_url(url)));
                Store::existing(url).await?
            }
            None => {
                let group = CpuGroup::create(
                    &caps,
                    &parent,
                    "store",
                    plan.experiment.store_cpu,
                    plan.experiment.cpu_period.0,
                )?;
                Store::start(group).await?
            }
        };
        let proxy = crate::launch::start_proxy(&options.bin).await?;
        let dir = results_dir(&options.out_dir, plan, started)?;
        let secret = crate::launch::new_token_key("lab")?;

        let cores = host::cores();
        let budget = f64::from(plan.max_nodes()) * plan.experiment.node_cpu
            + if store.owned {
                plan.experiment.store_cpu
            } else {
                0.0
            };
        if budget > cores as f64 - 0.5 {
            warnings.push(format!(
                "node and store budgets add up to {budget:.2} cores of {cores}: less than half a core is left for the proxy and the load generator"
            ));
        }
        let host = host::host(&caps, &store).await;
        let run = Run {
            schema: SCHEMA.to_owned(),
            plan: plan.clone(),
            host,
            started_at: utc(started),
            finished_at: None,
            status: RunStatus::Running,
            error: None,
            warnings,
            pids: store.pid().into_iter().chain([proxy.pid]).collect(),
            steps: Vec::new(),
            revocations: Vec::new(),
            faults: Vec::new(),
            isolation: Some(isolation.pinning().clone()),
            stages: None,
        };
        if options.progress {
            for warning in &run.warnings {
                eprintln!("WARNING: {warning}");
            }
            eprintln!("results: {}", dir.display());
        }
        run.write(&dir)?;

        let lab = Lab {
            plan,
            options,
            caps,
            parent,
            store,
            proxy,
            secret,
            _isolation: isolation,
        };
        Ok((lab, run, dir))
    }

    /// Records how the sweep ended, removes the token key and the CPU
    /// groups, and writes the run; the store and the proxy stop on drop.
    pub(crate) fn close(
        self,
        run: &mut Run,
        dir: &Path,
        outcome: anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        finish(run, outcome);
        let Lab {
            caps,
            parent,
            store,
            proxy,
            secret,
            _isolation,
            ..
        } = self;
        let _ = std::fs::remove_file(&secret);
        // The store and the proxy stop (and leave their groups) first, so
        // the sweep's parent group is empty when it is removed.
        drop(proxy);
        drop(store);
        remove_parent(&caps, &parent);
        drop(_isolation);
        run.write(dir)
    }
}

impl Lab<'_> {
    /// Points the proxy at `nodes` with the policy `mode` needs.
    pub(crate) async fn point_at(&self, mode: AuthMode, nodes: &[Managed]) -> anyhow::Result<()> {
        self.set_policy(mode).await?;
        self.set_upstreams(nodes).await
    }

    pub(crate) async fn set_policy(&self, mode: AuthMode) -> anyhow::Result<()> {
        // Sticky sessions live on one node: the proxy must pin users.
        let policy = mode.proxy_policy();
        let (status, answer) = http::call(
            self.proxy.addrs[1],
            "PUT",
            "/policy",
            &format!("\"{policy}\""),
        )
        .await?;
        anyhow::ensure!(
            status == 200,
            "the proxy refused policy {policy}: {status} {answer}"
        );
        Ok(())
    }

    pub(crate) async fn set_upstreams(&self, nodes: &[Managed]) -> anyhow::Result<()> {
        let list: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
        let body = serde_json::to_string(&list)?;
        let (status, answer) = http::call(self.proxy.addrs[1], "PUT", "/upstreams", &body).await?;
        anyhow::ensure!(
            status == 200,
            "the proxy refused the upstream set: {status} {answer}"
        );
        Ok(())
    }

    /// A new node of `mode`, the `index`-th started for it, on a free port.
    pub(crate) async fn start_node(&self, mode: AuthMode, index: usize) -> anyhow::Result<Managed> {
        let name = format!("{mode}-node{}", index + 1);
        self.start_node_at(mode, &name, "127.0.0.1:0").await
    }

    /// Starts nodes of `mode` until the set holds `to`, each pid recorded
    /// in `pids` (the run's, so nothing started is forgotten).
    pub(crate) async fn grow(
        &self,
        mode: AuthMode,
        nodes: &mut Vec<Managed>,
        to: usize,
        pids: &mut Vec<u32>,
    ) -> anyhow::Result<()> {
        while nodes.len() < to {
            let node = self.start_node(mode, nodes.len()).await?;
            pids.push(node.pid);
            nodes.push(node);
        }
        Ok(())
    }

    /// A node named `name` (which also names its CPU group) listening on
    /// `listen`: a new one, or a killed node started again on its port
    /// under its own name (the node sets rotate, so its place in a set
    /// does not tell which node it was).
    pub(crate) async fn start_node_at(
        &self,
        mode: AuthMode,
        name: &str,
        listen: &str,
    ) -> anyhow::Result<Managed> {
        let e = &self.plan.experiment;
        let mut launch = NodeLaunch::new(mode, name);
        launch.listen = listen.to_owned();
        launch.threads = Some(1);
        launch.work_us = Some(e.work_us);
        launch.seed = Some(e.seed);
        launch.users = Some(self.directory_size());
        if mode.uses_store() {
            launch.redis_url = Some(self.store.url.clone());
            launch.store_timeout = Some(e.store_timeout);
            launch.store_rtt = Some(e.store_rtt);
            launch.store_client = Some(e.store_client);
        }
        if mode.caches_sessions() {
            launch.session_cache_ttl = Some(e.session_cache_ttl);
        }
        if mode.issues_tokens() {
            launch.jwt_secret = vec![format!("lab={}", self.secret.display())];
        }
        let group = CpuGroup::create(
            &self.caps,
            &self.parent,
            name,
            e.node_cpu,
            self.plan.experiment.cpu_period.0,
        )?;
        crate::launch::start_node(&self.options.bin, &launch, &[], group).await
    }

    /// Users the load generator may use: `0..load_users()`.
    pub(crate) fn load_users(&self) -> u64 {
        let nodes = self
            .plan
            .experiment
            .faults
            .as_ref()
            .map_or(0, |f| f.nodes)
            .max(self.plan.max_nodes());
        self.plan
            .experiment
            .users
            .max(self.plan.connections(nodes))
            .max(1000)
    }

    /// The load's users, then the fault runs' durability users (logged
    /// out, kept), then the revocation probe's user.
    pub(crate) fn directory_size(&self) -> u64 {
        let durability = self
            .plan
            .experiment
            .faults
            .as_ref()
            .map_or(0, |f| f.durability_users);
        self.load_users() + 2 * durability + 1
    }

    /// A CPU group for (a new process of) the lab's store.
    pub(crate) fn store_group(&self) -> anyhow::Result<Option<CpuGroup>> {
        CpuGroup::create(
            &self.caps,
            &self.parent,
            "store",
            self.plan.experiment.store_cpu,
            self.plan.experiment.cpu_period.0,
        )
    }

    /// One load run against the current node set; None when interrupted.
    pub(crate) async fn measure(
        &self,
        mode: AuthMode,
        nodes: &[Managed],
        rate: Option<f64>,
        (warmup, duration): (Duration, Duration),
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<Option<Step>> {
        let plan = self.plan;
        let n = nodes.len() as u32;
        let connections = match rate {
            Some(_) => plan.connections(n).max(64),
            None => plan.connections(n),
        };
        let spread = (plan.experiment.balance == Balance::Client).then_some(nodes);
        let mut config = self.load_config(mode, connections, spread).await?;
        config.mode = match rate {
            Some(rate) => LoopMode::Open { rate },
            None => LoopMode::Closed,
        };
        config.warmup = warmup;
        config.duration = duration;
        config.timeout = Duration::from_secs(5);
        let progress = Arc::new(Progress::default());
        let ticker = (self.options.live && !plan.interleaved())
            .then(|| tokio::spawn(progress::live(progress.clone(), format!("{mode} N={n}"))));
        let load = authscale_load::run(config, stop.as_mut(), Some(progress));
        let at_warmup = async {
            tokio::time::sleep(warmup).await;
            Snapshot::take(
                nodes,
                &self.store,
                &self.proxy,
                !self.plan.experiment.store_rtt.0.is_zero(),
            )
            .await
        };
        let (result, start) = tokio::join!(load, at_warmup);
        let end = Snapshot::take(
            nodes,
            &self.store,
            &self.proxy,
            !self.plan.experiment.store_rtt.0.is_zero(),
        )
        .await;
        if let Some(ticker) = ticker {
            ticker.abort();
            eprint!("\r{:78}\r", "");
        }
        let result = result?;
        if result.interrupted {
            return Ok(None);
        }
        let budgets = Budgets {
            capped: !matches!(self.caps, Caps::None { .. }),
            node_cpu: plan.experiment.node_cpu,
            store_cpu: plan.experiment.store_cpu,
            node_period: nodes.first().and_then(Managed::cpu_period),
            store_period: self.store.cpu_period(),
        };
        let mut step = step(
            mode,
            n,
            plan.experiment.capacity,
            rate,
            result,
            &start?,
            &end?,
            &budgets,
        );
        if spread.is_some() {
            // Not in the path: its idle CPU is no part of this step.
            step.components.remove(&Component::Proxy);
        }
        Ok(Some(step))
    }

    /// A load with the experiment's virtual users: against the proxy, or
    /// spread by the load generator itself over `spread` (client-side
    /// balancing: connection c to node c mod N).
    pub(crate) async fn load_config(
        &self,
        mode: AuthMode,
        connections: u64,
        spread: Option<&[Managed]>,
    ) -> anyhow::Result<LoadConfig> {
        let e = &self.plan.experiment;
        let addrs: Vec<std::net::SocketAddr> = match spread {
            Some(nodes) if !nodes.is_empty() => nodes.iter().map(Managed::addr).collect(),
            _ => vec![self.proxy.addrs[0]],
        };
        let mut targets = addrs
            .into_iter()
            .map(authscale_load::loopback_target)
            .collect::<Result<Vec<_>, _>>()?;
        let target = targets.remove(0);
        let mut config = LoadConfig::new(target);
        config.spread = targets;
        config.connections = connections;
        config.scenario = scenario(e, mode, connections)?;
        Ok(config)
    }

    /// Warns when the proxy or the load generator came near its limit: then
    /// it, not the system under test, may have set the step's throughput.
    pub(crate) fn check_limits(&self, step: &Step, run: &mut Run) {
        for name in [Component::Proxy, Component::Load] {
            if let Some(c) = step.components.get(&name)
                && c.utilization > authscale_schema::HARNESS_LIMIT
            {
                run.warnings.push(format!(
                    "{} N={}: the {name} used {:.0}% of its core; it may have limited this step",
                    step.mode,
                    step.nodes,
                    c.utilization * 100.0
                ));
            }
        }
    }
}

/// The experiment's virtual users for `mode` over `connections`.
pub(crate) fn scenario(
    e: &Experiment,
    mode: AuthMode,
    connections: u64,
) -> anyhow::Result<ScenarioConfig> {
    Ok(ScenarioConfig {
        auth: mode.credential(),
        users: e.users.max(connections),
        first_user: 0,
        seed: e.seed,
        requests_per_login: e.requests_per_login,
        logout: true,
        // Sticky: the proxy pins users by a stable client cookie, so the
        // login lands on the node that will hold the session.
        client_cookie: mode.client_cookie(),
        file: None,
    })
}
