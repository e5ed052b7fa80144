//! Instructions per operation on authscale's hot paths, counted by
//! callgrind: the deterministic layer of the performance gate.
//!
//! Run under callgrind with the options `icount --describe` prints
//! (`authscale gate-instructions` does it): for each operation it warms
//! up, then runs it K times and 2K times, each in its own dump file
//! (see `authscale_bench::callgrind`), and prints which. The gate takes
//! (count(2K) − count(K)) / K, so whatever a measurement costs once (the
//! dump, the first call's lazy set-up) cancels out.
//!
//! What is not counted: the fixtures that answer the code under test run
//! inside [`Uncounted`] futures (collection off while they are polled) —
//! the Redis double that answers the node's store calls, the fixed upstream
//! behind the proxy and its client, the fixed node behind the load
//! generator. What is counted: the code under test, the tokio runtime that
//! schedules it, and the kernel-facing halves of its own sockets (syscalls
//! count as one instruction; kernel time is not seen at all).
//!
//! `icount --describe` prints the compiler and target this binary was
//! built with and its callgrind options; `icount --make-tokens` signs the fixed JWTs in
//! `bench/fixtures/icount-tokens.txt` (ECDSA and EdDSA verification cost
//! depends on the signature, so a token signed per run would make the
//! count vary).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use authscale_auth::{
    Algorithm, RedisStoreConfig, SessionId, TokenConfig, TokenKeyConfig, TokenScheme, parse_cookie,
};
use authscale_bench::callgrind::{self, Uncounted};
use authscale_bench::login::{credential, me};
use authscale_node::{AuthMode, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

#[path = "icount/doubles.rs"]
mod doubles;

use doubles::{Answered, FakeRedis, fixed_http_server};

const WARMUP: usize = 8;
const DEFAULT_K: usize = 32;
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--describe") => {
            println!("rustc = {:?}", env!("ICOUNT_RUSTC"));
            println!("target = {:?}", env!("ICOUNT_TARGET"));
            println!("valgrind_args = {:?}", callgrind::VALGRIND_ARGS);
        }
        Some("--make-tokens") => make_tokens(),
        _ => {
            let k = std::env::var("ICOUNT_K")
                .ok()
                .and_then(|k| k.parse().ok())
                .unwrap_or(DEFAULT_K);
            let only = args.first().cloned().unwrap_or_default();
            measure_all(k, &only);
        }
    }
}

/// Runs `op` WARMUP times, then K and 2K times counted; prints one
/// `measured op=<name> n=<iterations>` line per counted call, in the order
/// of callgrind's dump files.
fn measure(name: &str, k: usize, only: &str, mut op: impl FnMut()) {
    if !name.starts_with(only) {
        return;
    }
    for _ in 0..WARMUP {
        op();
    }
    for n in [k, 2 * k] {
        callgrind::measured(n, &mut op);
        println!("measured op={name} n={n}");
    }
}

fn measure_all(k: usize, only: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The Redis client spawns its connection task on the current runtime.
    let _context = runtime.enter();
    let store = FakeRedis::start(&runtime);

    for mode in AuthMode::ALL {
        let name = format!("node/{}", mode.as_str());
        if !name.starts_with(only) {
            continue;
        }
        let node = Node::new(node_config(mode, &store.url)).expect("node");
        let credential = runtime.block_on(credential(&node, mode));
        measure(&name, k, only, || {
            // Pinned in place: `block_on` boxes a future over 16 KiB (the
            // node's is ~17 KB), and counting that copy would measure the
            // harness, not the node (it came and went with unrelated
            // changes to the build).
            let handling = std::pin::pin!(node.handle(me(&credential)));
            let response = runtime.block_on(handling);
            assert_eq!(response.status(), 200, "{name}");
            black_box(response);
        });
    }

    let tokens = fixed_tokens();
    for alg in ALGORITHMS {
        let name = format!("jwt/verify/{alg:?}");
        if !name.starts_with(only) {
            continue;
        }
        let scheme = scheme(alg);
        let token = tokens.get(&format!("{alg:?}")).expect("a fixed token");
        measure(&name, k, only, || {
            black_box(scheme.verify(black_box(token)).expect("valid token"));
        });
    }

    measure("session/id-generate", k, only, || {
        black_box(SessionId::generate());
    });
    // A fixed id: validating one costs a little more or less by its
    // characters, and a random one would make the count vary.
    let header = "uid=42; sid=q3Fz0_Yk-8bVn2LmP4sTwA; theme=dark";
    measure("session/cookie-parse", k, only, || {
        let raw = parse_cookie(black_box(header), "sid").expect("cookie");
        black_box(SessionId::parse(raw).expect("id"));
    });

    if "proxy/forward".starts_with(only) {
        proxy_forward(&runtime, k, only);
    }
    if "load/request".starts_with(only) {
        load_request(&runtime, k, only);
    }
    store.remove();
}

fn node_config(mode: AuthMode, store_url: &str) -> NodeConfig {
    let mut config = NodeConfig::new(mode);
    config.users = 1000;
    // Every measured request of session-cached is a cache hit (a TTL that a
    // run under callgrind cannot outlast): the mode's common case.
    config.session_cache_ttl = Duration::from_secs(3600);
    if mode.uses_store() {
        config.store = Some(RedisStoreConfig {
            url: store_url.to_owned(),
            timeout: Duration::from_secs(60),
            rtt: Duration::ZERO,
            client: Default::default(),
            ca_pem: None,
        });
    }
    if matches!(mode, AuthMode::Token | AuthMode::TokenDenylist) {
        config.token = Some(token_config(Algorithm::HS256, Duration::from_secs(15 * 60)));
    }
    config
}

fn key(name: &str) -> Vec<u8> {
    std::fs::read(authscale_testkit::fixtures_dir().join("keys").join(name)).expect("fixture key")
}

fn token_config(alg: Algorithm, ttl: Duration) -> TokenConfig {
    let source = authscale_bench::keys::key_source(alg, key);
    let mut config = TokenConfig::new(
        alg,
        vec![TokenKeyConfig {
            kid: "icount".into(),
            source,
        }],
    );
    config.ttl = ttl;
    // The fixed tokens are signed for 50 years (so the fixture never
    // expires): a verifier of this fixture must accept that lifetime.
    config.max_lifetime = config.max_lifetime.max(ttl).max(FIXTURE_LIFETIME);
    config
}

/// How long the fixed tokens of the fixture are valid.
const FIXTURE_LIFETIME: Duration = Duration::from_secs(50 * 365 * 24 * 3600);

fn scheme(alg: Algorithm) -> TokenScheme {
    TokenScheme::new(token_config(alg, Duration::from_secs(15 * 60))).expect("scheme")
}

fn tokens_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/icount-tokens.txt")
}

/// Signs one token per algorithm, valid for 50 years, into the fixture.
fn make_tokens() {
    let user = authscale_auth::User {
        index: 42,
        name: "user42".into(),
    };
    let mut out = String::from(
        "# Fixed tokens for the instruction counts (bench/examples/icount.rs --make-tokens).\n\
         # Test keys of authscale-testkit; valid for 50 years from signing.\n",
    );
    for alg in ALGORITHMS {
        let scheme = TokenScheme::new(token_config(alg, FIXTURE_LIFETIME)).expect("scheme");
        let issued = scheme.issue(&user).expect("token");
        out.push_str(&format!("{alg:?} {}\n", issued.token));
    }
    std::fs::write(tokens_path(), out).expect("write the token fixture");
    println!("wrote {}", tokens_path().display());
}

fn fixed_tokens() -> HashMap<String, String> {
    let text = std::fs::read_to_string(tokens_path()).expect("the token fixture");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(alg, token)| (alg.to_owned(), token.to_owned()))
        .collect()
}

/// One `GET /api/me` through the proxy: client → proxy → fixed upstream
/// over loopback keep-alive connections. Counted: the proxy's server and
/// client connections (hyper on both sides), its balancer, header rewrite
/// and metrics. Not counted: the client and the upstream.
fn proxy_forward(runtime: &Runtime, k: usize, only: &str) {
    let upstream = fixed_http_server(runtime, None);
    let upstreams =
        Arc::new(authscale_proxy::Upstreams::new(&[upstream], false).expect("upstreams"));
    let proxy = Arc::new(authscale_proxy::Proxy::new(
        upstreams,
        authscale_proxy::ProxyConfig::default(),
    ));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the proxy");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(authscale_proxy::serve(
        listener,
        proxy,
        std::future::pending(),
        Duration::ZERO,
    ));
    let mut client = runtime
        .block_on(tokio::net::TcpStream::connect(addr))
        .expect("connect to the proxy");
    client.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::with_capacity(4096);
    measure("proxy/forward", k, only, || {
        let exchange = exchange(&mut client, &mut buf);
        let status = runtime.block_on(Uncounted(Box::pin(exchange)));
        assert_eq!(status, 200, "proxy/forward");
    });
}

/// Writes one `GET /api/me` and reads the reply (Content-Length framed).
async fn exchange(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> u16 {
    stream
        .write_all(b"GET /api/me HTTP/1.1\r\nhost: bench\r\n\r\n")
        .await
        .expect("write");
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            }
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the proxy closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The load generator on one connection, in closed loop, against the fixed
/// node: building each request, writing it, reading and parsing the reply,
/// recording it. One endless `authscale_load::run` is driven window by
/// window, each window ending when the fixed node has answered n more
/// requests, so the run's set-up and summary (which vary with timing) are
/// never counted.
fn load_request(runtime: &Runtime, k: usize, only: &str) {
    if !"load/request".starts_with(only) {
        return;
    }
    let answered = Arc::new(Answered::default());
    let addr = fixed_http_server(runtime, Some(answered.clone()));
    let target = runtime
        .block_on(authscale_load::resolve_target(
            &format!("http://{addr}"),
            false,
        ))
        .expect("target");
    let mut config = authscale_load::LoadConfig::new(target);
    config.connections = 1;
    config.duration = Duration::from_secs(3600);
    config.timeout = Duration::from_secs(60);
    let mut load = Box::pin(authscale_load::run(config, std::future::pending(), None));
    let mut window = |n: usize| {
        let reached = answered.more(n as u64);
        runtime.block_on(async {
            tokio::select! {
                biased;
                () = reached => {}
                result = &mut load => panic!("the load run ended early: {result:?}"),
            }
        });
    };
    window(WARMUP);
    for n in [k, 2 * k] {
        callgrind::measured(1, &mut || window(n));
        println!("measured op=load/request n={n}");
    }
}
