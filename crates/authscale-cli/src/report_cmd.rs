//! `authscale report`, `compare` and `gate`: reading results folders.

use std::path::PathBuf;

use anyhow::anyhow;
use authscale_report::{Thresholds, evaluate};
use authscale_schema::Run;
use clap::Args;

use crate::Failure;
use crate::outputs::Outputs;

/// Options of `authscale report`.
#[derive(Debug, Args)]
pub struct ReportOptions {
    /// A results folder (or its run.json).
    #[arg(value_name = "RESULTS_DIR")]
    run: PathBuf,
}

/// Options of `authscale compare`.
#[derive(Debug, Args)]
#[command(
    after_help = "Where both runs have slices, every ratio gets a 95% interval and a verdict. \
Two runs taken at different times also differ by the machine's drift, which neither run's \
intervals contain, so a difference counts as resolved only when its whole interval lies beyond \
the drift band: B/A above 1 + drift or below 1/(1 + drift). Identical code on the 2-core \
reference machine: without a band 23% of throughput ratios came out \"resolved\", with 0.05 2.7% \
(docs/precision.md). `authscale spread` over repeats of a sweep prints how far \
their throughput drifts on your machine; `authscale ab` compares two builds side by side, \
where pairing by round cancels the drift. Exit codes: 0 printed, 2 bad input (a file, a flag, \
runs that share no step)."
)]
pub struct CompareOptions {
    /// The reference run (folder or run.json).
    #[arg(value_name = "RUN_A")]
    a: PathBuf,
    /// The run compared with it.
    #[arg(value_name = "RUN_B")]
    b: PathBuf,
    /// A difference counts only when its interval lies beyond the band from 1/(1 + drift) to
    /// 1 + drift (0.05: 0.952–1.050; 0: the runs' own noise only; else 0.001 to 1).
    #[arg(
        long,
        default_value_t = authscale_report::compare::DEFAULT_DRIFT,
        value_name = "FRACTION",
        allow_negative_numbers = true
    )]
    drift: f64,
    #[command(flatten)]
    outputs: Outputs,
}

/// Options of `authscale spread`.
#[derive(Debug, Args)]
#[command(
    after_help = "Interleaved runs give each figure a 95% interval; runs measured in blocks \
give single values. Repeats must have measured the same (mode, N) steps; other settings only \
warn. Exit codes: 0 printed, 2 bad input (a file, a duplicate, runs that are not repeats)."
)]
pub struct SpreadOptions {
    /// Two or more runs of the same experiment (folders or run.json files).
    #[arg(value_name = "RUN", num_args = 2.., required = true)]
    runs: Vec<PathBuf>,
    /// How close to a figure's median a run must be to agree (0.05 = ±5%).
    #[arg(
        long,
        default_value_t = 0.05,
        value_name = "FRACTION",
        allow_negative_numbers = true
    )]
    within: f64,
    #[command(flatten)]
    outputs: Outputs,
}

/// Options of `authscale gate`.
#[derive(Debug, Args)]
pub struct GateOptions {
    /// The committed baseline run (its run.json, or its folder).
    #[arg(long, default_value = "results/baseline/run.json", value_name = "PATH")]
    baseline: PathBuf,
    /// The run to judge (folder or run.json).
    #[arg(long, value_name = "RESULTS_DIR")]
    run: PathBuf,
    /// Threshold checks (TOML, `checks = [...]`). [default: thresholds.toml beside the baseline]
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    #[command(flatten)]
    outputs: Outputs,
}

fn read(path: &std::path::Path) -> Result<Run, Failure> {
    Run::read(path).map_err(Failure::usage)
}

pub fn report(options: ReportOptions) -> Result<(), Failure> {
    let run = read(&options.run)?;
    let dir = if options.run.is_dir() {
        options.run.clone()
    } else {
        options.run.parent().map(PathBuf::from).unwrap_or_default()
    };
    authscale_report::write(&run, &dir).map_err(Failure::runtime)?;
    for m in authscale_report::analyse(&run).modes {
        say!("{}", m.verdict);
    }
    say!("report: {}", dir.join("report.md").display());
    Ok(())
}

pub fn compare(options: CompareOptions) -> Result<(), Failure> {
    options.outputs.check(&[&options.a, &options.b])?;
    // The table prints ratios to three decimals: a band narrower than one
    // step of that grid would not show.
    if !(options.drift == 0.0 || (0.001..=1.0).contains(&options.drift)) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--drift {:?}: give 0 or a fraction from 0.001 to 1 (0.05: B/A between 0.952 and 1.050 counts as drift; 0: the runs' own noise only)",
            options.drift
        )));
    }
    // -0 is 0.
    let drift = options.drift + 0.0;
    let (a, b) = (read(&options.a)?, read(&options.b)?);
    if same_run(&a, &b) {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} and {} are the same run (started {}): compare two runs",
            options.a.display(),
            options.b.display(),
            a.started_at
        )));
    }
    let shared = a.steps.iter().any(|s| {
        b.steps
            .iter()
            .any(|t| t.mode == s.mode && t.nodes == s.nodes)
    });
    if !shared {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} and {} share no (mode, N) step: nothing to compare",
            options.a.display(),
            options.b.display()
        )));
    }
    options
        .outputs
        .deliver(&authscale_report::compare(&a, &b, drift))
}

pub fn spread(options: SpreadOptions) -> Result<(), Failure> {
    let inputs: Vec<&std::path::Path> = options.runs.iter().map(PathBuf::as_path).collect();
    options.outputs.check(&inputs)?;
    if !(options.within > 0.0 && options.within < 1.0) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--within {}: give a fraction between 0 and 1 (0.05 = ±5%)",
            options.within
        )));
    }
    let runs = options
        .runs
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    // The same file twice, a folder and its run.json, or a copy: one run.
    for (i, (run, path)) in runs.iter().zip(&options.runs).enumerate() {
        for (earlier, earlier_path) in runs.iter().zip(&options.runs).take(i) {
            if same_run(earlier, run) {
                return Err(Failure::usage(anyhow::anyhow!(
                    "{} and {} are the same run (started {}): give each repeat once",
                    earlier_path.display(),
                    path.display(),
                    run.started_at
                )));
            }
        }
    }
    for (run, path) in runs.iter().zip(&options.runs) {
        if run.steps.is_empty() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{}: the run has no steps to compare",
                path.display()
            )));
        }
        let cells = authscale_report::spread::cells(run);
        if cells != authscale_report::spread::cells(&runs[0]) {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} measured other (mode, N) steps than {}: spread compares repeats of one sweep",
                path.display(),
                options.runs[0].display()
            )));
        }
        if run.status != authscale_schema::RunStatus::Complete {
            eprintln!(
                "warning: {} ended {} — its figures are from the rounds it finished",
                path.display(),
                run.status
            );
        }
        let settings = |r: &Run| serde_json::to_value(&r.plan.experiment).ok();
        if settings(run) != settings(&runs[0]) {
            eprintln!(
                "warning: {} ran with other settings than {} (rounds, slices, budgets…): not pure repeats",
                path.display(),
                options.runs[0].display()
            );
        }
    }
    let names: std::collections::BTreeSet<&str> = runs
        .iter()
        .map(|r| r.plan.experiment.name.as_str())
        .collect();
    if names.len() > 1 {
        return Err(Failure::usage(anyhow::anyhow!(
            "these runs are of different experiments ({}): spread compares repeats of one",
            names.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let Some(table) = authscale_report::spread::spread(&runs, options.within) else {
        return Err(Failure::usage(anyhow::anyhow!(
            "no figure has a value from two runs or more (every step without successful requests?): nothing to compare"
        )));
    };
    options.outputs.deliver(&table)
}

/// Exit codes: 0 every check passed, 1 a check failed, 2 the gate could
/// not be evaluated (usage, configuration, files).
pub fn gate(options: GateOptions) -> Result<(), Failure> {
    // The run's folder may take the gate's table (scripts/gate.sh writes
    // gate.md there); its record, the baseline and the thresholds may not
    // be written over.
    let record = if options.run.is_dir() {
        options.run.join("run.json")
    } else {
        options.run.clone()
    };
    let thresholds_path = thresholds_path(&options);
    options
        .outputs
        .check(&[&options.baseline, &record, &thresholds_path])?;
    let baseline = read(&options.baseline)?;
    let run = read(&options.run)?;
    // @max, @min and `baseline * F` pair the run's steps with the
    // baseline's: both must have swept the same node counts.
    let (run_nodes, baseline_nodes) = (&run.plan.experiment.nodes, &baseline.plan.experiment.nodes);
    if run_nodes != baseline_nodes {
        return Err(Failure::usage(anyhow::anyhow!(
            "the run swept N = {run_nodes:?} ({}) and the baseline N = {baseline_nodes:?} ({}): \
             a gate compares runs of one experiment; record a baseline with the run's",
            run.plan.experiment.name,
            baseline.plan.experiment.name
        )));
    }
    // And measured them: an interrupted or failed run lacks steps, and
    // @max would then pair the run's largest N with the baseline's.
    let measured = |r: &authscale_schema::Run| {
        r.steps
            .iter()
            .map(|s| (s.mode, s.nodes))
            .collect::<std::collections::BTreeSet<_>>()
    };
    if run.status != authscale_schema::RunStatus::Complete {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} is {}, not complete: a gate judges complete runs",
            options.run.display(),
            format!("{:?}", run.status).to_lowercase()
        )));
    }
    let missing: Vec<String> = measured(&baseline)
        .difference(&measured(&run))
        .map(|(mode, n)| format!("{mode} N={n}"))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} lacks steps the baseline measured ({}): a gate compares the same steps",
            options.run.display(),
            missing.join(", ")
        )));
    }
    let thresholds = Thresholds::from_file(&thresholds_path).map_err(Failure::usage)?;
    let report = evaluate(&thresholds, &run, Some(&baseline)).map_err(Failure::usage)?;
    options.outputs.deliver(&report)?;
    if report.passed {
        Ok(())
    } else {
        let failed = report.checks.iter().filter(|c| !c.passed).count();
        Err(Failure {
            error: anyhow!("{failed} of {} checks failed", report.checks.len()),
            code: 1,
        })
    }
}

/// The thresholds file: given, or thresholds.toml beside the baseline run
/// (in its folder, whether the folder or its run.json was given).
fn thresholds_path(options: &GateOptions) -> PathBuf {
    match &options.thresholds {
        Some(p) => p.clone(),
        None if options.baseline.is_dir() => options.baseline.join("thresholds.toml"),
        None => options
            .baseline
            .parent()
            .map(|d| d.join("thresholds.toml"))
            .unwrap_or_default(),
    }
}

/// Whether two records are copies of one run: the same start and end.
fn same_run(a: &authscale_schema::Run, b: &authscale_schema::Run) -> bool {
    a.started_at == b.started_at && a.finished_at == b.finished_at
}
