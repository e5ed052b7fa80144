//! The load generator against a real node (in process, on a free loopback
//! port): its per-step counts equal the node's own, an interrupted run
//! returns what it measured, a bad configuration sends nothing, and a run
//! split in two segments adds up exactly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authscale_load::{LoadConfig, LoadResult, LoopMode, Target, UserAuth};
use authscale_node::{AuthMode, Node, NodeConfig};
use authscale_testkit::{RedisServer, get};

fn target(addr: SocketAddr) -> Target {
    authscale_load::loopback_target(addr).expect("loopback target")
}

async fn run(config: LoadConfig) -> LoadResult {
    authscale_load::run(config, std::future::pending(), None)
        .await
        .expect("valid run")
}

fn count(result: &LoadResult, step: &str, outcome: &str) -> u64 {
    result
        .by_step
        .get(step)
        .and_then(|c| c.get(outcome))
        .copied()
        .unwrap_or(0)
}

fn node_config(mode: AuthMode) -> NodeConfig {
    let mut config = NodeConfig::new(mode);
    config.users = 1000;
    config
}

async fn start_node(config: NodeConfig) -> SocketAddr {
    let node = Arc::new(Node::new(config).expect("node"));
    authscale_testkit::spawn_on_free_port(|listener| {
        authscale_node::serve(listener, node, std::future::pending(), Duration::ZERO)
    })
    .await
}

/// A node's own count of answers to `route` with `status`.
async fn node_count(node: SocketAddr, route: &str, status: u16) -> u64 {
    let prefix = format!("authscale_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
    get(node, "/metrics")
        .await
        .body
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn accounting_matches_the_node(mode: AuthMode, auth: UserAuth, node: SocketAddr) {
    let mut config = LoadConfig::new(target(node));
    config.connections = 4;
    config.scenario.auth = auth;
    config.scenario.users = 20;
    config.scenario.requests_per_login = 5;
    config.max_requests = 700;
    config.duration = Duration::from_secs(60);
    let result = run(config).await;
    assert_eq!(result.requests, 700, "{}", authscale_load::render(&result));
    assert_eq!(
        result.errors,
        0,
        "{mode:?}: {}",
        authscale_load::render(&result)
    );
    assert_eq!(result.in_flight_at_end, 0);
    let login = count(&result, "login", "2xx");
    let api = count(&result, "api", "2xx");
    let logout = count(&result, "logout", "2xx");
    assert_eq!(login + api + logout, 700);
    // Every complete cycle is 1 login, 5 requests, 1 logout.
    assert!(
        api <= 5 * login && api + 20 * 5 >= 5 * login,
        "{login} {api} {logout}"
    );
    assert_eq!(node_count(node, "/login", 200).await, login, "{mode:?}");
    assert_eq!(node_count(node, "/api/me", 200).await, api, "{mode:?}");
    assert_eq!(node_count(node, "/logout", 204).await, logout, "{mode:?}");
}

#[tokio::test]
async fn scenario_counts_equal_the_nodes_own_counts() {
    let redis = RedisServer::start();
    let mut session = node_config(AuthMode::Session);
    session.store = Some(authscale_auth::RedisStoreConfig {
        url: redis.url(),
        timeout: Duration::from_millis(500),
        rtt: Duration::ZERO,
        client: Default::default(),
        ca_pem: None,
    });
    accounting_matches_the_node(
        AuthMode::Session,
        UserAuth::Session,
        start_node(session).await,
    )
    .await;

    let mut token = node_config(AuthMode::Token);
    let secret =
        std::fs::read(authscale_testkit::fixtures_dir().join("keys/hs256-a.secret")).expect("key");
    token.token = Some(authscale_auth::TokenConfig::new(
        authscale_auth::Algorithm::HS256,
        vec![authscale_auth::TokenKeyConfig {
            kid: "k".into(),
            source: authscale_auth::KeySource::Secret(secret),
        }],
    ));
    accounting_matches_the_node(AuthMode::Token, UserAuth::Token, start_node(token).await).await;
}

#[tokio::test]
async fn an_interrupted_run_returns_what_it_measured() {
    let node = start_node(node_config(AuthMode::None)).await;
    let mut config = LoadConfig::new(target(node));
    config.connections = 4;
    config.duration = Duration::from_secs(30);
    let result = authscale_load::run(config, tokio::time::sleep(Duration::from_millis(300)), None)
        .await
        .expect("run");
    // Stopped by the caller, not by its 30 s duration: it measured from
    // the start until the stop.
    assert!(result.interrupted);
    assert!(result.requests > 0);
    assert!(result.measured_seconds > 0.2 && result.measured_seconds < 30.0);
    // The histograms survive the trip through JSON.
    let json = serde_json::to_string(&result).expect("serialize");
    let back: LoadResult = serde_json::from_str(&json).expect("deserialize");
    let histogram = LoadResult::decode_histogram(&back.histograms.corrected).expect("decode");
    assert_eq!(histogram.len(), result.latency_us.corrected.count);
    assert_eq!(histogram.len(), result.requests);
}

#[tokio::test]
async fn invalid_configurations_are_refused_before_any_traffic() {
    let node = start_node(node_config(AuthMode::None)).await;
    let base = LoadConfig::new(target(node));
    let mut zero = base.clone();
    zero.connections = 0;
    let mut rate = base.clone();
    rate.mode = LoopMode::Open { rate: -1.0 };
    let mut users = base.clone();
    users.scenario.auth = UserAuth::Token;
    users.scenario.users = 3;
    for config in [zero, rate, users] {
        let error = authscale_load::run(config, std::future::pending(), None)
            .await
            .expect_err("refused");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        node_count(node, "/api/me", 200).await,
        0,
        "no traffic was sent"
    );
}

#[tokio::test]
async fn a_run_split_in_two_and_merged_adds_up_exactly() {
    let node = start_node(node_config(AuthMode::None)).await;
    let mut whole = LoadConfig::new(target(node));
    whole.connections = 4;
    whole.max_requests = 1000;
    whole.duration = Duration::from_secs(60);
    let a = authscale_load::segment(&whole, 1, 2).expect("segment");
    let b = authscale_load::segment(&whole, 2, 2).expect("segment");
    let (ra, rb) = tokio::join!(run(a), run(b));
    let merged = authscale_load::merge(&[ra.clone(), rb.clone()]).expect("merge");
    assert_eq!(merged.requests, ra.requests + rb.requests);
    assert_eq!(merged.requests, 1000);
    assert_eq!(
        count(&merged, "api", "2xx"),
        count(&ra, "api", "2xx") + count(&rb, "api", "2xx")
    );
    assert_eq!(
        node_count(node, "/api/me", 200).await,
        merged.requests,
        "the node saw exactly the merged count"
    );
    let (la, lb, lm) = (
        &ra.latency_us.corrected,
        &rb.latency_us.corrected,
        &merged.latency_us.corrected,
    );
    assert_eq!(lm.count, la.count + lb.count);
    assert_eq!(lm.max, la.max.max(lb.max));
    assert!(
        la.p50.min(lb.p50) <= lm.p50 && lm.p50 <= la.p50.max(lb.p50),
        "{la:?} {lb:?} {lm:?}"
    );
    let histogram = LoadResult::decode_histogram(&merged.histograms.corrected).expect("decode");
    assert_eq!(histogram.len(), 1000);
    assert_eq!(merged.config.connections, 4);
}
