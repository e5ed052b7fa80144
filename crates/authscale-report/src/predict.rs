//! Capacity planning: from a measured run to a cluster of any size. The
//! run's measured costs (node CPU per request, store commands per request,
//! the store's CPU per command) become a closed queueing network — N node
//! queues, K store shards, the round trip as a delay — solved by
//! mean-value analysis for throughput and mean latency at every N; the
//! knee and the bottleneck follow. `validate` predicts one measured run
//! from another and says how far off the prediction was.

mod cluster;
mod costs;
mod model;
mod mva;
mod render;
mod validate;

pub use cluster::{Cluster, PredictError, parse_nodes};
pub use costs::{CostCurve, CostPoint, ModeCosts, StoreCosts};
pub use model::{ModePrediction, PredictedPoint, Prediction, predict};
pub use render::{
    cluster_section, prediction_markdown, prediction_svg, prediction_text, validation_markdown,
    validation_text,
};
pub use validate::{ModeValidation, Validation, ValidationPoint, validate, validate_held_out};
