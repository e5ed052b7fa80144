//! The report's analysis sections: precision and paired ratios, the USL
//! fit, the prediction check, CPU per request and the store ceiling.

use authscale_schema::Component;
use std::fmt::Write;

use authscale_schema::Run;

use crate::analysis::{Analysis, ModeAnalysis};
use crate::interval::Resolved;
use crate::precision::{PREDICTION_TOLERANCE, Precision};

/// A run to a precision: what was wanted, which headline figures reached
/// it, and whether the time allowed cut the rounds short.
fn stages_paragraph(out: &mut String, run: &Run, precision: &Precision) {
    let Some(st) = &run.stages else {
        return;
    };
    let wanted = run.plan.experiment.precision / 100.0;
    let mut figures: Vec<(String, f64)> = precision
        .steps
        .iter()
        .filter(|s| s.n > 1)
        .filter_map(|s| {
            let e = s.efficiency?;
            Some((format!("{} E({})", s.mode, s.n), e.relative_half_width()))
        })
        .collect();
    figures.extend(precision.ratios.iter().map(|r| {
        (
            format!("{}/{} at N={}", r.a, r.b, r.n),
            r.ratio.relative_half_width(),
        )
    }));
    let short: Vec<String> = figures
        .iter()
        .filter(|(_, h)| *h > wanted + 1e-9)
        .map(|(name, h)| format!("{name} ±{:.1}%", h * 100.0))
        .collect();
    let most = st.needed.iter().map(|c| c.rounds).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "**Precision wanted: ±{:.1}% on every E(N) and mode ratio; reached by {} of {}.** The first stage ({} rounds, {:.0} s) asked for up to {most} rounds per cell; {} rounds were measured in {:.0} s{}.{}\n",
        wanted * 100.0,
        figures.len() - short.len(),
        figures.len(),
        st.first,
        st.first_seconds,
        st.rounds,
        st.seconds,
        if st.cut_by_time {
            format!(
                ", when the time allowed (max-time {}) ran out",
                run.plan.experiment.max_time
            )
        } else {
            String::new()
        },
        if short.is_empty() {
            String::new()
        } else {
            format!(" Not reached: {}.", short.join(", "))
        }
    );
}

/// Intervals, paired ratios and the run's noise floor.
pub(super) fn precision_section(out: &mut String, run: &Run, precision: &Precision) {
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
        "Every (mode, N) cell was measured once per round, {} rounds, in slices of {} (after {} of warm-up each), the order reversed every other round, so a steady drift of the machine falls on every cell nearly alike. Intervals are 95% Student-t intervals over the rounds (`mean [lo, hi]`; p50 and p99 here are means of the slices' percentiles, so they can differ from the whole steps' percentiles in the throughput table); efficiencies and mode-to-mode ratios are formed within each round (paired) and their interval is {} on the per-round log ratios; the USL parameters' intervals come from a percentile bootstrap over rounds ({} resamples).\n",
        match &run.stages {
            Some(st) if st.rounds > st.first => format!(
                "{} for every cell, then up to {} for the cells whose figures needed more",
                st.first, st.rounds
            ),
            _ => e.rounds.to_string(),
        },
        e.slice,
        e.slice_warmup,
        if run.stages.is_some() {
            "Stein's two-stage interval (the first stage's spread over all the rounds, or the t interval where that is wider: it keeps its 95% although the rounds were chosen from the data)"
        } else {
            "a t interval"
        },
        crate::precision::RESAMPLES
    );
    stages_paragraph(out, run, precision);
    if run
        .steps
        .iter()
        .flat_map(|s| &s.slices)
        .any(|x| x.first_node > 0)
    {
        let _ = writeln!(
            out,
            "Each round started every node set one node further along its mode's nodes, so no figure rests on one process's speed: X(1) comes from a different node each round, and the nodes a ratio compares change together.\n"
        );
    }
    if let Some(floor) = precision.noise_floor {
        let _ = writeln!(
            out,
            "**Noise floor: a typical figure of this run resolves differences of {:.1}% or more** (the median half-width of the 95% intervals of its {}; a figure whose interval is narrower resolves less, and its own interval below says so).\n",
            floor * 100.0,
            if precision.ratios.is_empty() {
                "efficiencies"
            } else {
                "mode-to-mode throughput ratios"
            }
        );
        let _ = writeln!(
            out,
            "These intervals hold the noise within this run. A repeat of it can also move by the machine's drift between runs, which they do not hold: on a shared or virtualized machine the store's kernel-heavy path and the nodes' computation do not speed up and slow down alike, so even the mode ratios move. `authscale spread` over a few repeats measures that drift; `authscale compare` allows for it between two runs, and `authscale ab` cancels it by measuring two builds side by side.\n"
        );
    }
    crate::md::table_head(
        out,
        "mode | >N | >X (req/s) | >E(N) | >p50 (ms) | >p99 (ms) | >node µs/req | >store cmds/req | >node throttled | >p99 in quota periods",
    );
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
        crate::md::table_head(out, ">N | ratio | >value | what the run can say");
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
    if let Some(period) = period {
        for s in &precision.steps {
            let periods = s.p99_ms.mean / period;
            let always_throttled = s.node_throttled.is_some_and(|t| t.mean >= 0.99);
            let never_waits = s.store_cmds_per_req.mean < 0.01;
            if periods >= 2.5 && always_throttled && never_waits {
                let _ = writeln!(
                    out,
                    "\n> {} N={}: p99 is {periods:.1} quota periods. Its nodes were throttled in every period and made no store calls, so they never slept: the kernel charges such a group's CPU at its timer tick, not as it runs, so a node overruns its {:.1} ms quota by up to a tick and then waits out several periods to pay it back. Nodes that sleep (on the store, or idle for lack of requests) are charged at once and wait about one period, as the other steps show.",
                    s.mode,
                    s.n,
                    period * run.plan.experiment.node_cpu
                );
            }
        }
    }
}

/// How well the USL fitted on the first half predicts the second.
pub(super) fn prediction_section(out: &mut String, precision: &Precision) {
    if precision.prediction.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Does the model predict?\n");
    let _ = writeln!(
        out,
        "The USL fitted on the first half of each mode's N values, predicting the measured rest. A model that misses by more than {:.0}% is reported as predicting badly: then the fitted curve describes the measured points but is not a forecast.\n",
        PREDICTION_TOLERANCE * 100.0
    );
    crate::md::table_head(
        out,
        "mode | fitted on N | >N | >predicted (req/s) | >measured (req/s) | >error",
    );
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

pub(super) fn usl_section(out: &mut String, analysis: &Analysis, precision: &Precision) {
    let _ = writeln!(out, "\n## Scalability model\n");
    let _ = writeln!(
        out,
        "Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by constrained least squares (σ, κ ≥ 0): σ is contention (queueing on something shared), κ coherency (crosstalk that makes throughput fall), N* the N at which the fitted curve peaks.\n"
    );
    crate::md::table_head(
        out,
        "mode | >λ (req/s per node) | >σ | >κ | >R² | >N* | points",
    );
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
        crate::md::table_head(out, "mode | >λ | >σ | >κ | >N*");
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

pub(super) fn cpu_section(out: &mut String, analysis: &Analysis) {
    let _ = writeln!(
        out,
        "## Where the CPU goes\n\n![CPU per request by component](cpu.svg)\n"
    );
    let _ = writeln!(
        out,
        "CPU µs per request (and utilization of each component's limit: its cgroup budget, or one core for the uncapped proxy and load generator).\n"
    );
    // Runs recorded since the lab read the scheduler's counts also say how
    // often the nodes, the store and the proxy were put on a CPU per
    // request; older runs render as they did.
    let runs = analysis
        .modes
        .iter()
        .flat_map(|m| &m.points)
        .any(|p| !p.runs_per_req.is_empty());
    if runs {
        let _ = writeln!(
            out,
            "Runs/req: how many times per request the scheduler put the nodes (together), the store and the proxy on a CPU (each switch in: after waiting on a socket, after a throttled period, after being preempted). It says how the requests reached each process, which its CPU per request can depend on (docs/precision.md).\n"
        );
    }
    crate::md::table_head(
        out,
        if runs {
            "mode | >N | >nodes | >store | >proxy | >load generator | >node throttled periods | >runs/req: nodes | >store | >proxy"
        } else {
            "mode | >N | >nodes | >store | >proxy | >load generator | >node throttled periods"
        },
    );
    for m in &analysis.modes {
        for p in &m.points {
            let cell = |c: Component| match (p.cpu_us_per_req.get(&c), p.utilization.get(&c)) {
                (Some(cpu), Some(util)) => format!("{cpu:.1} ({:.0}%)", util * 100.0),
                _ => "not measured".to_owned(),
            };
            let _ = write!(
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
            if runs {
                for c in [Component::Nodes, Component::Store, Component::Proxy] {
                    let _ = match p.runs_per_req.get(&c) {
                        Some(r) => write!(out, " {r:.3} |"),
                        None => write!(out, " — |"),
                    };
                }
            }
            let _ = writeln!(out);
        }
    }
}

/// The harness (proxy and load generator) against what the nodes' and the
/// store's budgets leave of the machine, per step: a scale model is only
/// a model of the system while the harness fits in what is left.
pub(super) fn harness_section(out: &mut String, run: &Run, analysis: &Analysis) {
    let e = &run.plan.experiment;
    let cores = run.host.cores as f64;
    if e.external.is_some() || cores <= 0.0 {
        return;
    }
    let _ = writeln!(
        out,
        "\n## The harness's share of the machine\n\nThe proxy and the load generator run uncapped beside the capped nodes and store. \"Left\" is the machine's {cores:.0} cores less the nodes' and the store's budgets; the harness's cores are its measured CPU. Over {:.0}% of what is left, the harness competes with the system it measures, and may set the limit instead of it.\n",
        authscale_schema::HARNESS_LIMIT * 100.0
    );
    crate::md::table_head(
        out,
        "mode | >N | >proxy + load µs/req | >harness cores | >left after budgets (cores) | >share of what is left",
    );
    let mut over: Vec<String> = Vec::new();
    for m in &analysis.modes {
        for p in &m.points {
            let harness = [Component::Proxy, Component::Load];
            let us: f64 = harness.iter().filter_map(|c| p.cpu_us_per_req.get(c)).sum();
            let used: f64 = harness.iter().filter_map(|c| p.utilization.get(c)).sum();
            let left = cores - f64::from(p.n) * e.node_cpu - e.store_cpu;
            let share = (left > 0.0).then(|| used / left);
            let _ = writeln!(
                out,
                "| {} | {} | {us:.1} | {used:.2} | {left:.2} | {} |",
                m.mode,
                p.n,
                share.map_or("none left".to_owned(), |s| format!("{:.0}%", s * 100.0))
            );
            if share.is_none_or(|s| s > authscale_schema::HARNESS_LIMIT) {
                over.push(format!("{} N={}", m.mode, p.n));
            }
        }
    }
    let _ = if over.is_empty() {
        writeln!(
            out,
            "\nThe harness stayed within {:.0}% of what was left at every step.",
            authscale_schema::HARNESS_LIMIT * 100.0
        )
    } else {
        writeln!(
            out,
            "\nOver {:.0}% of what was left (the harness, not the system, may have set the limit): {}.",
            authscale_schema::HARNESS_LIMIT * 100.0,
            over.join(", ")
        )
    };
}

pub(super) fn ceiling_section(out: &mut String, analysis: &Analysis) {
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
    crate::md::table_head(
        out,
        "mode | >store budget (cores) | >store CPU µs/command | >store capacity (commands/s) | >commands/request | >predicted ceiling (req/s) | >best measured (req/s) | >measured/predicted",
    );
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
