//! `summary.csv`: one row per step, the step's figures, then the 95%
//! interval (`_lo`, `_hi`) of every figure that has one (empty where the
//! run has no slices to give one). The point columns come first and keep
//! their places, so a reader of the older file reads this one.

use authscale_schema::{Component, Run};

use crate::interval::Estimate;
use crate::precision::Precision;

const POINTS: &str = "mode,nodes,throughput_rps,efficiency,p50_ms,p99_ms,error_rate,node_cpu_util,store_cpu_util,\
cpu_us_per_req_nodes,cpu_us_per_req_store,cpu_us_per_req_proxy,cpu_us_per_req_load,\
store_cmds_per_req,node_throttled_periods";

/// The figures with intervals, in column order: (column stem, decimals).
const INTERVALS: [(&str, usize); 7] = [
    ("throughput_rps", 1),
    ("efficiency", 3),
    ("p50_ms", 3),
    ("p99_ms", 3),
    ("cpu_us_per_req_nodes", 1),
    ("cpu_us_per_req_store", 1),
    ("store_cmds_per_req", 3),
];

pub(super) fn summary_csv(run: &Run, precision: &Precision) -> String {
    let mut out = String::from(POINTS);
    for (stem, _) in INTERVALS {
        out.push_str(&format!(",{stem}_lo,{stem}_hi"));
    }
    out.push('\n');
    for s in &run.steps {
        let c = |component| s.cpu(component);
        // Empty without a measured N = 1 (as an interval without slices).
        let efficiency = run
            .baseline(s.mode)
            .filter(|x1| *x1 > 0.0)
            .map_or(String::new(), |x1| {
                format!("{:.3}", s.throughput / (f64::from(s.nodes) * x1))
            });
        out.push_str(&format!(
            "{},{},{:.1},{},{:.3},{:.3},{:.5},{:.3},{:.3},{:.1},{:.1},{:.1},{:.1},{:.3},{}",
            s.mode,
            s.nodes,
            s.throughput,
            efficiency,
            s.latency_ms.p50,
            s.latency_ms.p99,
            s.error_rate,
            c(Component::Nodes).utilization,
            c(Component::Store).utilization,
            c(Component::Nodes).cpu_us_per_request,
            c(Component::Store).cpu_us_per_request,
            c(Component::Proxy).cpu_us_per_request,
            c(Component::Load).cpu_us_per_request,
            s.store_commands_per_request,
            c(Component::Nodes)
                .throttling
                .map_or(0, |t| t.throttled_periods),
        ));
        let estimates = precision
            .steps
            .iter()
            .find(|e| e.mode == s.mode && e.n == s.nodes)
            .filter(|_| precision.sliced);
        let intervals: [Option<Estimate>; 7] = match estimates {
            Some(e) => [
                Some(e.throughput),
                // E(1) is 1 by definition: no interval.
                e.efficiency.filter(|_| s.nodes > 1),
                Some(e.p50_ms),
                Some(e.p99_ms),
                e.cpu_us_per_req.get(&Component::Nodes).copied(),
                e.cpu_us_per_req.get(&Component::Store).copied(),
                Some(e.store_cmds_per_req),
            ],
            None => [None; 7],
        };
        for (interval, (_, decimals)) in intervals.iter().zip(INTERVALS) {
            match interval.filter(|e| e.n >= 2 && e.lo.is_finite() && e.hi.is_finite()) {
                Some(e) => out.push_str(&format!(",{:.*},{:.*}", decimals, e.lo, decimals, e.hi)),
                None => out.push_str(",,"),
            }
        }
        out.push('\n');
    }
    out
}
