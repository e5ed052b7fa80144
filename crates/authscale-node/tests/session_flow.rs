//! Session mode against a real redis-server: the flow, expiry, fixation,
//! tampering, the one-round-trip-per-request budget, and store outages.

mod common;

use std::time::{Duration, Instant};

use authscale_auth::SessionId;
use authscale_testkit::{RedisServer, request};
use common::{
    TestNode, assert_503s_while_the_store_is_down, assert_me_n_times, me_then_logout,
    session_config, session_cookie, session_node, session_setup,
};

#[tokio::test]
async fn login_me_logout_then_me_is_refused() {
    let redis = RedisServer::start();
    let node = session_node(&redis).await;

    let login = node.login(7).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let set_cookie = login.header("set-cookie").expect("cookie").to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let cookie = session_cookie(&login);

    let logout = me_then_logout(&node, &[("cookie", &cookie)], "user7").await;
    assert!(
        logout
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );

    let after = node.me_with(&[("cookie", &cookie)]).await;
    assert_eq!(after.status, 401);
    assert!(after.header("www-authenticate").is_some());
    assert_eq!(after.json()["reason"], "unknown_session");
}

#[tokio::test]
async fn every_login_mints_a_new_id_and_a_chosen_id_is_never_adopted() {
    let redis = RedisServer::start();
    let node = session_node(&redis).await;

    let first = session_cookie(&node.login(1).await);
    let second = session_cookie(&node.login(1).await);
    assert_ne!(first, second);

    // Fixation: the attacker plants an id, the victim logs in with it.
    let planted = "sid=AAAAAAAAAAAAAAAAAAAAAA";
    let password = authscale_auth::Directory::new(common::SEED, 1000).password(2);
    let body = format!(r#"{{"user":"user2","password":"{password}"}}"#);
    let login = request(
        node.addr,
        "POST",
        "/login",
        &[("content-type", "application/json"), ("cookie", planted)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(login.status, 200);
    assert_ne!(session_cookie(&login), planted);
    assert_eq!(node.me_with(&[("cookie", planted)]).await.status, 401);
    let planted_key = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")
        .expect("well-formed")
        .store_key();
    assert_eq!(redis.command(&["EXISTS", &planted_key]), "0");
}

#[tokio::test]
async fn tampered_unknown_and_malformed_cookies_are_refused() {
    let redis = RedisServer::start();
    let node = session_node(&redis).await;
    let cookie = session_cookie(&node.login(3).await);
    let id = cookie.trim_start_matches("sid=");
    let mut flipped = id.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = format!("sid={}", String::from_utf8(flipped).expect("ascii"));
    let cases = [
        (flipped.as_str(), "unknown_session"),
        ("sid=zzzzzzzzzzzzzzzzzzzzzz", "unknown_session"),
        ("sid=short", "malformed"),
        ("sid=../../../../etc/passwd", "malformed"),
        ("sid=AAAAAAAAAAAAAAAAAAAAA*", "malformed"),
        ("other=1", "missing"),
    ];
    for (header, reason) in cases {
        let reply = node.me_with(&[("cookie", header)]).await;
        assert_eq!(reply.status, 401, "{header}");
        assert_eq!(reply.json()["reason"], reason, "{header}");
    }
    // A record planted in the store without the scheme's format is refused.
    let planted_key = SessionId::parse("BBBBBBBBBBBBBBBBBBBBBB")
        .expect("well-formed")
        .store_key();
    redis.command(&["SET", &planted_key, "not a record"]);
    let reply = node
        .me_with(&[("cookie", "sid=BBBBBBBBBBBBBBBBBBBBBB")])
        .await;
    assert_eq!(reply.status, 401);
    // The real session still works after all of that.
    assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 200);
}

#[tokio::test]
async fn sessions_end_at_the_idle_timeout_and_the_absolute_lifetime() {
    let redis = RedisServer::start();
    let mut idle = session_config(&redis.url(), Duration::from_millis(100));
    idle.session.idle_ttl = Duration::from_secs(1);
    let idle_node = TestNode::start(idle).await;
    let mut absolute = session_config(&redis.url(), Duration::from_millis(100));
    absolute.session.absolute_ttl = Duration::from_secs(1);
    absolute.session.idle_ttl = Duration::from_secs(60);
    // Sliding refresh keeps the record alive in the store; the absolute
    // lifetime in the record must still end the session.
    absolute.session.sliding = true;
    let absolute_node = TestNode::start(absolute).await;

    let idle_cookie = session_cookie(&idle_node.login(1).await);
    let absolute_cookie = session_cookie(&absolute_node.login(2).await);
    let absolute_me = [("cookie", absolute_cookie.as_str())];
    assert_eq!(absolute_node.me_status(&absolute_me).await, 200);
    assert_eq!(idle_node.me_status(&[("cookie", &idle_cookie)]).await, 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let idle_reply = idle_node.me_with(&[("cookie", &idle_cookie)]).await;
    assert_eq!(idle_reply.status, 401);
    let absolute_reply = absolute_node.me_with(&[("cookie", &absolute_cookie)]).await;
    assert_eq!(absolute_reply.status, 401);
    assert_eq!(absolute_reply.json()["reason"], "expired");
}

#[tokio::test]
async fn one_store_get_per_protected_request_and_no_ping() {
    // Let the connection settle, then count from zero.
    let (redis, node, cookie) = session_setup(4).await;
    redis.command(&["CONFIG", "RESETSTAT"]);

    const N: u64 = 200;
    assert_me_n_times(&node, &[("cookie", &cookie)], N).await;
    let calls = redis.command_calls();
    let get = redis.calls_of("get");
    let other: u64 = calls
        .iter()
        .filter(|(name, _)| name != "get" && name != "info" && name != "config|resetstat")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(get, N, "{calls:?}");
    assert_eq!(
        other, 0,
        "no PING, UNWATCH or anything else per request: {calls:?}"
    );
}

#[tokio::test]
async fn sliding_sessions_use_one_getex_per_request() {
    let redis = RedisServer::start();
    let mut config = session_config(&redis.url(), Duration::from_millis(100));
    config.session.sliding = true;
    let node = TestNode::start(config).await;
    let cookie = session_cookie(&node.login(5).await);
    redis.command(&["CONFIG", "RESETSTAT"]);
    assert_me_n_times(&node, &[("cookie", &cookie)], 50).await;
    assert_eq!(redis.calls_of("getex"), 50);
    assert_eq!(redis.calls_of("get"), 0);
}

#[tokio::test]
async fn store_outage_answers_503_within_the_timeout_and_recovers() {
    let (mut redis, node, cookie) = session_setup(6).await;

    redis.stop();
    assert_503s_while_the_store_is_down(&node, &cookie).await;
    assert_eq!(node.login(6).await.status, 503);
    assert_eq!(
        authscale_testkit::get(node.addr, "/readyz").await.status,
        503
    );
    assert_eq!(
        authscale_testkit::get(node.addr, "/healthz").await.status,
        200
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while authscale_testkit::get(node.addr, "/readyz").await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "the node did not reconnect to the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restarted store is empty: the old session is gone, new ones work.
    assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 401);
    let fresh = session_cookie(&node.login(6).await);
    assert_eq!(node.me_with(&[("cookie", &fresh)]).await.status, 200);
}

#[tokio::test]
async fn a_stalled_store_answers_503_within_the_timeout() {
    let (redis, node, cookie) = session_setup(8).await;

    // CLIENT PAUSE stalls every client's commands: a slow store, not a dead
    // one. A node that waited for the store would answer 200 once the pause
    // ends; the 503 says it gave up at its own timeout instead.
    redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]);
    let reply = node.me_with(&[("cookie", &cookie)]).await;
    assert_eq!(reply.status, 503);

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = node.me_with(&[("cookie", &cookie)]).await;
        if reply.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the stall: {}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
