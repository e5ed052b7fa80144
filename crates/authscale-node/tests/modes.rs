//! The trade-off modes between session and token: session-cached (a node
//! cache in front of the store), token-denylist (revocation through the
//! store) and sticky (node-local sessions), against a real redis-server.

mod common;

use std::time::{Duration, Instant};

use authscale_node::AuthMode;
use authscale_testkit::RedisServer;
use common::{
    TestNode, base_config, bearer, hs256_config, logged_in, session_config, session_cookie,
};

fn mode_config(mode: AuthMode, redis_url: &str) -> authscale_node::NodeConfig {
    let mut config = match mode {
        AuthMode::TokenDenylist => hs256_config(),
        _ => session_config(redis_url, Duration::from_millis(100)),
    };
    config.auth = mode;
    config.store = Some(authscale_auth::RedisStoreConfig {
        url: redis_url.to_owned(),
        timeout: Duration::from_millis(100),
        rtt: Duration::ZERO,
        client: Default::default(),
        ca_pem: None,
    });
    config
}

#[tokio::test]
async fn session_cached_saves_lookups_and_revokes_within_its_ttl() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let mut config = mode_config(AuthMode::SessionCached, &redis.url());
    config.session_cache_ttl = ttl;
    let (a, b) = (
        TestNode::start(config.clone()).await,
        TestNode::start(config).await,
    );
    let cookie = session_cookie(&a.login(1).await);
    redis.command(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(b.me_with(&[("cookie", &cookie)]).await.status, 200);
    }
    assert_eq!(
        redis.calls_of("get"),
        1,
        "one lookup, then the cache answers"
    );

    let logout = a.logout_with(&[("cookie", &cookie)]).await;
    let revoked_at = Instant::now();
    assert_eq!(logout.status, 204);
    assert_eq!(
        a.me_with(&[("cookie", &cookie)]).await.status,
        401,
        "the revoking node knows at once"
    );
    // The other node trusts its cache until the TTL runs out, then no longer
    // (waited for with a generous deadline: a loaded machine is slower, not
    // wrong; the cache's own expiry is unit-tested on a paused clock).
    let mut refused_after = None;
    while revoked_at.elapsed() < ttl * 10 {
        if b.me_with(&[("cookie", &cookie)]).await.status == 401 {
            refused_after = Some(revoked_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = refused_after.expect("revocation reached the other node");
    eprintln!("the other node refused the revoked session {refused_after:?} after logout");
}

#[tokio::test]
async fn token_denylist_revokes_on_every_node_at_once_and_fails_closed() {
    let mut redis = RedisServer::start();
    let config = mode_config(AuthMode::TokenDenylist, &redis.url());
    let (a, b) = (
        TestNode::start(config.clone()).await,
        TestNode::start(config).await,
    );
    let auth = bearer(&a.login(2).await);
    assert_eq!(b.me_with(&[("authorization", &auth)]).await.status, 200);
    let logout = a.logout_with(&[("authorization", &auth)]).await;
    assert_eq!(logout.status, 204);
    let reply = b.me_with(&[("authorization", &auth)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "revoked");
    // Keyed by (iss, jti), with a TTL: never the token itself.
    let keys = redis.command(&["DBSIZE"]);
    assert_eq!(keys, "1");
    let fresh = bearer(&a.login(2).await);
    assert_eq!(b.me_with(&[("authorization", &fresh)]).await.status, 200);
    // No store, no way to know whether a token was revoked: refuse (503).
    redis.stop();
    assert_eq!(b.me_with(&[("authorization", &fresh)]).await.status, 503);
}

#[tokio::test]
async fn sticky_sessions_live_on_their_node_only() {
    let mut config = base_config(AuthMode::Sticky);
    config.session_capacity = 1000;
    let (a, b) = (
        TestNode::start(config.clone()).await,
        TestNode::start(config).await,
    );
    let cookie = session_cookie(&a.login(3).await);
    assert_eq!(a.me_with(&[("cookie", &cookie)]).await.status, 200);
    assert_eq!(
        b.me_with(&[("cookie", &cookie)]).await.status,
        401,
        "another node has never seen it"
    );
    assert_eq!(a.logout_with(&[("cookie", &cookie)]).await.status, 204);
    assert_eq!(a.me_with(&[("cookie", &cookie)]).await.status, 401);
    assert_eq!(
        authscale_testkit::get(a.addr, "/readyz").await.status,
        200,
        "no store to wait for"
    );
}

#[tokio::test]
async fn session_cached_forgets_sessions_the_restarted_store_lost() {
    let mut redis = RedisServer::start();
    let mut config = mode_config(AuthMode::SessionCached, &redis.url());
    config.session_cache_ttl = Duration::from_millis(300);
    let node = TestNode::start(config).await;
    let cookie = logged_in(&node, 4).await;
    redis.restart();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = node.me_with(&[("cookie", &cookie)]).await.status;
        if status == 401 {
            break;
        }
        assert!(
            status == 503 && Instant::now() < deadline,
            "expected 401 once the store answers, got {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
