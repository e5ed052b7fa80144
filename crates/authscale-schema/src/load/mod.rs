//! The load generator's plain data: what a run does (`LoadConfig`) and
//! what it measured (`LoadResult`). The generator itself is authscale-load.

mod config;
mod summary;

pub use config::{LoadConfig, LoadError, LoopMode, ScenarioConfig, Target, UserAuth};
pub use summary::{Histograms, Latencies, LatencySummary, LoadResult, StepCounts, TimelinePoint};
