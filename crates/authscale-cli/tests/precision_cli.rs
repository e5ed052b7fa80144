//! `authscale sweep --precision`: after the first stage, the cells whose
//! figures are short of the precision are measured again until the time
//! allowed runs out, and the record and the report say what was reached.

mod support;

use support::bin;

use std::process::Command;

#[test]
fn a_sweep_to_an_unreachable_precision_adds_rounds_until_its_time_and_says_so() {
    let out = std::env::temp_dir().join(format!("authscale-precision-{}", std::process::id()));
    let output = Command::new(bin())
        .args([
            "sweep",
            "--modes",
            "token",
            "--nodes",
            "1,2",
            "--rounds",
            "2",
            "--slice",
            "200ms",
            "--slice-warmup",
            "50ms",
            "--precision",
            "0.5",
            "--max-time",
            "6s",
            "--revocation-window",
            "0s",
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run sweep");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Progress that says when it ends: the estimate first, with the most
    // the rounds may take, then the time left after every round, which
    // runs out with the time allowed.
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("estimated time: about ") && first.contains("at most 6 s"),
        "{stderr}"
    );
    let rounds: Vec<&str> = stderr.lines().filter(|l| l.contains("  round ")).collect();
    assert!(rounds.len() > 2, "{stderr}");
    assert!(rounds.iter().all(|l| l.contains(" left")), "{stderr}");
    assert!(
        rounds
            .last()
            .is_some_and(|l| l.ends_with("about 0 s left") || l.ends_with("about 1 s left")),
        "{stderr}"
    );
    let dir = std::fs::read_dir(&out)
        .expect("results")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("a run folder");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))
            .expect("parses");
    let stages = &run["stages"];
    assert_eq!(stages["first"], 2, "{stages}");
    assert_eq!(stages["cut_by_time"], true, "{stages}");
    let rounds = stages["rounds"].as_u64().expect("rounds");
    assert!(rounds > 2, "a second stage ran: {stages}");
    assert!(
        stages["seconds"].as_f64().expect("seconds") <= 6.5,
        "{stages}"
    );
    // E(2) pairs N = 2 with N = 1 round by round: both cells were measured
    // in every round.
    for step in run["steps"].as_array().expect("steps") {
        let slices = step["slices"].as_array().expect("slices");
        assert_eq!(slices.len() as u64, rounds, "{}", step["nodes"]);
    }
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(
        report.contains("Precision wanted: ±0.5% on every E(N) and mode ratio"),
        "{report}"
    );
    assert!(
        report.contains("when the time allowed (max-time 6s) ran out"),
        "{report}"
    );
    assert!(report.contains("Not reached: token E(2)"), "{report}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_precision_the_sweep_cannot_work_with_is_refused() {
    for (args, why) in [
        (vec!["--precision", "0.1"], "precision must be 0"),
        (vec!["--precision", "80"], "precision must be 0"),
        (
            vec!["--precision", "5", "--rounds", "1"],
            "rounds must be at least 2",
        ),
        (
            vec!["--precision", "5", "--max-time", "0s"],
            "max-time must be between",
        ),
    ] {
        let output = Command::new(bin())
            .arg("sweep")
            .args(&args)
            .output()
            .expect("run sweep");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}
