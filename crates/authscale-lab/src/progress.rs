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

/// How long a sweep's phases should take, from its plan alone (process
/// start-up not counted): the measured rounds or blocks, then what follows
/// each mode's steps (revocation probes, fault runs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimeToGo {
    /// The rounds (or blocks) as planned: the first stage of a sweep to a
    /// precision.
    pub measuring: f64,
    /// With a precision: the most the rounds may take (`max_time`).
    pub measuring_at_most: Option<f64>,
    /// Revocation probes and fault runs.
    pub after: f64,
    /// An SLO search: how many steps it takes depends on what it finds.
    pub searched: bool,
}

impl TimeToGo {
    pub(crate) fn of(plan: &authscale_schema::Plan) -> TimeToGo {
        let e = &plan.experiment;
        let secs = |d: Duration| d.as_secs_f64();
        let cells = (e.modes.len() * e.nodes.len()) as f64;
        let measuring = if plan.interleaved() {
            let warm_visits = cells
                * secs(
                    plan.experiment
                        .slice_warmup
                        .0
                        .max(Duration::from_millis(200)),
                );
            f64::from(e.rounds)
                * cells
                * secs(plan.experiment.slice_warmup.0 + plan.experiment.slice.0)
                + warm_visits
        } else {
            cells * secs(plan.experiment.warmup.0 + plan.experiment.duration.0)
        };
        let probes = e.modes.iter().filter(|m| m.has_credential()).count() as f64
            * secs(plan.experiment.revocation_window.0);
        let faults = plan.experiment.faults.as_ref().map_or(0.0, |f| {
            let runs: usize = f.kinds.iter().map(|k| f.persistences(*k).len()).sum();
            e.modes.len() as f64 * runs as f64 * secs(f.duration.0)
        });
        TimeToGo {
            measuring,
            measuring_at_most: (plan.interleaved() && e.precision > 0.0)
                .then(|| secs(plan.experiment.max_time.0).max(measuring)),
            after: probes + faults,
            searched: e.capacity == authscale_schema::Capacity::Slo,
        }
    }

    /// The line printed before a sweep starts.
    pub(crate) fn line(&self) -> String {
        if self.searched {
            return format!(
                "estimated time: an SLO search measures as many steps as it needs (each {} or more), plus {} of probes and fault runs",
                minutes(self.measuring),
                minutes(self.after)
            );
        }
        let total = self.measuring + self.after;
        match self.measuring_at_most {
            Some(most) => format!(
                "estimated time: about {} for the first stage and what follows it, at most {} if the precision asks for more rounds (--max-time)",
                minutes(total),
                minutes(most + self.after)
            ),
            None => format!("estimated time: about {}", minutes(total)),
        }
    }
}

/// `45 s`, `3 min 20 s`.
pub(crate) fn minutes(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// After a round: the rounds left at the pace so far, within the time
/// allowed, and what follows them.
pub(crate) fn time_left(
    rounds_done: usize,
    rounds_planned: usize,
    elapsed: f64,
    max_time: Option<f64>,
    after: f64,
) -> f64 {
    let per_round = elapsed / rounds_done.max(1) as f64;
    let mut rounds = per_round * rounds_planned.saturating_sub(rounds_done) as f64;
    if let Some(max) = max_time {
        rounds = rounds.min((max - elapsed).max(0.0));
    }
    rounds + after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_every_slice_and_what_follows() {
        let plan = authscale_schema::Experiment::default()
            .plan()
            .expect("the default plan");
        let t = TimeToGo::of(&plan);
        let e = &plan.experiment;
        let cells = (e.modes.len() * e.nodes.len()) as f64;
        let slice = (plan.experiment.slice.0 + plan.experiment.slice_warmup.0).as_secs_f64();
        assert!(t.measuring >= f64::from(e.rounds) * cells * slice, "{t:?}");
        assert!(
            t.line().starts_with("estimated time: about "),
            "{}",
            t.line()
        );
        assert_eq!(minutes(59.4), "59 s");
        assert_eq!(minutes(200.0), "3 min 20 s");
    }

    #[test]
    fn the_time_left_goes_at_the_pace_so_far_within_the_time_allowed() {
        // 2 of 7 rounds in 30 s: 5 more at 15 s, then 10 s of probes.
        assert_eq!(time_left(2, 7, 30.0, None, 10.0), 85.0);
        // With 60 s allowed, only 30 s of rounds remain.
        assert_eq!(time_left(2, 7, 30.0, Some(60.0), 10.0), 40.0);
        assert_eq!(time_left(7, 7, 100.0, None, 0.0), 0.0);
    }
}
