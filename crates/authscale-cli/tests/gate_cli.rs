//! `authscale gate` and `authscale report` as CI would call them: exit code
//! 0 on pass, 1 on a failed threshold, 2 on anything that prevents judging.

mod support;

use support::{gate_of, quick_run, read_json, refused, run, succeeded, utf8};

use std::path::{Path, PathBuf};
use std::process::Output;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("authscale-gate-{}-{name}", std::process::id()))
}

fn gate(thresholds: &str, extra: &[&str]) -> Output {
    gate_run(thresholds, &quick_run(), extra)
}

/// `gate` of `run` against the fixture as baseline, with these thresholds.
fn gate_run(thresholds: &str, run: &Path, extra: &[&str]) -> Output {
    let file = temp(&format!("{}.toml", thresholds.len()));
    std::fs::write(&file, thresholds).expect("thresholds");
    let output = gate_of(
        &quick_run(),
        run,
        &[&["--thresholds", utf8(&file)], extra].concat(),
    );
    let _ = std::fs::remove_file(&file);
    output
}

#[test]
fn gate_exit_codes_are_0_pass_1_fail_2_error() {
    let markdown = temp("summary.md");
    let pass = gate(
        r#"checks = ["token.efficiency@max >= 0.5", "token.cpu_us_per_req.nodes@max <= baseline * 1.25"]"#,
        &["--markdown", markdown.to_str().expect("utf-8")],
    );
    let stdout = succeeded(&pass);
    assert!(
        stdout.contains("gate: pass") && stdout.contains("token.efficiency@max"),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&markdown)
            .expect("markdown")
            .contains("| token.efficiency@max >= 0.5 |")
    );
    let _ = std::fs::remove_file(&markdown);

    let fail = gate(r#"checks = ["token.throughput@max >= 1e12"]"#, &[]);
    assert_eq!(fail.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fail.stdout).contains("FAIL"));

    let json = gate(r#"checks = ["token.throughput@max >= 1"]"#, &["--json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON output");
    assert_eq!(parsed["passed"], true);

    let unknown = gate(r#"checks = ["token.goodness@max >= 1"]"#, &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown metric"));

    let missing = gate_of(Path::new("/nonexistent/run.json"), &quick_run(), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn a_baseline_folder_finds_its_thresholds_inside_it() {
    let folder = temp("baseline-folder");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::copy(quick_run(), folder.join("run.json")).expect("baseline run");
    std::fs::write(
        folder.join("thresholds.toml"),
        r#"checks = ["token.efficiency@max >= 0.5"]"#,
    )
    .expect("thresholds");
    for baseline in [folder.clone(), folder.join("run.json")] {
        let output = gate_of(&baseline, &quick_run(), &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {stderr}",
            baseline.display()
        );
    }
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn report_writes_markdown_and_charts_into_the_results_folder() {
    let dir = temp("report");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(quick_run(), dir.join("run.json")).expect("copy");
    let stdout = succeeded(&run(["report", utf8(&dir)]));
    for file in [
        "report.md",
        "throughput.svg",
        "latency.svg",
        "efficiency.svg",
        "cpu.svg",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    assert!(stdout.contains("session:"));
    let not_a_run = run(["report", utf8(&dir.join("report.md"))]);
    assert_eq!(not_a_run.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_of_other_node_counts_is_not_judged_against_the_baseline() {
    let default_run = support::root().join("results/precision/evening/run-1.json");
    refused(
        &gate_run(
            r#"checks = ["token.efficiency@max >= 0.5"]"#,
            &default_run,
            &[],
        ),
        "a gate compares runs of one experiment",
    );
}

#[test]
fn a_run_lacking_steps_or_not_complete_is_not_judged() {
    let base = read_json(&quick_run());
    let largest = base["plan"]["experiment"]["nodes"]
        .as_array()
        .and_then(|n| n.last())
        .cloned()
        .expect("nodes");
    let mut lacking = base.clone();
    lacking["steps"]
        .as_array_mut()
        .expect("steps")
        .retain(|s| s["nodes"] != largest);
    let mut interrupted = base.clone();
    interrupted["status"] = "interrupted".into();
    for (run, says) in [
        (lacking, "lacks steps the baseline measured"),
        (interrupted, "not complete"),
    ] {
        let path = temp(&format!("{}.json", says.len()));
        std::fs::write(&path, run.to_string()).expect("write");
        refused(
            &gate_run(r#"checks = ["token.efficiency@max >= 0.1"]"#, &path, &[]),
            says,
        );
        let _ = std::fs::remove_file(&path);
    }
}
