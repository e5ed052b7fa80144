//! The hardening of sessions and logins against a real node and a real
//! redis-server: what the store reveals, re-login, the per-account cap,
//! sticky memory when full, failed-login throttling, caching headers and
//! the challenge's cookie name.

mod common;

use std::time::Duration;

use authscale_auth::{Directory, SessionConfig, SessionId, ThrottleConfig};
use authscale_node::AuthMode;
use authscale_testkit::{RedisServer, Reply, request};
use common::{SEED, TestNode, base_config, session_config, session_cookie};

const TIMEOUT: Duration = Duration::from_millis(500);

/// Every key in the store, space-separated (one bulk reply via Lua).
fn all_keys(redis: &RedisServer) -> String {
    redis.command(&[
        "EVAL",
        "return table.concat(redis.call('KEYS', '*'), ' ')",
        "0",
    ])
}

/// Every session record's value, space-separated.
fn all_values(redis: &RedisServer) -> String {
    redis.command(&[
        "EVAL",
        "local out = {} for _, k in ipairs(redis.call('KEYS', 'authscale:sess:*')) do \
         out[#out + 1] = redis.call('GET', k) end return table.concat(out, ' ')",
        "0",
    ])
}

fn id_of(cookie: &str) -> &str {
    cookie.split_once('=').map_or(cookie, |(_, id)| id)
}

async fn login_with(node: &TestNode, user: &str, password: &str, cookie: Option<&str>) -> Reply {
    let body = format!(r#"{{"user":"{user}","password":"{password}"}}"#);
    let mut headers = vec![("content-type", "application/json")];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    request(node.addr, "POST", "/login", &headers, body.as_bytes()).await
}

fn password(user: u64) -> String {
    Directory::new(SEED, 1000).password(user)
}

#[tokio::test]
async fn the_store_holds_no_session_id_in_clear() {
    let redis = RedisServer::start();
    let node = TestNode::start(session_config(&redis.url(), TIMEOUT)).await;
    let cookies: Vec<String> = login_all(&node, &[1, 2, 3]).await;
    let keys = all_keys(&redis);
    let values = all_values(&redis);
    assert!(keys.contains("authscale:sess:"), "{keys}");
    for cookie in &cookies {
        let id = id_of(cookie);
        assert!(!keys.contains(id), "{id} appears among the keys: {keys}");
        assert!(!values.contains(id), "{id} appears among the values");
        let key = SessionId::parse(id).expect("well-formed").store_key();
        assert!(keys.contains(&key), "the record is under the id's hash");
        assert_eq!(node.me_with(&[("cookie", cookie)]).await.status, 200);
    }
}

async fn login_all(node: &TestNode, users: &[u64]) -> Vec<String> {
    let mut cookies = Vec::new();
    for user in users {
        let reply = node.login(*user).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        cookies.push(session_cookie(&reply));
    }
    cookies
}

#[tokio::test]
async fn a_login_that_presents_a_session_ends_it() {
    let redis = RedisServer::start();
    let node = TestNode::start(session_config(&redis.url(), TIMEOUT)).await;
    let old = session_cookie(&node.login(5).await);
    assert_eq!(node.me_with(&[("cookie", &old)]).await.status, 200);

    let again = login_with(&node, "user5", &password(5), Some(&old)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let new = session_cookie(&again);
    assert_ne!(new, old);
    let reply = node.me_with(&[("cookie", &old)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "unknown_session");
    assert_eq!(node.me_with(&[("cookie", &new)]).await.status, 200);
    // One session remains, and the account's index lists only it.
    let sessions = redis.command(&[
        "EVAL",
        "return #redis.call('KEYS', 'authscale:sess:*')",
        "0",
    ]);
    assert_eq!(sessions, "1");
    let index = redis.command(&[
        "EVAL",
        "return redis.call('KEYS', 'authscale:user-sessions:*')[1]",
        "0",
    ]);
    assert_eq!(redis.command(&["ZCARD", &index]), "1");
}

#[tokio::test]
async fn the_per_account_cap_ends_the_oldest_sessions() {
    let redis = RedisServer::start();
    let mut config = session_config(&redis.url(), TIMEOUT);
    config.session.max_per_account = 3;
    let node = TestNode::start(config).await;
    let cookies = login_all(&node, &[7, 7, 7, 7, 7]).await;
    let other = session_cookie(&node.login(8).await);
    for (i, cookie) in cookies.iter().enumerate() {
        let expected = if i < 2 { 401 } else { 200 };
        let reply = node.me_with(&[("cookie", cookie)]).await;
        assert_eq!(reply.status, expected, "session {i} of 5 with a cap of 3");
    }
    assert_eq!(
        node.me_with(&[("cookie", &other)]).await.status,
        200,
        "another account is not affected"
    );
    // Each index has a TTL: it cannot outlive the sessions it lists. The
    // capped account's index holds exactly the cap (the other account's, one).
    let keys = all_keys(&redis);
    let longest = SessionConfig::default().idle_ttl.as_secs() as i64;
    let mut sizes: Vec<String> = Vec::new();
    for index in keys
        .split(' ')
        .filter(|k| k.starts_with("authscale:user-sessions:"))
    {
        let ttl: i64 = redis.command(&["TTL", index]).parse().expect("a TTL");
        assert!(ttl > 0 && ttl <= longest, "index TTL {ttl}");
        sizes.push(redis.command(&["ZCARD", index]));
    }
    sizes.sort();
    assert_eq!(sizes, ["1", "3"], "one index per account");
}

#[tokio::test]
async fn protected_requests_never_touch_the_account_index() {
    let redis = RedisServer::start();
    let node = TestNode::start(session_config(&redis.url(), TIMEOUT)).await;
    let cookie = session_cookie(&node.login(4).await);
    redis.command(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(node.me_with(&[("cookie", &cookie)]).await.status, 200);
    }
    for command in ["zadd", "zrange", "zrem", "expire"] {
        assert_eq!(
            redis.calls_of(command),
            0,
            "{command} on the protected path"
        );
    }
    assert_eq!(redis.calls_of("get"), 20);
}

#[tokio::test]
async fn sticky_memory_when_full_evicts_the_least_recently_used_session() {
    let mut config = base_config(AuthMode::Sticky);
    config.session_capacity = 4;
    let node = TestNode::start(config).await;
    // Six logins of six users into room for four: all succeed.
    let cookies = login_all(&node, &[0, 1, 2, 3, 4, 5]).await;
    for (i, cookie) in cookies.iter().enumerate() {
        let expected = if i < 2 { 401 } else { 200 };
        let reply = node.me_with(&[("cookie", cookie)]).await;
        assert_eq!(reply.status, expected, "session {i} of 6 in room for 4");
    }
    // Use makes a session recent: after "2" is used again, two more logins
    // push out "3" and "4", not "2".
    assert_eq!(node.me_with(&[("cookie", &cookies[2])]).await.status, 200);
    login_all(&node, &[6, 7]).await;
    assert_eq!(node.me_with(&[("cookie", &cookies[2])]).await.status, 200);
    assert_eq!(node.me_with(&[("cookie", &cookies[3])]).await.status, 401);
}

#[tokio::test]
async fn one_account_cannot_fill_sticky_memory() {
    let mut config = base_config(AuthMode::Sticky);
    config.session_capacity = 50;
    config.session.max_per_account = 4;
    let node = TestNode::start(config).await;
    let others = login_all(&node, &[1, 2, 3]).await;
    // 100 logins of one account: its own oldest sessions go, nobody else's.
    login_all(&node, &[9; 100]).await;
    for cookie in &others {
        assert_eq!(node.me_with(&[("cookie", cookie)]).await.status, 200);
    }
    let fresh = session_cookie(&node.login(10).await);
    assert_eq!(node.me_with(&[("cookie", &fresh)]).await.status, 200);
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_account() {
    let redis = RedisServer::start();
    let mut config = session_config(&redis.url(), TIMEOUT);
    config.login_throttle = ThrottleConfig {
        max_failures: 5,
        window: Duration::from_secs(120),
        capacity: 1000,
    };
    let node = TestNode::start(config).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(login_with(&node, "user3", "wrong", None).await.status);
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");

    // Even the right password waits: guessing stops, not just wrong guesses.
    let locked = login_with(&node, "user3", &password(3), None).await;
    assert_eq!(locked.status, 429);
    assert_eq!(locked.json()["reason"], "too_many_failures");
    let retry: u64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=120).contains(&retry), "Retry-After {retry}");
    assert_eq!(locked.header("cache-control"), Some("no-store"));

    // Another account logs in as usual, and its correct logins never count.
    for _ in 0..20 {
        assert_eq!(node.login(4).await.status, 200);
    }
    let metrics = authscale_testkit::get(node.addr, "/metrics").await.body;
    assert!(
        metrics.contains(r#"authscale_auth_failures_total{reason="too_many_failures"} 16"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn credential_answers_are_not_cacheable() {
    let redis = RedisServer::start();
    let node = TestNode::start(session_config(&redis.url(), TIMEOUT)).await;
    let login = node.login(2).await;
    let cookie = session_cookie(&login);
    let answers = [
        ("login 200", login),
        ("login 401", login_with(&node, "user2", "wrong", None).await),
        ("me 200", node.me_with(&[("cookie", &cookie)]).await),
        ("me 401", node.me_with(&[]).await),
        ("logout 204", node.logout_with(&[("cookie", &cookie)]).await),
        ("logout 401", node.logout_with(&[("cookie", &cookie)]).await),
    ];
    for (name, reply) in &answers {
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
    }
    assert_eq!(answers[1].1.status, 401);
    assert_eq!(answers[3].1.status, 401);
    assert_eq!(answers[5].1.status, 401);
}

#[tokio::test]
async fn the_challenge_names_the_cookie_in_use() {
    let redis = RedisServer::start();
    for (secure, name) in [(false, "sid"), (true, "__Host-sid")] {
        let mut config = session_config(&redis.url(), TIMEOUT);
        config.session.secure_cookie = secure;
        let node = TestNode::start(config).await;
        let login = node.login(1).await;
        let set_cookie = login.header("set-cookie").expect("cookie");
        assert!(set_cookie.starts_with(&format!("{name}=")), "{set_cookie}");
        let reply = node.me_with(&[]).await;
        assert_eq!(reply.status, 401);
        let challenge = reply.header("www-authenticate").expect("a challenge");
        assert!(
            challenge.contains(&format!(r#"cookie-name="{name}""#)),
            "{challenge}"
        );
    }
}
