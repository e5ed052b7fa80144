//! `authscale load`: drive virtual users against a target and report
//! throughput, errors by class and latency percentiles.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use authscale_load::{LoadConfig, LoadResult, LoopMode, Progress, ScenarioConfig};
use authscale_schema::AuthMode;
use clap::Args;

use crate::Failure;
use crate::common::{self, dur};

/// Options of `authscale load`.
#[derive(Debug, Args)]
pub struct LoadOptions {
    /// Base URL of the node or proxy to load: http:// or https:// (loopback
    /// only, unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8000", value_name = "URL")]
    target: String,

    /// Client-side balancing: another URL to spread the connections over
    /// (repeatable). Connection c goes to the c-th of [--target, --spread…]
    /// modulo their count, as DNS round-robin or a service mesh's client
    /// would; each keeps its own keep-alive connection. All must be reached
    /// the same way (http://, or https:// with the same TLS options).
    #[arg(long, value_name = "URL")]
    spread: Vec<String>,

    /// An https:// target's CA certificate(s), PEM, trusted instead of the
    /// system's roots (for a service with its own CA or a self-signed
    /// certificate).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// Accept any certificate from an https:// target. Only for a test
    /// service you run: nothing proves whom the load reaches.
    #[arg(long)]
    insecure: bool,

    /// Offer HTTP/2 to an https:// target by ALPN (used when the server
    /// picks it; HTTP/1.1 otherwise).
    #[arg(long)]
    http2: bool,

    /// The node's auth mode: virtual users log in for what it issues (a
    /// session cookie or a bearer token); none requests only GET /api/me.
    #[arg(long, value_enum, default_value_t = AuthMode::None, value_name = "MODE")]
    auth: AuthMode,

    /// The virtual users' requests from a scenario file (TOML: login,
    /// credential, protected requests, logout, users), for a service that
    /// is not authscale's node; --auth is then not used. Examples:
    /// experiments/scenarios/node-session.toml, node-token.toml.
    #[arg(long, value_name = "FILE", conflicts_with = "auth")]
    scenario: Option<PathBuf>,

    /// Connections. Closed loop: each sends its next request when the answer arrives.
    #[arg(long, short = 'c', default_value_t = 64, value_name = "C")]
    connections: u64,

    /// Open loop: intend this many requests per second; latency counts from the intended time.
    #[arg(long, value_name = "R")]
    rate: Option<f64>,

    /// Measured time, after the warm-up.
    #[arg(long, short = 'd', default_value = "10s", value_name = "DURATION")]
    duration: String,

    /// Time before measuring starts (requests sent but not counted).
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    warmup: String,

    /// Hard cap on requests sent, warm-up included.
    #[arg(long, default_value_t = 100_000_000, value_name = "N")]
    max_requests: u64,

    /// Bound on one request, connecting included.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    timeout: String,

    /// Virtual users (user0…), spread over the connections. [default: --connections]
    #[arg(long, value_name = "N")]
    users: Option<u64>,

    /// First user index (to split users between several generators).
    #[arg(long, default_value_t = 0, value_name = "I")]
    first_user: u64,

    /// Seed of the nodes' user directory.
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u64,

    /// Protected requests per login.
    #[arg(long, short = 'k', default_value_t = 20, value_name = "K")]
    requests_per_login: u64,

    /// After K requests, log in again instead of logging out first.
    #[arg(long)]
    relogin: bool,

    /// Send a stable uid=N cookie on every request (what a cookie-hash proxy pins users by).
    #[arg(long)]
    client_cookie: bool,

    /// Run segment I of N of this load (its share of rate, connections and users), for several generators at once; combine their JSON with `authscale merge`.
    #[arg(long, value_name = "I/N")]
    segment: Option<String>,

    /// The full result (with histograms) as JSON: written to FILE, or
    /// printed instead of the summary with `-`.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// No progress display.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// Permit targets outside the loopback range (only machines you run).
    #[arg(long)]
    allow_remote: bool,

    /// Worker threads of the generator (1 = one core, like wrk -t1).
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
}

pub fn run(options: LoadOptions) -> Result<(), Failure> {
    if let Some(path) = options.json.as_deref().filter(|p| !printed(p)) {
        common::writable("--json", path).map_err(Failure::usage)?;
    }
    let runtime = common::runtime(Some(options.threads))?;
    runtime.block_on(async move {
        let config = resolve(&options).await.map_err(Failure::usage)?;
        let progress = Arc::new(Progress::default());
        let show = !options.quiet && std::io::stderr().is_terminal();
        let ticker = show.then(|| {
            tokio::spawn(show_progress(
                progress.clone(),
                config.warmup + config.duration,
            ))
        });
        let result = authscale_load::run(config, common::shutdown_signal(), Some(progress))
            .await
            .map_err(|e| match &options.scenario {
                Some(file) => Failure::usage(anyhow!("--scenario {}: {e}", file.display())),
                None => Failure::usage(e),
            })?;
        if let Some(ticker) = ticker {
            ticker.abort();
            eprint!("\r{:70}\r", "");
        }
        deliver(&result, options.json.as_deref(), "result")?;
        if result.interrupted {
            return Err(Failure {
                error: anyhow!("interrupted; the partial result is above"),
                code: 130,
            });
        }
        if result.requests == 0 {
            return Err(Failure::runtime(anyhow!(
                "nothing was measured (is --max-requests used up by the warm-up, or --duration too short?)"
            )));
        }
        if result.success_rate <= 0.0 {
            return Err(Failure::runtime(anyhow!(
                "no request succeeded: all {} measured requests failed (the outcomes are above)",
                result.requests
            )));
        }
        // Logins that succeed are not a load: the protected requests must.
        if let Some(api) = result.by_step.get("api") {
            let answered: u64 = api.values().sum();
            if answered > 0 && api.get("2xx").copied().unwrap_or(0) == 0 {
                return Err(Failure::runtime(anyhow!(
                    "no protected request succeeded: all {answered} failed ({}); is the credential sent the way the service expects?",
                    api.iter()
                        .map(|(outcome, n)| format!("{outcome} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    })
}

async fn resolve(options: &LoadOptions) -> anyhow::Result<LoadConfig> {
    let tls = authscale_load::TlsOptions {
        ca_file: options.ca_file.clone(),
        insecure: options.insecure,
        http2: options.http2,
    };
    let mut target = authscale_load::resolve_target(&options.target, options.allow_remote).await?;
    tls.clone().apply(&mut target)?;
    let mut spread = Vec::with_capacity(options.spread.len());
    for url in &options.spread {
        let mut more = authscale_load::resolve_target(url, options.allow_remote).await?;
        tls.clone().apply(&mut more)?;
        spread.push(more);
    }
    if options.insecure {
        eprintln!(
            "WARNING: --insecure: the certificate of {} is not checked; \
             the load may reach a service that is not the one named",
            options.target
        );
    }
    let mut config = LoadConfig::new(target);
    config.spread = spread;
    config.mode = match options.rate {
        Some(rate) => LoopMode::Open { rate },
        None => LoopMode::Closed,
    };
    config.connections = options.connections;
    config.duration = dur("duration", &options.duration)?;
    config.warmup = dur("warmup", &options.warmup)?;
    config.timeout = dur("timeout", &options.timeout)?;
    config.max_requests = options.max_requests;
    config.scenario = ScenarioConfig {
        auth: options.auth.credential(),
        users: options.users.unwrap_or(options.connections),
        first_user: options.first_user,
        seed: options.seed,
        requests_per_login: options.requests_per_login,
        logout: !options.relogin,
        client_cookie: options.client_cookie || options.auth.client_cookie(),
        file: options
            .scenario
            .as_deref()
            .map(authscale_schema::Scenario::from_file)
            .transpose()?,
    };
    config.validate()?;
    match &options.segment {
        Some(spec) => {
            let (i, n) = spec
                .split_once('/')
                .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)))
                .ok_or_else(|| anyhow!("--segment {spec:?}: expected I/N, like 1/2"))?;
            Ok(authscale_load::segment(&config, i, n)?)
        }
        None => Ok(config),
    }
}

/// Options of `authscale merge`.
#[derive(Debug, Args)]
pub struct MergeOptions {
    /// Results of `authscale load --json` from segments that ran together
    /// (checked: one target and scenario, disjoint users, overlapping times).
    #[arg(required = true, value_name = "FILE")]
    inputs: Vec<PathBuf>,

    /// The merged result as JSON: written to FILE, or printed instead of
    /// the summary with `-`.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Merges segment results exactly (counts add, histograms add).
pub fn merge(options: MergeOptions) -> Result<(), Failure> {
    if let Some(path) = options.json.as_deref().filter(|p| !printed(p)) {
        common::writable("--json", path).map_err(Failure::usage)?;
    }
    let mut parts = Vec::new();
    for path in &options.inputs {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))
            .map_err(Failure::usage)?;
        let part: LoadResult = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an authscale load result", path.display()))
            .map_err(Failure::usage)?;
        parts.push(part);
    }
    one_load(&options.inputs, &parts).map_err(Failure::usage)?;
    let merged = authscale_load::merge(&parts).map_err(|e| Failure::usage(anyhow!(e)))?;
    deliver(&merged, options.json.as_deref(), "merged result")?;
    Ok(())
}

/// Whether `parts` can be segments of one load: the same target and
/// scenario, disjoint users (as `load --segment I/N` splits them) and
/// measurement windows that overlap (they ran at the same time).
fn one_load(paths: &[PathBuf], parts: &[LoadResult]) -> anyhow::Result<()> {
    let named: Vec<(&PathBuf, &LoadResult)> = paths.iter().zip(parts).collect();
    let Some(((first_path, first), rest)) = named.split_first() else {
        return Ok(());
    };
    let scenario = |r: &LoadResult| {
        let mut s = r.config.scenario.clone();
        s.users = 0;
        s.first_user = 0;
        serde_json::to_value(s).ok()
    };
    // What a segment keeps of the whole load: everything but its share of
    // the connections, users, request cap and rate.
    let plan = |r: &LoadResult| {
        let c = &r.config;
        (
            matches!(c.mode, LoopMode::Open { .. }),
            c.warmup,
            c.duration,
            c.timeout,
        )
    };
    for (path, part) in rest {
        let urls = |r: &LoadResult| -> Vec<String> {
            std::iter::once(&r.config.target)
                .chain(&r.config.spread)
                .map(|t| t.url.clone())
                .collect()
        };
        if urls(part) != urls(first)
            || part.config.target.tls != first.config.target.tls
            || part.protocol != first.protocol
            || scenario(part) != scenario(first)
            || plan(part) != plan(first)
        {
            anyhow::bail!(
                "{} and {} are not segments of one load: their target (TLS settings and \
                 protocol included), scenario, loop, duration, warm-up or timeout differ",
                first_path.display(),
                path.display()
            );
        }
    }
    let mut by_user: Vec<&(&PathBuf, &LoadResult)> = named.iter().collect();
    by_user.sort_by_key(|(_, r)| r.config.scenario.first_user);
    for pair in by_user.windows(2) {
        let ((a_path, a), (b_path, b)) = (pair[0], pair[1]);
        let a_end = a.config.scenario.first_user + a.config.scenario.users;
        if b.config.scenario.first_user < a_end {
            anyhow::bail!(
                "{} and {} drive the same users (from user{}): segments of one load have \
                 disjoint users (`authscale load --segment I/N`)",
                a_path.display(),
                b_path.display(),
                b.config.scenario.first_user
            );
        }
    }
    // Started together: within half a measured window of each other (and
    // a second, the resolution of the recorded start), so that most of
    // their windows overlap; one run after another does not.
    let starts: Vec<u64> = named.iter().map(|(_, r)| r.started_at).collect();
    let apart = starts.iter().max().unwrap_or(&0) - starts.iter().min().unwrap_or(&0);
    let shortest = named
        .iter()
        .map(|(_, r)| r.measured_seconds)
        .fold(f64::MAX, f64::min);
    if apart as f64 > (shortest / 2.0).max(1.0) {
        anyhow::bail!(
            "these results started {apart} s apart, more than half of their {shortest:.1} s \
             windows: merge combines segments that ran at the same time"
        );
    }
    Ok(())
}

async fn show_progress(progress: Arc<Progress>, total: Duration) {
    let start = Instant::now();
    let mut last = (start, 0u64);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let done = progress.completed.load(Relaxed);
        let rate = (done - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
        last = (now, done);
        eprint!(
            "\r  {:5.1}s / {:.0}s  {done:>10} requests  {rate:>9.0} req/s  errors {:<8}",
            start.elapsed().as_secs_f64(),
            total.as_secs_f64(),
            progress.errors.load(Relaxed)
        );
        let _ = std::io::stderr().flush();
    }
}

/// `--json -`: the JSON on standard output instead of the summary.
fn printed(path: &Path) -> bool {
    path == Path::new(crate::outputs::STDOUT)
}

/// The summary, or the JSON printed; the JSON written to a file.
fn deliver(result: &LoadResult, json: Option<&Path>, what: &str) -> Result<(), Failure> {
    match json {
        Some(path) if printed(path) => {
            let text = serde_json::to_string_pretty(result).map_err(Failure::runtime)?;
            say_raw!("{text}\n");
        }
        Some(path) => {
            say_raw!("{}", authscale_load::render(result));
            write_json(path, result).map_err(Failure::runtime)?;
            say!("\n{what} written to {}", path.display());
        }
        None => say_raw!("{}", authscale_load::render(result)),
    }
    Ok(())
}

/// Writes atomically: a reader never sees half a file.
fn write_json(path: &Path, result: &LoadResult) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
