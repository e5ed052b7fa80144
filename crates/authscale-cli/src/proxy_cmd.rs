//! `authscale proxy`: the reverse proxy and its admin endpoint, until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};

use authscale_proxy::{Admin, AdminAccess, Proxy, ProxyConfig, ServerLimits, Upstreams};
use authscale_schema::ProxyPolicy;
use clap::Args;

use crate::Failure;
use crate::common::{self, dur};

/// Options of `authscale proxy`.
#[derive(Debug, Args)]
pub struct ProxyOptions {
    /// Address to listen on for clients; port 0 picks a free port (printed).
    #[arg(long, default_value = "127.0.0.1:8000", value_name = "ADDR")]
    listen: String,

    /// An upstream node, HOST:PORT; repeat for each. The set can change later through the admin endpoint.
    #[arg(long = "upstream", value_name = "ADDR")]
    upstreams: Vec<String>,

    /// Admin endpoint (GET/PUT /upstreams, GET /metrics); port 0 picks a free port (printed).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    admin: String,

    /// How requests are spread (cookie-hash pins a client by --cookie-name).
    #[arg(long, value_enum, default_value_t = ProxyPolicy::RoundRobin, value_name = "POLICY")]
    policy: ProxyPolicy,

    /// The cookie that cookie-hash pins clients by. A cookie the client
    /// has before it logs in (`load --client-cookie` sends `uid`) keeps
    /// login and later requests on one node, as sticky nodes need; the
    /// session cookie `sid` arrives only with the login's answer, so the
    /// login itself is spread round-robin and the next request may hash
    /// to another node (for sticky nodes: `--cookie-name uid`).
    #[arg(long, default_value = "sid", value_name = "NAME")]
    cookie_name: String,

    /// How long an upstream that refused or reset a connection is skipped.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    cooldown: String,

    /// Bound on connecting to an upstream.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    connect_timeout: String,

    /// Bound on waiting for an upstream's response head; 504 beyond it.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    upstream_timeout: String,

    /// A request body gets 408 once waiting on the client totals this long
    /// plus one second per KiB it has sent: a stall this long, or a drip
    /// slower than 1 KiB/s.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    body_timeout: String,

    /// A client keep-alive connection with no new request for this long is closed.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    idle_timeout: String,

    /// How long an idle connection to an upstream is kept for reuse; keep it below the upstreams' --idle-timeout.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    upstream_idle_timeout: String,

    /// The largest request body forwarded, in bytes; 413 beyond it.
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_name = "BYTES")]
    max_body: usize,

    /// File holding a bearer token the admin endpoint requires (Authorization: Bearer TOKEN). Without it the admin endpoint trusts every local process.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<std::path::PathBuf>,

    /// Probe each upstream's /healthz this often (off by default: passive checks only).
    #[arg(long, value_name = "DURATION")]
    health_interval: Option<String>,

    /// Permit upstreams and an admin address outside the loopback range.
    #[arg(long)]
    allow_remote: bool,

    /// Worker threads. [default: number of CPUs]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// How long shutdown waits for in-flight requests.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    drain_timeout: String,
}

pub fn run(options: ProxyOptions) -> Result<(), Failure> {
    let threads = options.threads;
    // Checked with the other flags, before the no-upstream warning.
    let runtime = common::runtime(threads)?;
    let r = resolve(options).map_err(Failure::usage)?;
    runtime.block_on(async move {
        let listener = bind(r.listen)?;
        let admin_listener = bind(r.admin)?;
        let (addr, admin_addr) = (local(&listener)?, local(&admin_listener)?);
        let limits = ServerLimits {
            idle_timeout: r.config.idle_timeout,
            drain: r.drain,
        };
        let access = AdminAccess {
            addr: admin_addr,
            token: r.admin_token,
        };
        let (upstreams, config) = (r.upstreams, r.config);
        upstreams
            .listening_on(&[addr, admin_addr])
            .map_err(|e| Failure::usage(anyhow::anyhow!("--upstream: {e}")))?;
        let upstreams = Arc::new(upstreams);
        let health = config.health_interval;
        let proxy = Arc::new(Proxy::new(upstreams, config));
        let health_task = health.map(|interval| tokio::spawn(authscale_proxy::run_health_checks(proxy.clone(), interval)));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.changed().await;
        };
        say!("authscale proxy listening on http://{addr} (admin http://{admin_addr})");
        tracing::info!(%addr, %admin_addr, upstreams = proxy.upstreams().snapshot().len(), "proxy started");
        let main = authscale_proxy::serve_with(listener, proxy.clone(), wait(stopped.clone()), limits);
        let admin = authscale_proxy::serve_with(admin_listener, Arc::new(Admin::new(proxy.clone(), access)), wait(stopped), limits);
        let signal = async move {
            common::shutdown_signal().await;
            let _ = stop.send(true);
        };
        let (main, admin, ()) = tokio::join!(main, admin, signal);
        if let Some(task) = health_task {
            task.abort();
        }
        main.and(admin).map_err(Failure::runtime)
    })
}

/// The validated options.
struct Resolved {
    listen: SocketAddr,
    admin: SocketAddr,
    admin_token: Option<Vec<u8>>,
    upstreams: Upstreams,
    config: ProxyConfig,
    drain: std::time::Duration,
}

fn resolve(options: ProxyOptions) -> anyhow::Result<Resolved> {
    let listen = parse_addr("--listen", &options.listen)?;
    let admin = parse_addr("--admin", &options.admin)?;
    if !options.allow_remote && !admin.ip().is_loopback() {
        bail!(
            "--admin {admin} is not a loopback address: pass --allow-remote (and --admin-token-file) to insist"
        );
    }
    let admin_token = options
        .admin_token_file
        .as_deref()
        .map(read_token)
        .transpose()?;
    if admin_token.is_none() && !admin.ip().is_loopback() {
        tracing::warn!(%admin, "the admin endpoint is reachable off this host with no token");
    }
    let addrs = options
        .upstreams
        .iter()
        .map(|a| parse_addr("--upstream", a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = ProxyConfig {
        policy: options.policy,
        cookie_name: options.cookie_name,
        cooldown: dur("cooldown", &options.cooldown)?,
        connect_timeout: dur("connect-timeout", &options.connect_timeout)?,
        upstream_timeout: dur("upstream-timeout", &options.upstream_timeout)?,
        body_timeout: dur("body-timeout", &options.body_timeout)?,
        idle_timeout: dur("idle-timeout", &options.idle_timeout)?,
        max_body: options.max_body,
        upstream_idle_timeout: dur("upstream-idle-timeout", &options.upstream_idle_timeout)?,
        health_interval: options
            .health_interval
            .as_deref()
            .map(|raw| dur("health-interval", raw))
            .transpose()?,
        allow_remote: options.allow_remote,
    };
    for (flag, timeout) in [
        ("--upstream-timeout", config.upstream_timeout),
        ("--connect-timeout", config.connect_timeout),
        ("--body-timeout", config.body_timeout),
        ("--idle-timeout", config.idle_timeout),
        ("--upstream-idle-timeout", config.upstream_idle_timeout),
    ] {
        if timeout.is_zero() {
            bail!("{flag} must be greater than zero");
        }
    }
    if config.cookie_name.is_empty()
        || !config
            .cookie_name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    {
        bail!(
            "--cookie-name {:?} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)",
            config.cookie_name
        );
    }
    if config.health_interval.is_some_and(|d| d.is_zero()) {
        bail!("--health-interval must be greater than zero");
    }
    let upstreams = Upstreams::new(&addrs, options.allow_remote)?;
    let drain = dur("drain-timeout", &options.drain_timeout)?;
    // Warned only once every flag is known good, so an error stays one line.
    if addrs.is_empty() {
        tracing::warn!("no --upstream given: answering 503 until the admin endpoint sets some");
    }
    Ok(Resolved {
        listen,
        admin,
        admin_token,
        upstreams,
        config,
        drain,
    })
}

/// Reads the admin token; a trailing newline (as `echo` leaves) is not
/// part of it.
fn read_token(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --admin-token-file {}", path.display()))?;
    let token = text.trim_end_matches(['\r', '\n']);
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "--admin-token-file {}: the token must be at least 16 characters with no spaces",
            path.display()
        );
    }
    Ok(token.as_bytes().to_vec())
}

fn parse_addr(flag: &str, raw: &str) -> anyhow::Result<SocketAddr> {
    raw.parse()
        .map_err(|_| anyhow!("{flag} {raw:?} is not an address like 127.0.0.1:8080"))
}

fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    authscale_proxy::bind(addr)
        .with_context(|| format!("cannot listen on {addr}"))
        .map_err(Failure::runtime)
}

fn local(listener: &tokio::net::TcpListener) -> Result<SocketAddr, Failure> {
    listener.local_addr().map_err(Failure::runtime)
}
