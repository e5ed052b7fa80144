//! `authscale node`: flags, environment and TOML file merged into a
//! validated `NodeConfig`, then the server run until SIGINT or SIGTERM.
//!
//! Precedence: flag > environment variable > config file > default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use authscale_auth::StoreClient;
use authscale_auth::{Algorithm, RedisStoreConfig, SessionConfig, ThrottleConfig, TokenConfig};
use authscale_node::{AuthMode, Node, NodeConfig};
use authscale_schema::duration::Dur;
use clap::Args;
use serde::{Deserialize, Serialize};

mod keys;

use crate::Failure;
use crate::common::{self, dur};
pub use keys::JwtAlg;
use keys::token_config;

/// Options of `authscale node`. The same names work as TOML keys in
/// `--config` (for example `work-us = 50`, `jwt-secret = ["k1=k1.secret"]`).
/// Every flag is optional here: what is not given comes from the file, then
/// from [`NodeFileConfig::default`] (which `--help` shows).
#[derive(Debug, Default, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeOptions {
    /// TOML file with any of these options; flags and environment win over it.
    #[arg(long, env = "AUTHSCALE_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,

    /// How `/api/me` is protected.
    #[arg(long, env = "AUTHSCALE_AUTH", value_enum, value_name = "MODE")]
    auth: Option<AuthMode>,

    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "AUTHSCALE_LISTEN", value_name = "ADDR")]
    listen: Option<String>,

    /// Redis server holding sessions (session mode).
    #[arg(long, env = "AUTHSCALE_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,

    /// Upper bound on every store call; a slower or absent store answers 503 within it.
    #[arg(long, env = "AUTHSCALE_STORE_TIMEOUT", value_name = "DURATION")]
    store_timeout: Option<String>,

    /// Delay added to every store call: network distance to the store (a delay line on its own thread, to tens of µs; it spins the last 80 µs of each delay in the node's own CPU budget).
    #[arg(long, env = "AUTHSCALE_STORE_RTT", value_name = "DURATION")]
    store_rtt: Option<String>,

    /// How the node reaches a single Redis server: manager (one multiplexed connection, one round trip per command) or deadpool (a deadpool-redis pool, which sends UNWATCH+PING on every checkout).
    #[arg(
        long,
        env = "AUTHSCALE_STORE_CLIENT",
        value_enum,
        value_name = "CLIENT"
    )]
    store_client: Option<StoreClient>,

    /// Microseconds of real CPU work per protected request, standing for application logic.
    #[arg(long, env = "AUTHSCALE_WORK_US", value_name = "US")]
    work_us: Option<u64>,

    /// Number of synthetic users (user0 … userN-1).
    #[arg(long, env = "AUTHSCALE_USERS", value_name = "N")]
    users: Option<u64>,

    /// Seed of the synthetic user directory; every node and load generator must agree.
    #[arg(long, env = "AUTHSCALE_SEED", value_name = "N")]
    seed: Option<u64>,

    /// Session idle timeout (the store TTL).
    #[arg(long, value_name = "DURATION")]
    session_idle: Option<String>,

    /// Session absolute lifetime from login.
    #[arg(long, value_name = "DURATION")]
    session_lifetime: Option<String>,

    /// Reset the idle timeout on each request (GETEX instead of GET: still one store call).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    session_sliding: Option<bool>,

    /// session-cached: how long a node trusts a cached session lookup (revocation reaches other nodes within it).
    #[arg(long, value_name = "DURATION")]
    session_cache_ttl: Option<String>,

    /// session-cached: cached lookups kept per node; sticky: sessions kept per node.
    #[arg(long, value_name = "N")]
    session_capacity: Option<usize>,

    /// Live sessions one account may hold; a login beyond it ends the account's oldest session.
    #[arg(long, value_name = "N")]
    sessions_per_user: Option<usize>,

    /// Wrong passwords per account (counted on each node) that lock its logins until the window ends; 0: off.
    #[arg(long, value_name = "N")]
    login_max_failures: Option<u32>,

    /// The failed-login window, from an account's first failure.
    #[arg(long, value_name = "DURATION")]
    login_failure_window: Option<String>,

    /// Mark the session cookie Secure and name it __Host-sid (only for HTTPS deployments).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    secure_cookie: Option<bool>,

    /// JWT algorithm, pinned: tokens with any other alg are refused.
    #[arg(
        long,
        env = "AUTHSCALE_JWT_ALG",
        value_enum,
        value_name = "ALG",
        ignore_case = true
    )]
    jwt_alg: Option<JwtAlg>,

    /// HMAC key as KID=FILE (raw bytes, at least 32 for HS256). Repeat for rotation.
    #[arg(long, value_name = "KID=FILE")]
    jwt_secret: Vec<String>,

    /// Signing key pair as KID=PRIVATE.pem,PUBLIC.pem (RS*, PS*, ES*, EdDSA). Repeatable.
    #[arg(long, value_name = "KID=PRIV,PUB")]
    jwt_key: Vec<String>,

    /// Verify-only public key as KID=PUBLIC.pem (for example a rotated-out key). Repeatable.
    #[arg(long, value_name = "KID=FILE")]
    jwt_public_key: Vec<String>,

    /// Which key signs new tokens, when several can. [default: the only signing key]
    #[arg(long, value_name = "KID")]
    jwt_signing_kid: Option<String>,

    /// Token issuer (iss), required to match.
    #[arg(long, value_name = "ISS")]
    jwt_issuer: Option<String>,

    /// Token audience (aud), required to match.
    #[arg(long, value_name = "AUD")]
    jwt_audience: Option<String>,

    /// Lifetime of issued tokens.
    #[arg(long, value_name = "DURATION")]
    token_ttl: Option<String>,

    /// Clock skew tolerated on exp, nbf and iat (at most 5s).
    #[arg(long, value_name = "DURATION")]
    jwt_leeway: Option<String>,

    /// Longest token lifetime (exp - iat) accepted; at least --token-ttl.
    #[arg(long, value_name = "DURATION")]
    jwt_max_lifetime: Option<String>,

    /// Name of this node in responses and metrics. [default: node-PORT]
    #[arg(long, value_name = "NAME")]
    node_id: Option<String>,

    /// Worker threads of the node's runtime. [default: number of CPUs]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// How long shutdown waits for in-flight requests.
    #[arg(long, value_name = "DURATION")]
    drain_timeout: Option<String>,

    /// PEM file of the CA that signed the store's certificate (rediss:// URLs), trusted instead of the system roots. [default: the system roots]
    #[arg(long, env = "AUTHSCALE_REDIS_CA_FILE", value_name = "FILE")]
    redis_ca_file: Option<PathBuf>,

    /// A request body gets 408 once waiting on the client totals this long
    /// plus one second per KiB it has sent: a stall this long, or a drip
    /// slower than 1 KiB/s.
    #[arg(long, value_name = "DURATION")]
    body_timeout: Option<String>,

    /// A keep-alive connection with no new request for this long is closed.
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<String>,
}

/// Every option of a node with its value: what a `--config` file holds,
/// and, through `Default`, the one place a default is written. The file,
/// the environment and the flags are layered over it (see [`layered`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NodeFileConfig {
    auth: AuthMode,
    listen: String,
    redis_url: String,
    store_timeout: String,
    store_rtt: String,
    store_client: StoreClient,
    work_us: u64,
    users: u64,
    seed: u64,
    session_idle: String,
    session_lifetime: String,
    session_sliding: bool,
    session_cache_ttl: String,
    session_capacity: usize,
    sessions_per_user: usize,
    login_max_failures: u32,
    login_failure_window: String,
    secure_cookie: bool,
    jwt_alg: JwtAlg,
    jwt_secret: Vec<String>,
    jwt_key: Vec<String>,
    jwt_public_key: Vec<String>,
    jwt_signing_kid: Option<String>,
    jwt_issuer: String,
    jwt_audience: String,
    token_ttl: String,
    jwt_leeway: String,
    jwt_max_lifetime: String,
    node_id: Option<String>,
    threads: Option<usize>,
    drain_timeout: String,
    redis_ca_file: Option<PathBuf>,
    body_timeout: String,
    idle_timeout: String,
}

impl Default for NodeFileConfig {
    fn default() -> NodeFileConfig {
        // The node's and the auth crate's own defaults, where they have
        // them: each is written once, there.
        let token = TokenConfig::new(Algorithm::HS256, Vec::new());
        let node = NodeConfig::new(AuthMode::None);
        let text = |d: Duration| Dur(d).to_string();
        NodeFileConfig {
            auth: AuthMode::None,
            listen: "127.0.0.1:8080".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            store_timeout: "100ms".into(),
            store_rtt: "0s".into(),
            store_client: StoreClient::default(),
            work_us: node.work_us,
            users: node.users,
            seed: node.directory_seed,
            session_idle: "30m".into(),
            session_lifetime: "8h".into(),
            session_sliding: false,
            session_cache_ttl: text(node.session_cache_ttl),
            session_capacity: node.session_capacity,
            sessions_per_user: SessionConfig::DEFAULT_MAX_PER_ACCOUNT,
            login_max_failures: ThrottleConfig::default().max_failures,
            login_failure_window: "5m".into(),
            secure_cookie: false,
            jwt_alg: JwtAlg::HS256,
            jwt_secret: Vec::new(),
            jwt_key: Vec::new(),
            jwt_public_key: Vec::new(),
            jwt_signing_kid: None,
            jwt_issuer: token.issuer,
            jwt_audience: token.audience,
            token_ttl: "15m".into(),
            jwt_leeway: "2s".into(),
            jwt_max_lifetime: "1h".into(),
            node_id: None,
            threads: None,
            drain_timeout: text(node.drain_timeout),
            redis_ca_file: None,
            body_timeout: text(node.body_timeout),
            idle_timeout: text(node.idle_timeout),
        }
    }
}

/// Appends `[default: …]` to the help of every `node` flag, read from
/// [`NodeFileConfig::default`]: the help cannot drift from the code.
pub fn document_defaults(node: clap::Command) -> clap::Command {
    let defaults = serde_json::to_value(NodeFileConfig::default()).expect("plain data");
    let serde_json::Value::Object(defaults) = defaults else {
        return node;
    };
    defaults.into_iter().fold(node, |node, (key, value)| {
        let shown = match value {
            serde_json::Value::Null => return node,
            serde_json::Value::Array(a) if a.is_empty() => return node,
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        node.mut_arg(key.replace('-', "_"), |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [default: {shown}]"))
        })
    })
}

/// Flags and environment over the file over the defaults.
fn layered(options: &NodeOptions) -> anyhow::Result<NodeFileConfig> {
    let mut merged = serde_json::Map::new();
    if let Some(path) = &options.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        // Parsed as the config first, for its errors (unknown keys, types).
        toml::from_str::<NodeFileConfig>(&text)
            .map_err(|e| anyhow!("config file {}: {e}", path.display()))?;
        let table: serde_json::Value =
            toml::from_str(&text).map_err(|e| anyhow!("config file {}: {e}", path.display()))?;
        if let serde_json::Value::Object(table) = table {
            merged.extend(table);
        }
    }
    if let serde_json::Value::Object(given) = serde_json::to_value(options)? {
        merged.extend(given.into_iter().filter(|(_, v)| match v {
            serde_json::Value::Null => false,
            serde_json::Value::Array(a) => !a.is_empty(),
            _ => true,
        }));
    }
    Ok(serde_json::from_value(serde_json::Value::Object(merged))?)
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
    let listener = authscale_node::bind(launch.listen)
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
    let o = layered(&options)?;
    let auth = o.auth;
    let listen: SocketAddr = o.listen.parse().map_err(|_| {
        anyhow!(
            "--listen {:?} is not an address like 127.0.0.1:8080",
            o.listen
        )
    })?;
    if o.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    // Every duration is parsed and its range checked whatever the mode,
    // before anything is logged, so a typo in an option this mode does
    // not use (from a shared config file, say) is not silently carried
    // until the day the mode changes.
    for (name, raw) in [
        ("store-rtt", &o.store_rtt),
        ("session-cache-ttl", &o.session_cache_ttl),
        ("token-ttl", &o.token_ttl),
        ("jwt-max-lifetime", &o.jwt_max_lifetime),
    ] {
        dur(name, raw)?;
    }
    let store_timeout = dur("store-timeout", &o.store_timeout)?;
    if store_timeout.is_zero() {
        bail!("--store-timeout must be greater than zero");
    }
    let session_idle = dur("session-idle", &o.session_idle)?;
    let session_lifetime = dur("session-lifetime", &o.session_lifetime)?;
    for (name, ttl) in [
        ("session-idle", session_idle),
        ("session-lifetime", session_lifetime),
    ] {
        if ttl < Duration::from_secs(1) {
            bail!("--{name} must be at least 1s (the store's TTL resolution)");
        }
    }
    // A token's exp and iat are whole seconds (RFC 7519 NumericDate).
    let token_ttl = dur("token-ttl", &o.token_ttl)?;
    if token_ttl < Duration::from_secs(1) || token_ttl.subsec_nanos() != 0 {
        bail!(
            "--token-ttl {} must be a whole number of seconds, at least 1s (exp is in whole seconds)",
            o.token_ttl
        );
    }
    if dur("jwt-leeway", &o.jwt_leeway)? > Duration::from_secs(5) {
        bail!("--jwt-leeway {} is too generous: at most 5s", o.jwt_leeway);
    }
    if o.work_us > authscale_schema::MAX_WORK_US {
        bail!(
            "--work-us {} is too much: at most {} (one second of CPU per request)",
            o.work_us,
            authscale_schema::MAX_WORK_US
        );
    }
    let mut config = NodeConfig::new(auth);
    config.work_us = o.work_us;
    config.users = o.users;
    config.directory_seed = o.seed;
    config.node_id = o.node_id.clone().unwrap_or_default();
    config.drain_timeout = dur("drain-timeout", &o.drain_timeout)?;
    config.body_timeout = dur("body-timeout", &o.body_timeout)?;
    config.idle_timeout = dur("idle-timeout", &o.idle_timeout)?;
    if config.body_timeout.is_zero() || config.idle_timeout.is_zero() {
        bail!("--body-timeout and --idle-timeout must be greater than zero");
    }
    if auth.uses_store() {
        config.store = Some(RedisStoreConfig {
            url: o.redis_url.clone(),
            timeout: store_timeout,
            rtt: dur("store-rtt", &o.store_rtt)?,
            client: o.store_client,
            ca_pem: o
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
        config.session_cache_ttl = dur("session-cache-ttl", &o.session_cache_ttl)?;
        config.session_capacity = o.session_capacity;
        if config.session_capacity == 0 {
            bail!("--session-capacity must be at least 1");
        }
        config.session = SessionConfig {
            idle_ttl: session_idle,
            absolute_ttl: session_lifetime,
            sliding: o.session_sliding,
            secure_cookie: o.secure_cookie,
            max_per_account: o.sessions_per_user,
        };
        if config.session.max_per_account == 0 {
            bail!("--sessions-per-user must be at least 1");
        }
    }
    if auth.issues_tokens() {
        config.token = Some(token_config(&o)?);
    }
    config.login_throttle = ThrottleConfig {
        max_failures: o.login_max_failures,
        window: dur("login-failure-window", &o.login_failure_window)?,
        ..ThrottleConfig::default()
    };
    if config.login_throttle.window.is_zero() {
        bail!("--login-failure-window must be greater than zero");
    }
    Ok(Launch {
        listen,
        threads: o.threads,
        config,
    })
}

#[cfg(test)]
mod tests;
