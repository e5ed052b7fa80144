//! The node's counters, exposed at `/metrics` in Prometheus text format.
//! Fixed-size arrays of atomics: recording is a relaxed increment with no
//! lock and no allocation on the request path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use authscale_auth::Reason;
use authscale_http::prometheus::{self, LATENCY_BUCKETS, LatencyHistogram, family, sample};

pub use crate::route::Route;

/// Every status the node answers with; anything else lands in the last slot.
const STATUSES: [u16; 15] = [
    200, 204, 400, 401, 404, 405, 411, 413, 415, 429, 431, 500, 501, 503, 0,
];

/// The node's counters.
#[derive(Debug)]
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; Route::ALL.len()],
    auth_failures: [AtomicU64; Reason::ALL.len()],
    store_calls: LatencyHistogram,
    store_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            auth_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            store_calls: LatencyHistogram::new(&LATENCY_BUCKETS),
            store_errors: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn request(&self, route: Route, status: u16) {
        let (r, s) = slot(route, status);
        self.requests[r][s].fetch_add(1, Relaxed);
    }

    pub fn auth_failure(&self, reason: Reason) {
        self.auth_failures[reason.index()].fetch_add(1, Relaxed);
    }

    /// Records one store call and whether it succeeded.
    pub fn store_call(&self, elapsed: Duration, ok: bool) {
        self.store_calls.record(elapsed);
        if !ok {
            self.store_errors.fetch_add(1, Relaxed);
        }
    }

    /// Requests counted for `route` with `status` (tests and reports).
    pub fn requests_for(&self, route: Route, status: u16) -> u64 {
        let (r, s) = slot(route, status);
        self.requests[r][s].load(Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, info: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(4096);
        let info: Vec<(&str, &dyn std::fmt::Display)> = info
            .iter()
            .map(|(k, v)| (*k, v as &dyn std::fmt::Display))
            .collect();
        let name = "authscale_node_info";
        family(&mut out, name, "gauge", "Static facts about this node.");
        sample(&mut out, name, &info, 1);

        let name = "authscale_requests_total";
        let help = "Requests answered, by route and status.";
        family(&mut out, name, "counter", help);
        for (r, route) in Route::ALL.iter().map(|r| r.path()).enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[r][s].load(Relaxed);
                if n > 0 {
                    let status: &dyn std::fmt::Display =
                        if *status == 0 { &"other" } else { status };
                    sample(&mut out, name, &[("route", &route), ("status", status)], n);
                }
            }
        }

        let name = "authscale_auth_failures_total";
        family(&mut out, name, "counter", "Refused credentials, by reason.");
        for (i, reason) in Reason::ALL.iter().map(|r| r.as_str()).enumerate() {
            let n = self.auth_failures[i].load(Relaxed);
            sample(&mut out, name, &[("reason", &reason)], n);
        }

        self.store_calls.render(
            &mut out,
            "authscale_store_call_seconds",
            "Latency of session store calls.",
        );
        prometheus::process_cpu_seconds_total(
            &mut out,
            authscale_schema::process_cpu_seconds(std::process::id()),
        );
        let name = "authscale_store_errors_total";
        let help = "Store calls that failed or timed out.";
        family(&mut out, name, "counter", help);
        sample(&mut out, name, &[], self.store_errors.load(Relaxed));
        // The modelled store distance (--store-rtt) as achieved, so a run
        // records what its nodes really waited, not only what was asked.
        let (count, total) = authscale_auth::store_delays_achieved();
        let name = "authscale_store_rtt_achieved_seconds";
        let help = "Modelled store distance as achieved per store call (--store-rtt).";
        family(&mut out, name, "summary", help);
        sample(&mut out, &format!("{name}_sum"), &[], total.as_secs_f64());
        sample(&mut out, &format!("{name}_count"), &[], count);
        out
    }
}

/// The counter cell of a route and status; unknown statuses share the last.
fn slot(route: Route, status: u16) -> (usize, usize) {
    let r = Route::ALL
        .iter()
        .position(|x| *x == route)
        .unwrap_or(Route::ALL.len() - 1);
    let s = STATUSES
        .iter()
        .position(|x| *x == status)
        .unwrap_or(STATUSES.len() - 1);
    (r, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_exposition() {
        let m = Metrics::default();
        m.request(Route::Me, 200);
        m.request(Route::Me, 200);
        m.request(Route::Me, 799);
        m.auth_failure(Reason::Expired);
        m.store_call(Duration::from_micros(300), true);
        let text = m.render(&[("auth", "session")]);
        assert!(text.contains("authscale_requests_total{route=\"/api/me\",status=\"200\"} 2"));
        assert!(text.contains("authscale_requests_total{route=\"/api/me\",status=\"other\"} 1"));
        assert!(text.contains("authscale_auth_failures_total{reason=\"expired\"} 1"));
        assert!(text.contains("authscale_store_call_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("authscale_store_call_seconds_count 1"));
        assert!(text.contains("authscale_node_info{auth=\"session\"} 1"));
    }
}
