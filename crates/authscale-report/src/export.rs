//! A run's headline figures in the formats benchmark dashboards ingest, so
//! a team can track them over commits: github-action-benchmark's
//! `customBiggerIsBetter` / `customSmallerIsBetter` JSON, and Bencher's
//! Metric Format (BMF).
//!
//! The figures: throughput X(N) and efficiency E(N) per mode and N, each
//! mode's throughput over another's per N, the nodes' CPU-µs per request
//! per mode and N, and, when given, instructions per hot-path operation.
//! Each carries its 95% interval where the run has one.

use std::collections::BTreeMap;

use authscale_schema::{Component, Run};
use serde_json::{Value, json};

use crate::instructions::InstructionCounts;
use crate::interval::Estimate;
use crate::precision::precision;

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Bigger,
    Smaller,
}

/// One tracked figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The benchmark: `session N=4`, `token/session N=4`, `node/token`.
    pub benchmark: String,
    /// What is measured of it: `throughput`, `efficiency`, …
    pub measure: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub value: f64,
    /// The 95% interval, where the run gives one.
    pub interval: Option<(f64, f64)>,
}

impl Metric {
    /// A figure with its estimate's mean, and its 95% interval where the
    /// estimate has one (two or more values, finite bounds).
    fn estimated(
        benchmark: String,
        measure: &'static str,
        unit: &'static str,
        better: Better,
        e: &Estimate,
    ) -> Metric {
        let interval = (e.n >= 2 && e.lo.is_finite() && e.hi.is_finite()).then_some((e.lo, e.hi));
        Metric {
            benchmark,
            measure,
            unit,
            better,
            value: e.mean,
            interval,
        }
    }
}

/// The headline figures of `run`, and the instruction counts if given.
pub fn metrics(run: &Run, instructions: Option<&InstructionCounts>) -> Vec<Metric> {
    let p = precision(run);
    let mut out = Vec::new();
    for t in &run.steps {
        let benchmark = format!("{} N={}", t.mode, t.nodes);
        let estimates = p
            .steps
            .iter()
            .find(|s| s.mode == t.mode && s.n == t.nodes)
            .filter(|_| p.sliced);
        let point_efficiency = run
            .baseline(t.mode)
            .map(|x1| Estimate::point(t.throughput / (f64::from(t.nodes) * x1)));
        let (throughput, efficiency, node_cpu) = match estimates {
            Some(s) => (
                s.throughput,
                s.efficiency,
                s.cpu_us_per_req.get(&Component::Nodes).copied(),
            ),
            None => (
                Estimate::point(t.throughput),
                point_efficiency,
                Some(Estimate::point(t.cpu(Component::Nodes).cpu_us_per_request)),
            ),
        };
        let figures = [
            ("throughput", "req/s", Better::Bigger, Some(throughput)),
            (
                "efficiency",
                "E(N)",
                Better::Bigger,
                efficiency.filter(|_| t.nodes > 1),
            ),
            (
                "node-cpu-per-request",
                "CPU-µs/request",
                Better::Smaller,
                node_cpu.filter(|c| c.mean > 0.0),
            ),
        ];
        for (measure, unit, better, estimate) in figures {
            if let Some(e) = estimate {
                let benchmark = benchmark.clone();
                out.push(Metric::estimated(benchmark, measure, unit, better, &e));
            }
        }
    }
    for r in &p.ratios {
        let benchmark = format!("{}/{} N={}", r.a, r.b, r.n);
        let ratio = &r.ratio;
        out.push(Metric::estimated(
            benchmark,
            "throughput-ratio",
            "×",
            Better::Bigger,
            ratio,
        ));
    }
    if let Some(counts) = instructions {
        for (op, count) in &counts.ops {
            out.push(Metric {
                benchmark: op.clone(),
                measure: "instructions",
                unit: "instructions",
                better: Better::Smaller,
                value: *count as f64,
                interval: None,
            });
        }
    }
    out.retain(|m| m.value.is_finite());
    out
}

/// github-action-benchmark's custom format: the figures that improve in
/// the `better` direction (its `customBiggerIsBetter` or
/// `customSmallerIsBetter` tool reads one direction per file).
pub fn github_action_benchmark(metrics: &[Metric], better: Better, run: &Run) -> Value {
    let extra = format!(
        "{} run started {}, commit {}",
        run.plan.experiment.name, run.started_at, run.host.git_commit
    );
    Value::Array(
        metrics
            .iter()
            .filter(|m| m.better == better)
            .map(|m| {
                let mut entry = json!({
                    "name": format!("{} {}", m.benchmark, m.measure),
                    "unit": m.unit,
                    "value": m.value,
                    "extra": match m.interval {
                        Some((lo, hi)) => format!("95% interval [{lo:.4}, {hi:.4}]; {extra}"),
                        None => extra.clone(),
                    },
                });
                if let Some((lo, hi)) = m.interval {
                    entry["range"] = json!(format!("±{:.4}", (hi - lo) / 2.0));
                }
                entry
            })
            .collect(),
    )
}

/// Bencher Metric Format: benchmark → measure → value with its bounds.
pub fn bmf(metrics: &[Metric]) -> Value {
    let mut benchmarks: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for m in metrics {
        let mut value = json!({ "value": m.value });
        if let Some((lo, hi)) = m.interval {
            value["lower_value"] = json!(lo);
            value["upper_value"] = json!(hi);
        }
        benchmarks
            .entry(&m.benchmark)
            .or_default()
            .insert(m.measure.to_owned(), value);
    }
    json!(benchmarks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Run {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run.json");
        Run::read(&path).expect("fixture")
    }

    #[test]
    fn every_step_gives_its_throughput_and_node_cost_in_both_formats() {
        let run = fixture();
        let metrics = metrics(&run, None);
        for s in &run.steps {
            let name = format!("{} N={}", s.mode, s.nodes);
            let x = metrics
                .iter()
                .find(|m| m.benchmark == name && m.measure == "throughput")
                .unwrap_or_else(|| panic!("{name}"));
            assert!(x.value > 0.0 && x.better == Better::Bigger);
        }
        let bigger = github_action_benchmark(&metrics, Better::Bigger, &run);
        let smaller = github_action_benchmark(&metrics, Better::Smaller, &run);
        let count = |v: &Value| v.as_array().map_or(0, Vec::len);
        assert_eq!(count(&bigger) + count(&smaller), metrics.len());
        assert!(bigger.as_array().is_some_and(|a| {
            a.iter()
                .all(|e| e["value"].is_number() && e["unit"].is_string())
        }));
        let bmf = bmf(&metrics);
        let first = &metrics[0];
        assert_eq!(
            bmf[&first.benchmark][first.measure]["value"],
            json!(first.value)
        );
    }

    #[test]
    fn instruction_counts_are_smaller_is_better() {
        let counts = InstructionCounts::from_toml(
            "[toolchain]\nrustc = \"r\"\ntarget = \"t\"\nvalgrind = \"v\"\n[ops]\n\"node/token\" = 67303\n",
        )
        .expect("counts");
        let metrics = metrics(&fixture(), Some(&counts));
        let op = metrics
            .iter()
            .find(|m| m.benchmark == "node/token")
            .expect("the op");
        assert_eq!(
            (op.value, op.better, op.measure),
            (67303.0, Better::Smaller, "instructions")
        );
    }
}
