//! A comparison's plan and how it can fail: the options, the rounds (fixed
//! or to a precision), the regression of a known size, and the errors.

use std::path::PathBuf;
use std::time::Duration;

use authscale_schema::{AbSide, AbSlice, AuthMode, Experiment, Side};

/// The work B's nodes do for a regression of `share` of a measured cost:
/// the experiment's work plus that share of A's node CPU per protected
/// request (the node's busy loop is calibrated to µs of CPU).
pub fn added_work_us(base_us: u64, cost_us: f64, share: f64) -> u64 {
    base_us + (cost_us * share).round().max(0.0) as u64
}

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
    pub rounds: Rounds,
    /// B's nodes do this share (0.10: +10%) of A's measured node CPU per
    /// protected request as extra work: a regression of a known size on
    /// any machine (`ab --b-costlier`).
    pub b_costlier: Option<f64>,
    /// Rounds per block: every block starts both sides' nodes afresh,
    /// the side started first alternating from block to block.
    pub block: u32,
    pub slice: Duration,
    pub warmup: Duration,
    /// A line per round on stderr.
    pub progress: bool,
}

/// The rule that turns a first stage's slices into the rounds needed in
/// all (the report's statistics, which the lab does not hold).
pub type AbNeeded = std::sync::Arc<dyn Fn(&[AbSlice]) -> u32 + Send + Sync>;

/// How many rounds a comparison measures.
#[derive(Clone)]
pub enum Rounds {
    Fixed(u32),
    /// A first stage of `first` rounds; then `needed` (given the slices so
    /// far) says how many rounds in all, of which as many are measured as
    /// fit in `max_time` (whole pairs of blocks, so each side is started
    /// first equally often).
    Adaptive {
        precision: f64,
        first: u32,
        max_time: Duration,
        needed: AbNeeded,
    },
}

impl std::fmt::Debug for Rounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rounds::Fixed(n) => write!(f, "Fixed({n})"),
            Rounds::Adaptive {
                first, max_time, ..
            } => write!(f, "Adaptive {{ first: {first}, max_time: {max_time:?} }}"),
        }
    }
}

/// Why a comparison did not finish.
#[derive(Debug)]
pub enum AbError {
    /// One side cannot run (missing binary, bad node arguments, a node
    /// that never became ready): nothing to compare.
    Side { side: Side, reason: String },
    /// The lab itself failed (store, proxy, load).
    Lab(anyhow::Error),
    /// Stopped from outside (Ctrl-C, SIGTERM) before the comparison ended.
    Interrupted,
}

/// The comparison was stopped from outside: carried through `anyhow` from
/// where the load noticed it, and turned into [`AbError::Interrupted`].
#[derive(Debug)]
pub(crate) struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Stopped {}

impl std::fmt::Display for AbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AbError::Side { side, reason } => write!(f, "side {side} cannot run: {reason}"),
            AbError::Lab(e) => write!(f, "{e:#}"),
            AbError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for AbError {}

impl From<anyhow::Error> for AbError {
    fn from(e: anyhow::Error) -> AbError {
        if e.is::<Stopped>() {
            AbError::Interrupted
        } else {
            AbError::Lab(e)
        }
    }
}
