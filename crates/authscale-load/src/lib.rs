//! The load generator: virtual users that log in, make protected requests
//! and log out, over a closed loop (fixed connections) or an open loop
//! (a constant arrival rate, latency measured from each request's intended
//! send time, as wrk2 does). Latency goes into HdrHistograms, so memory
//! stays flat however long the run.
//!
//! The lab calls [`run`] in-process; `authscale load` is its command line.

mod config;
mod conn;
mod engine;
mod merge;
mod scenario;
mod stats;
mod summary;
mod target;

pub use config::{LoadConfig, LoadError, LoopMode, ScenarioConfig, UserAuth};
pub use engine::{Progress, process_cpu_seconds, run};
pub use merge::{merge, segment};
pub use stats::{Outcome, Step};
pub use summary::{LatencySummary, LoadResult, StepCounts, TimelinePoint};
pub use target::Target;
