//! The proxy's own counters: latency of proxied requests, errors by side
//! and kind, and the per-upstream counters, as Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use authscale_http::prometheus::{self, LATENCY_BUCKETS, LatencyHistogram, family, sample};

/// A sample's labels, as [`sample`] takes them.
type Labels<'a> = &'a [(&'a str, &'a dyn std::fmt::Display)];

use crate::upload::ClientFault;
use crate::upstreams::{FailureKind, Upstreams};

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
            latency: LatencyHistogram::new(&LATENCY_BUCKETS),
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
        prometheus::process_cpu_seconds_total(
            &mut out,
            authscale_schema::process_cpu_seconds(std::process::id()),
        );

        let name = "authscale_proxy_errors_total";
        let help = "Errors by side (upstream, downstream, internal) and kind.";
        family(&mut out, name, "counter", help);
        for kind in FailureKind::ALL {
            let labels: Labels = &[("side", &"upstream"), ("kind", &kind.as_str())];
            sample(&mut out, name, labels, upstreams.failures_total(kind));
        }
        let labels: Labels = &[("side", &"downstream"), ("kind", &"connection")];
        sample(&mut out, name, labels, self.downstream_errors.load(Relaxed));
        for (kind, n) in ClientFault::KINDS.iter().zip(&self.client_faults) {
            let labels: Labels = &[("side", &"downstream"), ("kind", kind)];
            sample(&mut out, name, labels, n.load(Relaxed));
        }

        let name = "authscale_proxy_local_answers_total";
        family(
            &mut out,
            name,
            "counter",
            "Responses the proxy made itself.",
        );
        for (i, status) in ["502", "503", "504"].iter().enumerate() {
            sample(
                &mut out,
                name,
                &[("status", status)],
                self.local[i].load(Relaxed),
            );
        }
        let name = "authscale_proxy_retries_total";
        let help = "Idempotent requests retried on another upstream.";
        family(&mut out, name, "counter", help);
        sample(&mut out, name, &[], self.retries.load(Relaxed));

        // Each family's samples together, one per upstream (and kind).
        let set = upstreams.snapshot();
        let per_upstream = |out: &mut String, name, kind, help, value: &dyn Fn(&_) -> u64| {
            family(out, name, kind, help);
            for u in set.iter() {
                sample(out, name, &[("upstream", &u.addr)], value(u));
            }
        };
        per_upstream(
            &mut out,
            "authscale_upstream_requests_total",
            "counter",
            "Requests sent to each upstream.",
            &|u| u.requests(),
        );
        let name = "authscale_upstream_failures_total";
        let help = "Failed forwards per upstream and kind.";
        family(&mut out, name, "counter", help);
        for u in set.iter() {
            for kind in FailureKind::ALL {
                let labels: Labels = &[("upstream", &u.addr), ("kind", &kind.as_str())];
                sample(&mut out, name, labels, u.failures(kind));
            }
        }
        per_upstream(
            &mut out,
            "authscale_upstream_in_flight",
            "gauge",
            "Requests in flight per upstream.",
            &|u| u.in_flight(),
        );
        per_upstream(
            &mut out,
            "authscale_upstream_healthy",
            "gauge",
            "1 when the upstream receives traffic.",
            &|u| u64::from(upstreams.is_healthy(u)),
        );
        out
    }
}
