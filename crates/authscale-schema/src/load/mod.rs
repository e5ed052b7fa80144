//! The load generator's plain data: what a run does (`LoadConfig`) and
//! what it measured (`LoadResult`). The generator itself is authscale-load.

mod config;
mod scenario;
mod summary;

pub use config::{LoadConfig, LoadError, LoopMode, ScenarioConfig, Target, Tls, UserAuth};
pub use scenario::{Body, Credential, RequestSpec, Scenario, SendAs, Source, Users, fill};
pub use summary::{Histograms, Latencies, LatencySummary, LoadResult, StepCounts, TimelinePoint};
