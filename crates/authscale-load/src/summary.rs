//! The result of a run: serializable (with the histograms, so a report can
//! merge and re-plot them) and printable for a person.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::LoadConfig;
use crate::stats::{Outcome, Stats, Step};

/// Percentiles of one histogram, microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One second of a run (`LoadConfig::timeline`), counted by completion time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the start of the run.
    pub second: u64,
    pub success: u64,
    pub unauthorized: u64,
    /// Every other failure: 5xx, other 4xx, connect errors, timeouts, I/O.
    pub failed: u64,
    pub p99_ms: f64,
}

/// Counts of one step by outcome name (`2xx`, `401`, `timeout`, …).
pub type StepCounts = BTreeMap<String, u64>;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    pub config: LoadConfig,
    /// Unix seconds at the start of the run.
    pub started_at: u64,
    /// Seconds measured (after the warm-up, until the end or interruption).
    pub measured_seconds: f64,
    /// Requests per second intended (open loop only).
    pub offered_rate: Option<f64>,
    /// Measured requests completed (any outcome) per second.
    pub achieved_rate: f64,
    /// Measured 2xx answers per second.
    pub success_rate: f64,
    pub requests: u64,
    pub errors: u64,
    /// Per step, per outcome.
    pub by_step: BTreeMap<String, StepCounts>,
    /// Open loop: requests intended before the end but never sent.
    pub queued_at_end: u64,
    /// Requests sent but unanswered when the run ended.
    pub in_flight_at_end: u64,
    /// Stopped early by the user (Ctrl-C) or the caller.
    pub interrupted: bool,
    /// CPU time the generator process used during the run.
    pub cpu_seconds: f64,
    pub latency_us: Latencies,
    /// HdrHistogram V2 (deflate) encodings, base64.
    pub histograms: Histograms,
    /// Per second, when asked for (`LoadConfig::timeline`).
    #[serde(default)]
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latencies {
    pub corrected: LatencySummary,
    pub uncorrected: LatencySummary,
    pub by_step: BTreeMap<String, LatencySummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histograms {
    pub corrected: String,
    pub uncorrected: String,
    pub by_step: BTreeMap<String, String>,
}

/// Facts of the run that are not in the statistics.
pub(crate) struct RunFacts {
    pub started_at: u64,
    pub measured_seconds: f64,
    pub queued_at_end: u64,
    pub in_flight_at_end: u64,
    pub interrupted: bool,
    pub cpu_seconds: f64,
}

impl LoadResult {
    pub(crate) fn build(config: LoadConfig, stats: &Stats, facts: RunFacts) -> LoadResult {
        let seconds = facts.measured_seconds.max(1e-9);
        let requests = stats.total();
        let successes: u64 = stats
            .counts
            .iter()
            .map(|row| row[Outcome::Success as usize])
            .sum();
        let by_step = Step::ALL
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
            latency_us: Latencies {
                corrected: LatencySummary::of(&stats.corrected),
                uncorrected: LatencySummary::of(&stats.uncorrected),
                by_step: Step::ALL
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
                by_step: Step::ALL
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

    /// Decodes one of the stored histograms (for merging and re-plotting).
    pub fn decode_histogram(encoded: &str) -> Result<Histogram<u64>, String> {
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|e| format!("not base64: {e}"))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("not an HdrHistogram: {e:?}"))
    }

    /// CPU microseconds the generator spent per completed request.
    pub fn cpu_us_per_request(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.cpu_seconds * 1e6 / self.requests as f64
        }
    }

    /// The human summary: rates, errors by class, a percentile table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mode = match self.offered_rate {
            Some(rate) => format!("open loop, {rate:.0} req/s offered"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            out,
            "{} requests for {:.1}s ({mode}, {} connections, auth {:?}){}",
            self.requests,
            self.measured_seconds,
            self.config.connections,
            self.config.scenario.auth,
            if self.interrupted {
                " — INTERRUPTED, partial result"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "  throughput  {:.0} req/s completed, {:.0} req/s 2xx",
            self.achieved_rate, self.success_rate
        );
        if let Some(rate) = self.offered_rate {
            let _ = writeln!(
                out,
                "  achieved    {:.1}% of offered",
                100.0 * self.achieved_rate / rate
            );
        }
        let _ = writeln!(
            out,
            "  errors      {}{}",
            self.errors,
            self.error_breakdown()
        );
        if self.queued_at_end + self.in_flight_at_end > 0 {
            let _ = writeln!(
                out,
                "  at the end  {} queued (never sent), {} in flight (unanswered)",
                self.queued_at_end, self.in_flight_at_end
            );
        }
        let _ = writeln!(
            out,
            "  generator   {:.2} CPU-s, {:.1} CPU-µs per request",
            self.cpu_seconds,
            self.cpu_us_per_request()
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
        row("corrected", &self.latency_us.corrected);
        row("uncorrected", &self.latency_us.uncorrected);
        for step in Step::ALL {
            if let Some(l) = self.latency_us.by_step.get(step.as_str()) {
                row(step.as_str(), l);
            }
        }
        out
    }

    fn error_breakdown(&self) -> String {
        let mut classes: BTreeMap<&str, u64> = BTreeMap::new();
        for counts in self.by_step.values() {
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
