//! `authscale predict`: capacity planning from a measured run, and
//! `--validate`: a prediction checked against a run that measured it.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use authscale_report::predict::{self, Cluster};
use authscale_schema::Run;
use clap::Args;

use crate::Failure;
use crate::common;
use crate::outputs::Outputs;

/// Options of `authscale predict`.
#[derive(Debug, Args)]
pub struct PredictOptions {
    /// The measured run (folder or run.json); with --validate, RUN_A RUN_B
    /// (B predicted from A), or one run with --fit-nodes.
    #[arg(value_name = "RUN", num_args = 1..=2, required = true)]
    runs: Vec<PathBuf>,
    /// Cores of each node in the cluster to predict (required, except
    /// with --validate).
    #[arg(long, value_name = "C", allow_hyphen_values = true)]
    node_cores: Option<f64>,
    /// Cores of each store shard, a Redis shard counting at most 1
    /// (required, except with --validate).
    #[arg(long, value_name = "S", allow_hyphen_values = true)]
    store_cores: Option<f64>,
    /// Redis Cluster shards (keys spread uniformly over them). [default: 1]
    #[arg(long, value_name = "K")]
    store_shards: Option<u32>,
    /// Round trip from a node to the store, e.g. 300us. [default: the run's]
    #[arg(long, value_name = "D")]
    store_rtt: Option<String>,
    /// CPU work per protected request, µs. [default: the run's]
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    work_us: Option<f64>,
    /// Node counts: a range `1..1000` or a list `1,2,4,8`.
    /// [default: 1,2,4,8,16,32,64,128,256,512,1000]
    #[arg(long, value_name = "LIST")]
    nodes: Option<String>,
    /// Closed-loop connections per node. [default: the run's]
    #[arg(long, value_name = "M")]
    connections_per_node: Option<u32>,
    /// Predict RUN_B's setting from RUN_A and print the error per point.
    #[arg(long)]
    validate: bool,
    /// With --validate and one run: predict its other N from its steps at
    /// these N only (the others are not read, not even for load levels).
    #[arg(long, value_name = "LIST", requires = "validate")]
    fit_nodes: Option<String>,
    #[command(flatten)]
    outputs: Outputs,
    /// Also write the predicted X(N) chart here.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

fn read(path: &Path) -> Result<(Run, String), Failure> {
    let run = Run::read(path).map_err(Failure::usage)?;
    Ok((run, path.display().to_string()))
}

fn write_svg(path: Option<&Path>, prediction: &predict::Prediction) -> Result<(), Failure> {
    if let Some(path) = path {
        std::fs::write(path, predict::prediction_svg(prediction))
            .with_context(|| format!("--svg: cannot write {}", path.display()))
            .map_err(Failure::usage)?;
    }
    Ok(())
}

pub fn run(options: PredictOptions) -> Result<(), Failure> {
    if let Some(path) = &options.svg {
        if path == Path::new(crate::outputs::STDOUT) {
            return Err(Failure::usage(anyhow!(
                "--svg -: give the chart a FILE (standard output carries the prediction)"
            )));
        }
        common::writable("--svg", path).map_err(Failure::usage)?;
        let inputs: Vec<&Path> = options.runs.iter().map(PathBuf::as_path).collect();
        crate::outputs::protect("--svg", path, &inputs)?;
    }
    let inputs: Vec<&Path> = options.runs.iter().map(PathBuf::as_path).collect();
    options.outputs.check(&inputs)?;
    if options.validate {
        return validate(&options);
    }
    let [path] = options.runs.as_slice() else {
        return Err(Failure::usage(anyhow!(
            "predict takes one RUN (two only with --validate)"
        )));
    };
    let (run, name) = read(path)?;
    let mut cluster = Cluster::of_run(&run);
    cluster.node_cores = options
        .node_cores
        .ok_or_else(|| Failure::usage(anyhow!("--node-cores is required")))?;
    cluster.store_cores = options
        .store_cores
        .ok_or_else(|| Failure::usage(anyhow!("--store-cores is required")))?;
    cluster.store_shards = options.store_shards.unwrap_or(1);
    if let Some(raw) = &options.store_rtt {
        cluster.store_rtt_s = authscale_schema::duration::parse(raw)
            .map_err(|e| Failure::usage(anyhow!("--store-rtt: {e}")))?
            .as_secs_f64();
    }
    if let Some(w) = options.work_us {
        cluster.work_us = w;
    }
    if let Some(m) = options.connections_per_node {
        cluster.connections_per_node = m;
    }
    cluster.nodes = predict::parse_nodes(
        options
            .nodes
            .as_deref()
            .unwrap_or("1,2,4,8,16,32,64,128,256,512,1000"),
    )
    .map_err(Failure::usage)?;
    let prediction = predict::predict(&run, &name, &cluster).map_err(Failure::usage)?;
    write_svg(options.svg.as_deref(), &prediction)?;
    options.outputs.deliver(&prediction)
}

fn validate(options: &PredictOptions) -> Result<(), Failure> {
    let setting_flags = options.node_cores.is_some()
        || options.store_cores.is_some()
        || options.store_rtt.is_some()
        || options.work_us.is_some()
        || options.connections_per_node.is_some()
        || options.store_shards.is_some()
        || options.nodes.is_some();
    if setting_flags {
        return Err(Failure::usage(anyhow!(
            "--validate takes the setting and the node counts from the run it predicts; drop --node-cores, --store-cores, --store-shards, --store-rtt, --work-us, --connections-per-node and --nodes"
        )));
    }
    let validation = match (options.runs.as_slice(), &options.fit_nodes) {
        ([a, b], None) => {
            let ((a, a_name), (b, b_name)) = (read(a)?, read(b)?);
            predict::validate(&a, &a_name, &b, &b_name)
        }
        ([run], Some(fit)) => {
            let fit = predict::parse_nodes(fit).map_err(|e| {
                let why = e.to_string();
                Failure::usage(anyhow!(
                    "--fit-nodes: {}",
                    why.trim_start_matches("--nodes: ")
                ))
            })?;
            let (run, name) = read(run)?;
            predict::validate_held_out(&run, &name, &fit)
        }
        _ => {
            return Err(Failure::usage(anyhow!(
                "--validate takes RUN_A RUN_B, or one RUN with --fit-nodes"
            )));
        }
    }
    .map_err(Failure::usage)?;
    write_svg(options.svg.as_deref(), &validation.prediction)?;
    options.outputs.deliver(&validation)
}
