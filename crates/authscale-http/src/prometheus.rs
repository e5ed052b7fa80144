//! A fixed-bucket latency histogram for the Prometheus text format:
//! recording is two relaxed atomic adds, no lock and no allocation.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds, in seconds, for a latency on loopback or in a cluster:
/// from 50 µs (a store call on loopback) to 10 s (an upstream timing out).
pub static LATENCY_BUCKETS: [f64; 17] = [
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
    f64::INFINITY,
];

/// Counts of durations under fixed upper bounds (seconds; the last bound
/// should be infinity), and their sum.
#[derive(Debug)]
pub struct LatencyHistogram {
    bounds: &'static [f64],
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl LatencyHistogram {
    pub fn new(bounds: &'static [f64]) -> LatencyHistogram {
        LatencyHistogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len() - 1);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(elapsed.as_nanos() as u64, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Appends `# HELP`, `# TYPE` and the cumulative buckets, sum and count.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        family(out, name, "histogram", help);
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Relaxed);
            let le = if bound.is_infinite() {
                "+Inf".to_string()
            } else {
                bound.to_string()
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_ns.load(Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Appends a metric family's `# HELP` and `# TYPE` lines (`kind`:
/// counter, gauge, histogram, summary); its samples must follow at once.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends one sample, `name{k="v",...} value` (no braces without labels);
/// a label value's `\`, `"` and line feeds are escaped, as the text
/// format asks (a node id is the operator's text).
pub fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &dyn std::fmt::Display)],
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    for (i, (key, label)) in labels.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        let _ = write!(out, "{key}=\"");
        let start = out.len();
        let _ = write!(out, "{label}");
        if out[start..].contains(['\\', '"', '\n']) {
            let escaped = out[start..]
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            out.truncate(start);
            out.push_str(&escaped);
        }
        out.push('"');
    }
    if !labels.is_empty() {
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// `process_cpu_seconds_total`, the name Prometheus client libraries
/// export a process's CPU under: what a deployment the lab does not run
/// reads each instance's CPU from. `seconds` is this process's CPU time so
/// far; the value written never goes down (a counter), even if the reading
/// does (a thread that exited takes its time with it).
pub fn process_cpu_seconds_total(out: &mut String, seconds: f64) {
    static MOST: AtomicU64 = AtomicU64::new(0);
    let micros = (seconds.max(0.0) * 1e6) as u64;
    let most = MOST.fetch_max(micros, Relaxed).max(micros);
    let name = "process_cpu_seconds_total";
    family(
        out,
        name,
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    sample(out, name, &[], format_args!("{:.6}", most as f64 / 1e6));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        let odd: &dyn std::fmt::Display = &"a\"b\\c\nd";
        sample(&mut out, "x", &[("node", odd), ("n", &1)], 2);
        assert_eq!(out, "x{node=\"a\\\"b\\\\c\\nd\",n=\"1\"} 2\n");
    }

    #[test]
    fn buckets_are_cumulative_and_sum_is_seconds() {
        static BOUNDS: [f64; 3] = [0.001, 0.01, f64::INFINITY];
        let h = LatencyHistogram::new(&BOUNDS);
        h.record(Duration::from_micros(500));
        h.record(Duration::from_millis(5));
        h.record(Duration::from_secs(2));
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "test");
        assert!(out.contains("x_seconds_bucket{le=\"0.001\"} 1"));
        assert!(out.contains("x_seconds_bucket{le=\"0.01\"} 2"));
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(out.contains("x_seconds_count 3"));
        assert!(out.contains("x_seconds_sum 2.0055"));
        assert_eq!(h.count(), 3);
    }
}
