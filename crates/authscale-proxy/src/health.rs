//! Active health checks: probe every upstream's `/healthz` on an interval
//! and take failing ones out of rotation until they answer again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::{Request, Uri};

use crate::Proxy;

/// Probes until the returned future is dropped.
pub async fn run_health_checks(proxy: Arc<Proxy>, interval: Duration) {
    let timeout = interval.min(Duration::from_secs(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let set = proxy.upstreams().snapshot();
        for upstream in set.iter() {
            let Ok(uri) = format!("{}/healthz", upstream.origin).parse::<Uri>() else {
                continue;
            };
            let mut probe = Request::new(Either::Right(Full::new(Bytes::new())));
            *probe.uri_mut() = uri;
            let healthy = matches!(
                tokio::time::timeout(timeout, proxy.client().request(probe)).await,
                Ok(Ok(response)) if response.status().is_success()
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
