//! Session costs: id generation, cookie parsing, the id's store-key hash,
//! record encoding, and a
//! full lookup against a real redis-server over every access path the
//! project considered (see ARCHITECTURE.md, "Store access").

mod common;

use std::hint::black_box;
use std::time::Duration;

use authscale_auth::{
    RedisStore, RedisStoreConfig, SessionConfig, SessionId, SessionRecord, SessionScheme,
    parse_cookie,
};
use criterion::{Criterion, criterion_group, criterion_main};
use redis::AsyncCommands;

fn local_work(c: &mut Criterion) {
    let mut group = c.benchmark_group("session/local");
    group.bench_function("id_generate", |b| {
        b.iter(|| black_box(SessionId::generate()))
    });
    let header = "theme=dark; lang=en; sid=Xy3kP0aQ9mB2nC4dE6fG7h; _ga=GA1.2.3";
    group.bench_function("cookie_parse", |b| {
        b.iter(|| black_box(parse_cookie(black_box(header), "sid").and_then(SessionId::parse)))
    });
    let record = SessionRecord {
        user: "user42".into(),
        created: 1_800_000_000,
        expires: 1_800_028_800,
    };
    let encoded = record.encode();
    // The SHA-256 that keeps ids out of the store, paid once per lookup.
    let id = SessionId::generate();
    group.bench_function("id_store_key_sha256", |b| {
        b.iter(|| black_box(black_box(&id).store_key()))
    });
    group.bench_function("record_encode", |b| b.iter(|| black_box(record.encode())));
    group.bench_function("record_decode", |b| {
        b.iter(|| black_box(SessionRecord::decode(black_box(&encoded))))
    });
    group.finish();
}

fn store_lookup(c: &mut Criterion) {
    let Some(redis) = common::redis("session/lookup") else {
        return;
    };
    let runtime = common::runtime();
    let (scheme, cookie, pool, multiplexed) = runtime.block_on(async {
        let store = RedisStore::new(&RedisStoreConfig {
            url: redis.url(),
            timeout: Duration::from_millis(500),
            rtt: Duration::ZERO,
            client: Default::default(),
            ca_pem: None,
        })
        .expect("store");
        let scheme = SessionScheme::new(store, SessionConfig::default());
        let user = common::user();
        let (id, _) = scheme.login(&user, None).await.expect("login");
        let pool = deadpool_redis::Config::from_url(redis.url())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("pool");
        let client = redis::Client::open(redis.url()).expect("client");
        let multiplexed = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        (scheme, format!("sid={}", id.as_str()), pool, multiplexed)
    });
    let key = SessionId::parse(cookie.trim_start_matches("sid="))
        .expect("a well-formed id")
        .store_key();
    let mut group = c.benchmark_group("session/lookup");
    group.bench_function("as_configured_connection_manager", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(scheme.authenticate(Some(&cookie)).await.expect("session"))
        })
    });
    group.bench_function("deadpool_default_recycling", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut conn = pool.get().await.expect("checkout");
            let value: Option<String> = conn.get(&key).await.expect("GET");
            black_box(value)
        })
    });
    group.bench_function("shared_multiplexed", |b| {
        b.to_async(&runtime).iter(|| async {
            let value: Option<String> = multiplexed.clone().get(&key).await.expect("GET");
            black_box(value)
        })
    });
    group.finish();
}

criterion_group!(benches, local_work, store_lookup);
criterion_main!(benches);
