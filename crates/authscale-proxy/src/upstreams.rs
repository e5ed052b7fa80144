//! The upstream set: swapped atomically when the admin endpoint changes it,
//! read without a lock on every request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::{ConfigError, check_upstreams};

/// Why a forward to an upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Could not connect (refused, unreachable, connect timeout).
    Connect,
    /// The connection broke before a complete response head (reset, EOF).
    Transport,
    /// The upstream answered something that is not HTTP.
    BadResponse,
    /// No response head within the upstream timeout.
    Timeout,
    /// A pooled connection closed with no answer to a request that may not
    /// be sent twice (a POST): the keep-alive race with the upstream's idle
    /// close, not a sign of a failing upstream (it is not marked down).
    ClosedIdle,
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Connect,
        FailureKind::Transport,
        FailureKind::BadResponse,
        FailureKind::Timeout,
        FailureKind::ClosedIdle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Transport => "transport",
            FailureKind::BadResponse => "bad_response",
            FailureKind::Timeout => "timeout",
            FailureKind::ClosedIdle => "closed_idle",
        }
    }
}

/// One upstream and its counters.
#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    /// ADDR as a URI authority, parsed once for every forwarded request.
    pub(crate) authority: hyper::http::uri::Authority,
    /// Milliseconds since the set's epoch until which the upstream is
    /// skipped; 0 when healthy.
    down_until_ms: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) requests: AtomicU64,
    /// Idle keep-alive connections to it.
    pub(crate) pool: crate::client::pool::Pool,
    failures: [AtomicU64; FailureKind::ALL.len()],
    /// The whole proxy's failures by kind, shared by every upstream it has
    /// had: a counter that outlives an upstream's removal from the set.
    all_failures: Arc<FailureTotals>,
}

/// Failures by kind over every upstream the proxy has had.
pub(crate) type FailureTotals = [AtomicU64; FailureKind::ALL.len()];

/// One request counted in its upstream's `in_flight`; see [`Upstream::enter`].
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Upstream);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Upstream {
    fn new(addr: SocketAddr, all_failures: &Arc<FailureTotals>) -> Upstream {
        Upstream {
            addr,
            authority: addr
                .to_string()
                .parse()
                .expect("a socket address is a valid authority"),
            down_until_ms: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            pool: crate::client::pool::Pool::default(),
            failures: Default::default(),
            all_failures: Arc::clone(all_failures),
        }
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Counts one request in flight until the returned guard drops: on
    /// every way out, including a client that leaves before the answer
    /// (its request's future is dropped mid-await).
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    pub fn failures(&self, kind: FailureKind) -> u64 {
        self.failures[kind as usize].load(Relaxed)
    }

    pub(crate) fn count_failure(&self, kind: FailureKind) {
        self.failures[kind as usize].fetch_add(1, Relaxed);
        self.all_failures[kind as usize].fetch_add(1, Relaxed);
    }
}

/// The first of `addrs` that is one of the proxy's own listeners: its
/// proxy listener (forwarding to it loops until the growing
/// `X-Forwarded-For` outgrows the head limit) or its admin listener (which
/// would open the admin endpoint to every client of the proxy). A wildcard
/// listener stands for every address on its port; an IPv4-mapped IPv6
/// address is its IPv4 address.
fn own_address(addrs: &[SocketAddr], own: &[SocketAddr]) -> Option<SocketAddr> {
    addrs.iter().copied().find(|a| {
        own.iter().any(|listen| {
            let (ip, listen_ip) = (a.ip().to_canonical(), listen.ip().to_canonical());
            a.port() == listen.port() && (ip == listen_ip || listen_ip.is_unspecified())
        })
    })
}

fn check_not_own(addrs: &[SocketAddr], own: &[SocketAddr]) -> Result<(), ConfigError> {
    own_address(addrs, own).map_or(Ok(()), |addr| Err(ConfigError::Own(addr)))
}

/// The current upstream set and the health state shared by all requests.
#[derive(Debug)]
pub struct Upstreams {
    set: ArcSwap<Vec<Arc<Upstream>>>,
    epoch: Instant,
    pub(crate) cursor: AtomicUsize,
    allow_remote: bool,
    /// The proxy's own listeners, refused as upstreams once known.
    own: std::sync::OnceLock<Vec<SocketAddr>>,
    /// Failures by kind over every upstream the set has held.
    all_failures: Arc<FailureTotals>,
}

impl Upstreams {
    pub fn new(addrs: &[SocketAddr], allow_remote: bool) -> Result<Upstreams, ConfigError> {
        check_upstreams(addrs, allow_remote)?;
        let all_failures = Arc::new(FailureTotals::default());
        let set = addrs
            .iter()
            .map(|a| Arc::new(Upstream::new(*a, &all_failures)))
            .collect();
        Ok(Upstreams {
            set: ArcSwap::from_pointee(set),
            epoch: Instant::now(),
            cursor: AtomicUsize::new(0),
            allow_remote,
            own: std::sync::OnceLock::new(),
            all_failures,
        })
    }

    /// Records the proxy's own listeners (known once bound) and refuses
    /// the set if it holds one of them; later sets are checked too.
    pub fn listening_on(&self, own: &[SocketAddr]) -> Result<(), ConfigError> {
        let current: Vec<SocketAddr> = self.snapshot().iter().map(|u| u.addr).collect();
        check_not_own(&current, own)?;
        let _ = self.own.set(own.to_vec());
        Ok(())
    }

    /// The set as it is now; stays valid while the caller holds it.
    pub fn snapshot(&self) -> Arc<Vec<Arc<Upstream>>> {
        self.set.load_full()
    }

    /// Replaces the set. Upstreams that stay keep their counters and health.
    pub fn replace(&self, addrs: &[SocketAddr]) -> Result<(), ConfigError> {
        check_upstreams(addrs, self.allow_remote)?;
        check_not_own(addrs, self.own.get().map_or(&[], Vec::as_slice))?;
        let current = self.snapshot();
        let next = addrs
            .iter()
            .map(|addr| {
                current
                    .iter()
                    .find(|u| u.addr == *addr)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Upstream::new(*addr, &self.all_failures)))
            })
            .collect();
        self.set.store(Arc::new(next));
        Ok(())
    }

    /// Failures of `kind` over every upstream the set has held (a counter:
    /// it does not fall when an upstream leaves the set).
    pub fn failures_total(&self, kind: FailureKind) -> u64 {
        self.all_failures[kind as usize].load(Relaxed)
    }

    pub fn is_healthy(&self, upstream: &Upstream) -> bool {
        let until = upstream.down_until_ms.load(Relaxed);
        until == 0 || self.now_ms() >= until
    }

    /// Skips `upstream` for `cooldown` (passive health check).
    pub fn mark_down(&self, upstream: &Upstream, cooldown: Duration) {
        let until = self.now_ms() + cooldown.as_millis() as u64;
        upstream.down_until_ms.fetch_max(until, Relaxed);
    }

    /// Clears a down mark (an active health probe succeeded).
    pub fn mark_up(&self, upstream: &Upstream) {
        upstream.down_until_ms.store(0, Relaxed);
    }

    fn now_ms(&self) -> u64 {
        // +1 so that "down until" is never the "healthy" sentinel 0.
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_over_every_upstream_do_not_fall_when_one_leaves_the_set() {
        let a: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:9002".parse().expect("addr");
        let set = Upstreams::new(&[a, b], false).expect("set");
        set.snapshot()[0].count_failure(FailureKind::Connect);
        set.snapshot()[1].count_failure(FailureKind::Connect);
        set.replace(&[b]).expect("replace");
        assert_eq!(set.failures_total(FailureKind::Connect), 2);
        set.snapshot()[0].count_failure(FailureKind::Connect);
        set.replace(&[a, b]).expect("replace");
        assert_eq!(set.failures_total(FailureKind::Connect), 3);
        // A returning upstream starts its own counters again.
        assert_eq!(set.snapshot()[0].failures(FailureKind::Connect), 0);
    }
}
