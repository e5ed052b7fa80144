//! `authscale compare` on two committed repeats of the default sweep
//! (identical code, taken minutes apart): the machine's drift between them
//! is not a difference between the runs, and the drift band keeps the
//! verdicts from calling it one.

use std::path::Path;
use std::process::{Command, Output};

fn compare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authscale"))
        .arg("compare")
        .args(args)
        .output()
        .expect("run compare")
}

fn shipped(run: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/precision/shipped")
        .join(run)
        .display()
        .to_string()
}

/// Verdicts that call a difference resolved.
fn resolved(output: &Output) -> usize {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
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
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).expect("run")).expect("json");
    for step in value["steps"].as_array_mut().expect("steps") {
        let x = step["throughput"].as_f64().expect("throughput");
        step["throughput"] = (x * 1.3).into();
        for slice in step["slices"].as_array_mut().expect("slices") {
            let x = slice["throughput"].as_f64().expect("throughput");
            slice["throughput"] = (x * 1.3).into();
        }
    }
    let b = std::env::temp_dir().join(format!("authscale-compare-{}.json", std::process::id()));
    std::fs::write(&b, value.to_string()).expect("write");
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
        let output = compare(&["--drift", bad, &a, &a]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--drift"), "{bad}: {stderr}");
    }
}

#[test]
fn zero_slices_are_named_and_runs_without_a_shared_step_refused() {
    let a = shipped("run-1.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).expect("run")).expect("json");
    // Three of token N=8's slices stalled at 0.
    for step in value["steps"].as_array_mut().expect("steps") {
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
    let dir = std::env::temp_dir();
    let stalled = dir.join(format!(
        "authscale-compare-stalled-{}.json",
        std::process::id()
    ));
    std::fs::write(&stalled, value.to_string()).expect("write");
    let output = compare(&[&a, stalled.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| token | 8 |"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("(B: 3 slices at 0 left out)"), "{row}");
    // Every step renamed to mode `none`: no (mode, N) step in common.
    for step in value["steps"].as_array_mut().expect("steps") {
        step["mode"] = "none".into();
    }
    let other = dir.join(format!(
        "authscale-compare-other-{}.json",
        std::process::id()
    ));
    std::fs::write(&other, value.to_string()).expect("write");
    let output = compare(&[&a, other.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    for path in [stalled, other] {
        let _ = std::fs::remove_file(path);
    }
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("share no (mode, N) step"), "{stderr}");
}
