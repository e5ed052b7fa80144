//! `authscale compare` on two committed repeats of the default sweep
//! (identical code, taken minutes apart): the machine's drift between them
//! is not a difference between the runs, and the drift band keeps the
//! verdicts from calling it one.

mod committed_runs;
mod support;

use std::process::Output;

use support::succeeded;

use committed_runs::{authscale, edited, precision_runs, refused, scale_throughput, steps};

fn compare(args: &[&str]) -> Output {
    authscale("compare", args)
}

/// A run of results/precision/shipped/, `run-1.json` … `run-5.json`.
fn shipped(run: &str) -> String {
    precision_runs("shipped")
        .into_iter()
        .find(|p| p.ends_with(run))
        .unwrap_or_else(|| panic!("no {run} in results/precision/shipped"))
}

/// Verdicts that call a difference resolved.
fn resolved(output: &Output) -> usize {
    let stdout = succeeded(output);
    stdout.matches("B faster").count() + stdout.matches("B slower").count()
}

#[test]
fn identical_code_run_twice_is_not_called_different() {
    // Runs 2 and 5 of `shipped/`, identical code five minutes apart:
    // every throughput of run 5 is higher, by 5–23%.
    let (a, b) = (shipped("run-2.json"), shipped("run-5.json"));
    let without_band = resolved(&compare(&["--drift", "0", &a, &b]));
    let with_band = resolved(&compare(&[&a, &b]));
    // 12 steps × 3 ratios with intervals: the runs' own noise alone calls
    // many of them resolved; the ±5% band almost none.
    assert!(without_band >= 10, "{without_band}");
    assert!(with_band <= 2, "{with_band}");
    let stdout = String::from_utf8_lossy(&compare(&[&a, &b]).stdout).to_string();
    assert!(stdout.contains("from 0.952 to 1.050"), "{stdout}");
    assert!(stdout.contains("authscale ab"), "{stdout}");
}

#[test]
fn a_real_difference_beyond_the_band_is_still_resolved() {
    // The same run against itself with B's slices 30% faster.
    let a = shipped("run-1.json");
    let b = edited(&a, "faster", |v| {
        for step in steps(v) {
            scale_throughput(step, 1.3);
        }
    });
    let output = compare(&[&a, b.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let _ = std::fs::remove_file(&b);
    assert!(output.status.success(), "{stdout}");
    // Every step's throughput: B faster, 1.300 [1.300, 1.300] (the same
    // slices, scaled).
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| session |") || l.starts_with("| token |"))
        .collect();
    assert_eq!(rows.len(), 12, "{stdout}");
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(
            cells[5].starts_with("1.300 [") && cells[5].ends_with("B faster"),
            "{row}"
        );
    }
}

#[test]
fn refuses_a_drift_outside_zero_to_one() {
    let a = shipped("run-1.json");
    for bad in ["1.5", "-0.1", "NaN", "1e308", "1e-300"] {
        refused(&compare(&["--drift", bad, &a, &a]), "--drift");
    }
}

#[test]
fn zero_slices_are_named_and_runs_without_a_shared_step_refused() {
    let a = shipped("run-1.json");
    // Three of token N=8's slices stalled at 0.
    let stalled = edited(&a, "stalled", |v| {
        for step in steps(v) {
            if step["mode"] == "token" && step["nodes"] == 8 {
                for slice in step["slices"]
                    .as_array_mut()
                    .expect("slices")
                    .iter_mut()
                    .take(3)
                {
                    slice["throughput"] = 0.0.into();
                }
            }
        }
    });
    let output = compare(&[&a, stalled.to_str().expect("utf-8")]);
    let stdout = succeeded(&output);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| token | 8 |"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("(B: 3 slices at 0 left out)"), "{row}");
    // Every step renamed to mode `none`: no (mode, N) step in common.
    let other = edited(&a, "other", |v| {
        for step in steps(v) {
            step["mode"] = "none".into();
        }
    });
    let output = compare(&[&a, other.to_str().expect("utf-8")]);
    for path in [stalled, other] {
        let _ = std::fs::remove_file(path);
    }
    refused(&output, "share no (mode, N) step");
}
