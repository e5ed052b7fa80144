//! The proxy's own counters: latency of proxied requests, errors by side
//! and kind, and the per-upstream counters, as Prometheus text.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use authscale_http::prometheus::LatencyHistogram;

use crate::upload::ClientFault;
use crate::upstreams::{FailureKind, Upstreams};

/// Upper bounds of the latency histogram, seconds.
static BUCKETS: [f64; 16] = [
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

/// Answers the proxy gave itself instead of an upstream.
#[derive(Debug, Clone, Copy)]
pub enum LocalAnswer {
    BadGateway,
    NoUpstream,
    GatewayTimeout,
}

#[derive(Debug)]
pub struct ProxyMetrics {
    latency: LatencyHistogram,
    retries: AtomicU64,
    local: [AtomicU64; 3],
    downstream_errors: AtomicU64,
    client_faults: [AtomicU64; ClientFault::KINDS.len()],
}

impl Default for ProxyMetrics {
    fn default() -> ProxyMetrics {
        ProxyMetrics {
            latency: LatencyHistogram::new(&BUCKETS),
            retries: AtomicU64::new(0),
            local: Default::default(),
            downstream_errors: AtomicU64::new(0),
            client_faults: Default::default(),
        }
    }
}

impl ProxyMetrics {
    pub fn latency(&self, elapsed: Duration) {
        self.latency.record(elapsed);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    pub fn local_answer(&self, answer: LocalAnswer) {
        self.local[answer as usize].fetch_add(1, Relaxed);
    }

    pub fn downstream_error(&self) {
        self.downstream_errors.fetch_add(1, Relaxed);
    }

    /// A request refused for the client's own fault (400/408/413).
    pub fn client_fault(&self, fault: &ClientFault) {
        self.client_faults[fault.index()].fetch_add(1, Relaxed);
    }

    pub fn render(&self, upstreams: &Upstreams) -> String {
        let mut out = String::with_capacity(4096);
        self.latency.render(
            &mut out,
            "authscale_proxy_request_seconds",
            "Time from request to response head.",
        );
        authscale_http::prometheus::process_cpu_seconds_total(
            &mut out,
            authscale_schema::process_cpu_seconds(std::process::id()),
        );

        let _ = writeln!(
            out,
            "# HELP authscale_proxy_errors_total Errors by side (upstream, downstream, internal) and kind."
        );
        let _ = writeln!(out, "# TYPE authscale_proxy_errors_total counter");
        let set = upstreams.snapshot();
        for kind in FailureKind::ALL {
            let n: u64 = set.iter().map(|u| u.failures(kind)).sum();
            let _ = writeln!(
                out,
                "authscale_proxy_errors_total{{side=\"upstream\",kind=\"{}\"}} {n}",
                kind.as_str()
            );
        }
        let _ = writeln!(
            out,
            "authscale_proxy_errors_total{{side=\"downstream\",kind=\"connection\"}} {}",
            self.downstream_errors.load(Relaxed)
        );
        for (kind, n) in ClientFault::KINDS.iter().zip(&self.client_faults) {
            let _ = writeln!(
                out,
                "authscale_proxy_errors_total{{side=\"downstream\",kind=\"{kind}\"}} {}",
                n.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP authscale_proxy_local_answers_total Responses the proxy made itself."
        );
        let _ = writeln!(out, "# TYPE authscale_proxy_local_answers_total counter");
        for (i, status) in ["502", "503", "504"].iter().enumerate() {
            let _ = writeln!(
                out,
                "authscale_proxy_local_answers_total{{status=\"{status}\"}} {}",
                self.local[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP authscale_proxy_retries_total Idempotent requests retried on another upstream."
        );
        let _ = writeln!(out, "# TYPE authscale_proxy_retries_total counter");
        let _ = writeln!(
            out,
            "authscale_proxy_retries_total {}",
            self.retries.load(Relaxed)
        );

        let _ = writeln!(
            out,
            "# HELP authscale_upstream_requests_total Requests sent to each upstream."
        );
        let _ = writeln!(out, "# TYPE authscale_upstream_requests_total counter");
        for u in set.iter() {
            let _ = writeln!(
                out,
                "authscale_upstream_requests_total{{upstream=\"{}\"}} {}",
                u.addr,
                u.requests()
            );
        }
        let _ = writeln!(
            out,
            "# HELP authscale_upstream_failures_total Failed forwards per upstream and kind."
        );
        let _ = writeln!(out, "# TYPE authscale_upstream_failures_total counter");
        for u in set.iter() {
            for kind in FailureKind::ALL {
                let _ = writeln!(
                    out,
                    "authscale_upstream_failures_total{{upstream=\"{}\",kind=\"{}\"}} {}",
                    u.addr,
                    kind.as_str(),
                    u.failures(kind)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP authscale_upstream_in_flight Requests in flight per upstream."
        );
        let _ = writeln!(out, "# TYPE authscale_upstream_in_flight gauge");
        let _ = writeln!(
            out,
            "# HELP authscale_upstream_healthy 1 when the upstream receives traffic."
        );
        let _ = writeln!(out, "# TYPE authscale_upstream_healthy gauge");
        for u in set.iter() {
            let _ = writeln!(
                out,
                "authscale_upstream_in_flight{{upstream=\"{}\"}} {}",
                u.addr,
                u.in_flight()
            );
            let _ = writeln!(
                out,
                "authscale_upstream_healthy{{upstream=\"{}\"}} {}",
                u.addr,
                u8::from(upstreams.is_healthy(u))
            );
        }
        out
    }
}
