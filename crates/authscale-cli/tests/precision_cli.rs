//! `authscale sweep --precision`: after the first stage, the cells whose
//! figures are short of the precision are measured again until the time
//! allowed runs out, and the record and the report say what was reached.

mod support;

use support::sweep::{out_dir, read_run, run_dir, start_sweep};
use support::{refuses, words};

#[test]
fn a_sweep_to_an_unreachable_precision_adds_rounds_until_its_time_and_says_so() {
    let out = out_dir("precision");
    let args = words(
        "--modes token --nodes 1,2 --rounds 2 --slice 200ms --slice-warmup 50ms \
         --precision 0.5 --max-time 6s --revocation-window 0s",
    );
    let output = start_sweep(&args, &out)
        .wait_with_output()
        .expect("sweep ends");
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
    let dir = run_dir(&out).expect("a run folder");
    let run = read_run(&dir);
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
    for said in [
        "Precision wanted: ±0.5% on every E(N) and mode ratio",
        "when the time allowed (max-time 6s) ran out",
        "Not reached: token E(2)",
    ] {
        assert!(report.contains(said), "{report}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_precision_the_sweep_cannot_work_with_is_refused() {
    for value in ["0.1", "80"] {
        refuses(&["sweep", "--precision", value], "precision must be 0");
    }
    let too_few = words("sweep --precision 5 --rounds 1");
    refuses(&too_few, "rounds must be at least 2");
    let no_time = words("sweep --precision 5 --max-time 0s");
    refuses(&no_time, "max-time must be between");
}
