//! The vocabulary and the records of authscale: the closed sets (auth
//! modes, components, run status, fault kinds …) as enums, the experiment
//! and its validated plan, the load generator's result, and `run.json`.
//!
//! Plain data, serde and file I/O only: no async runtime, no sockets, no
//! processes. The synthetic user directory lives here too (a pure
//! derivation from a seed), so the load generator needs no auth crate. The report depends on this crate and not on the lab, so the
//! compiler keeps "the report cannot start anything" true.

mod ab;
pub mod directory;
pub mod duration;
mod experiment;
mod load;
mod node;
mod process;
mod record;
mod validate;
mod vocabulary;

pub use ab::{AB_SCHEMA, AbRun, AbSide, AbSlice, AbStages, Costlier, Side};
pub use experiment::{
    Capacity, Experiment, External, FaultKind, Faults, Pairing, Persistence, Plan,
};
pub use load::{
    Body, Credential, Histograms, Latencies, LatencySummary, LoadConfig, LoadError, LoadResult,
    LoopMode, RequestSpec, Scenario, ScenarioConfig, SendAs, Source, StepCounts, Target,
    TimelinePoint, Tls, UserAuth, Users, fill,
};
pub use node::{NODE_ENV, NodeLaunch};
pub use process::{process_cpu_seconds, process_runs};
pub use record::{
    CellRounds, ComponentCpu, Durability, FaultRun, Host, Latency, LittlesLaw, Pinning, Probe,
    Revocation, Run, SCHEMA, Slice, Stages, Step, StoreDelay, Throttling, utc, write_atomic,
};
pub use vocabulary::{
    AuthMode, Balance, Component, Isolate, ProxyPolicy, Revokes, RunStatus, StoreClient,
};

/// Seconds since the Unix epoch, the time base of every expiry and record.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Efficiency E(N) below which scaling has clearly stopped paying off:
/// the knee of the report and of `predict`.
pub const KNEE_EFFICIENCY: f64 = 0.8;
/// Utilization at which a budgeted component counts as saturated.
pub const SATURATED: f64 = 0.9;
/// Utilization at which the proxy or the load generator (the harness) may
/// have limited a step: the lab warns, the report cautions.
pub const HARNESS_LIMIT: f64 = 0.8;

/// The most CPU work per protected request a node takes (`--work-us`):
/// one second. More is a typo, and a request that long holds a node's
/// thread past its drain timeout.
pub const MAX_WORK_US: u64 = 1_000_000;
