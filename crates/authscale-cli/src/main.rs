//! `authscale`: the only binary of the workspace, and the only place with
//! argument parsing, a log subscriber and process exit codes.

/// `println!` that ignores a closed stdout (`authscale … | head`): output
/// nobody reads is no reason to fail, let alone panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` with the same manners as `say!`.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod ab_base;
mod ab_cmd;
mod common;
mod export_cmd;
mod figures_cmd;
mod instructions_cmd;
mod load_cmd;
mod node_cmd;
mod outputs;
mod predict_cmd;
mod proxy_cmd;
mod report_cmd;
mod sweep_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Measure how session auth and token auth scale as server nodes are added.
#[derive(Debug, Parser)]
#[command(name = "authscale", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one HTTP node: login, a protected route, logout, health and metrics.
    ///
    /// Examples:
    ///   authscale node --auth session --redis-url redis://127.0.0.1:6379
    ///   authscale node --auth token --jwt-secret k1=./k1.secret
    ///   authscale node --config node.toml --listen 127.0.0.1:0
    #[command(verbatim_doc_comment)]
    Node(Box<node_cmd::NodeOptions>),

    /// Run the reverse proxy in front of the nodes.
    ///
    /// Examples:
    ///   authscale proxy --upstream 127.0.0.1:8081 --upstream 127.0.0.1:8082
    ///   authscale proxy --listen 127.0.0.1:0 --admin 127.0.0.1:9000 --policy cookie-hash
    ///   curl -X PUT 127.0.0.1:9000/upstreams -d '["127.0.0.1:8081","127.0.0.1:8083"]'
    #[command(verbatim_doc_comment)]
    Proxy(Box<proxy_cmd::ProxyOptions>),

    /// Drive virtual users against a node or proxy and measure.
    ///
    /// Examples:
    ///   authscale load --target http://127.0.0.1:8000 -c 64 -d 10s
    ///   authscale load --auth session -k 20 --users 1000 -c 50 --rate 5000 --json out.json
    ///
    /// Exit codes: 0 measured, with at least one success; 1 nothing measured
    /// or every request failed (the result is still printed and written);
    /// 2 bad usage; 130 interrupted.
    #[command(verbatim_doc_comment)]
    Load(Box<load_cmd::LoadOptions>),

    /// Sweep node counts and auth modes on CPU budgets; write results/<time>-<experiment>/.
    ///
    /// Examples:
    ///   authscale sweep                                   # the default experiment
    ///   authscale sweep --config experiments/quick.toml
    ///   authscale sweep --modes session --nodes 1,2,4 --store-cpu 0.2
    #[command(verbatim_doc_comment)]
    Sweep(Box<sweep_cmd::SweepOptions>),

    /// Write report.md, report.html, summary.csv and the SVG charts for a
    /// results folder, from its run.json (a sweep does this itself).
    Report(report_cmd::ReportOptions),

    /// Compare two runs side by side, with ratios.
    Compare(report_cmd::CompareOptions),

    /// How repeats of one sweep agree: every E(N) and mode ratio per run, its median, and who is within a tolerance.
    ///
    /// Run the same sweep a few times on a quiet machine, then:
    ///   authscale spread results/20261128T1*-default
    #[command(verbatim_doc_comment)]
    Spread(report_cmd::SpreadOptions),

    /// A run's headline figures for a benchmark dashboard
    /// (github-action-benchmark or Bencher's BMF), to track them over commits.
    ///
    /// Examples:
    ///   authscale export results/examples/default --format bmf
    ///   authscale export RUN --format github-action-benchmark --better bigger -o bigger.json
    ///   authscale export RUN --format github-action-benchmark --better smaller \
    ///       --instructions results/baseline/instructions.toml -o smaller.json
    #[command(verbatim_doc_comment)]
    Export(export_cmd::ExportOptions),

    /// Judge a run against a baseline with threshold checks; exit 0 pass, 1 fail, 2 error.
    ///
    /// Example:
    ///   authscale gate --baseline results/baseline/run.json --run results/20261128T010000Z-quick
    #[command(verbatim_doc_comment)]
    Gate(report_cmd::GateOptions),

    /// Predict throughput, latency, knee and bottleneck for a cluster of any
    /// size from a measured run; --validate checks a prediction against a run.
    ///
    /// Examples:
    ///   authscale predict results/examples/default --node-cores 2 --store-cores 1 --store-rtt 300us --nodes 1..64
    ///   authscale predict --validate results/examples/default results/examples/store-x3 --json validation.json
    ///   authscale predict --validate results/examples/default --fit-nodes 1,2,3,4
    #[command(verbatim_doc_comment)]
    Predict(Box<predict_cmd::PredictOptions>),
    /// Count instructions per hot-path operation under callgrind and judge them
    /// against a committed baseline; exit 0 pass, 1 fail, 2 cannot judge.
    ///
    /// Example:
    ///   authscale gate-instructions --bound 3 [--write-baseline]
    #[command(verbatim_doc_comment)]
    GateInstructions(instructions_cmd::GateInstructionsOptions),

    /// Compare two builds or two node configurations side by side: B/A per
    /// figure with its 95% interval, rounds to a precision; exit 0 done (or
    /// gate passed), 1 a --gate bound failed, 2 the gate cannot judge (too
    /// noisy to have seen the `detect` size), a side cannot run, or a bad
    /// flag (the message says which), 130 stopped (Ctrl-C).
    ///
    /// Examples:
    ///   authscale ab --b-costlier 10          # can it see +10% node CPU today?
    ///   authscale ab --b-node-args "--jwt-alg RS256 --jwt-key k=priv.pem,pub.pem"
    ///   authscale ab --a-base HEAD^ --gate results/baseline/ab.toml   # the last commit against its parent
    ///   authscale ab --a-base origin/main --gate results/baseline/ab.toml  # a branch against where it left main
    #[command(verbatim_doc_comment)]
    Ab(Box<ab_cmd::AbOptionsArgs>),

    /// Merge the JSON results of load segments that ran at the same time.
    ///
    /// Example:
    ///   authscale load --segment 1/2 --json a.json & authscale load --segment 2/2 --json b.json
    ///   authscale merge a.json b.json --json all.json
    #[command(verbatim_doc_comment)]
    Merge(load_cmd::MergeOptions),

    /// Check the figures README.md and docs/*.md quote against the results
    /// they come from; exit 0 all match, 1 some are stale or cannot be
    /// generated, 2 bad usage.
    ///
    /// A generated part is marked in the Markdown, e.g.
    ///   <!-- figures: headline results/examples/default -->  …  <!-- /figures -->
    ///   E(8) = <!-- figure: results/examples/default session.efficiency@8 2 -->0.30<!-- /figure -->
    /// Kinds: headline RUN, section RUN "HEADING", modes STEPS_RUN FAULTS_RUN,
    /// spread RUN..., spread-table "LABEL=RUN..."..., ranges RUN..., times FILE,
    /// file FILE; a value is RUN METRIC DECIMALS in the
    /// gate's metric language.
    ///
    /// Examples:
    ///   authscale figures                 # check README.md and docs/*.md
    ///   authscale figures --update        # write them again from the results
    #[command(verbatim_doc_comment)]
    Figures(figures_cmd::FiguresOptions),

    /// Print users of the synthetic directory with their passwords, one
    /// "NAME PASSWORD" line each, for logging in by hand or from scripts.
    ///
    /// Example:
    ///   authscale users --count 3
    #[command(verbatim_doc_comment)]
    Users(UsersOptions),
}

#[derive(Debug, clap::Args)]
struct UsersOptions {
    /// Seed of the directory; must match the nodes' --seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First user index; nodes know the users below their --users
    /// (default 10000).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// How many users to print.
    #[arg(long, default_value_t = 1)]
    count: u64,
}

/// Exit codes: 0 success, 1 a run failed, 2 bad usage or configuration
/// (clap uses 2 for its own usage errors too).
fn main() -> ExitCode {
    // `node --help` and `sweep --help` show the defaults where they live
    // (`NodeFileConfig`, the built-in experiment).
    let command = Cli::command()
        .mut_subcommand("node", node_cmd::document_defaults)
        .mut_subcommand("sweep", sweep_cmd::document_defaults);
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    init_tracing();
    let result = match cli.command {
        Command::Node(options) => node_cmd::run(*options),
        Command::Proxy(options) => proxy_cmd::run(*options),
        Command::Load(options) => load_cmd::run(*options),
        Command::Sweep(options) => sweep_cmd::run(*options),
        Command::Report(options) => report_cmd::report(options),
        Command::Compare(options) => report_cmd::compare(options),
        Command::Spread(options) => report_cmd::spread(options),
        Command::Gate(options) => report_cmd::gate(options),
        Command::Export(options) => export_cmd::run(options),
        Command::Predict(options) => predict_cmd::run(*options),
        Command::GateInstructions(options) => instructions_cmd::run(options),
        Command::Ab(options) => ab_cmd::run(*options),
        Command::Merge(options) => load_cmd::merge(options),
        Command::Figures(options) => figures_cmd::run(options),
        Command::Users(options) => print_users(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Not eprintln!: a closed stderr (`… 2>&1 | head`) must not
            // turn the exit code into a panic's.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "authscale: error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

fn print_users(options: &UsersOptions) -> Result<(), Failure> {
    use std::io::Write;
    let directory = authscale_auth::Directory::new(options.seed, u64::MAX);
    // The largest directory (`--users` 2^64 - 1) ends at index 2^64 - 2.
    let end = options
        .first
        .checked_add(options.count)
        .filter(|end| *end <= directory.len())
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "--first {} --count {} runs past the last possible user index, {}",
                options.first,
                options.count,
                directory.len() - 1
            ))
        })?;
    let mut out = std::io::stdout().lock();
    for index in options.first..end {
        let line = format!(
            "{} {}",
            authscale_auth::Directory::name(index),
            directory.password(index)
        );
        if writeln!(out, "{line}").is_err() {
            break; // closed pipe (e.g. `| head`): stop quietly
        }
    }
    Ok(())
}

/// An error with the exit code it deserves.
#[derive(Debug)]
struct Failure {
    error: anyhow::Error,
    code: u8,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            error: error.into(),
            code: 2,
        }
    }

    fn runtime(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            error: error.into(),
            code: 1,
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
