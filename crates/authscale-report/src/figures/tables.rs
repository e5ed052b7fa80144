//! The generated tables and lines themselves: the headline, the modes'
//! table, the spread and range tables of repeated runs, the wall times.

use super::*;

/// The verdict, the noise floor, and every mode at the largest N with
/// its 95% interval, with the mode-to-mode throughput ratio there.
pub(super) fn headline(run: &Run) -> String {
    let analysis = analyse(run);
    let precision = crate::precision::precision(run);
    let mut out = String::new();
    for m in &analysis.modes {
        let _ = writeln!(out, "- {}", m.verdict);
    }
    if let Some(floor) = precision.noise_floor {
        let _ = writeln!(
            out,
            "\nNoise floor: a typical figure of this run resolves differences of {:.1}% or more (95% intervals over {} rounds).",
            100.0 * floor,
            run.plan.experiment.rounds
        );
    }
    let n = run.plan.max_nodes();
    let _ = writeln!(out, "\n| at N={n} | X (req/s) | E(N) | p99 (ms) |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for s in precision.steps.iter().filter(|s| s.n == n) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.mode,
            s.throughput.show(0),
            s.efficiency.as_ref().map_or("—".to_owned(), |e| e.show(2)),
            s.p99_ms.show(1),
        );
    }
    // A run measured in one block per step (an external sweep) has no
    // intervals: its point figures, said to be that.
    if !precision.steps.iter().any(|s| s.n == n) {
        for m in &analysis.modes {
            let Some(p) = m.points.iter().find(|p| p.n == n) else {
                continue;
            };
            let efficiency = if p.efficiency.is_finite() {
                format!("{:.2}", p.efficiency)
            } else {
                "—".to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {:.0} | {efficiency} | {:.1} |",
                m.mode, p.throughput, p.p99_ms
            );
        }
        let _ = writeln!(
            out,
            "\nOne block per step (no rounds): these figures carry no intervals."
        );
    }
    for r in precision.ratios.iter().filter(|r| r.n == n) {
        let _ = writeln!(
            out,
            "| {}/{} throughput | {} | | |",
            r.a,
            r.b,
            r.ratio.show(2)
        );
    }
    out.trim().to_owned()
}

/// One row per mode: X(1), X and E at the largest N, the bottleneck
/// there, the revocation probe (from `steps`), and what a store outage
/// and a node loss did (from `faults`).
pub(super) fn modes(steps: &Run, faults: &Run) -> String {
    let analysis: Analysis = analyse(steps);
    let mut out = String::new();
    let n = steps.plan.max_nodes();
    let _ = writeln!(
        out,
        "| mode | X(1) req/s | X({n}) req/s | E({n}) | bottleneck at N={n} | revocation (probed) | store outage: requests failed | node loss: credentials lost |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|---:|---:|");
    for m in &analysis.modes {
        let (Some(first), Some(last)) = (m.points.first(), m.points.last()) else {
            continue;
        };
        let revocation =
            steps
                .revocations
                .iter()
                .find(|r| r.mode == m.mode)
                .map_or("—".to_owned(), |r| match r.latency_ms {
                    Some(ms) => format!("{ms:.0} ms"),
                    None => format!("not within {:.0} s", r.window_ms / 1000.0),
                });
        let fault = |kind: FaultKind| {
            faults
                .faults
                .iter()
                .find(|f| f.mode == m.mode && f.kind == kind && f.persistence == Persistence::None)
        };
        let outage = fault(FaultKind::StoreOutage).map_or("—".to_owned(), |f| {
            format!("{:.0}%", 100.0 * f.failed as f64 / f.requests.max(1) as f64)
        });
        let lost =
            fault(FaultKind::NodeLoss).map_or("—".to_owned(), |f| f.sessions_lost.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {revocation} | {outage} | {lost} |",
            m.mode,
            thousands(first.throughput),
            thousands(last.throughput),
            last.efficiency,
            m.bottleneck,
        );
    }
    out
}

/// `12,345`: a rate as the README prints it.
pub(super) fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row per batch of repeats (`LABEL=PATTERN PATTERN...`): how far
/// its runs agree, in the numbers `authscale spread` summarizes.
pub(super) fn spread_table(root: &Path, batches: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    crate::md::table_head(
        &mut out,
        "batch | >values within ±5% of their median | >90% of values within | >figures with every run within ±5% | >run intervals containing the median | >median interval half-width",
    );
    for batch in batches {
        let (label, patterns) = batch
            .split_once('=')
            .ok_or_else(|| format!("{batch:?}: expected LABEL=RUN..."))?;
        let patterns: Vec<&str> = patterns.split_whitespace().collect();
        let runs = runs(root, &patterns)?;
        let s = crate::spread::summarize(&crate::spread::figures(&runs), 0.05);
        let share = crate::spread::share;
        let percent = |x: Option<f64>| x.map_or("—".to_owned(), |x| format!("{:.1}%", 100.0 * x));
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} |",
            share(s.within, s.values),
            s.tolerance_held_by_90.map_or("—".to_owned(), |t| format!(
                "±{}%",
                crate::spread::percent_up(t)
            )),
            share(s.figures_within, s.figures),
            share(s.covering, s.intervals),
            percent(s.median_half_width),
        );
    }
    Ok(out)
}

/// How repeats agree: the summary lines of `authscale spread`.
pub(super) fn spread(root: &Path, patterns: &[&str]) -> Result<String, String> {
    let text = crate::spread::spread(&runs(root, patterns)?, 0.05)
        .ok_or_else(|| format!("{patterns:?}: no figure has values from two runs"))?;
    let text = crate::Document::markdown(&text);
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("values (run × figure)"))
        .collect();
    Ok(summary.join("\n"))
}

/// The figures the gate's thresholds are chosen from, each as the range
/// over repeats of one experiment (A/A runs): what identical code gives.
pub(super) const RANGES: [(&str, &str, usize); 12] = [
    ("token efficiency", "token.efficiency@max", 3),
    ("session efficiency", "session.efficiency@max", 3),
    (
        "session/token throughput @1",
        "session/token throughput@1",
        3,
    ),
    (
        "session/token throughput",
        "session/token throughput@max",
        3,
    ),
    (
        "session store commands per request",
        "session.store_cmds_per_req@max",
        3,
    ),
    (
        "session store utilization",
        "session.utilization.store@max",
        3,
    ),
    (
        "session node CPU µs/request",
        "session.cpu_us_per_req.nodes@max",
        1,
    ),
    (
        "token node CPU µs/request",
        "token.cpu_us_per_req.nodes@max",
        1,
    ),
    (
        "token proxy CPU µs/request",
        "token.cpu_us_per_req.proxy@max",
        1,
    ),
    ("session throughput @1 (req/s)", "session.throughput@1", 0),
    ("token throughput @1 (req/s)", "token.throughput@1", 0),
    ("token p99 (ms)", "token.p99@max", 1),
];

pub(super) fn ranges(root: &Path, patterns: &[&str]) -> Result<String, String> {
    let analyses: Vec<Analysis> = runs(root, patterns)?.iter().map(analyse).collect();
    let mut out = String::new();
    crate::md::table_head(
        &mut out,
        "metric (at the largest N unless @1) | >min | >median | >max | >spread (max−min)/median",
    );
    for (label, expression, decimals) in RANGES {
        let mut values = analyses
            .iter()
            .map(|a| crate::gate::figure(a, expression).map_err(|e| e.0))
            .collect::<Result<Vec<f64>, String>>()?;
        values.sort_by(f64::total_cmp);
        let (min, max) = (values[0], values[values.len() - 1]);
        let median = if values.len() % 2 == 1 {
            values[values.len() / 2]
        } else {
            (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
        };
        let spread = 100.0 * (max - min) / median;
        let _ = writeln!(
            out,
            "| {label} | {min:.decimals$} | {median:.decimals$} | {max:.decimals$} | {} |",
            if spread < 10.0 {
                format!("{spread:.1}%")
            } else {
                format!("{spread:.0}%")
            }
        );
    }
    Ok(out)
}

/// The runs the patterns name, in order.
pub(super) fn runs(root: &Path, patterns: &[&str]) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for pattern in patterns {
        for path in expand(root, pattern)? {
            runs.push(Run::read(&path).map_err(|e| format!("{e:#}"))?);
        }
    }
    Ok(runs)
}

/// The files a pattern names, sorted; `*` matches within a file name.
pub(super) fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = root.join(confined(pattern)?);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{pattern}: not a file pattern"));
    };
    let name = name.to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return Ok(vec![within(root, pattern)?]);
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{pattern}: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| {
                n.len() >= prefix.len() + suffix.len()
                    && n.starts_with(prefix)
                    && n.ends_with(suffix)
            })
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!("{pattern}: no file matches"));
    }
    found
        .iter()
        .map(|p| within(root, &p.strip_prefix(root).unwrap_or(p).to_string_lossy()))
        .collect()
}

/// A Markdown table of tab-separated lines, the first one the header.
pub(super) fn times(text: &str) -> Result<String, String> {
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let Some(header) = rows.first() else {
        return Err("the file is empty".into());
    };
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in &rows[1..] {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    Ok(out)
}
