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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authscale_auth::{
    Algorithm, Directory, KeySource, RedisStoreConfig, SessionId, TokenConfig, TokenKeyConfig,
    TokenScheme, parse_cookie,
};
use authscale_bench::callgrind::{self, Uncounted};
use authscale_node::{AuthMode, Node, NodeConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

const WARMUP: usize = 8;
const DEFAULT_K: usize = 32;
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];
/// What a node answers to `GET /api/me`, for the fixed upstream and node.
const ME_BODY: &str = r#"{"user":"user42","node":"node"}"#;

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

    for mode in [
        AuthMode::None,
        AuthMode::Session,
        AuthMode::Token,
        AuthMode::SessionCached,
        AuthMode::TokenDenylist,
        AuthMode::Sticky,
    ] {
        let name = format!("node/{}", mode.as_str());
        if !name.starts_with(only) {
            continue;
        }
        let node = Node::new(node_config(mode, &store.url)).expect("node");
        let credential = runtime.block_on(credential(&node, mode));
        measure(&name, k, only, || {
            let response = runtime.block_on(node.handle(me(&credential)));
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
    let source = match alg {
        Algorithm::HS256 => KeySource::Secret(key("hs256-a.secret")),
        Algorithm::RS256 => KeySource::Pair {
            private_pem: key("rs256-a.key"),
            public_pem: key("rs256-a.pub"),
        },
        Algorithm::ES256 => KeySource::Pair {
            private_pem: key("es256.key"),
            public_pem: key("es256.pub"),
        },
        Algorithm::EdDSA => KeySource::Pair {
            private_pem: key("eddsa.key"),
            public_pem: key("eddsa.pub"),
        },
        other => panic!("no fixture key for {other:?}"),
    };
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

/// Logs user42 in through the handler and returns the credential header.
async fn credential(node: &Node, mode: AuthMode) -> Option<(&'static str, String)> {
    let password = Directory::new(1, 1000).password(42);
    let body = format!(r#"{{"user":"user42","password":"{password}"}}"#);
    let login = Request::post("/login")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = node.handle(login).await;
    assert_eq!(response.status(), 200, "login in {}", mode.as_str());
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    if mode.uses_cookie() {
        cookie.map(|c| ("cookie", c))
    } else if mode == AuthMode::None {
        None
    } else {
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        Some((
            "authorization",
            format!("Bearer {}", json["access_token"].as_str().expect("token")),
        ))
    }
}

fn me(credential: &Option<(&'static str, String)>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/api/me").header("host", "bench");
    if let Some((name, value)) = credential {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(Bytes::new())).expect("request")
}

/// A Redis double on a Unix socket in this process: GET/GETEX/GETDEL/SET/DEL/PING
/// and the session index's ZADD/EXPIRE/ZRANGE/ZREM
/// over RESP2 from a map, everything else `+OK`. Its polls are not counted.
struct FakeRedis {
    path: PathBuf,
    url: String,
}

impl FakeRedis {
    fn start(runtime: &Runtime) -> FakeRedis {
        let path =
            std::env::temp_dir().join(format!("authscale-icount-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = {
            let _context = runtime.enter();
            tokio::net::UnixListener::bind(&path).expect("bind the store double")
        };
        let data: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
        runtime.spawn(Uncounted(Box::pin(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(Uncounted(Box::pin(serve_resp(stream, data.clone()))));
            }
        })));
        let url = format!("redis+unix://{}", path.display());
        FakeRedis { path, url }
    }

    fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_resp(
    mut stream: tokio::net::UnixStream,
    data: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut reply = Vec::with_capacity(4096);
    loop {
        while let Some((command, used)) = parse_resp(&buf) {
            buf.drain(..used);
            answer(&command, &data, &mut reply);
        }
        if !reply.is_empty() {
            if stream.write_all(&reply).await.is_err() {
                return;
            }
            reply.clear();
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn answer(command: &[Vec<u8>], data: &Mutex<HashMap<Vec<u8>, Vec<u8>>>, out: &mut Vec<u8>) {
    let mut data = data.lock().expect("store double");
    let name = command
        .first()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    match (name.as_slice(), command.get(1)) {
        (b"GET" | b"GETEX", Some(key)) => match data.get(key) {
            Some(value) => {
                out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(b"$-1\r\n"),
        },
        (b"SET", Some(key)) => {
            let value = command.get(2).cloned().unwrap_or_default();
            data.insert(key.clone(), value);
            out.extend_from_slice(b"+OK\r\n");
        }
        (b"DEL", Some(key)) => {
            let removed = data.remove(key).is_some();
            out.extend_from_slice(if removed { b":1\r\n" } else { b":0\r\n" });
        }
        (b"GETDEL", Some(key)) => match data.remove(key) {
            Some(value) => {
                out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
                out.extend_from_slice(&value);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(b"$-1\r\n"),
        },
        // The per-account session index (login and logout only): kept
        // nowhere, nothing ever evicted.
        (b"ZADD" | b"ZREM" | b"EXPIRE", _) => out.extend_from_slice(b":1\r\n"),
        (b"ZRANGE", _) => out.extend_from_slice(b"*0\r\n"),
        (b"PING", _) => out.extend_from_slice(b"+PONG\r\n"),
        _ => out.extend_from_slice(b"+OK\r\n"),
    }
}

/// One RESP array of bulk strings from the front of `buf`, and its length.
fn parse_resp(buf: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buf.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    }
    fn number(bytes: &[u8]) -> Option<usize> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }
    let (head, mut at) = line(buf, 0)?;
    let count = number(head.strip_prefix(b"*")?)?;
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, next) = line(buf, at)?;
        let len = number(len.strip_prefix(b"$")?)?;
        let part = buf.get(next..next + len)?;
        if buf.get(next + len..next + len + 2)? != b"\r\n" {
            return None;
        }
        parts.push(part.to_vec());
        at = next + len + 2;
    }
    Some((parts, at))
}

/// An HTTP/1.1 server in this process that answers every request head with
/// the node's `/api/me` reply. Its polls are not counted.
fn fixed_http_server(runtime: &Runtime, answered: Option<Arc<Answered>>) -> std::net::SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the fixed server");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(Uncounted(Box::pin(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(Uncounted(Box::pin(serve_fixed(stream, answered.clone()))));
        }
    })));
    addr
}

async fn serve_fixed(mut stream: tokio::net::TcpStream, answered: Option<Arc<Answered>>) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ME_BODY}",
        ME_BODY.len()
    );
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
            if let Some(answered) = &answered {
                answered.one();
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
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
        .block_on(authscale_load::Target::resolve(
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

/// How many requests the fixed node has answered, and a wake-up when a
/// target is reached.
#[derive(Default)]
struct Answered {
    count: std::sync::atomic::AtomicU64,
    target: std::sync::atomic::AtomicU64,
    reached: tokio::sync::Notify,
}

impl Answered {
    fn one(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let count = self.count.fetch_add(1, SeqCst) + 1;
        if count == self.target.load(SeqCst) {
            self.reached.notify_one();
        }
    }

    /// Resolves once `n` more requests have been answered.
    fn more(&self, n: u64) -> impl std::future::Future<Output = ()> + '_ {
        use std::sync::atomic::Ordering::SeqCst;
        self.target.store(self.count.load(SeqCst) + n, SeqCst);
        self.reached.notified()
    }
}
