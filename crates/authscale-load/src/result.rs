//! Building a `LoadResult` from the statistics, and printing it for a
//! person. The types themselves are authscale-schema's.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::stats::{Action, Outcome, Stats};
use crate::{Histograms, Latencies, LatencySummary, LoadConfig, LoadResult, TimelinePoint};

/// Facts of the run that are not in the statistics.
pub(crate) struct RunFacts {
    pub started_at: u64,
    pub measured_seconds: f64,
    pub queued_at_end: u64,
    pub in_flight_at_end: u64,
    pub interrupted: bool,
    pub cpu_seconds: f64,
    pub protocol: Option<String>,
}

/// The result of a run from its statistics.
pub(crate) fn build(config: LoadConfig, stats: &Stats, facts: RunFacts) -> LoadResult {
    let seconds = facts.measured_seconds.max(1e-9);
    let requests = stats.total();
    let successes: u64 = stats
        .counts
        .iter()
        .map(|row| row[Outcome::Success as usize])
        .sum();
    let by_step = Action::ALL
        .iter()
        .map(|step| {
            let row = &stats.counts[*step as usize];
            let counts = Outcome::ALL
                .iter()
                .filter(|o| row[**o as usize] > 0)
                .map(|o| (o.as_str().to_owned(), row[*o as usize]))
                .collect();
            (step.as_str().to_owned(), counts)
        })
        .collect();
    let offered_rate = match config.mode {
        crate::LoopMode::Open { rate } => Some(rate),
        crate::LoopMode::Closed => None,
    };
    LoadResult {
        started_at: facts.started_at,
        measured_seconds: facts.measured_seconds,
        offered_rate,
        achieved_rate: requests as f64 / seconds,
        success_rate: successes as f64 / seconds,
        requests,
        errors: stats.errors(),
        by_step,
        queued_at_end: facts.queued_at_end,
        in_flight_at_end: facts.in_flight_at_end,
        interrupted: facts.interrupted,
        cpu_seconds: facts.cpu_seconds,
        protocol: facts.protocol,
        latency_us: Latencies {
            corrected: LatencySummary::of(&stats.corrected),
            uncorrected: LatencySummary::of(&stats.uncorrected),
            by_step: Action::ALL
                .iter()
                .map(|s| {
                    (
                        s.as_str().to_owned(),
                        LatencySummary::of(&stats.by_step[*s as usize]),
                    )
                })
                .collect(),
        },
        histograms: Histograms {
            corrected: encode(&stats.corrected),
            uncorrected: encode(&stats.uncorrected),
            by_step: Action::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), encode(&stats.by_step[*s as usize])))
                .collect(),
        },
        timeline: stats
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| TimelinePoint {
                second: i as u64,
                success: s.success,
                unauthorized: s.unauthorized,
                failed: s.failed,
                p99_ms: if s.latency.is_empty() {
                    0.0
                } else {
                    s.latency.value_at_quantile(0.99) as f64 / 1000.0
                },
            })
            .collect(),
        config,
    }
}

pub(crate) fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => STANDARD.encode(bytes),
        Err(e) => {
            tracing::error!(error = ?e, "cannot serialize a histogram");
            String::new()
        }
    }
}

/// The human summary: rates, errors by class, a percentile table.
pub fn render(result: &LoadResult) -> String {
    let mut out = String::new();
    let mode = match result.offered_rate {
        Some(rate) => format!("open loop, {rate:.0} req/s offered"),
        None => "closed loop".to_owned(),
    };
    let _ = writeln!(
        out,
        "{} requests for {:.1}s ({mode}, {} connections, {}){}",
        result.requests,
        result.measured_seconds,
        result.config.connections,
        match &result.config.scenario.file {
            Some(_) => "requests from a scenario file".to_owned(),
            None => format!("auth {:?}", result.config.scenario.auth),
        },
        if result.interrupted {
            " — INTERRUPTED, partial result"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  throughput  {:.0} req/s completed, {:.0} req/s 2xx",
        result.achieved_rate, result.success_rate
    );
    if let Some(rate) = result.offered_rate {
        let _ = writeln!(
            out,
            "  achieved    {:.1}% of offered",
            100.0 * result.achieved_rate / rate
        );
    }
    let _ = writeln!(
        out,
        "  errors      {}{}",
        result.errors,
        error_breakdown(result)
    );
    if result.queued_at_end + result.in_flight_at_end > 0 {
        let _ = writeln!(
            out,
            "  at the end  {} queued (never sent), {} in flight (unanswered)",
            result.queued_at_end, result.in_flight_at_end
        );
    }
    if let Some(protocol) = &result.protocol {
        let _ = writeln!(out, "  protocol    {protocol}");
    }
    let _ = writeln!(
        out,
        "  generator   {:.2} CPU-s, {:.1} CPU-µs per request",
        result.cpu_seconds,
        result.cpu_us_per_request()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  latency (ms)      p50      p90      p99    p99.9      max     mean"
    );
    let mut row = |name: &str, l: &LatencySummary| {
        if l.count > 0 {
            let ms = |us: u64| us as f64 / 1000.0;
            let _ = writeln!(
                out,
                "  {name:<12} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                l.mean / 1000.0
            );
        }
    };
    row("corrected", &result.latency_us.corrected);
    row("uncorrected", &result.latency_us.uncorrected);
    for step in Action::ALL {
        if let Some(l) = result.latency_us.by_step.get(step.as_str()) {
            row(step.as_str(), l);
        }
    }
    out
}

fn error_breakdown(result: &LoadResult) -> String {
    let mut classes: BTreeMap<&str, u64> = BTreeMap::new();
    for counts in result.by_step.values() {
        for (outcome, n) in counts {
            if outcome != "2xx" {
                *classes.entry(outcome.as_str()).or_default() += n;
            }
        }
    }
    if classes.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = classes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(" ({})", parts.join(", "))
}
