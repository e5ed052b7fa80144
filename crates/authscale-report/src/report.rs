//! `report.md` and its SVG charts for one run. A pure function of the run:
//! the same run.json always gives the same files.

use std::fmt::Write;
use std::path::Path;

use authscale_schema::{AuthMode, Component, Run};

use crate::analysis::{Analysis, ModeAnalysis, analyse};
use crate::interval::{Estimate, Resolved};
use crate::precision::{PREDICTION_TOLERANCE, Precision, precision};
use crate::svg::{LineChart, Series, StackedBars};

/// The files of a report: (file name, contents).
pub fn render(run: &Run) -> Vec<(String, String)> {
    let analysis = analyse(run);
    let precision = precision(run);
    let mut files = charts(run, &analysis, &precision);
    files.insert(
        0,
        ("report.md".to_owned(), markdown(run, &analysis, &precision)),
    );
    files
}

/// Writes the report next to run.json (atomically, file by file).
pub fn write(run: &Run, dir: &Path) -> anyhow::Result<()> {
    for (name, contents) in render(run) {
        authscale_schema::write_atomic(&dir.join(name), contents.as_bytes())?;
    }
    Ok(())
}

fn color(analysis: &Analysis, mode: AuthMode) -> usize {
    analysis
        .modes
        .iter()
        .position(|m| m.mode == mode)
        .unwrap_or(0)
}

fn charts(run: &Run, analysis: &Analysis, precision: &Precision) -> Vec<(String, String)> {
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

/// The file name stem of a fault run's charts.
fn fault_stem(f: &authscale_schema::FaultRun) -> String {
    match f.persistence {
        authscale_schema::Persistence::None => format!("fault-{}-{}", f.mode, f.kind),
        other => format!("fault-{}-{}-{other}", f.mode, f.kind),
    }
}

/// A fault as the report names it: the kind, and for a store outage what
/// the store kept.
fn fault_name(f: &authscale_schema::FaultRun) -> String {
    match (f.kind, f.persistence) {
        (authscale_schema::FaultKind::StoreOutage, authscale_schema::Persistence::Aof) => {
            format!("{} (AOF)", f.kind)
        }
        _ => f.kind.to_string(),
    }
}

/// Two timelines per fault run: success rate and p99 per second, the
/// fault window shaded.
fn fault_charts(f: &authscale_schema::FaultRun) -> Vec<(String, String)> {
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

fn markdown(run: &Run, analysis: &Analysis, precision: &Precision) -> String {
    let e = &run.plan.experiment;
    let mut out = String::new();
    let _ = writeln!(out, "# authscale report: {} ({})\n", e.name, run.started_at);
    if !e.description.is_empty() {
        let _ = writeln!(out, "{}.\n", e.description);
    }
    let period = run
        .steps
        .first()
        .and_then(|s| s.components.get(&Component::Nodes))
        .and_then(|c| c.cpu_period_ms);
    let _ = writeln!(
        out,
        "Status: **{}**. Host: {} cores, Linux {}, CPU caps: {}{}. Store: Redis {} ({}). authscale {} at commit {}.\n",
        run.status,
        run.host.cores,
        run.host.kernel,
        run.host.caps,
        period.map_or(String::new(), |p| format!(" (quota period {p:.0} ms)")),
        run.host.redis_version,
        run.host.store,
        run.host.authscale_version,
        run.host.git_commit
    );
    let _ = writeln!(
        out,
        "Each node: {} of a core, {} µs of application work per request; store: {} of a core; closed loop, {} connections per node; {} warm-up + {} measured per step.\n",
        e.node_cpu, e.work_us, e.store_cpu, e.connections_per_node, e.warmup, e.duration
    );
    for warning in &run.warnings {
        let _ = writeln!(out, "> **Warning:** {warning}\n");
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "> **The run failed:** {error}\n");
    }

    let _ = writeln!(out, "## Verdict\n");
    for m in &analysis.modes {
        let _ = writeln!(out, "- {}", m.verdict);
    }
    let _ = writeln!(
        out,
        "\n## Throughput\n\n![throughput vs nodes](throughput.svg)\n"
    );
    let _ = writeln!(
        out,
        "| mode | N | X (req/s) | speedup S(N) | efficiency E(N) | p50 (ms) | p99 (ms) | errors | store cmds/req |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &analysis.modes {
        for p in &m.points {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}% | {:.3} |",
                m.mode,
                p.n,
                p.throughput,
                p.speedup,
                p.efficiency,
                p.p50_ms,
                p.p99_ms,
                p.error_rate * 100.0,
                p.store_cmds_per_req
            );
        }
    }
    precision_section(&mut out, run, precision);
    usl_section(&mut out, analysis, precision);
    prediction_section(&mut out, precision);
    let _ = writeln!(
        out,
        "\n## Latency and efficiency\n\n![p99 latency vs nodes](latency.svg)\n\n![efficiency vs nodes](efficiency.svg)\n"
    );
    cpu_section(&mut out, analysis);
    ceiling_section(&mut out, analysis);
    revocation_section(&mut out, run);
    fault_section(&mut out, run);
    let _ = writeln!(out, "\n## Cross-checks\n");
    let _ = writeln!(
        out,
        "- Little's law (in-flight ≈ rate × mean latency): {} of {} steps within 10%.",
        analysis.littles_law_ok, analysis.steps
    );
    let harness = |c: Component| {
        analysis
            .modes
            .iter()
            .flat_map(|m| m.points.iter())
            .map(|p| p.utilization.get(&c).copied().unwrap_or(0.0))
            .fold(0.0, f64::max)
    };
    let _ = writeln!(
        out,
        "- Harness headroom: the proxy used at most {:.0}% of its core and the load generator {:.0}% of its own (a step above 80% could have been limited by the harness).",
        harness(Component::Proxy) * 100.0,
        harness(Component::Load) * 100.0
    );
    meaning(&mut out, analysis);
    out
}

/// Intervals, paired ratios and the run's noise floor.
fn precision_section(out: &mut String, run: &Run, precision: &Precision) {
    let _ = writeln!(out, "\n## How sure these figures are\n");
    if !precision.sliced {
        let _ = writeln!(
            out,
            "Each step of this run was measured as one block, so it carries no interval: a single window cannot say how much of a difference is the machine's drift. Interleaved runs (`pairing = \"interleaved\"`, the default) give every figure an interval.\n"
        );
        return;
    }
    let e = &run.plan.experiment;
    let _ = writeln!(
        out,
        "Every (mode, N) cell was measured once per round, {} rounds, in slices of {} (after {} of warm-up each), the order reversed every other round, so the machine's drift falls on every cell alike. Intervals are 95% Student-t intervals over the rounds (`mean [lo, hi]`); efficiencies and mode-to-mode ratios are formed within each round (paired) and their interval is a t interval on the per-round log ratios; the USL parameters' intervals come from a percentile bootstrap over rounds ({} resamples).\n",
        e.rounds,
        e.slice,
        e.slice_warmup,
        crate::precision::RESAMPLES
    );
    if let Some(floor) = precision.noise_floor {
        let _ = writeln!(
            out,
            "**Noise floor: differences under {:.1}% are not resolved by this run** (the median half-width of its paired ratios).\n",
            floor * 100.0
        );
    }
    let _ = writeln!(
        out,
        "| mode | N | X (req/s) | E(N) | p50 (ms) | p99 (ms) | node µs/req | store cmds/req | node throttled | p99 in quota periods |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let period = run
        .steps
        .first()
        .and_then(|s| s.components.get(&Component::Nodes))
        .and_then(|c| c.cpu_period_ms);
    for s in &precision.steps {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.mode,
            s.n,
            s.throughput.show(0),
            s.efficiency
                .filter(|_| s.n > 1)
                .map_or("—".into(), |e| e.show(2)),
            s.p50_ms.show(2),
            s.p99_ms.show(2),
            s.cpu_us_per_req
                .get(&Component::Nodes)
                .map_or("—".into(), |e| e.show(1)),
            s.store_cmds_per_req.show(3),
            s.node_throttled
                .map_or("—".into(), |e| e.scaled(100.0).show(0) + "%"),
            period.map_or("—".into(), |p| format!("{:.1}", s.p99_ms.mean / p)),
        );
    }
    if !precision.ratios.is_empty() {
        let _ = writeln!(
            out,
            "\nThroughput of one mode over another at the same N, paired by round:\n"
        );
        let _ = writeln!(out, "| N | ratio | value | what the run can say |");
        let _ = writeln!(out, "|---:|---|---:|---|");
        for r in &precision.ratios {
            let says = match Resolved::of_ratio(&r.ratio) {
                Resolved::Higher => format!("{} faster than {}", r.a, r.b),
                Resolved::Lower => format!("{} slower than {}", r.a, r.b),
                Resolved::NotResolved => "not resolved: the two cannot be told apart".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {}/{} | {} | {says} |",
                r.n,
                r.a,
                r.b,
                r.ratio.show(3)
            );
        }
    }
    for note in &precision.superlinear {
        let _ = writeln!(out, "\n> {note}");
    }
    let _ = writeln!(
        out,
        "\nThe last column is p99 in periods of the node quota: a capped node runs its quota and then waits for the next period, so a request that arrives after the quota is spent waits up to a whole period, and one queued behind others can wait two or three. A p99 of k periods is such waiting, not slow code."
    );
}

/// How well the USL fitted on the first half predicts the second.
fn prediction_section(out: &mut String, precision: &Precision) {
    if precision.prediction.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Does the model predict?\n");
    let _ = writeln!(
        out,
        "The USL fitted on the first half of each mode's N values, predicting the measured rest. A model that misses by more than {:.0}% is reported as predicting badly: then the fitted curve describes the measured points but is not a forecast.\n",
        PREDICTION_TOLERANCE * 100.0
    );
    let _ = writeln!(
        out,
        "| mode | fitted on N | N | predicted (req/s) | measured (req/s) | error |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    for (mode, check) in &precision.prediction {
        let on: Vec<String> = check.fitted_on.iter().map(u32::to_string).collect();
        for (n, predicted, measured, error) in &check.rows {
            let _ = writeln!(
                out,
                "| {mode} | {} | {n} | {predicted:.0} | {measured:.0} | {:+.1}% |",
                on.join(", "),
                error * 100.0
            );
        }
    }
    for (mode, check) in &precision.prediction {
        let _ = writeln!(
            out,
            "\n- {mode}: {} (largest error {:.1}%).",
            if check.max_abs_error <= PREDICTION_TOLERANCE {
                "the first half predicts the second well"
            } else {
                "the first half predicts the second badly — the curve changes shape beyond the fitted range"
            },
            check.max_abs_error * 100.0
        );
    }
}

fn usl_section(out: &mut String, analysis: &Analysis, precision: &Precision) {
    let _ = writeln!(out, "\n## Scalability model\n");
    let _ = writeln!(
        out,
        "Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by constrained least squares (σ, κ ≥ 0): σ is contention (queueing on something shared), κ coherency (crosstalk that makes throughput fall), N* the N at which the fitted curve peaks.\n"
    );
    let _ = writeln!(
        out,
        "| mode | λ (req/s per node) | σ | κ | R² | N* | points |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    for m in &analysis.modes {
        match &m.fit {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.4} | {:.5} | {:.3} | {} | {}{} |",
                    m.mode,
                    f.lambda,
                    f.sigma,
                    f.kappa,
                    f.r2,
                    f.peak_n.map_or("—".into(), |n| format!("{n:.1}")),
                    f.points,
                    if f.trustworthy() {
                        String::new()
                    } else {
                        format!(
                            " (fewer than {}: indicative only)",
                            crate::usl::TRUSTWORTHY_POINTS
                        )
                    }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {} | — | — | — | — | — | too few distinct N to fit |",
                    m.mode
                );
            }
        }
    }
    if !precision.usl.is_empty() {
        let _ = writeln!(
            out,
            "\n95% bootstrap intervals of the fit (resampling rounds):\n"
        );
        let _ = writeln!(out, "| mode | λ | σ | κ | N* |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let peak = |x: f64| {
            if x.is_finite() {
                format!("{x:.1}")
            } else {
                "∞".into()
            }
        };
        for (mode, u) in &precision.usl {
            let _ = writeln!(
                out,
                "| {mode} | [{:.0}, {:.0}] | [{:.4}, {:.4}] | [{:.5}, {:.5}] | [{}, {}] |",
                u.lambda.0,
                u.lambda.1,
                u.sigma.0,
                u.sigma.1,
                u.kappa.0,
                u.kappa.1,
                peak(u.peak_n.0),
                peak(u.peak_n.1)
            );
        }
    }
}

fn cpu_section(out: &mut String, analysis: &Analysis) {
    let _ = writeln!(
        out,
        "## Where the CPU goes\n\n![CPU per request by component](cpu.svg)\n"
    );
    let _ = writeln!(
        out,
        "CPU µs per request (and utilization of each component's limit: its cgroup budget, or one core for the uncapped proxy and load generator).\n"
    );
    let _ = writeln!(
        out,
        "| mode | N | nodes | store | proxy | load generator | node throttled periods |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for m in &analysis.modes {
        for p in &m.points {
            let cell = |c: Component| match (p.cpu_us_per_req.get(&c), p.utilization.get(&c)) {
                (Some(cpu), Some(util)) => format!("{cpu:.1} ({:.0}%)", util * 100.0),
                _ => "not measured".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.0}% |",
                m.mode,
                p.n,
                cell(Component::Nodes),
                cell(Component::Store),
                cell(Component::Proxy),
                cell(Component::Load),
                p.node_throttled_share * 100.0
            );
        }
    }
}

fn ceiling_section(out: &mut String, analysis: &Analysis) {
    let with: Vec<&ModeAnalysis> = analysis
        .modes
        .iter()
        .filter(|m| m.ceiling.is_some())
        .collect();
    if with.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## The store's ceiling, predicted and measured\n");
    let _ = writeln!(
        out,
        "Predicted: the store's budget divided by its measured CPU per command gives commands per second; divided by store commands per request, requests per second.\n"
    );
    let _ = writeln!(
        out,
        "| mode | store budget (cores) | store CPU µs/command | store capacity (commands/s) | commands/request | predicted ceiling (req/s) | best measured (req/s) | measured/predicted |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in with {
        if let Some(c) = &m.ceiling {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.1} | {:.0} | {:.3} | {:.0} | {:.0} | {:.2} |",
                m.mode,
                c.store_budget_cores,
                c.store_cpu_us_per_command,
                c.store_commands_per_second,
                c.commands_per_request,
                c.predicted_rps,
                c.measured_rps,
                c.measured_rps / c.predicted_rps
            );
        }
    }
}

/// How long a logged-out credential kept working, per mode, as probed.
fn revocation_section(out: &mut String, run: &Run) {
    if run.revocations.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Revocation latency\n");
    let _ = writeln!(
        out,
        "After a logout, every node was probed directly (every ~10 ms) with the logged-out credential until it refused it, for at most the probe window.\n"
    );
    let _ = writeln!(
        out,
        "| mode | N | nodes accepting before | refused by every node after | notes |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for r in &run.revocations {
        let still = r.per_node_ms.iter().filter(|n| n.is_none()).count();
        let after = match r.latency_ms {
            Some(ms) => format!("{ms:.0} ms"),
            None => format!("not within {:.0} s", r.window_ms / 1000.0),
        };
        let mut notes = Vec::new();
        if still > 0 {
            notes.push(format!(
                "still accepted by {still} of {} nodes at the end of the window",
                r.nodes
            ));
        }
        if let Some(s) = r.token_expires_in_s {
            notes.push(format!("the token expires {s} s after the logout"));
        }
        if r.accepted_before < r.nodes {
            notes.push(format!(
                "only {} of {} nodes knew the credential (node-local sessions)",
                r.accepted_before, r.nodes
            ));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {after} | {} |",
            r.mode,
            r.nodes,
            r.accepted_before,
            notes.join("; ")
        );
    }
}

/// Per fault run: what failed, how fast it recovered, what was forgotten.
fn fault_section(out: &mut String, run: &Run) {
    if run.faults.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Fault runs\n");
    let _ = writeln!(
        out,
        "Closed-loop load through the proxy; at the shaded time the store is killed (and restarted empty, or from its append-only file: AOF) or one node is killed (and restarted on its port). Failed: 5xx, timeouts and connection errors. Credentials lost: 401 answers from the fault on, each sending a user back to log in. Recovery: seconds from the end of the fault until every later second answered at least 99% of its requests.\n"
    );
    let _ = writeln!(
        out,
        "| mode | fault | nodes | requests | failed | failed during the fault | recovery | credentials lost (401s) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for f in &run.faults {
        let _ = writeln!(
            out,
            "| {} | {} ({:.0} s at {:.0} s) | {} | {} | {} ({:.2}%) | {} | {} | {} |",
            f.mode,
            fault_name(f),
            f.length_s,
            f.at_s,
            f.nodes,
            f.requests,
            f.failed,
            100.0 * f.failed as f64 / f.requests.max(1) as f64,
            f.failed_during_fault,
            f.recovery_s
                .map_or("not within the run".into(), |s| format!("{s:.0} s")),
            f.sessions_lost
        );
    }
    durability_table(out, run);
    for f in &run.faults {
        let stem = fault_stem(f);
        let name = fault_name(f);
        let _ = writeln!(
            out,
            "\n![{} {name} success]({stem}-success.svg)\n![{} {name} p99]({stem}-p99.svg)",
            f.mode, f.mode
        );
    }
}

/// Per fault run: what the system remembered across it, counted by real
/// requests (runs recorded before this was measured say so).
fn durability_table(out: &mut String, run: &Run) {
    let _ = writeln!(out, "\n### Auth state across the fault\n");
    let _ = writeln!(
        out,
        "Before each fault the lab logged users out and kept others logged in; after it (the load over), it tried every revoked credential on every node and every kept one through the proxy. Revocations lost: logged-out credentials some node accepted again. Sessions lost: kept users refused. A logout counts as checked only when every node refused it before the fault (plain tokens are not revoked by a logout).\n"
    );
    let _ = writeln!(
        out,
        "| mode | fault | store persistence | revocations lost / checked | sessions lost / checked | logouts that revoked nothing | unanswered after the fault |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|");
    for f in &run.faults {
        let figures = match &f.durability {
            Some(d) => format!(
                "{} / {} | {} / {} | {} of {} | {}",
                d.revocations_lost,
                d.revocations_checked,
                d.sessions_lost,
                d.sessions_checked,
                d.logged_out - d.revocations_checked.min(d.logged_out),
                d.logged_out,
                d.unanswered
            ),
            None => "not measured | not measured | — | —".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {figures} |",
            f.mode, f.kind, f.persistence
        );
    }
}

/// The trade-off in the experiment's own numbers.
fn meaning(out: &mut String, analysis: &Analysis) {
    let _ = writeln!(out, "\n## What this means\n");
    let find = |mode: AuthMode| analysis.modes.iter().find(|m| m.mode == mode);
    if let (Some(session), Some(token)) = (find(AuthMode::Session), find(AuthMode::Token))
        && let (Some(s), Some(t)) = (session.points.last(), token.points.last())
    {
        let node_cost = |p: &crate::analysis::Point| {
            p.cpu_us_per_req
                .get(&Component::Nodes)
                .copied()
                .unwrap_or(0.0)
        };
        let _ = writeln!(
            out,
            "- At N={} token auth served {:.0} req/s and session auth {:.0} ({:.2}×). Session's bottleneck: {}; token's: {}.",
            t.n,
            t.throughput,
            s.throughput,
            t.throughput / s.throughput.max(1e-9),
            session.bottleneck,
            token.bottleneck
        );
        let _ = writeln!(
            out,
            "- Tokens move the per-request cost from one shared place to every node: {:.1} node-CPU µs per request with tokens against {:.1} with sessions, and {:.3} store commands per request against {:.3}.",
            node_cost(t),
            node_cost(s),
            t.store_cmds_per_req,
            s.store_cmds_per_req
        );
    }
    let _ = writeln!(
        out,
        "- A shared session store is a single point of contention (its budget caps every node's throughput at once) and of failure (when it stops, every session-mode request fails), but a logout takes effect immediately."
    );
    let _ = writeln!(
        out,
        "- Token auth needs no shared state per request, so capacity grows with nodes until something else saturates; the price is revocation: a token stays valid until it expires, whatever happens to the session it came from."
    );
}
