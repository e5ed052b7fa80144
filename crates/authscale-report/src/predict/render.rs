//! A prediction and a validation as text, Markdown, versioned JSON and an
//! SVG chart.

use std::fmt::Write;

use crate::Document;

use super::{Cluster, ModePrediction, PredictedPoint, Prediction, Validation};
use crate::svg::{LineChart, Series};

/// The `schema` of a prediction as JSON (`predict --json`).
pub const PREDICTION_SCHEMA: &str = "authscale-prediction/1";
/// The `schema` of a validation as JSON (`predict --validate --json`).
pub const VALIDATION_SCHEMA: &str = "authscale-validation/1";

/// The prediction as JSON, `schema` = [`PREDICTION_SCHEMA`].
pub fn prediction_json(p: &Prediction) -> serde_json::Result<String> {
    p.json()
}

/// The validation as JSON, `schema` = [`VALIDATION_SCHEMA`].
pub fn validation_json(v: &Validation) -> serde_json::Result<String> {
    v.json()
}

impl Document for Prediction {
    const SCHEMA: &'static str = PREDICTION_SCHEMA;

    fn title(&self) -> String {
        format!("authscale predict: {}", self.run)
    }

    fn markdown(&self) -> String {
        prediction_markdown(self)
    }
}

impl Document for Validation {
    const SCHEMA: &'static str = VALIDATION_SCHEMA;

    fn title(&self) -> String {
        "authscale predict --validate".to_owned()
    }

    fn markdown(&self) -> String {
        validation_markdown(self)
    }
}

pub(super) fn setting(c: &Cluster) -> String {
    format!(
        "nodes of {} core(s); store {} shard(s) × {} core(s), {:.3} ms away; {} µs of work per request; {} connections per node",
        c.node_cores,
        c.store_shards,
        c.store_cores,
        c.store_rtt_s * 1e3,
        c.work_us,
        c.connections_per_node
    )
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |u| format!("{:.0}%", u * 100.0))
}

/// `X` or `X [lo, hi]` where the prediction has an interval.
pub(super) fn throughput(p: &PredictedPoint) -> String {
    match p.throughput_interval {
        Some((lo, hi)) => format!("{:.0} [{lo:.0}, {hi:.0}]", p.throughput),
        None => format!("{:.0}", p.throughput),
    }
}

fn knee(m: &ModePrediction) -> String {
    match (m.knee, m.knee_exact) {
        (Some(k), Some(e)) if e != k => {
            format!(
                "N={e} (efficiency under {} from there; first listed: N={k})",
                crate::analysis::KNEE_EFFICIENCY
            )
        }
        (Some(k), _) => format!("N={k}"),
        _ => format!("none up to N={}", m.points.last().map_or(0, |p| p.n)),
    }
}

fn mode_summary(m: &ModePrediction) -> String {
    let mut s = format!("{}: knee {}", m.mode, knee(m));
    if let Some(c) = m.store_ceiling_rps {
        let _ = write!(s, "; the store caps it at {c:.0} req/s as N grows");
    }
    let cost = &m.costs;
    let _ = write!(
        s,
        ". Costs: node {:.1} CPU-µs/request at the highest load measured (run's work {} µs{}), ",
        cost.node.saturated(),
        cost.run_work_us,
        if cost.work_delta_us == 0.0 {
            String::new()
        } else {
            format!(", {:+.1} µs for the work difference", cost.work_delta_us)
        }
    );
    match &cost.store {
        Some(st) => {
            let _ = write!(
                s,
                "store {:.1} CPU-µs/command at the highest load measured ({:.1} at the least), {:.3} commands/request.",
                st.per_command.saturated(),
                st.per_command.points[0].cost_us,
                st.commands_per_request
            );
        }
        None => s.push_str("no store command per request."),
    }
    s
}

/// The prediction as Markdown.
pub fn prediction_markdown(p: &Prediction) -> String {
    let mut out = format!(
        "# Capacity prediction\n\nFrom `{}` ({}).\n\nFor: {}.\n",
        p.run,
        setting(&p.run_setting),
        setting(&p.cluster)
    );
    for m in &p.modes {
        let _ = writeln!(out, "\n## {}\n\n{}\n", m.mode, mode_summary(m));
        out.push_str("| N | X (req/s) | speedup | efficiency | mean latency (ms) | node util. | store util. | node µs/req | store µs/cmd | bottleneck |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for pt in &m.points {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.3} | {} | {} | {:.1} | {} | {} |",
                pt.n,
                throughput(pt),
                pt.speedup,
                pt.efficiency,
                pt.latency_ms,
                opt_pct(Some(pt.node_utilization)),
                opt_pct(pt.store_utilization),
                pt.node_cpu_us_per_request,
                pt.store_cpu_us_per_command
                    .map_or("—".into(), |c| format!("{c:.1}")),
                pt.bottleneck
            );
        }
    }
    out.push_str("\n## The model\n\n");
    for n in &p.notes {
        let _ = writeln!(out, "- {n}");
    }
    let _ = writeln!(out, "- Intervals: {}.", p.intervals);
    out
}

/// Predicted X(N) per mode (dashed), the knee (a dashed vertical line),
/// and the measured points where the run measured this very setting.
pub fn prediction_svg(p: &Prediction) -> String {
    let mut series = Vec::new();
    for (i, m) in p.modes.iter().enumerate() {
        series.push(Series {
            name: format!("{} predicted", m.mode),
            points: m
                .points
                .iter()
                .map(|pt| (f64::from(pt.n), pt.throughput))
                .collect(),
            dashed: true,
            color: i,
        });
        if !m.measured.is_empty() {
            series.push(Series {
                name: format!("{} measured", m.mode),
                points: m
                    .measured
                    .iter()
                    .map(|(n, x)| (f64::from(*n), *x))
                    .collect(),
                dashed: false,
                color: i,
            });
        }
        if let Some(k) = m.knee_exact.or(m.knee) {
            let top = m.points.iter().map(|pt| pt.throughput).fold(0.0, f64::max);
            series.push(Series {
                name: format!("{} knee N={k}", m.mode),
                points: vec![(f64::from(k), 0.0), (f64::from(k), top)],
                dashed: true,
                color: i,
            });
        }
    }
    LineChart {
        title: "predicted throughput vs nodes".into(),
        x_label: format!(
            "nodes N ({} core(s) each; store {} × {} core(s), {:.2} ms)",
            p.cluster.node_cores,
            p.cluster.store_shards,
            p.cluster.store_cores,
            p.cluster.store_rtt_s * 1e3
        ),
        y_label: "requests per second".into(),
        series,
        shade: None,
        error_bars: Vec::new(),
    }
    .render()
}

fn opt_n(k: Option<u32>) -> String {
    k.map_or("none".into(), |k| format!("N={k}"))
}

/// The validation as Markdown.
pub fn validation_markdown(v: &Validation) -> String {
    let mut out = format!(
        "# Prediction checked against measurement\n\n{}.\n",
        v.description
    );
    for m in &v.modes {
        let _ = writeln!(
            out,
            "\n## {}\n\nMean |error| {:.1}%, max {:.1}%. Knee predicted {}, measured {}.\n",
            m.mode,
            m.mean_abs_error_pct,
            m.max_abs_error_pct,
            opt_n(m.knee_predicted),
            opt_n(m.knee_measured)
        );
        out.push_str("| N | predicted X | measured X | error | predicted mean latency (ms) | measured (ms) | predicted bottleneck |\n|---:|---:|---:|---:|---:|---:|---|\n");
        for p in &m.points {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:+.1}% | {:.2} | {:.2} | {} |",
                p.n,
                match p.predicted_interval {
                    Some((lo, hi)) => format!("{:.0} [{lo:.0}, {hi:.0}]", p.predicted),
                    None => format!("{:.0}", p.predicted),
                },
                p.measured,
                p.error_pct,
                p.predicted_latency_ms,
                p.measured_latency_ms,
                p.predicted_bottleneck
            );
        }
    }
    let _ = writeln!(out, "\nIntervals: {}.", v.prediction.intervals);
    out
}
