//! `authscale sweep`: run an experiment and write its results folder.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use authscale_lab::LabOptions;
use authscale_schema::duration::Dur;
use authscale_schema::{AuthMode, Capacity, Experiment, Pairing, RunStatus};
use clap::Args;

use crate::Failure;
use crate::common;

/// Options of `authscale sweep`. Flags override the experiment file.
#[derive(Debug, Args)]
pub struct SweepOptions {
    /// Experiment file (TOML); without it, the built-in defaults (= experiments/default.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Auth modes to sweep, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "MODES")]
    modes: Option<Vec<AuthMode>>,

    /// Node counts, increasing, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    nodes: Option<Vec<u32>>,

    /// Measured time per step (blocks and slo sweeps; an interleaved sweep
    /// measures in --slice windows and warns that it ignores this).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    duration: Option<Dur>,

    /// Unmeasured time before each step (blocks and slo sweeps).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    warmup: Option<Dur>,

    /// CPU budget of each node, as a fraction of one core.
    #[arg(long, value_name = "F")]
    node_cpu: Option<f64>,

    /// CPU budget of the store, as a fraction of one core.
    #[arg(long, value_name = "F")]
    store_cpu: Option<f64>,

    /// cgroup quota period (raised where the quota would fall under 1 ms).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    cpu_period: Option<Dur>,

    /// Delay each node adds to every store call (network distance).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    store_rtt: Option<Dur>,

    /// CPU work per protected request on each node, µs.
    #[arg(long, value_name = "US")]
    work_us: Option<u64>,

    /// closed (saturation, quick) or slo (open-loop maximum sustainable rate).
    #[arg(long, value_enum, value_name = "METHOD")]
    capacity: Option<Capacity>,

    /// Closed loop: connections per node.
    #[arg(long, value_name = "C")]
    connections_per_node: Option<u64>,

    /// interleaved: every (mode, N) once per round in short slices, so drift
    /// hits all alike and every figure gets an interval; blocks: one
    /// warmup + duration block per step.
    #[arg(long, value_name = "HOW")]
    pairing: Option<Pairing>,

    /// Interleaved: rounds (each visits every mode and N once); with a
    /// precision, the first stage.
    #[arg(long, value_name = "R")]
    rounds: Option<u32>,

    /// Interleaved: the wanted half-width of the 95% intervals of every
    /// E(N) and mode ratio, in percent (0: exactly --rounds rounds). After
    /// the first --rounds, Stein's two-stage rule sets each figure's rounds
    /// from their spread, and only the cells still short are measured
    /// again; the report says which figures reached it.
    #[arg(long, value_name = "PERCENT")]
    precision: Option<f64>,

    /// Interleaved with a precision: the time allowed for all rounds (the
    /// second stage stops where the next round would not fit).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    max_time: Option<Dur>,

    /// Interleaved: measured time of one slice.
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    slice: Option<Dur>,

    /// Interleaved: unmeasured time before each slice.
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    slice_warmup: Option<Dur>,

    /// After each mode: probe every node this long for a logged-out credential ("0s": no probe).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    revocation_window: Option<Dur>,

    /// session-cached: how long a node trusts a cached session lookup.
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    session_cache_ttl: Option<Dur>,

    /// How the nodes reach the store: manager (one multiplexed connection) or deadpool (a pool; UNWATCH+PING per checkout).
    #[arg(long, value_name = "CLIENT")]
    store_client: Option<authscale_auth::StoreClient>,

    /// Where the processes run: none shares every CPU; cpuset keeps the harness (load generator, proxy) and the system under test on separate CPUs.
    #[arg(long, value_name = "HOW")]
    isolate: Option<authscale_lab::Isolate>,

    /// How the load reaches the nodes: proxy (through authscale proxy, the default) or client (the load generator spreads its connections over the nodes itself, as DNS round-robin or a service mesh would: no proxy in the path, and none of its CPU on the machine). Fault runs always go through the proxy.
    #[arg(long, value_name = "HOW")]
    balance: Option<authscale_lab::Balance>,

    /// Use this Redis instead of starting one (it is neither capped nor flushed).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,

    /// Parent folder of the run's results folder.
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,

    /// No progress lines.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// The experiment's short form, to check that it runs (CI runs every
    /// file in experiments/ so): every mode, N, fault kind and persistence
    /// it names, with 200 ms slices, 2 rounds, 0.5 s steps and fault runs
    /// of 1.5 s (2 s with an append-only file). Its figures are not
    /// measurements; its name ends in -smoke.
    #[arg(long)]
    smoke: bool,
}

/// Appends `[default: …]` to the help of every `sweep` flag that sets an
/// experiment field, read from [`Experiment::default`] (the built-in
/// experiment): the help cannot drift from the code.
pub fn document_defaults(sweep: clap::Command) -> clap::Command {
    let defaults = serde_json::to_value(Experiment::default()).expect("plain data");
    let serde_json::Value::Object(defaults) = defaults else {
        return sweep;
    };
    defaults.into_iter().fold(sweep, |sweep, (key, value)| {
        let id = key.replace('-', "_");
        if !sweep.get_arguments().any(|arg| arg.get_id() == id.as_str()) {
            return sweep;
        }
        let Some(shown) = shown(&value) else {
            return sweep;
        };
        sweep.mut_arg(id, |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [default: {shown}]"))
        })
    })
}

/// The report's rule for the rounds a sweep to a precision needs.
fn needed(plan: &authscale_schema::Plan) -> authscale_lab::Needed {
    let target = authscale_report::sequential::Target {
        precision: plan.experiment.precision / 100.0,
        first: plan.experiment.rounds as usize,
        // Whole pairs of rounds: each cell as often first as last (ABBA).
        multiple: 2,
    };
    authscale_lab::Needed(std::sync::Arc::new(move |run| {
        authscale_report::precision::rounds_needed(run, &target)
    }))
}

/// A default as the flag takes it: lists comma-separated, strings bare.
fn shown(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) if !items.is_empty() => {
            let items: Option<Vec<String>> = items.iter().map(shown).collect();
            items.map(|items| items.join(","))
        }
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

pub fn run(options: SweepOptions) -> Result<(), Failure> {
    let plan = plan(&options).map_err(Failure::usage)?;
    let bin = std::env::current_exe()
        .context("cannot find the authscale binary")
        .map_err(Failure::runtime)?;
    let lab = LabOptions {
        bin,
        out_dir: options.out.clone(),
        redis_url: options.redis_url.clone(),
        progress: !options.quiet,
        live: !options.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        needed: Some(needed(&plan)),
    };
    let finished = common::runtime(Some(1))?
        .block_on(authscale_lab::sweep(plan, lab, common::shutdown_signal()))
        .map_err(Failure::runtime)?;
    if !finished.run.steps.is_empty() {
        authscale_report::write(&finished.run, &finished.dir).map_err(Failure::runtime)?;
        if !options.quiet {
            for m in authscale_report::analyse(&finished.run).modes {
                eprintln!("{}", m.verdict);
            }
        }
        say!("report: {}", finished.dir.join("report.md").display());
    }
    say!("results: {}", finished.dir.display());
    match finished.run.status {
        RunStatus::Complete => Ok(()),
        RunStatus::Interrupted => Err(Failure {
            error: anyhow!(
                "interrupted: the steps measured so far are in {}",
                finished.dir.display()
            ),
            code: 130,
        }),
        _ => Err(Failure::runtime(anyhow!(
            "the sweep failed: {}",
            finished.run.error.unwrap_or_else(|| "unknown error".into())
        ))),
    }
}

fn plan(options: &SweepOptions) -> anyhow::Result<authscale_schema::Plan> {
    if let Some(url) = &options.redis_url {
        authscale_auth::check_store_url(url).map_err(|e| {
            anyhow!(
                "--redis-url {}: not a Redis URL ({e}); e.g. redis://127.0.0.1:6379",
                authscale_auth::shown_url(url)
            )
        })?;
    }
    let mut e = match &options.config {
        Some(path) => Experiment::from_file(path)?,
        None => Experiment::default(),
    };
    let given = e.clone();
    if let Some(v) = &options.modes {
        e.modes = v.clone();
    }
    if let Some(v) = &options.nodes {
        e.nodes = v.clone();
    }
    let set = |target: &mut Dur, v: Option<Dur>| {
        if let Some(v) = v {
            *target = v;
        }
    };
    set(&mut e.duration, options.duration);
    set(&mut e.warmup, options.warmup);
    set(&mut e.cpu_period, options.cpu_period);
    set(&mut e.store_rtt, options.store_rtt);
    set(&mut e.revocation_window, options.revocation_window);
    set(&mut e.session_cache_ttl, options.session_cache_ttl);
    set(&mut e.slice, options.slice);
    set(&mut e.slice_warmup, options.slice_warmup);
    set(&mut e.max_time, options.max_time);
    e.precision = options.precision.unwrap_or(e.precision);
    e.pairing = options.pairing.unwrap_or(e.pairing);
    e.rounds = options.rounds.unwrap_or(e.rounds);
    e.store_client = options.store_client.unwrap_or(e.store_client);
    e.isolate = options.isolate.unwrap_or(e.isolate);
    e.balance = options.balance.unwrap_or(e.balance);
    e.node_cpu = options.node_cpu.unwrap_or(e.node_cpu);
    e.store_cpu = options.store_cpu.unwrap_or(e.store_cpu);
    e.work_us = options.work_us.unwrap_or(e.work_us);
    e.connections_per_node = options
        .connections_per_node
        .unwrap_or(e.connections_per_node);
    e.capacity = options.capacity.unwrap_or(e.capacity);
    // The record and the report say what the flags changed, rather than
    // repeat a description they made untrue.
    let changes = e.changes_from(&given);
    if !changes.is_empty() {
        e.description = format!(
            "{} (changed on the command line: {})",
            e.description,
            changes.join(", ")
        );
    }
    if options.smoke {
        e = e.smoke();
    }
    // A refusal names where the value came from: the file, the flags, or
    // both (a flag overrides the file's value).
    let source = match (&options.config, changes.is_empty()) {
        (Some(path), true) => format!("experiment {}", path.display()),
        (Some(path), false) => format!(
            "experiment {} with the command line's changes",
            path.display()
        ),
        (None, _) => "the command line".to_owned(),
    };
    e.plan().with_context(|| source)
}
