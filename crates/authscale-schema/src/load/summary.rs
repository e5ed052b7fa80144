//! The result of a run: serializable (with the histograms, so a report can
//! merge and re-plot them) and printable for a person.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde::{Deserialize, Serialize};

use super::LoadConfig;

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
    /// What the connections spoke to an `https://` target, as the server
    /// chose by ALPN: "HTTP/1.1 over TLS" or "HTTP/2 over TLS".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
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

impl LoadResult {
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
}
