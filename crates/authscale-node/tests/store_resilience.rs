//! A node and a real store that restarts, fills up or speaks TLS: a restart
//! is invisible to the first request once the store is back, readiness
//! follows the store's ability to take writes, and sessions work over
//! `rediss://` with the store's CA.

mod common;

use std::time::{Duration, Instant};

use authscale_auth::RedisStoreConfig;
use authscale_node::AuthMode;
use authscale_testkit::{RedisServer, get};
use common::{
    TestNode, assert_503s_while_the_store_is_down, bearer, hs256_config, logged_in, session_config,
    session_cookie, session_node, session_setup,
};

#[tokio::test]
async fn the_first_session_request_after_a_store_restart_is_answered_not_503() {
    let (mut redis, node, cookie) = session_setup(1).await;

    // Restarted between two requests: the session is gone with the data
    // (no persistence), so the answer is 401, not a 503 from the dead
    // connection.
    redis.restart();
    let reply = node.me_with(&[("cookie", &cookie)]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(reply.body.contains("unknown_session"), "{}", reply.body);

    // Down while requests arrive (503), then back: the very first request
    // after its return is answered from the store.
    let cookie = session_cookie(&node.login(2).await);
    redis.stop();
    assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 503);
    redis.restart();
    assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 401);
    let fresh = session_cookie(&node.login(3).await);
    assert_eq!(node.me_with(&[("cookie", &fresh)]).await.status, 200);
}

#[tokio::test]
async fn the_first_denylist_check_after_a_store_restart_is_answered_not_503() {
    let mut redis = RedisServer::start();
    let mut config = hs256_config();
    config.auth = AuthMode::TokenDenylist;
    config.store = Some(RedisStoreConfig {
        url: redis.url(),
        timeout: Duration::from_millis(100),
        rtt: Duration::ZERO,
        client: Default::default(),
        ca_pem: None,
    });
    let node = TestNode::start(config).await;
    let token = bearer(&node.login(1).await);
    assert_eq!(node.me_with(&[("authorization", &token)]).await.status, 200);
    redis.restart();
    let reply = node.me_with(&[("authorization", &token)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn a_dead_store_answers_503_with_retry_after_within_the_timeout() {
    let mut redis = RedisServer::start();
    let node = session_node(&redis).await;
    let cookie = session_cookie(&node.login(1).await);
    redis.stop();
    // Never a hang: the retry of a lookup shares the timeout.
    assert_503s_while_the_store_is_down(&node, &cookie).await;
    let ready = get(node.addr, "/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(ready.body.contains("store_unreachable"), "{}", ready.body);
}

#[tokio::test]
async fn readyz_fails_with_a_reason_while_the_store_refuses_writes() {
    let redis = RedisServer::start();
    let node = TestNode::start(session_config(&redis.url(), Duration::from_millis(500))).await;
    let cookie = session_cookie(&node.login(1).await);
    assert_eq!(get(node.addr, "/readyz").await.status, 200);

    redis.fill_until_out_of_memory();
    let ready = get(node.addr, "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("store_refused"), "{}", ready.body);
    assert_eq!(ready.header("retry-after"), Some("1"));
    // Sessions already held are still served; new logins cannot be stored.
    assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 200);
    assert_eq!(node.login(2).await.status, 503);

    assert_eq!(redis.command(&["FLUSHALL"]), "OK");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(node.addr, "/readyz").await.status != 200 {
        assert!(Instant::now() < deadline, "not ready after FLUSHALL");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sessions_over_tls_with_the_stores_ca() {
    let redis = RedisServer::start_tls();
    let mut config = session_config(&redis.tls_url(), Duration::from_secs(1));
    if let Some(store) = config.store.as_mut() {
        store.ca_pem = Some(redis.ca_pem().to_vec());
    }
    let node = TestNode::start(config).await;
    assert_eq!(get(node.addr, "/readyz").await.status, 200);
    let cookie = logged_in(&node, 1).await;
    let logout = node.logout_with(&[("cookie", &cookie)]).await;
    assert_eq!(logout.status, 204);
    assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 401);
}
