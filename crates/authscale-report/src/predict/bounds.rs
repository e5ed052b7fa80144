//! A prediction's interval: the run's costs moved to the ends of their 95%
//! intervals (from the slices of an interleaved run) and predicted again.

use authscale_schema::Component;
use authscale_schema::{Run, Step};

use crate::interval::mean_interval;

/// How the intervals are made, for the output.
pub const FROM_SLICES: &str = "95% intervals from the run's slices: every step's node CPU per request and store CPU per command moved to the low ends of their intervals together, then to the high ends, and predicted again (a conservative band: the costs' errors are taken as fully correlated; the round trip and commands per request are taken as measured)";

/// Said where the run has no slices.
pub const NONE: &str = "no intervals in this run: its steps were measured as single blocks (no slices), so the predictions are point values";

/// (low end, high end) of a step's cost as fractions of the slices' mean.
fn spread(values: &[f64]) -> Option<(f64, f64)> {
    let e = mean_interval(values);
    (e.n >= 2 && e.mean > 0.0).then(|| ((e.lo / e.mean).max(0.01), e.hi / e.mean))
}

fn scale(step: &mut Step, component: Component, by: f64) {
    if let Some(c) = step.components.get_mut(&component) {
        c.cpu_seconds *= by;
    }
}

/// The run with every cost at the low end of its interval, and at the
/// high end; None when no step has two slices or more.
pub fn cost_bounds(run: &Run) -> Option<(Run, Run)> {
    let (mut cheap, mut dear) = (run.clone(), run.clone());
    let mut any = false;
    for ((step, low), high) in run.steps.iter().zip(&mut cheap.steps).zip(&mut dear.steps) {
        let node: Vec<f64> = step
            .slices
            .iter()
            .filter_map(|s| s.cpu_us_per_request.get(&Component::Nodes).copied())
            .collect();
        let store: Vec<f64> = step
            .slices
            .iter()
            .filter(|s| s.store_commands_per_request > 0.0)
            .filter_map(|s| {
                let cpu = s.cpu_us_per_request.get(&Component::Store)?;
                Some(cpu / s.store_commands_per_request)
            })
            .collect();
        for (component, values) in [(Component::Nodes, node), (Component::Store, store)] {
            if let Some((lo, hi)) = spread(&values) {
                scale(low, component, lo);
                scale(high, component, hi);
                any = true;
            }
        }
    }
    any.then_some((cheap, dear))
}
