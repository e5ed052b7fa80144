//! What `authscale ab` records (`ab.json`): each side's build and node
//! arguments, and every slice of both sides, paired by round.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::AuthMode;

/// The version of `ab.json`'s layout.
pub const AB_SCHEMA: &str = "authscale-ab/1";

/// Which side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    A,
    B,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// What one side runs: a binary and extra node arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbSide {
    /// How the side was named on the command line (a path or `rev X`).
    pub label: String,
    pub bin: PathBuf,
    pub node_args: Vec<String>,
}

/// One side's slice of one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbSlice {
    pub side: Side,
    pub round: u32,
    /// Position in the whole run (0, 1, …).
    pub seq: u32,
    pub seconds: f64,
    pub requests: u64,
    pub protected_requests: u64,
    pub errors: u64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The side's nodes' CPU over the slice per protected request, µs.
    pub node_cpu_us_per_protected_request: f64,
    pub store_commands_per_request: f64,
}

/// A regression of known size made for a power check (`ab
/// --b-costlier`): B's nodes did `work_us` of work per protected request,
/// `share` of A's measured cost more than A's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Costlier {
    pub share: f64,
    /// A's node CPU per protected request in the calibration, µs.
    pub a_cost_us: f64,
    pub work_us: u64,
}

/// A run to a requested precision: the first stage's rounds, what they
/// said the figure needs, and the time allowed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AbStages {
    /// Wanted half-width of node CPU B/A's 95% interval (0.025 = ±2.5%).
    pub precision: f64,
    /// Rounds of the first stage.
    pub first: u32,
    /// Rounds in all that the first stage asked for.
    pub needed: u32,
    /// The time allowed for the whole comparison, s.
    pub max_seconds: f64,
    /// Wall time of the first stage (with the lab's start), s.
    pub first_seconds: f64,
}

/// A finished comparison (`ab.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbRun {
    pub schema: String,
    pub mode: AuthMode,
    pub nodes: u32,
    /// Rounds measured.
    pub rounds: u32,
    /// Rounds per block: each block started both sides' nodes afresh, the
    /// side started first alternating (absent: one block, a run recorded
    /// before blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_rounds: Option<u32>,
    /// The two stages of a run to a requested precision (absent: a fixed
    /// number of rounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<AbStages>,
    pub slice_ms: f64,
    pub warmup_ms: f64,
    pub node_cpu: f64,
    pub work_us: u64,
    /// cgroup v2, v1 or none (then the nodes are not capped).
    pub caps: String,
    /// The nodes' quota period when their budgets are enforced: a capped
    /// node's latency moves in steps of it (absent: not capped, or a run
    /// recorded before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cpu_period_ms: Option<f64>,
    pub started_at: String,
    pub wall_seconds: f64,
    pub a: AbSide,
    pub b: AbSide,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_costlier: Option<Costlier>,
    pub warnings: Vec<String>,
    pub slices: Vec<AbSlice>,
}
