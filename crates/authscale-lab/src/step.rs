//! One step's measurement: the counters read at the warm-up boundary and at
//! the end, and the arithmetic that turns their difference and the load's
//! result into a `Step` (CPU per request, utilization, store reads per
//! protected request, Little's law). Local and external sweeps share it.

use authscale_schema::{AuthMode, Component};
use std::collections::BTreeMap;
use std::time::Duration;

use authscale_load::LoadResult;

use crate::process::{Managed, process_cpu_seconds};
use crate::store::{Store, StoreCounters};
use authscale_schema::Capacity;
use authscale_schema::Throttling;
use authscale_schema::{ComponentCpu, Latency, LittlesLaw, Step};

/// Everything a local step's measurement reads, at one instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub nodes_cpu: f64,
    /// Times the nodes were put on a CPU (None if any could not be read).
    pub nodes_runs: Option<u64>,
    pub nodes_throttling: Throttling,
    pub store: StoreCounters,
    pub store_throttling: Option<Throttling>,
    pub proxy_cpu: f64,
    pub proxy_runs: Option<u64>,
    pub load_cpu: f64,
    /// The nodes' achieved store delay counters (with a store distance).
    pub store_delay: Option<crate::store_delay::Counters>,
}

impl Snapshot {
    /// Reads the nodes', the store's, the proxy's and this process's counters.
    /// With `delayed` (a store distance is modelled), also the nodes'
    /// achieved-delay counters from their `/metrics`.
    pub(crate) async fn take(
        nodes: &[Managed],
        store: &Store,
        proxy: &Managed,
        delayed: bool,
    ) -> anyhow::Result<Snapshot> {
        Ok(Snapshot {
            nodes_cpu: nodes.iter().map(Managed::cpu_seconds).sum(),
            nodes_runs: nodes.iter().map(Managed::runs).sum(),
            nodes_throttling: nodes
                .iter()
                .filter_map(Managed::throttling)
                .fold(Throttling::default(), Throttling::plus),
            store: store.counters().await?,
            store_throttling: store.throttling(),
            proxy_cpu: proxy.cpu_seconds(),
            proxy_runs: proxy.runs(),
            load_cpu: process_cpu_seconds(std::process::id()),
            store_delay: if delayed {
                Some(crate::store_delay::read(nodes).await?)
            } else {
                None
            },
        })
    }
}

/// The budgets a local step's processes ran under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budgets {
    /// CPU budgets are enforced (the lab's caps are not `none`).
    pub capped: bool,
    pub node_cpu: f64,
    pub store_cpu: f64,
    /// The nodes' cgroup period, when they run in a capped group.
    pub node_period: Option<Duration>,
    /// The store's cgroup period, when the lab runs it in a capped group.
    pub store_period: Option<Duration>,
}

/// What a step's figures are divided by: its requests (at least one) and
/// its measured seconds (above zero).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub requests: u64,
    pub seconds: f64,
}

impl Span {
    pub(crate) fn of(load: &LoadResult) -> Span {
        Span {
            requests: load.requests.max(1),
            seconds: load.measured_seconds.max(1e-9),
        }
    }

    /// A component that used `cpu` seconds within a budget of `limit` cores.
    pub(crate) fn component(
        self,
        cpu: f64,
        limit: f64,
        period: Option<Duration>,
        throttling: Option<Throttling>,
    ) -> ComponentCpu {
        ComponentCpu {
            cpu_seconds: cpu,
            cpu_us_per_request: cpu * 1e6 / self.requests as f64,
            limit_cores: limit,
            capped: period.is_some(),
            utilization: cpu / (limit * self.seconds),
            cpu_period_ms: period.map(|p| p.as_secs_f64() * 1000.0),
            throttling,
            runs: None,
        }
    }
}

/// A local step: the nodes, store, proxy and load generator between the
/// snapshots `start` and `end`, with the load's result.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step(
    mode: AuthMode,
    n: u32,
    capacity: Capacity,
    rate: Option<f64>,
    load: LoadResult,
    start: &Snapshot,
    end: &Snapshot,
    budgets: &Budgets,
) -> Step {
    let span = Span::of(&load);
    let store = end.store.since(&start.store);
    let store_throttling = end
        .store_throttling
        .zip(start.store_throttling)
        .map(|(e, s)| e.since(s));
    let mut components = BTreeMap::new();
    let mut nodes = span.component(
        end.nodes_cpu - start.nodes_cpu,
        f64::from(n)
            * if budgets.capped {
                budgets.node_cpu
            } else {
                1.0
            },
        budgets.node_period,
        budgets
            .capped
            .then(|| end.nodes_throttling.since(start.nodes_throttling)),
    );
    nodes.runs = Managed::runs_between(start.nodes_runs, end.nodes_runs);
    components.insert(Component::Nodes, nodes);
    let mut store_cpu = span.component(
        store.cpu_seconds,
        if budgets.store_period.is_some() {
            budgets.store_cpu
        } else {
            1.0
        },
        budgets.store_period,
        store_throttling,
    );
    store_cpu.runs = store.runs;
    components.insert(Component::Store, store_cpu);
    let mut proxy = span.component(end.proxy_cpu - start.proxy_cpu, 1.0, None, None);
    proxy.runs = Managed::runs_between(start.proxy_runs, end.proxy_runs);
    components.insert(Component::Proxy, proxy);
    components.insert(
        Component::Load,
        span.component(end.load_cpu - start.load_cpu, 1.0, None, None),
    );
    let mut step = step_from_load(
        mode,
        n,
        capacity,
        rate,
        load,
        components,
        store.commands,
        None,
    );
    step.store_delay = start
        .store_delay
        .zip(end.store_delay)
        .and_then(|(s, e)| crate::store_delay::between(s, e));
    step
}

/// The figures every step has, local or external: throughput, errors,
/// latency, the store's commands per request and Little's law, with the
/// `components` measured and the store's `store_commands` over the step.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step_from_load(
    mode: AuthMode,
    n: u32,
    capacity: Capacity,
    rate: Option<f64>,
    load: LoadResult,
    components: BTreeMap<Component, ComponentCpu>,
    store_commands: BTreeMap<String, u64>,
    node_requests: Option<u64>,
) -> Step {
    let Span { requests, seconds } = Span::of(&load);
    let api: u64 = load.by_step.get("api").map_or(0, |c| c.values().sum());
    let reads = store_commands.get("get").copied().unwrap_or(0)
        + store_commands.get("getex").copied().unwrap_or(0);
    let total: u64 = store_commands.values().sum();
    let mean_s = load.latency_us.uncorrected.mean / 1e6;
    let rate_times_latency = load.achieved_rate * mean_s;
    // Closed loop: every connection has one request in flight; open loop:
    // the arrival rate sets it, so only the measurement's consistency is
    // checked.
    let expected = match rate {
        None => load.config.connections as f64,
        Some(_) => rate_times_latency,
    };
    let ratio = if expected > 0.0 {
        rate_times_latency / expected
    } else {
        0.0
    };
    Step {
        mode: mode.to_owned(),
        nodes: n,
        capacity,
        connections: load.config.connections,
        offered_rate: rate,
        throughput: load.success_rate,
        requests: load.requests,
        errors: load.errors,
        error_rate: load.errors as f64 / requests as f64,
        seconds,
        latency_ms: Latency::of(&load.latency_us.corrected),
        latency_uncorrected_ms: Latency::of(&load.latency_us.uncorrected),
        components,
        store_commands_per_request: total as f64 / requests as f64,
        store_reads_per_protected_request: if api > 0 {
            reads as f64 / api as f64
        } else {
            0.0
        },
        store_commands,
        node_requests,
        littles_law: LittlesLaw {
            expected_in_flight: expected,
            rate_times_latency,
            ratio,
            within_10_percent: (ratio - 1.0).abs() <= 0.1,
        },
        probes: Vec::new(),
        slices: Vec::new(),
        load,
        store_delay: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A closed-loop load result: 8 connections, 2 s measured, 4,000
    /// requests (3,600 of them protected), 40 errors, a 4 ms mean latency.
    pub(crate) fn load() -> LoadResult {
        let summary = r#"{"count": 4000, "mean": 4000.0, "p50": 3000, "p90": 6000,
            "p99": 9000, "p999": 12000, "max": 15000}"#;
        serde_json::from_str(&format!(
            r#"{{"config": {{"target": {{"url": "http://127.0.0.1:1", "host": "127.0.0.1:1",
                "addr": "127.0.0.1:1"}}, "mode": {{"kind": "closed"}}, "connections": 8,
                "scenario": {{"auth": "session", "users": 100, "first_user": 0, "seed": 1,
                "requests_per_login": 20, "logout": true}}, "warmup": 1.0, "duration": 2.0,
                "max_requests": 1000000, "timeout": 5.0}},
            "started_at": 0, "measured_seconds": 2.0, "offered_rate": null,
            "achieved_rate": 2000.0, "success_rate": 1980.0, "requests": 4000, "errors": 40,
            "by_step": {{"api": {{"2xx": 3500, "5xx": 100}}, "login": {{"2xx": 200}},
                "logout": {{"2xx": 200}}}},
            "queued_at_end": 0, "in_flight_at_end": 0, "interrupted": false,
            "cpu_seconds": 0.1,
            "latency_us": {{"corrected": {summary}, "uncorrected": {summary}, "by_step": {{}}}},
            "histograms": {{"corrected": "", "uncorrected": "", "by_step": {{}}}}}}"#
        ))
        .expect("the synthetic load result parses")
    }

    fn counters(cpu: f64, commands: &[(&str, u64)]) -> StoreCounters {
        StoreCounters {
            cpu_seconds: cpu,
            commands: commands
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            runs: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_local_step_divides_the_snapshots_difference_by_the_requests() {
        let start = Snapshot {
            nodes_cpu: 10.0,
            nodes_runs: Some(100),
            proxy_runs: Some(7),
            store: counters(5.0, &[("get", 100), ("getex", 50), ("setex", 10)]),
            proxy_cpu: 1.0,
            load_cpu: 2.0,
            ..Snapshot::default()
        };
        let end = Snapshot {
            nodes_cpu: 12.0,
            nodes_runs: Some(500),
            // The proxy's count could not be read at the end.
            proxy_runs: None,
            store: counters(5.4, &[("get", 3100), ("getex", 650), ("setex", 410)]),
            proxy_cpu: 1.5,
            load_cpu: 2.8,
            ..Snapshot::default()
        };
        let budgets = Budgets {
            capped: true,
            node_cpu: 0.5,
            store_cpu: 0.25,
            node_period: Some(Duration::from_millis(100)),
            store_period: Some(Duration::from_millis(100)),
        };
        let step = step(
            AuthMode::Session,
            2,
            Capacity::Closed,
            None,
            load(),
            &start,
            &end,
            &budgets,
        );
        let nodes = &step.components[&Component::Nodes];
        assert!(close(nodes.cpu_seconds, 2.0));
        assert!(close(nodes.cpu_us_per_request, 500.0));
        // Two nodes of half a core each, for 2 s: 2 s of CPU is all of it.
        assert!(close(nodes.limit_cores, 1.0));
        assert!(close(nodes.utilization, 1.0));
        assert!(nodes.capped);
        assert_eq!(nodes.cpu_period_ms, Some(100.0));
        assert!(nodes.throttling.is_some());
        // 400 times on a CPU for 4,000 requests.
        assert_eq!(nodes.runs, Some(400));
        assert_eq!(nodes.runs_per_request(step.requests), Some(0.1));
        assert_eq!(step.components[&Component::Proxy].runs, None);
        let store = &step.components[&Component::Store];
        assert!(close(store.cpu_seconds, 0.4));
        assert!(close(store.utilization, 0.4 / (0.25 * 2.0)));
        assert!(close(step.components[&Component::Proxy].utilization, 0.25));
        assert!(close(
            step.components[&Component::Load].cpu_us_per_request,
            200.0
        ));
        // 3,600 reads (get + getex) for 3,600 protected requests.
        assert_eq!(step.store_commands["get"], 3000);
        assert!(close(step.store_reads_per_protected_request, 1.0));
        assert!(close(step.store_commands_per_request, 4000.0 / 4000.0));
        assert!(close(step.error_rate, 0.01));
        assert!(close(step.throughput, 1980.0));
        assert_eq!(step.nodes, 2);
        assert_eq!(step.connections, 8);
        // Little's law: 2,000 req/s × 4 ms = 8 in flight, the 8 connections.
        assert!(close(step.littles_law.rate_times_latency, 8.0));
        assert!(close(step.littles_law.ratio, 1.0));
        assert!(step.littles_law.within_10_percent);
        assert_eq!(step.node_requests, None);
    }

    #[test]
    fn without_caps_the_budgets_are_whole_cores_and_nothing_is_throttled() {
        let end = Snapshot {
            nodes_cpu: 1.0,
            ..Snapshot::default()
        };
        let budgets = Budgets {
            capped: false,
            node_cpu: 0.5,
            store_cpu: 0.25,
            node_period: None,
            store_period: None,
        };
        let step = step(
            AuthMode::Token,
            4,
            Capacity::Closed,
            None,
            load(),
            &Snapshot::default(),
            &end,
            &budgets,
        );
        let nodes = &step.components[&Component::Nodes];
        assert!(close(nodes.limit_cores, 4.0));
        assert!(close(nodes.utilization, 1.0 / 8.0));
        assert!(!nodes.capped);
        assert!(nodes.throttling.is_none());
        assert!(close(step.components[&Component::Store].limit_cores, 1.0));
        assert!(close(step.store_reads_per_protected_request, 0.0));
    }

    /// A step of `load` alone: no components, no store commands.
    fn bare(load: LoadResult, rate: Option<f64>, node_requests: Option<u64>) -> Step {
        let capacity = if rate.is_some() {
            Capacity::Slo
        } else {
            Capacity::Closed
        };
        step_from_load(
            AuthMode::Token,
            1,
            capacity,
            rate,
            load,
            BTreeMap::new(),
            BTreeMap::new(),
            node_requests,
        )
    }

    #[test]
    fn an_open_loop_step_checks_littles_law_against_itself() {
        let mut load = load();
        load.config.connections = 64;
        let step = bare(load, Some(2000.0), Some(7));
        assert_eq!(step.offered_rate, Some(2000.0));
        assert!(close(step.littles_law.expected_in_flight, 8.0));
        assert!(close(step.littles_law.ratio, 1.0));
        assert_eq!(step.node_requests, Some(7));
        assert!(close(step.store_commands_per_request, 0.0));
    }

    #[test]
    fn a_closed_loop_short_of_its_connections_is_outside_littles_law() {
        let mut load = load();
        load.config.connections = 16;
        let step = bare(load, None, None);
        assert!(close(step.littles_law.ratio, 0.5));
        assert!(!step.littles_law.within_10_percent);
    }
}
