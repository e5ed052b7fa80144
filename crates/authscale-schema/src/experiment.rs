//! An experiment: which modes and node counts to sweep, with which budgets
//! and load. Read from a TOML file (`experiments/*.toml`); every field has
//! a default, and the command line may override any of them.

use crate::duration::Dur;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vocabulary::AuthMode;

/// How a step measures capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Capacity {
    /// Saturation: a closed loop with C connections per node.
    Closed,
    /// Maximum sustainable rate: open loop, step the rate up, then bisect.
    Slo,
}

/// How the steps of a closed-loop sweep are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Pairing {
    /// Every (mode, N) cell once per round, in short slices, round after
    /// round (ABBA order): drift hits every cell alike, and every figure
    /// gets an interval from its slices.
    #[default]
    Interleaved,
    /// One block of `warmup` + `duration` per (mode, N), mode after mode
    /// (the design before slices; kept to compare against).
    Blocks,
}

/// A fault the lab injects in the middle of a closed-loop run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The store is killed, then restarted on its port (from its
    /// append-only file when the run's persistence is `aof`, else empty).
    StoreOutage,
    /// One node is killed, then restarted on its port.
    NodeLoss,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::StoreOutage => "store-outage",
            FaultKind::NodeLoss => "node-loss",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the lab's store keeps across a restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    /// Nothing: a restarted store is empty (`--save '' --appendonly no`).
    #[default]
    None,
    /// An append-only file fsynced every second (`--appendonly yes
    /// --appendfsync everysec`), reloaded at restart.
    Aof,
}

impl Persistence {
    pub fn as_str(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::Aof => "aof",
        }
    }
}

impl std::fmt::Display for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fault runs: after each mode's steps, a closed-loop run with a fault
/// injected in the middle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Faults {
    pub kinds: Vec<FaultKind>,
    /// Store outages run once per entry: `none` (restarted empty) and/or
    /// `aof` (restarted from its append-only file).
    pub persistence: Vec<Persistence>,
    /// Users logged out, and users kept logged in, before each fault: the
    /// lab counts how many of each the system forgot across it.
    pub durability_users: u64,
    /// Nodes during the fault runs.
    pub nodes: u32,
    pub duration: Dur,
    /// When the fault starts, from the start of the run.
    pub at: Dur,
    /// How long the store or node stays down.
    pub length: Dur,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            kinds: vec![FaultKind::StoreOutage, FaultKind::NodeLoss],
            persistence: vec![Persistence::None],
            durability_users: 50,
            nodes: 4,
            duration: dur("10s"),
            at: dur("3s"),
            length: dur("3s"),
        }
    }
}

/// A deployment the lab does not run itself (a cluster): it only scales it
/// with a command, waits for readiness, and loads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct External {
    /// The balancer in front of the nodes, `http://host:port` or
    /// `https://host:port`.
    pub target: String,
    /// Run with `sh -c` before each step; `{n}` and `{mode}` are replaced.
    /// For example `kubectl scale deployment/authscale-node-{mode} --replicas={n}`.
    pub scale_command: String,
    /// Polled until it answers 200 after scaling [default: TARGET/readyz].
    #[serde(default)]
    pub ready_url: Option<String>,
    /// The store, for its own counters (`INFO`: CPU and commands); absent:
    /// not measured.
    #[serde(default)]
    pub store_url: Option<String>,
    /// The store's CPU limit in cores, what its utilization is taken
    /// against [default: 1: Redis runs commands on one thread].
    #[serde(default)]
    pub store_cpu_limit: Option<f64>,
    /// The instances' `/metrics` URLs (Prometheus text), read at the start
    /// and end of each step: `process_cpu_seconds_total` (their CPU) and
    /// `authscale_requests_total` where they have it. A URL with `{i}`
    /// stands for every instance, `{i}` from 0 to N - 1; a list without
    /// it names the instances in the order the scale command adds them,
    /// and a step with N instances reads the first N.
    #[serde(default)]
    pub node_metrics: Vec<String>,
    /// Each instance's CPU limit in cores (its container's limit or cgroup
    /// quota), what the instances' utilization is taken against
    /// [default: 1].
    #[serde(default)]
    pub node_cpu_limit: Option<f64>,
    /// The balancer's `/metrics` URL, for its `process_cpu_seconds_total`
    /// (`authscale proxy` exports it on its admin port); absent: not measured.
    #[serde(default)]
    pub balancer_metrics: Option<String>,
    /// Send load outside the loopback range (the deployment is remote).
    #[serde(default)]
    pub allow_remote: bool,
    /// An `https://` target's CA (PEM), trusted instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate from an `https://` target (a test service only).
    #[serde(default)]
    pub insecure: bool,
    /// Offer HTTP/2 to an `https://` target by ALPN.
    #[serde(default)]
    pub http2: bool,
    /// The virtual users' requests per mode, from scenario files
    /// (`scenarios = { session = "app-session.toml", token = "app-token.toml" }`,
    /// paths from where the sweep runs); a mode without one drives
    /// authscale's node API.
    #[serde(default)]
    pub scenarios: BTreeMap<AuthMode, String>,
}

/// An experiment as written in a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub modes: Vec<AuthMode>,
    pub nodes: Vec<u32>,
    pub duration: Dur,
    pub warmup: Dur,
    pub capacity: Capacity,
    /// Closed loop: `interleaved` slices (default) or one block per step.
    pub pairing: Pairing,
    /// Interleaved: rounds, and each slice's measured window and warm-up.
    pub rounds: u32,
    pub slice: Dur,
    pub slice_warmup: Dur,
    /// Interleaved: the wanted half-width of the 95% intervals of the
    /// headline figures (each mode's E(N), each mode ratio per N), in
    /// percent; 0 measures `rounds` rounds and no more. With a precision,
    /// `rounds` is the first stage: from its spread Stein's two-stage rule
    /// sets the rounds each figure needs, and only the cells whose figures
    /// need more are measured again, within `max-time`.
    pub precision: f64,
    /// Interleaved with a precision: the time allowed for all rounds.
    pub max_time: Dur,
    /// Closed loop: connections per node (the load grows with N).
    pub connections_per_node: u64,
    /// Fraction of one core per node (cgroup quota).
    pub node_cpu: f64,
    /// Fraction of one core for the store.
    pub store_cpu: f64,
    /// The cgroup quota period (raised where the quota would be under 1 ms).
    pub cpu_period: Dur,
    /// Delay each node adds to every store call.
    pub store_rtt: Dur,
    pub store_timeout: Dur,
    /// session-cached: how long a node trusts a cached lookup.
    pub session_cache_ttl: Dur,
    /// After each mode's steps: how long to probe every node for the
    /// revoked credential ("0s": no probe).
    pub revocation_window: Dur,
    /// CPU work per protected request on the node, µs.
    pub work_us: u64,
    pub users: u64,
    pub requests_per_login: u64,
    pub seed: u64,
    /// SLO capacity: p99 bound, first rate per node, probes at most.
    pub slo_p99: Dur,
    pub slo_start_rate_per_node: f64,
    pub slo_probes: u32,
    /// Fault runs after each mode's steps (none when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<Faults>,
    /// Load an external deployment instead of local processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
    /// How the nodes reach the store: `manager` (one multiplexed
    /// connection) or `deadpool` (a pool; UNWATCH+PING per checkout).
    pub store_client: crate::StoreClient,
    /// `cpuset`: the load generator and the proxy on some CPUs, the nodes
    /// and the store on the others (none, with the reason, where it cannot).
    pub isolate: crate::Isolate,
    /// `proxy` (default): the load goes through `authscale proxy`;
    /// `client`: the load generator spreads its connections over the nodes.
    #[serde(skip_serializing_if = "crate::Balance::is_proxy")]
    pub balance: crate::Balance,
}

impl Default for Experiment {
    fn default() -> Experiment {
        Experiment {
            name: "default".into(),
            description: "session vs token, N = 1..8 nodes at 0.1 core each, store at 0.04 core"
                .into(),
            modes: vec![AuthMode::Session, AuthMode::Token],
            nodes: vec![1, 2, 3, 4, 6, 8],
            duration: dur("4s"),
            warmup: dur("1s"),
            capacity: Capacity::Closed,
            pairing: Pairing::Interleaved,
            rounds: 7,
            slice: dur("1s"),
            slice_warmup: dur("200ms"),
            precision: 0.0,
            max_time: dur("200s"),
            connections_per_node: 8,
            node_cpu: 0.1,
            store_cpu: 0.04,
            cpu_period: dur("10ms"),
            store_rtt: dur("0s"),
            store_timeout: dur("200ms"),
            session_cache_ttl: dur("1s"),
            revocation_window: dur("3s"),
            work_us: 20,
            users: 2000,
            requests_per_login: 20,
            seed: 1,
            slo_p99: dur("50ms"),
            slo_start_rate_per_node: 200.0,
            slo_probes: 8,
            faults: None,
            external: None,
            store_client: Default::default(),
            isolate: Default::default(),
            balance: Default::default(),
        }
    }
}

impl Experiment {
    /// The experiment in its short form (`sweep --smoke`): every mode, N,
    /// fault kind and persistence it names, with the shortest windows the
    /// lab accepts and two rounds, so that CI can run every experiment
    /// file to completion in seconds. Its figures are not measurements:
    /// the name says `-smoke` and the description says so.
    pub fn smoke(mut self) -> Experiment {
        self.name = format!("{}-smoke", self.name);
        self.description = format!(
            "{} (smoke: the short form, to check it runs; its figures are not measurements)",
            self.description
        );
        if self.pairing == Pairing::Interleaved && self.capacity == Capacity::Closed {
            self.rounds = self.rounds.min(2);
            self.precision = 0.0;
            self.slice = dur("200ms");
            self.slice_warmup = dur("50ms");
        } else {
            self.duration = dur("500ms");
            self.warmup = dur("100ms");
        }
        if self.capacity == Capacity::Slo {
            self.slo_probes = self.slo_probes.min(2);
        }
        if !self.revocation_window.0.is_zero() {
            self.revocation_window = dur("500ms");
        }
        if let Some(f) = &mut self.faults {
            // With an append-only file the fault comes after its first
            // fsync (one second); recovery gets as long as the fault.
            let aof = f.persistence.contains(&Persistence::Aof);
            (f.at, f.length, f.duration) = if aof {
                (dur("1s"), dur("500ms"), dur("2s"))
            } else {
                (dur("500ms"), dur("500ms"), dur("1500ms"))
            };
            f.durability_users = f.durability_users.min(10);
        }
        self
    }

    /// Settings changed from the built-in experiment that the chosen
    /// design does not use, each with the reason (a sweep records them as
    /// warnings): e.g. `duration` in an interleaved sweep, whose windows
    /// are `slice` and `slice-warmup`.
    pub fn ignored_settings(&self) -> Vec<String> {
        let base = Experiment::default();
        let interleaved = self.pairing == Pairing::Interleaved && self.capacity == Capacity::Closed;
        let mut ignored = Vec::new();
        let mut check = |changed: bool, key: &str, why: &str| {
            if changed {
                ignored.push(format!("{key} is set but ignored: {why}"));
            }
        };
        let why_windows = "an interleaved sweep measures in slices (slice, slice-warmup, rounds)";
        check(
            interleaved && self.duration != base.duration,
            "duration",
            why_windows,
        );
        check(
            interleaved && self.warmup != base.warmup,
            "warmup",
            why_windows,
        );
        let why_slices = "slices are for interleaved closed-loop sweeps (pairing = \"interleaved\", capacity = \"closed\")";
        check(
            !interleaved && self.rounds != base.rounds,
            "rounds",
            why_slices,
        );
        check(
            !interleaved && self.slice != base.slice,
            "slice",
            why_slices,
        );
        check(
            !interleaved && self.slice_warmup != base.slice_warmup,
            "slice-warmup",
            why_slices,
        );
        check(
            !interleaved && self.precision != base.precision,
            "precision",
            why_slices,
        );
        check(
            !interleaved && self.max_time != base.max_time,
            "max-time",
            why_slices,
        );
        check(
            interleaved && self.precision == 0.0 && self.max_time != base.max_time,
            "max-time",
            "it bounds the rounds added for a precision, and precision = 0",
        );
        let closed = self.capacity == Capacity::Closed;
        let why_slo = "capacity = \"closed\" measures saturation, not an SLO";
        check(closed && self.slo_p99 != base.slo_p99, "slo-p99", why_slo);
        check(
            closed && self.slo_start_rate_per_node != base.slo_start_rate_per_node,
            "slo-start-rate-per-node",
            why_slo,
        );
        check(
            closed && self.slo_probes != base.slo_probes,
            "slo-probes",
            why_slo,
        );
        check(
            !closed && self.connections_per_node != base.connections_per_node,
            "connections-per-node",
            "capacity = \"slo\" offers a rate, not connections",
        );
        let store = self.modes.iter().any(|m| m.uses_store());
        let why_store = "no mode of this experiment uses the store";
        check(
            !store && self.store_rtt != base.store_rtt,
            "store-rtt",
            why_store,
        );
        check(
            !store && self.store_client != base.store_client,
            "store-client",
            why_store,
        );
        check(
            !self.modes.iter().any(|m| m.caches_sessions())
                && self.session_cache_ttl != base.session_cache_ttl,
            "session-cache-ttl",
            "no mode of this experiment caches sessions (session-cached)",
        );
        ignored
    }
}

/// An experiment checked: only [`Experiment::plan`] makes one, so a sweep
/// never starts from settings that were not validated. Runs recorded
/// before the durations were typed also carry them here, parsed; they are
/// read from the experiment now, and ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub experiment: Experiment,
}

impl Faults {
    /// The store persistences a run of `kind` is repeated for: only a store
    /// outage depends on what the store keeps.
    pub fn persistences(&self, kind: FaultKind) -> &[Persistence] {
        match kind {
            FaultKind::StoreOutage => &self.persistence,
            FaultKind::NodeLoss => &[Persistence::None],
        }
    }
}

/// A duration written in the source as text: the defaults read as a file
/// would write them.
fn dur(text: &str) -> Dur {
    Dur::parse(text).expect("a built-in duration")
}

impl Plan {
    pub fn max_nodes(&self) -> u32 {
        self.experiment.nodes.last().copied().unwrap_or(1)
    }

    /// Whether the steps are measured in interleaved slices.
    pub fn interleaved(&self) -> bool {
        self.experiment.pairing == Pairing::Interleaved
            && self.experiment.capacity == Capacity::Closed
    }

    /// Connections for a closed-loop step with `n` nodes.
    pub fn connections(&self, n: u32) -> u64 {
        self.experiment.connections_per_node * u64::from(n)
    }
}
