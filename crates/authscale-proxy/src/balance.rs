//! Choosing an upstream: round-robin, least in-flight, or pinned by cookie.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::upstreams::{Upstream, Upstreams};

/// How requests are spread over the upstreams: the schema's closed set,
/// the one the CLI's `--policy` and the admin endpoint name.
pub use authscale_schema::ProxyPolicy as Policy;

/// The policy stored as `index` (its place in `Policy::ALL`), for the
/// proxy's atomic.
pub(crate) fn from_index(index: u8) -> Policy {
    Policy::ALL
        .get(usize::from(index))
        .copied()
        .unwrap_or(Policy::RoundRobin)
}

/// Its place in `Policy::ALL`.
pub(crate) fn index_of(policy: Policy) -> u8 {
    Policy::ALL
        .iter()
        .position(|p| *p == policy)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

/// Picks an upstream from `set` by `policy`, never `exclude` (the one a
/// retry is moving away from). None when no healthy upstream is left.
pub(crate) fn pick(
    policy: Policy,
    upstreams: &Upstreams,
    set: &[Arc<Upstream>],
    cookie: Option<&str>,
    exclude: Option<&Upstream>,
) -> Option<Arc<Upstream>> {
    let usable = |u: &Arc<Upstream>| {
        upstreams.is_healthy(u) && !exclude.is_some_and(|x| std::ptr::eq(x, u.as_ref()))
    };
    match (policy, cookie) {
        // The highest-ranked usable upstream for this cookie: its owner,
        // or, while the owner is down, the same runner-up every time
        // (so a user pinned to a lost node logs in again once, not on
        // every request as round-robin would make it).
        (Policy::CookieHash, Some(value)) => set
            .iter()
            .filter(|u| usable(u))
            .max_by_key(|u| rendezvous(value, u))
            .cloned(),
        (Policy::LeastConn, _) => {
            let start = upstreams.cursor.fetch_add(1, Relaxed);
            let n = set.len();
            (0..n)
                .map(|i| &set[(start + i) % n])
                .filter(|u| usable(u))
                .min_by_key(|u| u.in_flight())
                .cloned()
        }
        _ => round_robin(upstreams, set, usable),
    }
}

fn round_robin(
    upstreams: &Upstreams,
    set: &[Arc<Upstream>],
    usable: impl Fn(&Arc<Upstream>) -> bool,
) -> Option<Arc<Upstream>> {
    let n = set.len();
    if n == 0 {
        return None;
    }
    let start = upstreams.cursor.fetch_add(1, Relaxed);
    (0..n)
        .map(|i| &set[(start + i) % n])
        .find(|u| usable(u))
        .cloned()
}

/// Highest-random-weight score of `value` on `upstream`. DefaultHasher's
/// keys are fixed, so the mapping is the same in every proxy process.
fn rendezvous(value: &str, upstream: &Upstream) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    upstream.addr.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_policy_reads_back_as_itself() {
        for policy in Policy::ALL {
            assert_eq!(from_index(index_of(policy)), policy);
        }
    }
    use std::net::SocketAddr;
    use std::time::Duration;

    fn set(n: u16) -> (Upstreams, Vec<SocketAddr>) {
        let addrs: Vec<SocketAddr> = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i)))
            .collect();
        (Upstreams::new(&addrs, false).expect("loopback set"), addrs)
    }

    #[test]
    fn round_robin_rotates_and_skips_down_upstreams() {
        let (upstreams, addrs) = set(3);
        let snapshot = upstreams.snapshot();
        let picks: Vec<_> = (0..6)
            .map(|_| {
                pick(Policy::RoundRobin, &upstreams, &snapshot, None, None)
                    .expect("pick")
                    .addr
            })
            .collect();
        assert_eq!(
            picks,
            [addrs[0], addrs[1], addrs[2], addrs[0], addrs[1], addrs[2]]
        );
        upstreams.mark_down(&snapshot[1], Duration::from_secs(60));
        for _ in 0..10 {
            let picked = pick(Policy::RoundRobin, &upstreams, &snapshot, None, None).expect("pick");
            assert_ne!(picked.addr, addrs[1]);
        }
        let retry = pick(
            Policy::RoundRobin,
            &upstreams,
            &snapshot,
            None,
            Some(&snapshot[0]),
        )
        .expect("pick");
        assert_eq!(retry.addr, addrs[2]);
        upstreams.mark_down(&snapshot[0], Duration::from_secs(60));
        upstreams.mark_down(&snapshot[2], Duration::from_secs(60));
        assert!(pick(Policy::RoundRobin, &upstreams, &snapshot, None, None).is_none());
    }

    #[test]
    fn cookie_hash_pins_and_spreads_and_falls_back() {
        let (upstreams, _) = set(4);
        let snapshot = upstreams.snapshot();
        let owner = |cookie: &str| {
            pick(
                Policy::CookieHash,
                &upstreams,
                &snapshot,
                Some(cookie),
                None,
            )
            .expect("pick")
            .addr
        };
        let first = owner("abc");
        assert!((0..20).all(|_| owner("abc") == first));
        let spread: std::collections::HashSet<_> =
            (0..200).map(|i| owner(&format!("user{i}"))).collect();
        assert_eq!(spread.len(), 4, "200 cookies should reach every upstream");
        let down = snapshot.iter().find(|u| u.addr == first).expect("owner");
        upstreams.mark_down(down, Duration::from_secs(60));
        assert_ne!(owner("abc"), first);
    }

    #[test]
    fn least_conn_prefers_the_idle_upstream() {
        let (upstreams, addrs) = set(3);
        let snapshot = upstreams.snapshot();
        snapshot[0].in_flight.store(5, Relaxed);
        snapshot[2].in_flight.store(3, Relaxed);
        let picked = pick(Policy::LeastConn, &upstreams, &snapshot, None, None).expect("pick");
        assert_eq!(picked.addr, addrs[1]);
    }
}
