//! `authscale node`: flags, environment and TOML file merged into a
//! validated `NodeConfig`, then the server run until SIGINT or SIGTERM.
//!
//! Precedence: flag > environment variable > config file > default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use authscale_auth::{
    Algorithm, KeySource, RedisStoreConfig, SessionConfig, StoreClient, ThrottleConfig,
    TokenConfig, TokenKeyConfig,
};
use authscale_node::{AuthMode, Node, NodeConfig};
use clap::Args;
use serde::Deserialize;

use crate::Failure;
use crate::common::{self, dur};

/// Options of `authscale node`. The same names work as TOML keys in
/// `--config` (for example `work-us = 50`, `jwt-secret = ["k1=k1.secret"]`).
#[derive(Debug, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeOptions {
    /// TOML file with any of these options; flags and environment win over it.
    #[arg(long, env = "AUTHSCALE_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,

    /// Auth mode: none (upper bound), session (shared Redis store), token (JWT), session-cached (store + node cache), token-denylist (JWT + revocation list in the store), sticky (node-local sessions). [default: none]
    #[arg(long, env = "AUTHSCALE_AUTH", value_name = "MODE")]
    auth: Option<String>,

    /// Address to listen on; port 0 picks a free port (the chosen address is printed). [default: 127.0.0.1:8080]
    #[arg(long, env = "AUTHSCALE_LISTEN", value_name = "ADDR")]
    listen: Option<String>,

    /// Redis server holding sessions (session mode). [default: redis://127.0.0.1:6379]
    #[arg(long, env = "AUTHSCALE_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,

    /// Upper bound on every store call; a slower or absent store answers 503 within it. [default: 100ms]
    #[arg(long, env = "AUTHSCALE_STORE_TIMEOUT", value_name = "DURATION")]
    store_timeout: Option<String>,

    /// Delay added to every store call: network distance to the store (a delay line on its own thread, to tens of µs; it spins the last 80 µs of each delay in the node's CPU budget). [default: 0s]
    #[arg(long, env = "AUTHSCALE_STORE_RTT", value_name = "DURATION")]
    store_rtt: Option<String>,

    /// How the node reaches a single Redis server: manager (one multiplexed connection, one round trip per command) or deadpool (a deadpool-redis pool, which sends UNWATCH+PING on every checkout). [default: manager]
    #[arg(long, env = "AUTHSCALE_STORE_CLIENT", value_name = "CLIENT")]
    store_client: Option<StoreClient>,

    /// Microseconds of real CPU work per protected request, standing for application logic. [default: 0]
    #[arg(long, env = "AUTHSCALE_WORK_US", value_name = "US")]
    work_us: Option<u64>,

    /// Number of synthetic users (user0 … userN-1). [default: 10000]
    #[arg(long, env = "AUTHSCALE_USERS", value_name = "N")]
    users: Option<u64>,

    /// Seed of the synthetic user directory; every node and load generator must agree. [default: 1]
    #[arg(long, env = "AUTHSCALE_SEED", value_name = "N")]
    seed: Option<u64>,

    /// Session idle timeout (the store TTL). [default: 30m]
    #[arg(long, value_name = "DURATION")]
    session_idle: Option<String>,

    /// Session absolute lifetime from login. [default: 8h]
    #[arg(long, value_name = "DURATION")]
    session_lifetime: Option<String>,

    /// Reset the idle timeout on each request (GETEX instead of GET: still one store call).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    session_sliding: Option<bool>,

    /// session-cached: how long a node trusts a cached session lookup (revocation reaches other nodes within it). [default: 1s]
    #[arg(long, value_name = "DURATION")]
    session_cache_ttl: Option<String>,

    /// session-cached: cached lookups kept per node; sticky: sessions kept per node. [default: 100000]
    #[arg(long, value_name = "N")]
    session_capacity: Option<usize>,

    /// Live sessions one account may hold; a login beyond it ends the account's oldest session. [default: 16]
    #[arg(long, value_name = "N")]
    sessions_per_user: Option<usize>,

    /// Wrong passwords per account (counted on each node) that lock its logins until the window ends; 0: off. [default: 5]
    #[arg(long, value_name = "N")]
    login_max_failures: Option<u32>,

    /// The failed-login window, from an account's first failure. [default: 5m]
    #[arg(long, value_name = "DURATION")]
    login_failure_window: Option<String>,

    /// Mark the session cookie Secure and name it __Host-sid (only for HTTPS deployments).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    secure_cookie: Option<bool>,

    /// JWT algorithm, pinned: tokens with any other alg are refused. [default: HS256]
    #[arg(long, env = "AUTHSCALE_JWT_ALG", value_name = "ALG")]
    jwt_alg: Option<String>,

    /// HMAC key as KID=FILE (raw bytes, at least 32 for HS256). Repeat for rotation.
    #[arg(long, value_name = "KID=FILE")]
    #[serde(default)]
    jwt_secret: Vec<String>,

    /// Signing key pair as KID=PRIVATE.pem,PUBLIC.pem (RS*, PS*, ES*, EdDSA). Repeatable.
    #[arg(long, value_name = "KID=PRIV,PUB")]
    #[serde(default)]
    jwt_key: Vec<String>,

    /// Verify-only public key as KID=PUBLIC.pem (for example a rotated-out key). Repeatable.
    #[arg(long, value_name = "KID=FILE")]
    #[serde(default)]
    jwt_public_key: Vec<String>,

    /// Which key signs new tokens, when several can. [default: the only signing key]
    #[arg(long, value_name = "KID")]
    jwt_signing_kid: Option<String>,

    /// Token issuer (iss), required to match. [default: authscale]
    #[arg(long, value_name = "ISS")]
    jwt_issuer: Option<String>,

    /// Token audience (aud), required to match. [default: authscale-api]
    #[arg(long, value_name = "AUD")]
    jwt_audience: Option<String>,

    /// Lifetime of issued tokens. [default: 15m]
    #[arg(long, value_name = "DURATION")]
    token_ttl: Option<String>,

    /// Clock skew tolerated on exp, nbf and iat (at most 5s). [default: 2s]
    #[arg(long, value_name = "DURATION")]
    jwt_leeway: Option<String>,

    /// Longest token lifetime (exp - iat) accepted; at least --token-ttl. [default: 1h]
    #[arg(long, value_name = "DURATION")]
    jwt_max_lifetime: Option<String>,

    /// Name of this node in responses and metrics. [default: node-PORT]
    #[arg(long, value_name = "NAME")]
    node_id: Option<String>,

    /// Worker threads of the node's runtime. [default: number of CPUs]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// How long shutdown waits for in-flight requests. [default: 5s]
    #[arg(long, value_name = "DURATION")]
    drain_timeout: Option<String>,

    /// PEM file of the CA that signed the store's certificate (rediss:// URLs), trusted instead of the system roots. [default: the system roots]
    #[arg(long, env = "AUTHSCALE_REDIS_CA_FILE", value_name = "FILE")]
    redis_ca_file: Option<PathBuf>,

    /// A client that sends no request-body bytes for this long gets 408. [default: 30s]
    #[arg(long, value_name = "DURATION")]
    body_timeout: Option<String>,

    /// A keep-alive connection with no new request for this long is closed. [default: 60s]
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<String>,
}

impl NodeOptions {
    /// Fills every option not given on the command line from `file`.
    fn or_file(self, file: NodeOptions) -> NodeOptions {
        fn list(a: Vec<String>, b: Vec<String>) -> Vec<String> {
            if a.is_empty() { b } else { a }
        }
        NodeOptions {
            config: self.config,
            auth: self.auth.or(file.auth),
            listen: self.listen.or(file.listen),
            redis_url: self.redis_url.or(file.redis_url),
            store_timeout: self.store_timeout.or(file.store_timeout),
            store_rtt: self.store_rtt.or(file.store_rtt),
            store_client: self.store_client.or(file.store_client),
            work_us: self.work_us.or(file.work_us),
            users: self.users.or(file.users),
            seed: self.seed.or(file.seed),
            session_idle: self.session_idle.or(file.session_idle),
            session_lifetime: self.session_lifetime.or(file.session_lifetime),
            session_sliding: self.session_sliding.or(file.session_sliding),
            session_cache_ttl: self.session_cache_ttl.or(file.session_cache_ttl),
            session_capacity: self.session_capacity.or(file.session_capacity),
            secure_cookie: self.secure_cookie.or(file.secure_cookie),
            sessions_per_user: self.sessions_per_user.or(file.sessions_per_user),
            login_max_failures: self.login_max_failures.or(file.login_max_failures),
            login_failure_window: self.login_failure_window.or(file.login_failure_window),
            jwt_alg: self.jwt_alg.or(file.jwt_alg),
            jwt_secret: list(self.jwt_secret, file.jwt_secret),
            jwt_key: list(self.jwt_key, file.jwt_key),
            jwt_public_key: list(self.jwt_public_key, file.jwt_public_key),
            jwt_signing_kid: self.jwt_signing_kid.or(file.jwt_signing_kid),
            jwt_issuer: self.jwt_issuer.or(file.jwt_issuer),
            jwt_audience: self.jwt_audience.or(file.jwt_audience),
            token_ttl: self.token_ttl.or(file.token_ttl),
            jwt_leeway: self.jwt_leeway.or(file.jwt_leeway),
            jwt_max_lifetime: self.jwt_max_lifetime.or(file.jwt_max_lifetime),
            node_id: self.node_id.or(file.node_id),
            threads: self.threads.or(file.threads),
            drain_timeout: self.drain_timeout.or(file.drain_timeout),
            redis_ca_file: self.redis_ca_file.or(file.redis_ca_file),
            body_timeout: self.body_timeout.or(file.body_timeout),
            idle_timeout: self.idle_timeout.or(file.idle_timeout),
        }
    }
}

/// Everything `run` needs besides the node's own configuration.
struct Launch {
    listen: SocketAddr,
    threads: Option<usize>,
    config: NodeConfig,
}

pub fn run(options: NodeOptions) -> Result<(), Failure> {
    let launch = resolve(options).map_err(Failure::usage)?;
    common::runtime(launch.threads)?.block_on(serve(launch))
}

async fn serve(launch: Launch) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(launch.listen)
        .await
        .with_context(|| format!("cannot listen on {}", launch.listen))
        .map_err(Failure::runtime)?;
    let addr = listener.local_addr().map_err(Failure::runtime)?;
    let mut config = launch.config;
    if config.node_id.is_empty() {
        config.node_id = format!("node-{}", addr.port());
    }
    let limits = authscale_node::ServerLimits {
        idle_timeout: config.idle_timeout,
        drain: config.drain_timeout,
    };
    let mode = config.auth;
    let node = Arc::new(Node::new(config).map_err(Failure::usage)?);
    // The one line on stdout: scripts and tests read the address from it.
    say!(
        "authscale node listening on http://{addr} (auth={})",
        mode.as_str()
    );
    tracing::info!(%addr, auth = mode.as_str(), iterations_per_us = node.work().iterations_per_us(), "node started");
    authscale_node::serve_with(listener, node, common::shutdown_signal(), limits)
        .await
        .map_err(Failure::runtime)?;
    tracing::info!("node stopped");
    Ok(())
}

fn resolve(options: NodeOptions) -> anyhow::Result<Launch> {
    let options = match &options.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let file: NodeOptions = toml::from_str(&text)
                .map_err(|e| anyhow!("config file {}: {e}", path.display()))?;
            options.or_file(file)
        }
        None => options,
    };
    let auth: AuthMode = options
        .auth
        .as_deref()
        .unwrap_or("none")
        .parse()
        .map_err(|e: String| anyhow!(e))?;
    let listen = options.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| anyhow!("--listen {listen:?} is not an address like 127.0.0.1:8080"))?;
    if options.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let mut config = NodeConfig::new(auth);
    config.work_us = options.work_us.unwrap_or(0);
    config.users = options.users.unwrap_or(10_000);
    config.directory_seed = options.seed.unwrap_or(1);
    config.node_id = options.node_id.clone().unwrap_or_default();
    config.drain_timeout = dur("drain-timeout", options.drain_timeout.as_deref(), "5s")?;
    config.body_timeout = dur("body-timeout", options.body_timeout.as_deref(), "30s")?;
    config.idle_timeout = dur("idle-timeout", options.idle_timeout.as_deref(), "60s")?;
    if config.body_timeout.is_zero() || config.idle_timeout.is_zero() {
        bail!("--body-timeout and --idle-timeout must be greater than zero");
    }
    if auth.uses_store() {
        config.store = Some(RedisStoreConfig {
            url: options
                .redis_url
                .clone()
                .unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            timeout: dur("store-timeout", options.store_timeout.as_deref(), "100ms")?,
            rtt: dur("store-rtt", options.store_rtt.as_deref(), "0s")?,
            client: options.store_client.unwrap_or_default(),
            ca_pem: options
                .redis_ca_file
                .as_deref()
                .map(|path| {
                    std::fs::read(path)
                        .with_context(|| format!("cannot read --redis-ca-file {}", path.display()))
                })
                .transpose()?,
        });
    }
    if auth.uses_cookie() {
        config.session_cache_ttl = dur(
            "session-cache-ttl",
            options.session_cache_ttl.as_deref(),
            "1s",
        )?;
        config.session_capacity = options.session_capacity.unwrap_or(100_000);
        if config.session_capacity == 0 {
            bail!("--session-capacity must be at least 1");
        }
        config.session = SessionConfig {
            idle_ttl: dur("session-idle", options.session_idle.as_deref(), "30m")?,
            absolute_ttl: dur(
                "session-lifetime",
                options.session_lifetime.as_deref(),
                "8h",
            )?,
            sliding: options.session_sliding.unwrap_or(false),
            secure_cookie: options.secure_cookie.unwrap_or(false),
            max_per_account: options
                .sessions_per_user
                .unwrap_or(SessionConfig::DEFAULT_MAX_PER_ACCOUNT),
        };
        if config.session.max_per_account == 0 {
            bail!("--sessions-per-user must be at least 1");
        }
        if config.session.idle_ttl < Duration::from_secs(1) {
            bail!("--session-idle must be at least 1s (the store's TTL resolution)");
        }
    }
    if matches!(auth, AuthMode::Token | AuthMode::TokenDenylist) {
        config.token = Some(token_config(&options)?);
    }
    let throttle = ThrottleConfig::default();
    config.login_throttle = ThrottleConfig {
        max_failures: options.login_max_failures.unwrap_or(throttle.max_failures),
        window: dur(
            "login-failure-window",
            options.login_failure_window.as_deref(),
            "5m",
        )?,
        ..throttle
    };
    if config.login_throttle.window.is_zero() {
        bail!("--login-failure-window must be greater than zero");
    }
    Ok(Launch {
        listen,
        threads: options.threads,
        config,
    })
}

fn token_config(options: &NodeOptions) -> anyhow::Result<TokenConfig> {
    let alg_name = options.jwt_alg.as_deref().unwrap_or("HS256");
    let algorithm: Algorithm = alg_name
        .parse()
        .map_err(|_| anyhow!("unknown --jwt-alg {alg_name:?}: use HS256, RS256, ES256 or EdDSA"))?;
    let mut keys = Vec::new();
    for spec in &options.jwt_secret {
        let (kid, path) = split_kid(spec, "--jwt-secret")?;
        keys.push(TokenKeyConfig {
            kid,
            source: KeySource::Secret(read_key(Path::new(path))?),
        });
    }
    for spec in &options.jwt_key {
        let (kid, paths) = split_kid(spec, "--jwt-key")?;
        let (private, public) = paths
            .split_once(',')
            .ok_or_else(|| anyhow!("--jwt-key {spec:?}: expected KID=PRIVATE.pem,PUBLIC.pem"))?;
        keys.push(TokenKeyConfig {
            kid,
            source: KeySource::Pair {
                private_pem: read_key(Path::new(private))?,
                public_pem: read_key(Path::new(public))?,
            },
        });
    }
    for spec in &options.jwt_public_key {
        let (kid, path) = split_kid(spec, "--jwt-public-key")?;
        keys.push(TokenKeyConfig {
            kid,
            source: KeySource::Public(read_key(Path::new(path))?),
        });
    }
    if keys.is_empty() {
        if !alg_name.starts_with("HS") {
            bail!("{alg_name} needs a key: --jwt-key KID=PRIVATE.pem,PUBLIC.pem");
        }
        // A node on its own can sign and verify with a throwaway key; nodes
        // behind one proxy must share a key, given with --jwt-secret.
        tracing::warn!("no --jwt-secret given: using a random key that only this node knows");
        let mut secret = vec![0u8; 64];
        getrandom::fill(&mut secret).map_err(|e| anyhow!("no OS randomness: {e}"))?;
        keys.push(TokenKeyConfig {
            kid: "ephemeral".into(),
            source: KeySource::Secret(secret),
        });
    }
    let leeway = dur("jwt-leeway", options.jwt_leeway.as_deref(), "2s")?;
    if leeway > Duration::from_secs(5) {
        bail!("--jwt-leeway {leeway:?} is too generous: at most 5s");
    }
    let mut config = TokenConfig::new(algorithm, keys);
    config.signing_kid = options.jwt_signing_kid.clone();
    config.issuer = options.jwt_issuer.clone().unwrap_or(config.issuer);
    config.audience = options.jwt_audience.clone().unwrap_or(config.audience);
    config.ttl = dur("token-ttl", options.token_ttl.as_deref(), "15m")?;
    config.leeway = leeway;
    config.max_lifetime = dur(
        "jwt-max-lifetime",
        options.jwt_max_lifetime.as_deref(),
        "1h",
    )?;
    Ok(config)
}

fn split_kid<'a>(spec: &'a str, flag: &str) -> anyhow::Result<(String, &'a str)> {
    let (kid, rest) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("{flag} {spec:?}: expected KID=FILE"))?;
    Ok((kid.to_owned(), rest))
}

/// Reads key material. A secret file's trailing newline (as left by
/// `echo` or an editor) is not part of the key.
fn read_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes =
        std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}
