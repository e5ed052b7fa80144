//! What a sweep records: one `Step` per (mode, N), the `Run` around them,
//! written atomically to `run.json` after every step.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::experiment::{Capacity, FaultKind, Persistence, Plan};
use crate::load::{LatencySummary, LoadResult, TimelinePoint};
use crate::vocabulary::{AuthMode, Component, RunStatus};

pub const SCHEMA: &str = "authscale-run/1";

/// CPU of one component during a step's measured window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ComponentCpu {
    pub cpu_seconds: f64,
    pub cpu_us_per_request: f64,
    /// Cores it may use: its cgroup budget, or its thread count if uncapped.
    pub limit_cores: f64,
    /// Whether the limit is enforced by a cgroup.
    pub capped: bool,
    /// cpu_seconds / (limit_cores × seconds).
    pub utilization: f64,
    /// The cgroup quota period in force, when capped.
    pub cpu_period_ms: Option<f64>,
    pub throttling: Option<Throttling>,
    /// Times the component's threads were put on a CPU during the window
    /// (the scheduler's count of switches in, `/proc/PID/task/*/schedstat`,
    /// summed over the threads alive at each read: a thread that ended
    /// takes its count with it): after waiting on a socket, after a
    /// throttled period, after being preempted. How the requests reached it, which
    /// its CPU per request can depend on (docs/precision.md). Absent where
    /// not read (an external service, runs before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<u64>,
}

impl ComponentCpu {
    /// Times put on a CPU per request, where the runs were read.
    pub fn runs_per_request(&self, requests: u64) -> Option<f64> {
        self.runs.map(|r| r as f64 / requests.max(1) as f64)
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Throttling counters of a cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_seconds: f64,
}

impl Throttling {
    pub fn since(self, earlier: Throttling) -> Throttling {
        Throttling {
            periods: self.periods.saturating_sub(earlier.periods),
            throttled_periods: self
                .throttled_periods
                .saturating_sub(earlier.throttled_periods),
            throttled_seconds: (self.throttled_seconds - earlier.throttled_seconds).max(0.0),
        }
    }

    pub fn plus(self, other: Throttling) -> Throttling {
        Throttling {
            periods: self.periods + other.periods,
            throttled_periods: self.throttled_periods + other.throttled_periods,
            throttled_seconds: self.throttled_seconds + other.throttled_seconds,
        }
    }
}

impl Latency {
    pub fn of(s: &LatencySummary) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(s.p50),
            p90: ms(s.p90),
            p99: ms(s.p99),
            p999: ms(s.p999),
            max: ms(s.max),
            mean: s.mean / 1000.0,
        }
    }
}

/// Little's law for a step: in-flight requests ≈ rate × mean latency.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LittlesLaw {
    /// Closed loop: the connections; open loop: rate × mean latency.
    pub expected_in_flight: f64,
    pub rate_times_latency: f64,
    pub ratio: f64,
    pub within_10_percent: bool,
}

/// One open-loop probe of the SLO capacity search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub offered_rate: f64,
    pub achieved_rate: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub passed: bool,
}

/// One measured step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub mode: AuthMode,
    pub nodes: u32,
    pub capacity: Capacity,
    pub connections: u64,
    /// Open loop: the rate the result was measured at.
    pub offered_rate: Option<f64>,
    /// 2xx answers per second: the step's throughput X(N).
    pub throughput: f64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub seconds: f64,
    pub latency_ms: Latency,
    pub latency_uncorrected_ms: Latency,
    pub components: BTreeMap<Component, ComponentCpu>,
    pub store_commands: BTreeMap<String, u64>,
    pub store_commands_per_request: f64,
    /// GET/GETEX per answered `/api/me`: the session lookup budget (1.0).
    pub store_reads_per_protected_request: f64,
    pub littles_law: LittlesLaw,
    /// External deployments: requests the nodes counted during the step,
    /// from their `/metrics` (None when not scraped).
    #[serde(default)]
    pub node_requests: Option<u64>,
    pub probes: Vec<Probe>,
    /// Interleaved sweeps: the step's slices, one per round, from which the
    /// report computes every interval (empty for a step measured as one
    /// block, as runs before slices were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<Slice>,
    /// The load generator's full result (histograms included).
    pub load: LoadResult,
    /// With a modelled store distance (`store-rtt`): the delay the nodes
    /// achieved during the step, read from their `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_delay: Option<StoreDelay>,
}

/// The modelled store distance as achieved: how many store calls were
/// delayed and their mean delay (requested plus the delay line's lateness).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreDelay {
    pub calls: u64,
    pub mean_us: f64,
}

impl StoreDelay {
    /// The delays of several windows together (weighted by their calls).
    pub fn combine(parts: impl IntoIterator<Item = StoreDelay>) -> Option<StoreDelay> {
        let (calls, total_us) = parts.into_iter().fold((0u64, 0.0), |(c, t), d| {
            (c + d.calls, t + d.mean_us * d.calls as f64)
        });
        (calls > 0).then(|| StoreDelay {
            calls,
            mean_us: total_us / calls as f64,
        })
    }
}

/// One slice of an interleaved step: a short measured window of one
/// (mode, N) cell in one round.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Slice {
    /// The round it belongs to: slices of the same round are paired.
    pub round: u32,
    /// Its position in the whole run's order of slices.
    pub seq: u32,
    /// Which of the mode's nodes (by start order, from 0) came first in
    /// this slice's set: the sets rotate by one node each round. Runs
    /// recorded before the rotation have 0.
    #[serde(default)]
    pub first_node: u32,
    pub seconds: f64,
    /// 2xx answers per second.
    pub throughput: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Per component.
    pub cpu_us_per_request: BTreeMap<Component, f64>,
    pub utilization: BTreeMap<Component, f64>,
    /// Capped components: the share of quota periods that were throttled.
    #[serde(default)]
    pub throttled: BTreeMap<Component, f64>,
    pub store_commands_per_request: f64,
    pub store_reads_per_protected_request: f64,
    /// Per component whose runs were read: times put on a CPU per request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runs_per_request: BTreeMap<Component, f64>,
}

/// Facts about the machine and the tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub cores: usize,
    pub kernel: String,
    pub caps: String,
    pub caps_detail: String,
    pub authscale_version: String,
    pub redis_version: String,
    pub store: String,
    pub git_commit: String,
    /// Whether the checkout had uncommitted changes to tracked files when
    /// the run started (absent: not recorded, runs before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_dirty: Option<bool>,
    /// The processor's model name (`/proc/cpuinfo`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cpu_model: String,
    /// The compiler the authscale binary was built with (`rustc -V`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rustc: String,
    /// What the store keeps on disk, from its own `CONFIG GET` (`save`,
    /// `appendonly`, `appendfsync`), or why it is not known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub redis_persistence: String,
}

/// A whole sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub schema: String,
    pub plan: Plan,
    pub host: Host,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// PIDs of every process the lab started (to check none survived).
    pub pids: Vec<u32>,
    pub steps: Vec<Step>,
    /// One revocation probe per mode, at its largest N.
    #[serde(default)]
    pub revocations: Vec<Revocation>,
    /// Fault runs, per mode and fault.
    #[serde(default)]
    pub faults: Vec<FaultRun>,
    /// What was pinned to which CPUs, or why nothing was (`isolate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Pinning>,
    /// Rounds to a precision: what the first stage said each cell needs,
    /// and whether the time allowed cut it short (absent: fixed rounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
}

/// The two stages of an interleaved sweep run to a precision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    /// Rounds of the first stage (every cell).
    pub first: u32,
    /// Per cell, the rounds its figures need in all (Stein's rule on the
    /// first stage's spread).
    pub needed: Vec<CellRounds>,
    /// Rounds measured in all (the second stage visits only the cells
    /// still short of their need).
    pub rounds: u32,
    /// Whether the time allowed (`max-time`) ended the second stage before
    /// every cell had its rounds.
    pub cut_by_time: bool,
    /// Wall time of the first stage's rounds and of all rounds, s.
    pub first_seconds: f64,
    pub seconds: f64,
}

/// The rounds one (mode, N) cell needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRounds {
    pub mode: AuthMode,
    pub nodes: u32,
    pub rounds: u32,
}

/// One fault run: a closed-loop load with a fault in the middle, second
/// by second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRun {
    pub mode: AuthMode,
    pub kind: FaultKind,
    /// What the lab's store kept across the run (older runs: `none`, their
    /// stores restarted empty).
    #[serde(default)]
    pub persistence: Persistence,
    pub nodes: u32,
    pub at_s: f64,
    pub length_s: f64,
    pub requests: u64,
    /// Failures other than 401 (5xx, timeouts, connection errors).
    pub failed: u64,
    pub failed_during_fault: u64,
    /// Seconds from the end of the fault until every later second served
    /// at least 99% of its requests; None if it never did.
    pub recovery_s: Option<f64>,
    /// 401 answers from the fault on: credentials the system forgot
    /// (each sends its user back to log in).
    pub sessions_lost: u64,
    /// Revocations and logins across the fault, counted by requests to
    /// the nodes before and after it (absent from older runs).
    #[serde(default)]
    pub durability: Option<Durability>,
    pub timeline: Vec<TimelinePoint>,
}

/// What a system remembered across a fault, counted by real requests:
/// users logged out before the fault and users kept logged in, each
/// checked again once the fault was repaired and the load had ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Durability {
    /// Users logged out before the fault.
    pub logged_out: u64,
    /// Of those, credentials every node refused right after the logout
    /// (a logout that revokes nothing, as in token mode, is not counted).
    pub revocations_checked: u64,
    /// Of the checked ones, credentials some node accepted again after
    /// the fault: revocations the system forgot.
    pub revocations_lost: u64,
    /// Users logged in before the fault, and accepted then.
    pub sessions_checked: u64,
    /// Of those, credentials refused (401) after the fault: users the
    /// system logged out.
    pub sessions_lost: u64,
    /// Probes after the fault that got no 200 or 401 (the system had not
    /// recovered); counted as neither lost nor kept.
    pub unanswered: u64,
}

/// What a revocation probe found: after a user logs out, how long until
/// every node refuses the credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    pub mode: AuthMode,
    pub nodes: u32,
    /// Nodes that accepted the credential just before the logout.
    pub accepted_before: u32,
    /// Milliseconds until the last node refused; None when a node still
    /// accepted at the end of the window.
    pub latency_ms: Option<f64>,
    /// Per node: milliseconds until it refused (None: still accepting).
    pub per_node_ms: Vec<Option<f64>>,
    pub window_ms: f64,
    /// Token modes: seconds the token still had until `exp` at the logout
    /// (without a denylist, that is how long it stays valid).
    pub token_expires_in_s: Option<u64>,
}

impl Step {
    /// The CPU record of `component` (zeros when it was not measured).
    pub fn cpu(&self, component: Component) -> ComponentCpu {
        self.components.get(&component).cloned().unwrap_or_default()
    }

    /// Times put on a CPU per request, per component whose runs were read.
    pub fn runs_per_request(&self) -> BTreeMap<Component, f64> {
        self.components
            .iter()
            .filter_map(|(k, c)| Some((*k, c.runs_per_request(self.requests)?)))
            .collect()
    }
}

impl Run {
    /// X(1) of a mode, when N = 1 was measured.
    pub fn baseline(&self, mode: AuthMode) -> Option<f64> {
        self.steps
            .iter()
            .find(|s| s.mode == mode && s.nodes == 1)
            .map(|s| s.throughput)
    }

    /// Writes run.json into `dir`, atomically (summary.csv and the report
    /// are the report crate's, rendered from it).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_atomic(
            &dir.join("run.json"),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }

    pub fn read(path: &Path) -> anyhow::Result<Run> {
        let path = if path.is_dir() {
            path.join("run.json")
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let run: Run = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not an authscale run: {e}", path.display()))?;
        anyhow::ensure!(
            run.schema == SCHEMA,
            "{} has schema {:?}; this authscale reads {SCHEMA:?}",
            path.display(),
            run.schema
        );
        Ok(run)
    }
}

/// Writes through a temporary file and a rename: readers see the old
/// file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// `2026-11-28T00:41:05Z` for Unix seconds (UTC, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_795_824_065), "2026-11-28T00:01:05Z");
    }
}

/// What a run pinned where (`isolate`), or why nothing was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Pinning {
    Cpuset {
        /// `cgroup-v1` or `cgroup-v2`.
        layout: String,
        /// CPU lists in the kernel's notation (`0`, `1-3`).
        harness_cpus: String,
        sut_cpus: String,
        harness: Vec<String>,
        sut: Vec<String>,
    },
    None {
        reason: String,
    },
}
