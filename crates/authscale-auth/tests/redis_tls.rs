//! The Redis store against real `redis-server`s: TLS with certificate
//! verification (a CA made for the test), passwords kept out of errors, a
//! store restart hidden from the first lookup, and readiness that fails
//! when the store refuses writes.

use std::time::Duration;

use authscale_auth::{RedisStore, RedisStoreConfig, SessionStore, StoreError};
use authscale_testkit::{RedisServer, unrelated_ca_pem};

fn config(url: &str, ca_pem: Option<Vec<u8>>) -> RedisStoreConfig {
    RedisStoreConfig {
        url: url.to_owned(),
        timeout: Duration::from_millis(500),
        rtt: Duration::ZERO,
        client: Default::default(),
        ca_pem,
    }
}

fn store(url: &str, ca_pem: Option<Vec<u8>>) -> RedisStore {
    RedisStore::new(&config(url, ca_pem)).expect("store")
}

/// A store whose refusal is the point of the test: a failed handshake
/// ends at once, so a long timeout costs nothing when the test passes and
/// keeps two handshakes (the manager's one retry) from running out of
/// time on a machine busy with other tests (a CI run once read
/// `Timeout(500ms)` here).
fn patient_store(url: &str, ca_pem: Option<Vec<u8>>) -> RedisStore {
    let config = RedisStoreConfig {
        timeout: Duration::from_secs(10),
        ..config(url, ca_pem)
    };
    RedisStore::new(&config).expect("store")
}

fn config_error(config: &RedisStoreConfig) -> String {
    match RedisStore::new(config) {
        Ok(_) => panic!("{config:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn rediss_with_the_stores_ca_carries_sessions() {
    let redis = RedisServer::start_tls();
    let store = store(&redis.tls_url(), Some(redis.ca_pem().to_vec()));
    store
        .put("s:tls", "alice", Duration::from_secs(60))
        .await
        .expect("SET over TLS");
    assert_eq!(
        store.get("s:tls", None).await.expect("GET over TLS"),
        Some("alice".to_owned())
    );
    store.ping().await.expect("ready over TLS");
    // The plain port sees what was written over TLS: one server.
    assert_eq!(redis.command(&["GET", "s:tls"]), "alice");
}

#[tokio::test]
async fn a_store_certificate_from_another_ca_is_refused() {
    let redis = RedisServer::start_tls();
    let store = patient_store(&redis.tls_url(), Some(unrelated_ca_pem()));
    let error = store
        .get("s:any", None)
        .await
        .expect_err("a certificate the CA did not sign must be refused");
    let text = error.to_string();
    assert!(
        matches!(error, StoreError::Backend(_)) && text.contains("certificate"),
        "the error should say the certificate is not trusted: {error:?}"
    );
    // Without the lab CA, the system roots do not know it either.
    let error = patient_store(&redis.tls_url(), None)
        .get("s:any", None)
        .await
        .expect_err("the test CA is not a system root");
    assert!(error.to_string().contains("certificate"), "{error:?}");
}

#[tokio::test]
async fn tls_and_plain_ports_do_not_mix() {
    let redis = RedisServer::start_tls();
    // Plain text to the TLS port: the server drops it at once.
    let tls_port = redis.tls_url().replace("rediss://", "redis://");
    let error = store(&tls_port, None)
        .get("s:any", None)
        .await
        .expect_err("plain text to a TLS port");
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    // TLS to the plain port: the server waits for a command line that never
    // comes, so the store timeout ends it; it never succeeds.
    let plain_port = format!("rediss://127.0.0.1:{}", redis.port());
    let result = store(&plain_port, Some(redis.ca_pem().to_vec()))
        .get("s:any", None)
        .await;
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn tls_settings_that_cannot_work_are_refused_at_start() {
    let ca = unrelated_ca_pem();
    let text = config_error(&config("redis://127.0.0.1:6379", Some(ca.clone())));
    assert!(text.contains("rediss://"), "{text}");
    let text = config_error(&config(
        "rediss://127.0.0.1:6379",
        Some(b"not a PEM".to_vec()),
    ));
    assert!(text.contains("no PEM certificate"), "{text}");
    let text = config_error(&config("rediss://127.0.0.1:6379/#insecure", Some(ca)));
    assert!(text.contains("cannot be turned off"), "{text}");
}

#[tokio::test]
async fn passwords_stay_out_of_errors_and_debug_output() {
    let secret = "hunter2-secret";
    for url in [
        format!("redis://admin:{secret}@127.0.0.1:notaport"),
        format!("redis://admin:{secret}@/nohost"),
        format!("rediss://admin:{secret}@127.0.0.1:6379/#insecure"),
        format!("redis-cluster://admin:{secret}@"),
    ] {
        let text = config_error(&config(&url, None));
        assert!(!text.contains(secret), "{text}");
        assert!(!format!("{:?}", config(&url, None)).contains(secret));
    }
    // A store that refuses the connection: the error names no password.
    let port = authscale_testkit::free_port();
    let store = store(&format!("redis://admin:{secret}@127.0.0.1:{port}"), None);
    let error = store.get("s:any", None).await.expect_err("nothing listens");
    assert!(!format!("{error} {error:?}").contains(secret), "{error:?}");
}

#[tokio::test]
async fn the_first_lookup_after_a_store_restart_succeeds() {
    let mut redis = RedisServer::start();
    let store = store(&redis.url(), None);
    store
        .put("s:a", "alice", Duration::from_secs(60))
        .await
        .expect("SET");
    assert!(store.get("s:a", None).await.expect("GET").is_some());

    // Restarted between two requests: the open connection is dead, and the
    // lookup reconnects instead of failing. The data is gone (no persistence).
    redis.restart();
    assert_eq!(store.get("s:a", None).await, Ok(None));
    assert_eq!(
        store.get("s:a", Some(Duration::from_secs(60))).await,
        Ok(None)
    );

    // Down long enough for lookups to fail, then back: the first lookup
    // after its return succeeds.
    redis.stop();
    assert!(store.get("s:a", None).await.is_err());
    assert!(store.get("s:a", None).await.is_err());
    redis.restart();
    assert_eq!(store.get("s:a", None).await, Ok(None));
}

#[tokio::test]
async fn a_dead_store_still_fails_within_the_timeout() {
    let mut redis = RedisServer::start();
    let timeout = Duration::from_millis(100);
    let store = RedisStore::new(&RedisStoreConfig {
        timeout,
        ..config(&redis.url(), None)
    })
    .expect("store");
    assert_eq!(store.get("s:a", None).await, Ok(None));
    redis.stop();
    for _ in 0..3 {
        // Never a hang: the retry shares the call's timeout (a generous
        // deadline here: a loaded machine is slower, not wrong).
        let answer = tokio::time::timeout(Duration::from_secs(10), store.get("s:a", None))
            .await
            .expect("an answer, not a hang");
        assert!(answer.is_err());
    }
}

#[tokio::test]
async fn readiness_fails_while_the_store_refuses_writes() {
    let redis = RedisServer::start();
    let store = store(&redis.url(), None);
    store.ping().await.expect("ready");
    redis.fill_until_out_of_memory();

    let error = store.ping().await.expect_err("a full store is not ready");
    assert!(
        matches!(&error, StoreError::Refused(text) if text.contains("OOM")),
        "{error:?}"
    );
    assert_eq!(error.reason(), "store_refused");
    // Lookups still work: a full store serves the sessions it holds.
    assert_eq!(store.get("s:none", None).await, Ok(None));

    assert_eq!(redis.command(&["FLUSHALL"]), "OK");
    store.ping().await.expect("ready again once memory is free");
}
