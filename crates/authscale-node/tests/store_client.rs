//! The store's access paths against a real redis-server: the multiplexed
//! manager sends one command per lookup, the deadpool pool more (its
//! recycling's UNWATCH and PING); and the modelled store distance is
//! exposed as achieved in /metrics.

mod common;

use std::time::Duration;

use authscale_auth::StoreClient;
use authscale_testkit::RedisServer;
use common::{TestNode, assert_me_n_times, logged_in, session_config, session_cookie};

/// Commands the server counted per protected request, over `n` requests.
async fn commands_per_lookup(client: StoreClient) -> (f64, u64) {
    let redis = RedisServer::start();
    let mut config = session_config(&redis.url(), Duration::from_millis(500));
    if let Some(store) = config.store.as_mut() {
        store.client = client;
    }
    let node = TestNode::start(config).await;
    // Let the connection settle, then count from zero.
    let cookie = logged_in(&node, 4).await;
    redis.command(&["CONFIG", "RESETSTAT"]);
    const N: u64 = 100;
    assert_me_n_times(&node, &[("cookie", &cookie)], N).await;
    let commands: u64 = redis
        .command_calls()
        .iter()
        .filter(|(name, _)| name != "info" && name != "config|resetstat")
        .map(|(_, n)| n)
        .sum();
    (commands as f64 / N as f64, redis.calls_of("get"))
}

#[tokio::test]
async fn manager_sends_exactly_one_command_per_lookup() {
    let (per_lookup, gets) = commands_per_lookup(StoreClient::Manager).await;
    assert_eq!(gets, 100);
    assert_eq!(per_lookup, 1.0);
}

#[tokio::test]
async fn deadpool_sends_more_than_one_command_per_lookup() {
    let (per_lookup, gets) = commands_per_lookup(StoreClient::Deadpool).await;
    assert_eq!(gets, 100);
    assert!(per_lookup > 1.0, "{per_lookup} commands per lookup");
}

#[tokio::test]
async fn the_achieved_store_distance_is_in_the_metrics() {
    let redis = RedisServer::start();
    let rtt = Duration::from_micros(300);
    let mut config = session_config(&redis.url(), Duration::from_millis(500));
    if let Some(store) = config.store.as_mut() {
        store.rtt = rtt;
    }
    let node = TestNode::start(config).await;
    let cookie = session_cookie(&node.login(4).await);
    for _ in 0..20 {
        assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 200);
    }
    let metrics = authscale_testkit::get(node.addr, "/metrics").await.body;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    let count = value("authscale_store_rtt_achieved_seconds_count ");
    let sum = value("authscale_store_rtt_achieved_seconds_sum ");
    // The login's writes and the 20 lookups, each delayed at least `rtt`.
    assert!(count >= 21.0, "{count}");
    assert!(sum / count >= rtt.as_secs_f64(), "mean {}", sum / count);
}
