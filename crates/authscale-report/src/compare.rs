//! Two runs side by side: every (mode, N) step both have, with ratios.

use std::fmt::Write;

use authscale_schema::Run;

use crate::analysis::analyse;

/// A Markdown table comparing run B against run A.
pub fn compare(a: &Run, b: &Run) -> String {
    let (aa, ab) = (analyse(a), analyse(b));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "A: {} {} (commit {})",
        a.plan.experiment.name, a.started_at, a.host.git_commit
    );
    let _ = writeln!(
        out,
        "B: {} {} (commit {})\n",
        b.plan.experiment.name, b.started_at, b.host.git_commit
    );
    let _ = writeln!(
        out,
        "| mode | N | X A | X B | B/A | p99 A | p99 B | B/A | E A | E B | node µs/req A | node µs/req B | B/A | store cmds/req A | B |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut rows = 0;
    for ma in &aa.modes {
        let Some(mb) = ab.modes.iter().find(|m| m.mode == ma.mode) else {
            continue;
        };
        for pa in &ma.points {
            let Some(pb) = mb.points.iter().find(|p| p.n == pa.n) else {
                continue;
            };
            let node = |p: &crate::Point| {
                p.cpu_us_per_req
                    .get(&authscale_schema::Component::Nodes)
                    .copied()
                    .unwrap_or(0.0)
            };
            let ratio = |x: f64, y: f64| {
                if x > 0.0 {
                    format!("{:.2}", y / x)
                } else {
                    "—".into()
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {:.3} | {:.3} |",
                ma.mode,
                pa.n,
                pa.throughput,
                pb.throughput,
                ratio(pa.throughput, pb.throughput),
                pa.p99_ms,
                pb.p99_ms,
                ratio(pa.p99_ms, pb.p99_ms),
                pa.efficiency,
                pb.efficiency,
                node(pa),
                node(pb),
                ratio(node(pa), node(pb)),
                pa.store_cmds_per_req,
                pb.store_cmds_per_req
            );
            rows += 1;
        }
    }
    if rows == 0 {
        let _ = writeln!(out, "\nThe runs share no (mode, N) step.");
    }
    out
}
