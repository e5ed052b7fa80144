//! `report.md`, its SVG charts, `report.html` (the same, in one
//! self-contained page) and `summary.csv` (one row per step, with
//! intervals) for one run. A pure function of the run:
//! the same run.json always gives the same files.

use authscale_schema::AuthMode;
use authscale_schema::Component;
use std::fmt::Write;
use std::path::Path;

use authscale_schema::Run;

use crate::analysis::{Analysis, analyse};
use crate::precision::{Precision, precision};

mod charts;
mod csv;
mod faults;
mod sections;

use charts::charts;
use faults::{fault_section, revocation_section};
use sections::{
    ceiling_section, cpu_section, harness_section, precision_section, prediction_section,
    usl_section,
};

/// The files of a report: (file name, contents).
pub fn render(run: &Run) -> Vec<(String, String)> {
    let analysis = analyse(run);
    let precision = precision(run);
    let mut files = charts(run, &analysis, &precision);
    let md = markdown(run, &analysis, &precision);
    let svgs = files.iter().cloned().collect();
    let title = format!(
        "authscale report: {} ({})",
        run.plan.experiment.name, run.started_at
    );
    files.insert(
        0,
        (
            "report.html".to_owned(),
            crate::html::page(&title, &md, &svgs),
        ),
    );
    files.insert(0, ("report.md".to_owned(), md));
    files.push(("summary.csv".to_owned(), csv::summary_csv(run, &precision)));
    files
}

/// Writes the report next to run.json (atomically, file by file).
pub fn write(run: &Run, dir: &Path) -> anyhow::Result<()> {
    for (name, contents) in render(run) {
        authscale_schema::write_atomic(&dir.join(name), contents.as_bytes())?;
    }
    Ok(())
}

fn markdown(run: &Run, analysis: &Analysis, precision: &Precision) -> String {
    let e = &run.plan.experiment;
    let mut out = String::new();
    // Every string from the record goes in as text (md::text): a run.json
    // can come from anywhere, and must not add to the report's structure.
    use crate::md::text;
    let _ = writeln!(
        out,
        "# authscale report: {} ({})\n",
        text(&e.name),
        text(&run.started_at)
    );
    if !e.description.is_empty() {
        let _ = writeln!(out, "{}.\n", text(&e.description));
    }
    let period = run
        .steps
        .first()
        .and_then(|s| s.components.get(&Component::Nodes))
        .and_then(|c| c.cpu_period_ms);
    let h = &run.host;
    let known = |value: &str, label: &str| {
        if value.is_empty() {
            String::new()
        } else {
            format!("{label}{}", text(value))
        }
    };
    let _ = writeln!(
        out,
        "Status: **{}**. Host: {} cores{}, Linux {}, CPU caps: {}{}. Store: {}{}. authscale {} at commit {}{}{}.\n",
        run.status,
        h.cores,
        known(&h.cpu_model, ", "),
        text(&h.kernel),
        text(&h.caps),
        period.map_or(String::new(), |p| format!(" (quota period {p:.0} ms)")),
        if h.redis_version.is_empty() {
            text(&h.store)
        } else {
            format!("Redis {} ({}", text(&h.redis_version), text(&h.store))
        },
        if h.redis_version.is_empty() {
            String::new()
        } else {
            format!("{})", known(&h.redis_persistence, "; "))
        },
        text(&h.authscale_version),
        text(&h.git_commit),
        match h.git_dirty {
            Some(true) => " (with uncommitted changes)",
            _ => "",
        },
        known(&h.rustc, ", built with "),
    );
    // What each step's measurement was: interleaved runs measure a step as
    // one slice per round, not as one warm-up + duration block.
    let measured = if run.plan.interleaved() && run.steps.iter().any(|s| !s.slices.is_empty()) {
        format!(
            "every step measured as {} slices of {} (after {} of warm-up each), one per round",
            match &run.stages {
                Some(st) if st.rounds > st.first => format!("{} to {}", st.first, st.rounds),
                _ => e.rounds.to_string(),
            },
            e.slice,
            e.slice_warmup
        )
    } else {
        format!("{} warm-up + {} measured per step", e.warmup, e.duration)
    };
    match &e.external {
        // Not the lab's budgets: the limits the experiment declares.
        Some(x) => {
            let _ = writeln!(
                out,
                "External deployment at {}: each instance's CPU limit {} core (declared, not set by the lab), the store's {}; closed loop, {} connections per instance; {measured}.\n",
                text(&x.target),
                x.node_cpu_limit.unwrap_or(1.0),
                x.store_cpu_limit.unwrap_or(1.0),
                e.connections_per_node
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Each node: {} of a core, {} µs of application work per request; store: {} of a core; closed loop, {} connections per node; {measured}.\n",
                e.node_cpu, e.work_us, e.store_cpu, e.connections_per_node
            );
            if e.balance == authscale_schema::Balance::Client {
                let _ = writeln!(
                    out,
                    "Balancing: client-side. The load generator spread its connections over the nodes itself (connection c to node c mod N); no proxy was in the path, and no proxy CPU is in the steps. Fault runs, if any, went through the proxy.\n"
                );
            }
        }
    }
    for warning in &run.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", text(warning));
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "> **The run failed:** {}\n", text(error));
    }

    let _ = writeln!(out, "## Verdict\n");
    for m in &analysis.modes {
        let _ = writeln!(out, "- {}", m.verdict);
    }
    let _ = writeln!(
        out,
        "\n## Throughput\n\n![throughput vs nodes](throughput.svg)\n"
    );
    crate::md::table_head(
        &mut out,
        "mode | >N | >X (req/s) | >speedup S(N) | >efficiency E(N) | >p50 (ms) | >p99 (ms) | >errors | >store cmds/req",
    );
    for m in &analysis.modes {
        for p in &m.points {
            // Without a measured N = 1 there is no speedup or efficiency.
            let ratio = |x: f64| {
                if x.is_finite() {
                    format!("{x:.2}")
                } else {
                    "—".to_owned()
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {:.2} | {:.2} | {:.2}% | {:.3} |",
                m.mode,
                p.n,
                p.throughput,
                ratio(p.speedup),
                ratio(p.efficiency),
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
    out.push_str(&crate::predict::cluster_section(run));
    let _ = writeln!(
        out,
        "\n## Latency and efficiency\n\n![p99 latency vs nodes](latency.svg)\n\n![efficiency vs nodes](efficiency.svg)\n"
    );
    cpu_section(&mut out, analysis);
    harness_section(&mut out, run, analysis);
    ceiling_section(&mut out, analysis);
    revocation_section(&mut out, run);
    fault_section(&mut out, run);
    let _ = writeln!(out, "\n## Cross-checks\n");
    let _ = writeln!(
        out,
        "- Little's law (in-flight ≈ rate × mean latency): {} of {} steps within 10%.",
        analysis.littles_law_ok, analysis.steps
    );
    let harness = |name: Component| {
        analysis
            .modes
            .iter()
            .flat_map(|m| m.points.iter())
            .map(|p| p.utilization.get(&name).copied().unwrap_or(0.0))
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
