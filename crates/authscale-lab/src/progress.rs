//! The sweep's lines on stderr: one per finished step, fault run and
//! revocation probe, and the live rate while a step runs.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use authscale_load::Progress;

use authscale_schema::{Component, Revocation};
use authscale_schema::{FaultRun, Step};

/// One line per finished step; `x1` is the mode's N = 1 throughput.
pub(crate) fn step_line(step: &Step, x1: Option<f64>) -> String {
    let util = |name: Component| {
        step.components
            .get(&name)
            .map_or(0.0, |c| c.utilization * 100.0)
    };
    let efficiency = x1.map_or(String::new(), |x1| {
        format!("  E {:.2}", step.throughput / (f64::from(step.nodes) * x1))
    });
    format!(
        "  {:<8} N={:<2} {:>8.0} req/s  p99 {:>7.2} ms{efficiency}  nodes {:>3.0}%  store {:>3.0}% of budget  errors {}",
        step.mode,
        step.nodes,
        step.throughput,
        step.latency_ms.p99,
        util(Component::Nodes),
        util(Component::Store),
        step.errors
    )
}

/// One line per step of an external sweep (no budgets to compare with).
pub(crate) fn external_step_line(step: &Step) -> String {
    format!(
        "  {:<8} N={:<2} {:>8.0} req/s  p99 {:>7.2} ms  errors {}",
        step.mode, step.nodes, step.throughput, step.latency_ms.p99, step.errors
    )
}

pub(crate) fn fault_line(f: &FaultRun) -> String {
    let durability = f.durability.as_ref().map_or(String::new(), |d| {
        format!(
            "; across it: {} of {} revocations and {} of {} sessions lost",
            d.revocations_lost, d.revocations_checked, d.sessions_lost, d.sessions_checked
        )
    });
    format!(
        "  {:<8} {} (store persistence {}): {} of {} requests failed ({} during the fault), recovered {}, {} credentials lost{durability}",
        f.mode,
        f.kind,
        f.persistence,
        f.failed,
        f.requests,
        f.failed_during_fault,
        f.recovery_s
            .map_or("never".to_owned(), |s| format!("{s:.0} s after the fault")),
        f.sessions_lost
    )
}

pub(crate) fn revocation_line(r: &Revocation) -> String {
    let outcome = match r.latency_ms {
        Some(ms) => format!("refused by all {} nodes {ms:.0} ms after logout", r.nodes),
        None => format!(
            "still accepted by {} of {} nodes {:.0} s after logout",
            r.per_node_ms.iter().filter(|n| n.is_none()).count(),
            r.nodes,
            r.window_ms / 1000.0
        ),
    };
    format!("  {:<8} revocation: {outcome}", r.mode)
}

/// The live rate while a step runs.
pub(crate) async fn live(progress: Arc<Progress>, label: String) {
    let mut last = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let done = progress.completed.load(Relaxed);
        eprint!(
            "\r  {label:<16} {:>8.0} req/s (live)",
            (done - last) as f64 * 2.0
        );
        let _ = std::io::stderr().flush();
        last = done;
    }
}

/// What the first stage of a sweep to a precision decided.
pub(crate) fn second_stage_line(
    stages: &authscale_schema::Stages,
    extra: &[Vec<crate::slices::Cell>],
    precision: f64,
) -> String {
    let slices: usize = extra.iter().map(Vec::len).sum();
    let per_slice =
        stages.first_seconds / (f64::from(stages.first) * stages.needed.len() as f64).max(1.0);
    let most = stages.needed.iter().map(|c| c.rounds).max().unwrap_or(0);
    if extra.is_empty() {
        return format!(
            "  first stage ({} rounds, {:.0} s): every figure within ±{precision}% already",
            stages.first, stages.first_seconds
        );
    }
    format!(
        "  first stage ({} rounds, {:.0} s): for ±{precision}% the cells need up to {most} rounds; second stage: {} more rounds, {slices} slices (about {:.0} s)",
        stages.first,
        stages.first_seconds,
        extra.len(),
        per_slice * slices as f64
    )
}
