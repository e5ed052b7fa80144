//! Active health checks: probe every upstream's `/healthz` on an interval
//! and take failing ones out of rotation until they answer again.

use std::sync::Arc;
use std::time::Duration;

use crate::Proxy;
use crate::client;

/// Probes until the returned future is dropped.
pub async fn run_health_checks(proxy: Arc<Proxy>, interval: Duration) {
    let timeout = interval.min(Duration::from_secs(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let set = proxy.upstreams().snapshot();
        for upstream in set.iter() {
            let probe = client::probe(upstream, "/healthz", proxy.limits());
            let healthy = matches!(
                tokio::time::timeout(timeout, probe).await,
                Ok(Ok(status)) if status.is_success()
            );
            if healthy {
                proxy.upstreams().mark_up(upstream);
            } else {
                tracing::warn!(upstream = %upstream.addr, "active health check failed");
                // Down until the next probe says otherwise.
                proxy.upstreams().mark_down(upstream, interval + timeout);
            }
        }
    }
}
