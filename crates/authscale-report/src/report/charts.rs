//! The report's SVG charts: throughput, latency, efficiency, CPU per
//! request by component, and each fault run's timeline.

use authscale_schema::AuthMode;
use authscale_schema::Component;
use authscale_schema::Run;

use crate::analysis::Analysis;
use crate::interval::Estimate;
use crate::precision::Precision;
use crate::svg::{LineChart, Series, StackedBars};

use super::faults::{fault_name, fault_stem};

pub(super) fn color(analysis: &Analysis, mode: AuthMode) -> usize {
    analysis
        .modes
        .iter()
        .position(|m| m.mode == mode)
        .unwrap_or(0)
}

pub(super) fn charts(
    run: &Run,
    analysis: &Analysis,
    precision: &Precision,
) -> Vec<(String, String)> {
    let interval_bars = |value: fn(&crate::precision::StepEstimates) -> Option<Estimate>| -> Vec<(usize, f64, f64, f64)> {
        precision
            .steps
            .iter()
            .filter_map(|s| {
                let e = value(s)?;
                (e.n >= 2).then(|| (color(analysis, s.mode), f64::from(s.n), e.lo, e.hi))
            })
            .collect()
    };
    let max_n = analysis
        .modes
        .iter()
        .flat_map(|m| m.points.iter().map(|p| p.n))
        .max()
        .unwrap_or(1);
    let mut throughput = Vec::new();
    for m in &analysis.modes {
        let c = color(analysis, m.mode);
        throughput.push(Series {
            name: format!("{} measured", m.mode),
            points: m
                .points
                .iter()
                .map(|p| (f64::from(p.n), p.throughput))
                .collect(),
            dashed: false,
            color: c,
        });
        if let Some(fit) = &m.fit {
            let curve = (0..=max_n * 4)
                .map(|i| f64::from(i) / 4.0)
                .filter(|n| *n >= 1.0)
                .map(|n| (n, fit.predict(n)))
                .collect();
            throughput.push(Series {
                name: format!("{} USL fit", m.mode),
                points: curve,
                dashed: true,
                color: c,
            });
        }
    }
    if let Some(x1) = analysis
        .modes
        .iter()
        .filter_map(|m| m.points.first().filter(|p| p.n == 1).map(|p| p.throughput))
        .reduce(f64::max)
    {
        throughput.push(Series {
            name: "ideal (N·X(1))".into(),
            points: vec![(1.0, x1), (f64::from(max_n), x1 * f64::from(max_n))],
            dashed: true,
            color: 7,
        });
    }
    let per_mode = |value: fn(&crate::analysis::Point) -> f64| -> Vec<Series> {
        analysis
            .modes
            .iter()
            .map(|m| Series {
                name: m.mode.to_string(),
                points: m
                    .points
                    .iter()
                    .map(|p| (f64::from(p.n), value(p)))
                    .collect(),
                dashed: false,
                color: color(analysis, m.mode),
            })
            .collect()
    };
    let mut efficiency = per_mode(|p| p.efficiency);
    efficiency.push(Series {
        name: "linear (1.0)".into(),
        points: vec![(1.0, 1.0), (f64::from(max_n), 1.0)],
        dashed: true,
        color: 7,
    });
    let bars = StackedBars {
        title: "CPU per request, by component".into(),
        y_label: "CPU µs per request".into(),
        parts: Component::ALL.iter().map(|c| c.to_string()).collect(),
        bars: run
            .steps
            .iter()
            .map(|s| {
                (
                    format!("{} N={}", s.mode, s.nodes),
                    Component::ALL
                        .iter()
                        .map(|c| s.components.get(c).map_or(0.0, |x| x.cpu_us_per_request))
                        .collect(),
                )
            })
            .collect(),
    };
    vec![
        (
            "throughput.svg".into(),
            LineChart {
                title: "Throughput vs nodes".into(),
                x_label: "nodes (N)".into(),
                y_label: "throughput (2xx req/s)".into(),
                series: throughput,
                shade: None,
                error_bars: interval_bars(|s| Some(s.throughput)),
            }
            .render(),
        ),
        (
            "latency.svg".into(),
            LineChart {
                title: "p99 latency vs nodes".into(),
                x_label: "nodes (N)".into(),
                y_label: "p99 latency (ms)".into(),
                series: per_mode(|p| p.p99_ms),
                shade: None,
                error_bars: interval_bars(|s| Some(s.p99_ms)),
            }
            .render(),
        ),
        (
            "efficiency.svg".into(),
            LineChart {
                title: "Scaling efficiency E(N) = X(N) / (N·X(1))".into(),
                x_label: "nodes (N)".into(),
                y_label: "efficiency".into(),
                series: efficiency,
                shade: None,
                error_bars: interval_bars(|s| s.efficiency),
            }
            .render(),
        ),
        ("cpu.svg".into(), bars.render()),
    ]
    .into_iter()
    .chain(run.faults.iter().flat_map(fault_charts))
    .collect()
}

/// Two timelines per fault run: success rate and p99 per second, the
/// fault window shaded.
pub(super) fn fault_charts(f: &authscale_schema::FaultRun) -> Vec<(String, String)> {
    let shade = Some((
        f.at_s,
        f.at_s + f.length_s,
        format!("{} ({:.0} s)", fault_name(f), f.length_s),
    ));
    let total =
        |p: &authscale_schema::TimelinePoint| (p.success + p.unauthorized + p.failed).max(1) as f64;
    let success = f
        .timeline
        .iter()
        .map(|p| (p.second as f64 + 0.5, 100.0 * p.success as f64 / total(p)))
        .collect();
    let p99 = f
        .timeline
        .iter()
        .map(|p| (p.second as f64 + 0.5, p.p99_ms))
        .collect();
    let chart = |title: String, y: &str, points, color| LineChart {
        title,
        x_label: "seconds into the run".into(),
        y_label: y.into(),
        series: vec![Series {
            name: f.mode.to_string(),
            points,
            dashed: false,
            color,
        }],
        shade: shade.clone(),
        error_bars: Vec::new(),
    };
    let stem = fault_stem(f);
    vec![
        (
            format!("{stem}-success.svg"),
            chart(
                format!(
                    "{} during {}: share of requests answered 2xx",
                    f.mode,
                    fault_name(f)
                ),
                "2xx (%)",
                success,
                0,
            )
            .render(),
        ),
        (
            format!("{stem}-p99.svg"),
            chart(
                format!(
                    "{} during {}: p99 latency per second",
                    f.mode,
                    fault_name(f)
                ),
                "p99 (ms)",
                p99,
                1,
            )
            .render(),
        ),
    ]
}
