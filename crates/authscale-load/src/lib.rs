//! The load generator: virtual users that log in, make protected requests
//! and log out, over a closed loop (fixed connections) or an open loop
//! (a constant arrival rate, latency measured from each request's intended
//! send time, as wrk2 does). Latency goes into HdrHistograms, so memory
//! stays flat however long the run.
//!
//! The lab calls [`run`] in-process; `authscale load` is its command line.

mod conn;
mod engine;
mod h2;
mod merge;
mod ready;
mod reply;
mod result;
mod scenario;
mod stats;
mod target;
mod transport;

pub use authscale_schema::process_cpu_seconds;
pub use engine::{Progress, run};
pub use merge::{merge, segment};
pub use ready::wait_ready;
pub use result::render;
pub use stats::{Action, Outcome};
pub use target::{TlsOptions, loopback_target, resolve_target};

// The plain data types live in the schema crate (the report reads them
// without depending on a runtime); they are this crate's API too.
pub use authscale_schema::{
    Histograms, Latencies, LatencySummary, LoadConfig, LoadError, LoadResult, LoopMode, Scenario,
    ScenarioConfig, StepCounts, Target, TimelinePoint, Tls, UserAuth,
};
