//! `authscale gate-instructions`: runs the instruction-count program under
//! callgrind, and judges its counts against the committed baseline (or
//! writes them as the new baseline when asked).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use authscale_report::instructions::{
    self, DEFAULT_BOUND_PERCENT, InstructionCounts, Outcome, Toolchain,
};

use crate::Failure;
use crate::outputs::Outputs;

#[derive(Debug, clap::Args)]
pub struct GateInstructionsOptions {
    /// The measuring program (`cargo build --release -p authscale-bench --example icount`).
    #[arg(long, default_value = "target/release/examples/icount")]
    bin: PathBuf,
    /// The committed counts.
    #[arg(long, default_value = "results/baseline/instructions.toml")]
    baseline: PathBuf,
    /// How many percent a count may grow over its baseline.
    #[arg(long, default_value_t = DEFAULT_BOUND_PERCENT)]
    bound: f64,
    /// Write the fresh counts over the baseline instead of judging them.
    #[arg(long)]
    write_baseline: bool,
    /// Also write the fresh counts here (same format as the baseline).
    #[arg(long)]
    save: Option<PathBuf>,
    #[command(flatten)]
    outputs: Outputs,
    /// The valgrind to run.
    #[arg(long, default_value = "valgrind")]
    valgrind: PathBuf,
    /// Where callgrind's dump files go: created if missing; its earlier
    /// `callgrind.out*` files are replaced and nothing else in it is touched
    /// (default: a fresh folder under the system's temporary directory,
    /// removed afterwards).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// What `icount --describe` prints.
#[derive(serde::Deserialize)]
struct Described {
    rustc: String,
    target: String,
    valgrind_args: Vec<String>,
}

pub fn run(options: GateInstructionsOptions) -> Result<(), Failure> {
    options.outputs.check(&[&options.baseline, &options.bin])?;
    if !(options.bound.is_finite() && options.bound >= 0.0) {
        return Err(Failure::usage(anyhow!("--bound must be a percentage ≥ 0")));
    }
    if options.write_baseline {
        let now = measured(&options)?;
        write(&options.baseline, &now.to_toml()).map_err(Failure::usage)?;
        for (op, count) in &now.ops {
            say!("{op:<24} {count:>10}");
        }
        say!("wrote {}", options.baseline.display());
        return Ok(());
    }
    // Read before the measurement: a wrong path fails at once, not after
    // a callgrind run.
    let baseline = std::fs::read_to_string(&options.baseline)
        .with_context(|| format!("cannot read the baseline {}", options.baseline.display()))
        .and_then(|text| InstructionCounts::from_toml(&text).map_err(Into::into))
        .map_err(Failure::usage)?;
    let now = measured(&options)?;
    let comparison = instructions::compare(&baseline, &now, options.bound);
    options.outputs.deliver(&comparison)?;
    match comparison.outcome {
        Outcome::Pass => Ok(()),
        Outcome::Fail => Err(Failure::runtime(anyhow!(
            "instruction counts grew by more than +{}%",
            options.bound
        ))),
        Outcome::CannotJudge => Err(Failure::usage(anyhow!(
            "the instruction counts could not be judged against {}",
            options.baseline.display()
        ))),
    }
}

/// The counts of this build, also written to `--save` when given.
fn measured(options: &GateInstructionsOptions) -> Result<InstructionCounts, Failure> {
    let now = measure(options).map_err(Failure::usage)?;
    if let Some(path) = &options.save {
        write(path, &now.to_toml()).map_err(Failure::usage)?;
    }
    Ok(now)
}

/// Runs the program under callgrind and turns its dumps into counts.
fn measure(options: &GateInstructionsOptions) -> anyhow::Result<InstructionCounts> {
    let bin = options.bin.display();
    let described = if options.bin.is_file() {
        output(Command::new(&options.bin).arg("--describe"))
            .with_context(|| format!("`{bin} --describe` failed: is {bin} the icount program?"))?
    } else {
        return Err(anyhow!(
            "{bin} is not there: build it with \
             `cargo build --release -p authscale-bench --example icount`, or pass --bin"
        ));
    };
    let described: Described = toml::from_str(&described)
        .with_context(|| format!("unexpected `{bin} --describe`: is {bin} the icount program?"))?;
    let valgrind = output(Command::new(&options.valgrind).arg("--version"))
        .context("valgrind is needed (apt-get install valgrind)")?;
    let (dir, temporary) = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            remove_dumps(dir)?;
            (dir.clone(), false)
        }
        None => (fresh_dir()?, true),
    };
    let counts = measure_in(options, &described, &valgrind, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    counts
}

/// A new, empty folder under the system's temporary directory, never one
/// that was there before (so removing it afterwards removes only ours).
fn fresh_dir() -> anyhow::Result<PathBuf> {
    let mut last = None;
    for _ in 0..16 {
        let mut salt = [0u8; 6];
        getrandom::fill(&mut salt).map_err(|e| anyhow!("no OS randomness: {e}"))?;
        let salt: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let dir =
            std::env::temp_dir().join(format!("authscale-icount-{}-{salt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(anyhow!(
        "cannot make a folder under {}: {:?}",
        std::env::temp_dir().display(),
        last
    ))
}

/// Runs the measurement with its dumps in `dir`.
fn measure_in(
    options: &GateInstructionsOptions,
    described: &Described,
    valgrind: &str,
    dir: &Path,
) -> anyhow::Result<InstructionCounts> {
    let prefix = dir.join("callgrind.out");
    let manifest = output(
        Command::new(&options.valgrind)
            .args(&described.valgrind_args)
            .arg(format!("--callgrind-out-file={}", prefix.display()))
            .arg(&options.bin),
    )
    .context("the measurement under callgrind failed")?;
    let totals = dump_totals(&prefix)?;
    Ok(InstructionCounts {
        toolchain: Toolchain {
            rustc: described.rustc.clone(),
            target: described.target.clone(),
            valgrind: valgrind.trim().to_owned(),
        },
        ops: instructions::per_op(&manifest, &totals)?,
    })
}

/// Removes earlier callgrind dumps (`callgrind.out*`) from `dir`, so only
/// this run's are read; nothing else in `dir` is touched.
fn remove_dumps(dir: &Path) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("callgrind.out"));
        // A file or a link (even a dangling one, which callgrind would
        // write through), never a folder.
        let not_a_folder = std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir());
        if ours && not_a_folder {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// The totals of `<prefix>.1`, `<prefix>.2`, … in dump order.
fn dump_totals(prefix: &Path) -> anyhow::Result<Vec<u64>> {
    let mut totals = Vec::new();
    for n in 1.. {
        let path = PathBuf::from(format!("{}.{n}", prefix.display()));
        let Ok(text) = std::fs::read_to_string(&path) else {
            break;
        };
        let total = instructions::dump_total(&text)
            .ok_or_else(|| anyhow!("{} has no instruction total", path.display()))?;
        totals.push(total);
    }
    Ok(totals)
}

/// Runs a command to its end; its stdout, or an error with its stderr.
fn output(command: &mut Command) -> anyhow::Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(anyhow!(
            "{program} exited with {}:\n{}",
            out.status,
            tail.join("\n")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
