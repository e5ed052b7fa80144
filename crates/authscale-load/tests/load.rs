//! The load generator against servers whose behaviour is known: a stalling
//! server (coordinated omission) and refusing, silent and
//! refusing-credentials servers (error classes). Against a real node
//! (scenario accounting, interruption, segments): the node crate's
//! `tests/load_against_a_node.rs`, so this crate needs no auth code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authscale_load::{LoadConfig, LoadResult, LoopMode, Target, UserAuth};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

/// Serves `handler` on a free loopback port for the rest of the test.
async fn serve<H: authscale_http::Handler>(handler: H) -> SocketAddr {
    authscale_testkit::spawn_on_free_port(|listener| {
        let pending = std::future::pending();
        authscale_http::serve(listener, Arc::new(handler), pending, Duration::ZERO)
    })
    .await
}

fn target(addr: SocketAddr) -> Target {
    authscale_load::loopback_target(addr).expect("loopback target")
}

async fn run(config: LoadConfig) -> LoadResult {
    authscale_load::run(config, std::future::pending(), None)
        .await
        .expect("valid run")
}

/// Asserts that `result` counted `n` answers of `outcome` at `step`,
/// showing its report.
fn assert_counted(result: &LoadResult, step: &str, outcome: &str, n: u64) {
    let report = authscale_load::render(result);
    assert_eq!(count(result, step, outcome), n, "{report}");
}

fn count(result: &LoadResult, step: &str, outcome: &str) -> u64 {
    result
        .by_step
        .get(step)
        .and_then(|c| c.get(outcome))
        .copied()
        .unwrap_or(0)
}

/// Holds every request that arrives within `stall` of the first one until
/// that stall ends, then answers at once (a GC-like pause).
#[derive(Debug)]
struct Stalling {
    stall: Duration,
    first: std::sync::OnceLock<Instant>,
}

impl Stalling {
    /// A server that never stalls.
    fn never() -> Stalling {
        Stalling {
            stall: Duration::ZERO,
            first: std::sync::OnceLock::new(),
        }
    }
}

impl authscale_http::Handler for Stalling {
    type Body = Full<Bytes>;
    type BodyError = std::convert::Infallible;

    async fn handle(&self, _req: Request<Incoming>, _peer: SocketAddr) -> Response<Full<Bytes>> {
        let resume = *self.first.get_or_init(Instant::now) + self.stall;
        tokio::time::sleep_until(resume.into()).await;
        Response::new(Full::new(Bytes::from_static(b"ok")))
    }
}

#[tokio::test]
async fn open_loop_latency_counts_the_stall_that_send_time_latency_hides() {
    let stall = Duration::from_secs(1);
    let addr = serve(Stalling {
        stall,
        first: std::sync::OnceLock::new(),
    })
    .await;
    let rate = 100.0;
    let mut config = LoadConfig::new(target(addr));
    config.mode = LoopMode::Open { rate };
    config.connections = 2;
    config.max_requests = 200;
    // A bound only: the run ends by itself once its 200 requests are done.
    config.duration = Duration::from_secs(120);
    let result = run(config).await;
    let report = authscale_load::render(&result);
    // Every scheduled request was sent and answered, and the run stopped
    // at its request cap, not at its duration or by interruption.
    assert!(!result.interrupted, "{report}");
    assert_eq!(result.requests, 200, "{report}");
    assert_eq!(result.errors, 0, "{report}");
    assert_eq!(
        (result.queued_at_end, result.in_flight_at_end),
        (0, 0),
        "{report}"
    );
    assert_eq!(result.offered_rate, Some(rate));

    // Both connections are held for the whole stall, so every request
    // intended in its first half is sent only after it ends: at least
    // rate × stall/2 requests waited half a stall or more. A slower
    // machine only makes more requests wait.
    let half = stall.as_micros() as u64 / 2;
    let slow = |encoded: &str| {
        let histogram = LoadResult::decode_histogram(encoded).expect("histogram");
        histogram.count_between(half, histogram.max().max(half))
    };
    let corrected = slow(&result.histograms.corrected);
    let uncorrected = slow(&result.histograms.uncorrected);
    let intended_in_first_half = (rate * stall.as_secs_f64() / 2.0) as u64;
    assert!(
        corrected >= intended_in_first_half - 2,
        "corrected: {corrected} requests waited >= {half} µs\n{report}"
    );
    // Measured from the actual send, the queued requests look fast: only
    // the two requests held by the server (one per connection) show it.
    assert!(
        uncorrected * 4 < corrected,
        "uncorrected: {uncorrected} requests >= {half} µs, corrected: {corrected}\n{report}"
    );
}

/// Refuses every credential.
#[derive(Debug)]
struct Refusing;

impl authscale_http::Handler for Refusing {
    type Body = Full<Bytes>;
    type BodyError = std::convert::Infallible;

    async fn handle(&self, _req: Request<Incoming>, _peer: SocketAddr) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        *response.status_mut() = hyper::StatusCode::UNAUTHORIZED;
        response
    }
}

#[tokio::test]
async fn refused_silent_and_unauthorized_targets_land_in_their_classes() {
    // Nothing listens.
    // A port just freed: nothing listens there.
    let nothing = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a loopback port");
    let mut config = LoadConfig::new(target(nothing));
    config.connections = 2;
    config.max_requests = 10;
    config.duration = Duration::from_secs(10);
    let refused = run(config).await;
    assert_counted(&refused, "api", "connect_error", 10);

    // Accepts and never answers.
    let silent_addr = authscale_testkit::silent_server().await;
    let mut config = LoadConfig::new(target(silent_addr));
    config.connections = 2;
    config.max_requests = 4;
    config.timeout = Duration::from_millis(200);
    config.duration = Duration::from_secs(10);
    let timed_out = run(config).await;
    assert_counted(&timed_out, "api", "timeout", 4);
    // Each request ended at its own timeout: none was still waiting when
    // the run stopped (by itself, at its cap, long before its duration).
    assert_eq!(
        timed_out.in_flight_at_end,
        0,
        "{}",
        authscale_load::render(&timed_out)
    );
    assert!(!timed_out.interrupted);
    assert!(timed_out.latency_us.corrected.p50 >= 200_000);

    // Answers 401 to everything: the login step records it.
    let addr = serve(Refusing).await;
    let mut config = LoadConfig::new(target(addr));
    config.connections = 2;
    config.scenario.auth = UserAuth::Session;
    config.scenario.users = 2;
    config.max_requests = 6;
    config.duration = Duration::from_secs(10);
    let unauthorized = run(config).await;
    assert_counted(&unauthorized, "login", "401", 6);
    assert_eq!(unauthorized.errors, 6);
}

#[tokio::test]
async fn a_low_open_loop_rate_is_measured_over_the_whole_duration() {
    let addr = serve(Stalling::never()).await;
    let mut config = LoadConfig::new(target(addr));
    config.mode = LoopMode::Open { rate: 4.0 };
    config.connections = 2;
    config.duration = Duration::from_secs(1);
    let result = run(config).await;
    let report = authscale_load::render(&result);
    // Requests at 0, 0.25, 0.5 and 0.75 s: the schedule runs out before
    // the second is over, but the window is the second, not 0.75 s.
    assert_eq!(result.requests, 4, "{report}");
    assert!((0.99..=1.01).contains(&result.measured_seconds), "{report}");
    assert!(result.achieved_rate <= 4.0 + 1e-9, "{report}");
}

#[tokio::test]
async fn think_time_paces_each_user_in_a_closed_loop_and_is_refused_with_a_rate() {
    let addr = serve(Stalling::never()).await;
    let file = std::env::temp_dir().join(format!("authscale-think-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "think = \"200ms\"\n[[request]]\npath = \"/api/me\"\n",
    )
    .expect("write");
    let scenario = authscale_load::Scenario::from_file(&file).expect("scenario");
    let _ = std::fs::remove_file(&file);
    let mut config = LoadConfig::new(target(addr));
    config.connections = 2;
    config.duration = Duration::from_secs(1);
    config.scenario.file = Some(scenario);
    let result = run(config.clone()).await;
    // Two users, a request every ~200 ms each, for one second: about 10
    // requests, where an unpaced loop would send thousands.
    assert!(
        (6..=14).contains(&result.requests),
        "{}",
        authscale_load::render(&result)
    );
    config.mode = LoopMode::Open { rate: 10.0 };
    let refused = authscale_load::run(config, std::future::pending(), None)
        .await
        .expect_err("think time with a rate");
    assert!(refused.to_string().contains("think"), "{refused}");
}
