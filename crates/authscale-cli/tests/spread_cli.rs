//! `authscale spread` on committed repeats of the default sweep: the table
//! and its counts, computed from the runs' slices; usage errors exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spread(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authscale"))
        .arg("spread")
        .args(args)
        .output()
        .expect("run spread")
}

fn precision_runs(design: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/precision")
        .join(design);
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("results/precision")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    runs.sort();
    runs.iter().map(|p| p.display().to_string()).collect()
}

fn refused(output: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

#[test]
fn five_interleaved_runs_give_every_figure_per_run_and_the_counts() {
    let runs = precision_runs("interleaved");
    assert_eq!(runs.len(), 5, "{runs:?}");
    let args: Vec<&str> = runs.iter().map(String::as_str).collect();
    let output = spread(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    // 2 modes × 5 N > 1 efficiencies, and token/session at 6 N: 16 figures
    // of 5 runs each, every one with an interval.
    assert_eq!(stdout.matches("\n| E(").count(), 10, "{stdout}");
    assert_eq!(
        stdout.matches("\n| token/session N=").count(),
        6,
        "{stdout}"
    );
    assert!(stdout.contains("of 80 ("), "{stdout}");
    assert!(stdout.contains("of 16 ("), "{stdout}");
    assert!(
        stdout.contains("run intervals containing the median: "),
        "{stdout}"
    );
    // A value with its interval, as the report writes it.
    assert!(stdout.contains(" ["), "{stdout}");
}

#[test]
fn blocks_runs_have_values_without_intervals() {
    let runs = precision_runs("blocks");
    let args: Vec<&str> = runs.iter().map(String::as_str).collect();
    let output = spread(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("of 80 ("), "{stdout}");
    assert!(
        stdout.contains("run intervals containing the median: —"),
        "{stdout}"
    );
}

#[test]
fn refuses_one_run_a_bad_tolerance_and_a_missing_file() {
    let runs = precision_runs("interleaved");
    let one = spread(&[runs[0].as_str()]);
    assert_eq!(one.status.code(), Some(2));
    refused(
        &spread(&[runs[0].as_str(), runs[1].as_str(), "--within", "5"]),
        "between 0 and 1",
    );
    refused(
        &spread(&[runs[0].as_str(), "/nonexistent/run.json"]),
        "/nonexistent/run.json",
    );
}
