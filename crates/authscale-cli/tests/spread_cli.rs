//! `authscale spread` on committed repeats of the default sweep: the table
//! and its counts, computed from the runs' slices; usage errors exit 2.

mod committed_runs;
mod support;

use support::succeeded;

use committed_runs::{authscale, edited, precision_runs, refused, scale_throughput, steps};

fn spread(args: &[&str]) -> std::process::Output {
    authscale("spread", args)
}

/// The percentage after `prefix` at the start of a line of `stdout`.
fn percent_after(stdout: &str, prefix: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split('%').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in: {stdout}"))
}

#[test]
fn five_interleaved_runs_give_every_figure_per_run_and_the_counts() {
    let runs = precision_runs("interleaved");
    assert_eq!(runs.len(), 5, "{runs:?}");
    let args: Vec<&str> = runs.iter().map(String::as_str).collect();
    let output = spread(&args);
    let stdout = succeeded(&output);
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
    // Fewer than 90% of these values lie within ±5% (51 of 80), so the
    // tolerance that 90% of them hold is wider than 5%.
    let held = percent_after(&stdout, "90% of values lie within ±");
    assert!(held > 5.0 && held < 50.0, "{held}");
    // Absolute throughput drifts between runs by more than the within-run
    // ratios do (they cancel a drift that moves a whole run): a figure for
    // `compare --drift`.
    let drift = percent_after(
        &stdout,
        "throughput per (mode, N) step: 90% of values lie within ±",
    );
    assert!(drift > 1.0 && drift < 50.0, "{drift}");
}

#[test]
fn blocks_runs_have_values_without_intervals() {
    let runs = precision_runs("blocks");
    let args: Vec<&str> = runs.iter().map(String::as_str).collect();
    let output = spread(&args);
    let stdout = succeeded(&output);
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

#[test]
fn refuses_duplicates_and_runs_that_are_not_repeats() {
    let runs = precision_runs("shipped");
    refused(&spread(&[runs[0].as_str(), runs[0].as_str()]), "same run");
    // A byte-for-byte copy under another name is the same run too.
    let copy =
        std::env::temp_dir().join(format!("authscale-spread-copy-{}.json", std::process::id()));
    std::fs::copy(&runs[0], &copy).expect("copy");
    let copy_name = copy.display().to_string();
    refused(
        &spread(&[runs[0].as_str(), copy_name.as_str(), runs[1].as_str()]),
        "the same run (started",
    );
    refused(
        &authscale("compare", &[runs[0].as_str(), copy_name.as_str()]),
        "the same run",
    );
    let _ = std::fs::remove_file(&copy);
    let no8 = edited(&runs[1], "no8", |v| steps(v).retain(|s| s["nodes"] != 8));
    let no8 = no8.display().to_string();
    refused(
        &spread(&[runs[0].as_str(), no8.as_str()]),
        "other (mode, N) steps",
    );
    refused(
        &spread(&[no8.as_str(), runs[0].as_str()]),
        "other (mode, N) steps",
    );
    let _ = std::fs::remove_file(no8);
}

#[test]
fn a_step_without_successes_shows_no_figure_instead_of_nan() {
    let runs = precision_runs("shipped");
    let zero = edited(&runs[1], "zero", |v| {
        for step in steps(v) {
            if step["nodes"] == 1 && step["mode"] == "session" {
                scale_throughput(step, 0.0);
            }
        }
    });
    let output = spread(&[runs[0].as_str(), zero.to_str().expect("utf-8")]);
    let stdout = succeeded(&output);
    assert!(
        !stdout.contains("NaN") && !stdout.contains("inf"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| E(2) session (one run only) |") && stdout.contains(" — |"),
        "{stdout}"
    );
    assert!(stdout.contains("run 2 lacks "), "{stdout}");
    // Given first, the same run keeps every figure in the table (its
    // missing ones shown as —), so the counts do not depend on the order.
    let swapped = spread(&[zero.to_str().expect("utf-8"), runs[0].as_str()]);
    let swapped_out = succeeded(&swapped);
    assert!(swapped_out.contains("| E(2) session "), "{swapped_out}");
    assert!(swapped_out.contains("run 1 lacks "), "{swapped_out}");
    let counts = |out: &str| {
        out.lines()
            .filter(|l| l.starts_with("values (run") || l.starts_with("figures with"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&stdout), counts(&swapped_out));
    // Two runs with nothing to compare at all are refused.
    let zero_all = |v: &mut serde_json::Value| {
        for step in steps(v) {
            scale_throughput(step, 0.0);
        }
    };
    let all_zero = edited(&runs[2], "all-zero", zero_all);
    let all_zero_2 = edited(&runs[3], "all-zero-2", zero_all);
    refused(
        &spread(&[
            all_zero.to_str().expect("utf-8"),
            all_zero_2.to_str().expect("utf-8"),
        ]),
        "no figure has a value from two runs or more",
    );
    for path in [zero, all_zero, all_zero_2] {
        let _ = std::fs::remove_file(path);
    }
}
