//! One `GET /api/me` per auth mode: through the node's handler in-process
//! (the node's own cost), and over a loopback keep-alive connection (what a
//! client sees, minus the network).

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use authscale_auth::{Algorithm, KeySource, RedisStoreConfig, TokenConfig, TokenKeyConfig};
use authscale_bench::login::{credential, me};
use authscale_node::{AuthMode, Node, NodeConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;

fn config(mode: AuthMode, redis_url: Option<&str>) -> NodeConfig {
    let mut config = NodeConfig::new(mode);
    config.users = 1000;
    if mode.uses_store() {
        config.store = redis_url.map(|url| RedisStoreConfig {
            url: url.to_owned(),
            timeout: Duration::from_millis(500),
            rtt: Duration::ZERO,
            client: Default::default(),
            ca_pem: None,
        });
    }
    if matches!(mode, AuthMode::Token | AuthMode::TokenDenylist) {
        config.token = Some(TokenConfig::new(
            Algorithm::HS256,
            vec![TokenKeyConfig {
                kid: "k".into(),
                source: KeySource::Secret(common::key("hs256-a.secret")),
            }],
        ));
    }
    config
}

fn per_mode(c: &mut Criterion) {
    let redis = common::redis("request");
    let runtime = common::runtime();
    // The Redis connection manager spawns its task on creation.
    let _context = runtime.enter();
    let all = AuthMode::ALL;
    // Without Redis, only the modes that need no store.
    let modes: Vec<AuthMode> = all
        .into_iter()
        .filter(|m| redis.is_some() || !m.uses_store())
        .collect();
    let url = redis.as_ref().map(|r| r.url());

    let mut handler = c.benchmark_group("request/handler");
    for mode in &modes {
        let node = Node::new(config(*mode, url.as_deref())).expect("node");
        let credential = runtime.block_on(credential(&node, *mode));
        handler.bench_function(mode.as_str(), |b| {
            b.to_async(&runtime).iter(|| async {
                let response = node.handle(me(&credential)).await;
                assert_eq!(response.status(), 200);
                black_box(response)
            })
        });
    }
    handler.finish();

    let mut loopback = c.benchmark_group("request/loopback");
    for mode in &modes {
        let node = Arc::new(Node::new(config(*mode, url.as_deref())).expect("node"));
        let credential = runtime.block_on(credential(&node, *mode));
        let mut sender = runtime.block_on(async {
            let node = node.clone();
            let addr = authscale_testkit::spawn_on_free_port(|listener| {
                authscale_node::serve(listener, node, std::future::pending(), Duration::ZERO)
            })
            .await;
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            sender
        });
        loopback.bench_function(mode.as_str(), |b| {
            b.to_async(&runtime).iter(|| {
                let request = me(&credential);
                let sending = sender.send_request(request);
                async move {
                    let response = sending.await.expect("response");
                    assert_eq!(response.status(), 200);
                    black_box(response.into_body().collect().await.expect("body"))
                }
            })
        });
    }
    loopback.finish();
}

criterion_group!(benches, per_mode);
criterion_main!(benches);
