//! `authscale ab`: two builds or two configurations of the node, measured
//! side by side in alternating slices; per figure the ratio B/A with its
//! 95% interval and a verdict, optionally judged against the gate's bounds.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use authscale_lab::{AbError, AbOptions, AbSide, Experiment, Rounds, Side};
use authscale_report::ab::{AbLimits, AbResult, judge, rounds_needed};
use authscale_report::sequential::Target;
use authscale_schema::duration::Dur;

use crate::ab_base::{ACCEPT_TRAILER, accepted_changes, git, node_code_differs, start_of_change};
use crate::outputs::Outputs;
use crate::{Failure, common};

#[derive(Debug, clap::Args)]
pub struct AbOptionsArgs {
    /// Side A's binary [default: this binary].
    #[arg(long, value_name = "PATH", conflicts_with_all = ["a_rev", "a_base"])]
    a_bin: Option<PathBuf>,
    /// Side B's binary [default: this binary].
    #[arg(long, value_name = "PATH", conflicts_with = "b_rev")]
    b_bin: Option<PathBuf>,
    /// Side A built from a git revision (release build in a temporary worktree, cached by commit).
    #[arg(long, value_name = "REV", conflicts_with = "a_base")]
    a_rev: Option<String>,
    /// Side A is where this change starts from REF: `git merge-base HEAD
    /// REF`, built in release (HEAD^ for the last commit, origin/main for a
    /// branch, the commit before a push in CI; scripts/gate.sh passes
    /// HEAD^ or AB_BASE). When the gate file's `node_code` is the same
    /// there as in the working tree, nothing is measured: the nodes' cost
    /// cannot have changed. A failure is accepted when a commit after side
    /// A carries a `Node-cost:` trailer saying why.
    #[arg(long, value_name = "REF")]
    a_base: Option<String>,
    /// Side B built from a git revision.
    #[arg(long, value_name = "REV")]
    b_rev: Option<String>,
    /// Extra arguments for side A's nodes, e.g. "--jwt-alg RS256".
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "",
        allow_hyphen_values = true
    )]
    a_node_args: String,
    /// Extra arguments for side B's nodes, e.g. "--work-us 24".
    #[arg(
        long,
        value_name = "ARGS",
        default_value = "",
        allow_hyphen_values = true
    )]
    b_node_args: String,
    /// Auth mode of both sides.
    #[arg(long, value_enum, default_value_t = authscale_schema::AuthMode::Token)]
    mode: authscale_schema::AuthMode,
    /// Nodes per side.
    #[arg(long, default_value_t = 2)]
    nodes: u32,
    /// A fixed number of rounds (each one slice of A and one of B, ABBA
    /// order) instead of rounds to --precision.
    #[arg(long, conflicts_with_all = ["precision", "max_time", "first_rounds"])]
    rounds: Option<u32>,
    /// Wanted half-width of node CPU B/A's 95% interval, in percent. After
    /// --first-rounds, Stein's two-stage rule sets the rounds this needs
    /// from the first rounds' spread (noisier machine, more rounds); the
    /// output says whether it was reached within --max-time.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "2.5",
        allow_negative_numbers = true
    )]
    precision: f64,
    /// Rounds of the first stage: whole pairs of blocks (a multiple of
    /// twice --block).
    #[arg(long, value_name = "ROUNDS", default_value_t = 16)]
    first_rounds: u32,
    /// Time allowed for the whole comparison; the second stage measures as
    /// many of the rounds it needs as fit.
    #[arg(long, value_name = "DURATION", default_value = "150s", value_parser = Dur::parse)]
    max_time: Dur,
    /// A regression of known size, for checking what the comparison can
    /// catch: B's nodes work this percentage of A's node CPU per protected
    /// request more (from a three-slice calibration of A first), so "+10%"
    /// means the same on every machine. scripts/ab-power.sh uses it.
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true)]
    b_costlier: Option<f64>,
    /// Rounds per block: every block starts both sides' nodes afresh, the
    /// side started first alternating, so a process's luck or a start
    /// order does not stay with one side.
    #[arg(long, value_name = "ROUNDS", default_value_t = 4)]
    block: u32,
    /// Measured window of a slice (100ms to 1h).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = Dur::parse)]
    slice: Dur,
    /// Unmeasured warm-up before each slice.
    #[arg(long, value_name = "DURATION", default_value = "300ms", value_parser = Dur::parse)]
    warmup: Dur,
    /// CPU work per protected request on both sides' nodes, µs (a side's
    /// own --work-us in its node args wins) [default: the built-in
    /// experiment's, as `sweep --help` shows].
    #[arg(long)]
    work_us: Option<u64>,
    /// cgroup quota period of both sides' nodes. Longer than a sweep's
    /// (10ms): each throttle cycle costs a saturated node CPU, and at 50ms
    /// its CPU per request is nearer what it costs uncapped and steadier
    /// (per-round spread of A/A ratios 6% against 8% at 10ms); latency
    /// figures move in steps of it.
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = Dur::parse)]
    cpu_period: Dur,
    /// Bounds on B/A (TOML, e.g. results/baseline/ab.toml): exit 1 when a
    /// figure's whole 95% interval lies beyond its bound.
    #[arg(long, value_name = "FILE")]
    gate: Option<PathBuf>,
    /// The comparison as JSON (every slice and the verdicts), Markdown (a
    /// PR comment or CI job summary) or one HTML page.
    #[command(flatten)]
    outputs: Outputs,
    /// Where builds of revisions are kept [default: target/ab in the repository].
    #[arg(long, value_name = "DIR")]
    build_cache: Option<PathBuf>,
    /// Cargo's target folder for those builds [default: target under the
    /// build cache]. The repository's own `target` shares the compiled
    /// dependencies with this build (a new revision then compiles only the
    /// workspace's crates), but leaves the revision's binary in
    /// target/release until the next `cargo build`.
    #[arg(long, value_name = "DIR")]
    build_target_dir: Option<PathBuf>,
    /// No progress lines.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(o: AbOptionsArgs) -> Result<(), Failure> {
    let limits = match &o.gate {
        Some(path) => AbLimits::from_file(path).map_err(Failure::usage)?,
        None => AbLimits::default(),
    };
    let this = std::env::current_exe()
        .context("cannot find the authscale binary")
        .map_err(Failure::runtime)?;
    let inputs: Vec<&Path> = [&o.gate, &o.a_bin, &o.b_bin]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    o.outputs.check(&inputs)?;
    // With --a-base, side A is where this change starts from it.
    let start = match &o.a_base {
        Some(base) => {
            let commit = start_of_change(base)
                .map_err(|e| Failure::usage(anyhow!("side A cannot be found: {e:#}")))?;
            let differs = limits.node_code.is_empty()
                || node_code_differs(&commit, &limits.node_code).map_err(Failure::usage)?;
            if !differs {
                let line = format!(
                    "A/B: no node code differs from {base} ({}): the nodes' cost cannot have changed; nothing to measure",
                    &commit[..12.min(commit.len())]
                );
                say_raw!("{line}\n");
                // A CI summary says why this layer measured nothing.
                if let Some(path) = o
                    .outputs
                    .markdown
                    .as_deref()
                    .filter(|p| *p != Path::new(crate::outputs::STDOUT))
                {
                    std::fs::write(path, format!("{line}\n"))
                        .with_context(|| format!("cannot write {}", path.display()))
                        .map_err(Failure::usage)?;
                }
                return Ok(());
            }
            Some(commit)
        }
        None => None,
    };
    let a_rev = o.a_rev.clone().or_else(|| start.clone());
    let a = side(Side::A, &o.a_bin, &a_rev, &o.a_node_args, &this, &o)?;
    let b = side(Side::B, &o.b_bin, &o.b_rev, &o.b_node_args, &this, &o)?;
    let mut experiment = Experiment::default();
    experiment.work_us = o.work_us.unwrap_or(experiment.work_us);
    let period = o.cpu_period.0;
    if period < std::time::Duration::from_millis(1) || period > std::time::Duration::from_secs(1) {
        return Err(Failure::usage(anyhow!(
            "--cpu-period must be between 1ms and 1s"
        )));
    }
    experiment.cpu_period = o.cpu_period;
    if !(1..=64).contains(&o.nodes) || !(1..=1000).contains(&o.block) {
        return Err(Failure::usage(anyhow!(
            "--nodes must be 1 to 64 and --block 1 to 1000"
        )));
    }
    // Rounds come in whole pairs of blocks: each side is started first in
    // as many blocks as the other.
    let pair = 2 * o.block;
    let rounds = match o.rounds {
        Some(n) => {
            if !(2..=10_000).contains(&n) || !n.is_multiple_of(pair) {
                return Err(Failure::usage(anyhow!(
                    "--rounds must be 2 to 10000 and a whole number of block pairs (a multiple of {pair} with --block {}), so each side is started first equally often",
                    o.block
                )));
            }
            Rounds::Fixed(n)
        }
        None => {
            if !(o.precision.is_finite() && (0.1..=50.0).contains(&o.precision)) {
                return Err(Failure::usage(anyhow!(
                    "--precision is a percentage from 0.1 to 50 (2.5 for ±2.5%)"
                )));
            }
            if !(pair..=10_000).contains(&o.first_rounds) || !o.first_rounds.is_multiple_of(pair) {
                return Err(Failure::usage(anyhow!(
                    "--first-rounds must be a whole number of block pairs up to 10000 (a multiple of {pair} with --block {}), so each side is started first equally often",
                    o.block
                )));
            }
            let max_time = o.max_time.0;
            if max_time < std::time::Duration::from_secs(1)
                || max_time > std::time::Duration::from_secs(24 * 3600)
            {
                return Err(Failure::usage(anyhow!(
                    "--max-time must be between 1s and 24h"
                )));
            }
            let target = Target {
                precision: o.precision / 100.0,
                first: o.first_rounds as usize,
                multiple: pair as usize,
            };
            Rounds::Adaptive {
                precision: target.precision,
                first: o.first_rounds,
                max_time,
                needed: std::sync::Arc::new(move |slices| rounds_needed(slices, &target)),
            }
        }
    };
    if let Some(p) = o.b_costlier {
        if !(p.is_finite() && (0.0..=1000.0).contains(&p)) {
            return Err(Failure::usage(anyhow!(
                "--b-costlier is a percentage from 0 to 1000 (10 for +10%)"
            )));
        }
        if o.b_node_args
            .split_whitespace()
            .any(|a| a.starts_with("--work-us"))
        {
            return Err(Failure::usage(anyhow!(
                "--b-costlier sets B's --work-us itself: drop --work-us from --b-node-args"
            )));
        }
    }
    let slice = o.slice.0;
    let warmup = o.warmup.0;
    // A slice shorter than 100 ms holds too few requests to compare; a
    // comparison is bounded like every run.
    let hour = std::time::Duration::from_secs(3600);
    if slice < std::time::Duration::from_millis(100) || slice > hour || warmup > hour {
        return Err(Failure::usage(anyhow!(
            "--slice must be 100ms to 1h and --warmup at most 1h"
        )));
    }
    let options = AbOptions {
        a,
        b,
        proxy_bin: this,
        experiment,
        mode: o.mode,
        nodes: o.nodes,
        rounds,
        b_costlier: o.b_costlier.map(|p| p / 100.0),
        block: o.block,
        slice,
        warmup,
        progress: !o.quiet,
    };
    let ab = common::runtime(Some(1))?
        .block_on(authscale_lab::ab(options, common::shutdown_signal()))
        .map_err(|e| match e {
            AbError::Side { .. } => Failure::usage(e),
            AbError::Lab(_) => Failure::runtime(e),
            AbError::Interrupted => Failure {
                error: anyhow!("interrupted: nothing was compared"),
                code: 130,
            },
        })?;
    if !o.quiet {
        eprintln!("wall time {:.1} s", ab.wall_seconds);
    }
    let report = judge(&ab, &limits).map_err(Failure::usage)?;
    let failed: Vec<&str> = report
        .figures
        .iter()
        .filter(|f| f.failed)
        .map(|f| f.figure.name())
        .collect();
    let failure = format!("B/A beyond its bound: {}", failed.join(", "));
    // A failure the change says it means: reported, not failed.
    let accepted = if report.cannot_judge() || report.passed() {
        Vec::new()
    } else {
        match &start {
            Some(commit) => accepted_changes(commit).map_err(Failure::runtime)?,
            None => Vec::new(),
        }
    };
    let accepted = (!accepted.is_empty()).then(|| {
        let said: Vec<String> = accepted
            .iter()
            .map(|(commit, why)| format!("{} says {ACCEPT_TRAILER}: {why}", &commit[..12]))
            .collect();
        format!("{failure}; accepted: {}", said.join("; "))
    });
    let result = AbResult {
        run: ab,
        report,
        accepted,
    };
    o.outputs.deliver(&result)?;
    let report = &result.report;
    if report.cannot_judge() {
        Err(Failure::usage(anyhow!(
            "cannot judge: {}",
            report.precision_line()
        )))
    } else if report.passed() || result.accepted.is_some() {
        Ok(())
    } else {
        Err(Failure::runtime(anyhow!("{failure}")))
    }
}

/// One side: a binary, this binary, or a build of a revision.
fn side(
    side: Side,
    bin: &Option<PathBuf>,
    rev: &Option<String>,
    node_args: &str,
    this: &Path,
    o: &AbOptionsArgs,
) -> Result<AbSide, Failure> {
    let node_args: Vec<String> = node_args.split_whitespace().map(String::from).collect();
    let refuse = |e: anyhow::Error| Failure::usage(anyhow!("side {side} cannot run: {e:#}"));
    let (label, bin) = match (bin, rev) {
        (Some(bin), _) => (bin.display().to_string(), bin.clone()),
        (None, Some(rev)) => {
            let (commit, bin) = build_rev(rev, o, !o.quiet).map_err(refuse)?;
            (
                format!("rev {rev} ({})", &commit[..12.min(commit.len())]),
                bin,
            )
        }
        (None, None) => ("this binary".to_owned(), this.to_path_buf()),
    };
    if !bin.is_file() {
        return Err(refuse(anyhow!("no binary at {}", bin.display())));
    }
    Ok(AbSide {
        label,
        bin,
        node_args,
    })
}

/// Builds `authscale` at `rev` (release) in a temporary worktree; the
/// binary is kept under the cache by commit, so a second comparison
/// against the same revision builds nothing. The cache's one target
/// folder is shared by all revisions: a new revision recompiles only what
/// changed.
fn build_rev(rev: &str, o: &AbOptionsArgs, progress: bool) -> anyhow::Result<(String, PathBuf)> {
    git(&["--version"]).context("git is needed to build a revision")?;
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|_| anyhow!("unknown git revision {rev:?}"))?;
    let cache = match &o.build_cache {
        Some(dir) => dir.clone(),
        None => PathBuf::from(git(&["rev-parse", "--show-toplevel"])?).join("target/ab"),
    };
    let bin = cache.join("bin").join(&commit).join("authscale");
    if bin.is_file() {
        return Ok((commit, bin));
    }
    let tree = cache.join("worktrees").join(&commit);
    let _ = std::fs::remove_dir_all(&tree);
    let _ = git(&["worktree", "prune"]);
    std::fs::create_dir_all(cache.join("worktrees"))?;
    git(&[
        "worktree",
        "add",
        "--detach",
        &tree.display().to_string(),
        &commit,
    ])?;
    if progress {
        eprintln!("building {rev} ({commit}) in {}", tree.display());
    }
    let target = o
        .build_target_dir
        .clone()
        .unwrap_or_else(|| cache.join("target"));
    // The worktree sits elsewhere: a relative folder must not follow it.
    let target = std::path::absolute(&target)?;
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "-p",
            "authscale-cli",
        ])
        .current_dir(&tree)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .context("cargo is not available");
    let _ = git(&["worktree", "remove", "--force", &tree.display().to_string()]);
    anyhow::ensure!(status?.success(), "the release build of {rev} failed");
    std::fs::create_dir_all(bin.parent().unwrap_or(&cache))?;
    std::fs::copy(target.join("release/authscale"), &bin)
        .with_context(|| format!("the build of {rev} left no authscale binary"))?;
    Ok((commit, bin))
}
