//! `authscale export`: a run's headline figures for a benchmark dashboard.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use authscale_report::export::{self, Better};
use authscale_report::instructions::InstructionCounts;
use authscale_schema::Run;
use clap::{Args, ValueEnum};

use crate::Failure;
use crate::common;
use crate::outputs::{STDOUT, protect};

/// The dashboard format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// github-action-benchmark's custom JSON: one direction per file
    /// (`--better bigger` for customBiggerIsBetter, `smaller` for
    /// customSmallerIsBetter).
    GithubActionBenchmark,
    /// Bencher Metric Format: every figure in one file, with its interval
    /// as lower_value/upper_value.
    Bmf,
}

/// Which figures: those that improve upwards or downwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// Throughput, efficiency, mode-to-mode throughput ratios.
    Bigger,
    /// The nodes' CPU-µs per request, instructions per operation.
    Smaller,
}

/// Options of `authscale export`.
#[derive(Debug, Args)]
#[command(
    after_help = "Figures: X(N) and E(N) per mode and N, each mode's throughput over another's per N, \
the nodes' CPU-µs per request per mode and N, and with --instructions the instructions per hot-path \
operation; each with its 95% interval where the run has one. docs/gate.md, \"Tracking figures over \
commits\", shows a workflow that publishes them. Exit codes: 0 written, 2 bad input."
)]
pub struct ExportOptions {
    /// The run (folder or run.json).
    #[arg(value_name = "RUN")]
    run: PathBuf,
    /// The dashboard's format.
    #[arg(long, value_enum)]
    format: Format,
    /// With github-action-benchmark: the figures that improve this way.
    #[arg(long, value_enum, default_value = "bigger")]
    better: Direction,
    /// Instruction counts to add (a file written by `authscale
    /// gate-instructions --save`, or results/baseline/instructions.toml).
    #[arg(long, value_name = "FILE")]
    instructions: Option<PathBuf>,
    /// Write to FILE instead of standard output (`-`: standard output).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(options: ExportOptions) -> Result<(), Failure> {
    let output = options
        .output
        .as_deref()
        .filter(|p| *p != std::path::Path::new(STDOUT));
    if let Some(path) = output {
        common::writable("--output", path).map_err(Failure::usage)?;
        if Run::read(path).is_ok() {
            return Err(Failure::usage(anyhow!(
                "--output {} is a measured run, not a file to write",
                path.display()
            )));
        }
        let inputs: Vec<&std::path::Path> = std::iter::once(options.run.as_path())
            .chain(options.instructions.as_deref())
            .collect();
        protect("--output", path, &inputs)?;
    }
    if options.format == Format::Bmf && options.better == Direction::Smaller {
        return Err(Failure::usage(anyhow!(
            "--better is for github-action-benchmark (one direction per file); bmf holds every figure"
        )));
    }
    let run = Run::read(&options.run).map_err(Failure::usage)?;
    let counts = options
        .instructions
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("--instructions: cannot read {}", path.display()))
                .and_then(|text| {
                    InstructionCounts::from_toml(&text)
                        .with_context(|| format!("--instructions {}", path.display()))
                })
        })
        .transpose()
        .map_err(Failure::usage)?;
    let metrics = export::metrics(&run, counts.as_ref());
    if metrics.is_empty() {
        return Err(Failure::usage(anyhow!(
            "{}: the run has no measured step to export",
            options.run.display()
        )));
    }
    let value = match options.format {
        Format::Bmf => export::bmf(&metrics),
        Format::GithubActionBenchmark => export::github_action_benchmark(
            &metrics,
            match options.better {
                Direction::Bigger => Better::Bigger,
                Direction::Smaller => Better::Smaller,
            },
            &run,
        ),
    };
    let text = serde_json::to_string_pretty(&value).map_err(Failure::runtime)? + "\n";
    match output {
        Some(path) => {
            authscale_schema::write_atomic(path, text.as_bytes()).map_err(Failure::runtime)
        }
        None => {
            say_raw!("{text}");
            Ok(())
        }
    }
}
