//! The report's "What this means at cluster size": standard what-ifs
//! predicted from the run's costs, each beside the run's own held-out
//! check (its first half of N predicting the rest).

use std::collections::BTreeMap;
use std::fmt::Write;

use authscale_schema::Run;

use super::render::throughput;
use super::{Cluster, Prediction, predict, validate_held_out};

/// The node counts every what-if is read at.
const NODES: [u32; 3] = [10, 50, 200];

/// (name, node cores, store cores, store shards).
const WHAT_IFS: [(&str, f64, f64, u32); 2] = [
    ("1-core nodes, one 1-core Redis", 1.0, 1.0, 1),
    ("1-core nodes, Redis Cluster of 4 × 1 core", 1.0, 1.0, 4),
];

/// Per mode: the held-out check's mean and max |error| in percent, or why
/// there is none.
fn held_out(run: &Run) -> (String, BTreeMap<String, String>) {
    let mut ns: Vec<u32> = run.steps.iter().map(|s| s.nodes).collect();
    ns.sort_unstable();
    ns.dedup();
    if ns.len() < 2 {
        return (
            "no held-out check: the run measured a single N".into(),
            BTreeMap::new(),
        );
    }
    let fit = &ns[..ns.len().div_ceil(2)];
    match validate_held_out(run, "this run", fit) {
        Ok(v) => (
            format!(
                "held-out check: the run's steps at N ∈ {fit:?} predicting its steps at N ∈ {:?}, in the run's own setting",
                &ns[fit.len()..]
            ),
            v.modes
                .iter()
                .map(|m| {
                    (
                        m.mode.clone(),
                        format!(
                            "{:.1}% (max {:.1}%)",
                            m.mean_abs_error_pct, m.max_abs_error_pct
                        ),
                    )
                })
                .collect(),
        ),
        Err(e) => (format!("no held-out check: {e}"), BTreeMap::new()),
    }
}

fn what_if(
    run: &Run,
    node_cores: f64,
    store_cores: f64,
    shards: u32,
) -> Result<Prediction, String> {
    let mut cluster = Cluster::of_run(run);
    cluster.node_cores = node_cores;
    cluster.store_cores = store_cores;
    cluster.store_shards = shards;
    cluster.nodes = NODES.to_vec();
    predict(run, "this run", &cluster).map_err(|e| e.to_string())
}

/// The section, Markdown.
pub fn cluster_section(run: &Run) -> String {
    let mut out = String::from("\n## What this means at cluster size\n\n");
    let (check, errors) = held_out(run);
    let base = Cluster::of_run(run);
    let _ = writeln!(
        out,
        "**Predictions, not measurements**: the run's measured costs in a closed queueing model (`authscale predict`), with the run's round trip ({:.3} ms), work ({} µs) and {} connections per node. The store's CPU per command is taken at the predicted load (it falls as more requests wait on a busy Redis), held flat beyond the loads the run measured. Error beside each mode: the {check}; it measures extrapolation in N, not in budgets.\n",
        base.store_rtt_s * 1e3,
        base.work_us,
        base.connections_per_node
    );
    let mut intervals = None;
    out.push_str("| what if | mode | X(10) | X(50) | X(200) | knee | bottleneck at N=200 | store ceiling (req/s) | held-out error |\n|---|---|---:|---:|---:|---|---|---:|---|\n");
    for (name, node_cores, store_cores, shards) in WHAT_IFS {
        let p = match what_if(run, node_cores, store_cores, shards) {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(out, "| {name} | — | not predicted: {e} | | | | | | |");
                continue;
            }
        };
        for m in &p.modes {
            let x = |n: u32| {
                m.points
                    .iter()
                    .find(|pt| pt.n == n)
                    .map_or("—".into(), throughput)
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m.mode,
                x(10),
                x(50),
                x(200),
                m.knee_exact.map_or("none".into(), |k| format!("N={k}")),
                m.points.last().map_or("—", |pt| pt.bottleneck.as_str()),
                m.store_ceiling_rps
                    .map_or("—".into(), |c| format!("{c:.0}")),
                errors.get(&m.mode).map_or("—", String::as_str)
            );
        }
        intervals.get_or_insert(p.intervals);
    }
    let _ = writeln!(
        out,
        "\nIntervals: {}. A Redis shard runs commands on one thread, so a store of more cores helps only as more shards. For another cluster: `authscale predict RUN --node-cores C --store-cores S [--store-shards K] [--store-rtt D]`.",
        intervals.as_deref().unwrap_or(super::bounds::NONE)
    );
    out
}
