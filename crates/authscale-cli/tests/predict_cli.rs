//! `authscale predict` as a user runs it: a prediction in every format,
//! a validation, and exit code 2 with the input named for what it refuses.

mod support;

use support::{quick_run, read_json, refused, root, run, succeeded, utf8, words};

use std::path::PathBuf;
use std::process::Output;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("authscale-predict-{}-{name}", std::process::id()))
}

fn predict(args: &[&str]) -> Output {
    run(["predict"].iter().chain(args))
}

/// `authscale predict RUN FLAGS`, the flags split at spaces.
fn predict_run(run: &str, flags: &str) -> Output {
    predict(&[&[run][..], &words(flags)].concat())
}

#[test]
fn predicts_a_cluster_in_text_markdown_json_and_svg() {
    let run = quick_run();
    let run = utf8(&run);
    let svg = temp("x.svg");
    let flags = [
        &[run][..],
        &words("--node-cores 2 --store-cores 1 --store-rtt 300us --nodes 1..40"),
    ]
    .concat();
    let text = predict(&[&flags[..], &["--svg", utf8(&svg)]].concat());
    let stdout = succeeded(&text);
    assert!(stdout.contains("session: knee") && stdout.contains("no intervals in this run"));
    let chart = std::fs::read_to_string(&svg).expect("svg written");
    assert!(chart.starts_with("<svg") && chart.contains("session predicted"));
    let _ = std::fs::remove_file(&svg);

    let md = predict(&[&flags[..], &["--markdown"]].concat());
    assert!(String::from_utf8_lossy(&md.stdout).contains("| N | X (req/s) |"));

    let json = predict(&[&flags[..], &["--json"]].concat());
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let points = parsed["modes"][0]["points"].as_array().expect("points");
    assert_eq!(points.len(), 40);
    assert_eq!(parsed["cluster"]["store_rtt_s"], 0.0003);

    let validation = predict(&["--validate", run, "--fit-nodes", "1,2", "--json"]);
    let parsed: serde_json::Value =
        serde_json::from_slice(&validation.stdout).expect("validation JSON");
    assert_eq!(parsed["modes"][0]["points"][0]["n"], 4);
}

#[test]
fn invalid_inputs_exit_2_naming_the_input() {
    let run = quick_run();
    let run = utf8(&run);
    let cores = "--node-cores 2 --store-cores 1";
    for (run, flags, says) in [
        (run, "--node-cores 0 --store-cores 1", "--node-cores"),
        (run, "--node-cores 2 --store-cores -1", "--store-cores"),
        (
            run,
            "--node-cores 2 --store-cores 1 --nodes 1,4,2",
            "strictly increasing",
        ),
        (run, "--store-cores 1", "--node-cores"),
        ("/nonexistent/run.json", cores, "cannot read"),
    ] {
        refused(&predict_run(run, flags), says);
    }
    let garbage = temp("garbage.json");
    std::fs::write(&garbage, "{ not json").expect("write");
    refused(
        &predict_run(utf8(&garbage), cores),
        "is not an authscale run",
    );
    let _ = std::fs::remove_file(&garbage);

    // A run whose store was not measured cannot say what session mode costs it.
    let mut value = read_json(&quick_run());
    for step in value["steps"].as_array_mut().expect("steps") {
        step["components"]
            .as_object_mut()
            .expect("components")
            .remove("store");
    }
    let storeless = temp("storeless.json");
    std::fs::write(&storeless, value.to_string()).expect("write");
    refused(
        &predict_run(utf8(&storeless), cores),
        "no store measurements for mode session",
    );
    let _ = std::fs::remove_file(&storeless);
}

#[test]
fn validate_refuses_node_counts_and_shards_it_would_ignore() {
    let run = quick_run();
    let run = utf8(&run);
    for extra in [["--nodes", "1,2"], ["--store-shards", "3"]] {
        let mut args = vec![run, "--validate", "--fit-nodes", "1,2"];
        args.extend(extra);
        refused(&predict(&args), "drop --node-cores");
    }
    refused(
        &predict_run(run, "--node-cores 1e300 --store-cores 1"),
        "--node-cores must be 0.001 to 1024 cores",
    );
    refused(
        &predict(&[run, "--validate", "--fit-nodes", "1,x"]),
        "--fit-nodes: \"x\" is not a node count",
    );
    // The fixture's N values all, or none of them: nothing to predict or
    // nothing to fit, said of --fit-nodes (not --nodes).
    for (fit, says) in [("1,2,4", "covers every N"), ("16", "no steps at these N")] {
        let output = predict(&[run, "--validate", "--fit-nodes", fit]);
        refused(&output, says);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error: --fit-nodes ["), "{stderr}");
    }
    refused(
        &predict_run(
            run,
            "--node-cores 1 --store-cores 1 --svg /nonexistent-folder/x.svg",
        ),
        "does not exist",
    );
}

fn committed_run(name: &str) -> String {
    utf8(&root().join("results/examples").join(name)).to_owned()
}

/// Issue 23, item 6.1: `--validate A B --json FILE` was refused ("takes
/// RUN_A RUN_B") although `--help` offers `--json`; the file it writes
/// names its format.
#[test]
fn validate_writes_versioned_json_and_markdown_files() {
    let (a, b) = (committed_run("default"), committed_run("store-x3"));
    let (json, markdown) = (temp("validation.json"), temp("validation.md"));
    let output = predict(&[
        "--validate",
        &a,
        &b,
        "--json",
        utf8(&json),
        "--markdown",
        utf8(&markdown),
    ]);
    let stdout = succeeded(&output);
    // Both formats went to their files, so the text is printed.
    assert!(stdout.contains("predicted from") && stdout.contains("Mean |error|"));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert_eq!(written["schema"], "authscale-validation/1");
    assert!(
        written["description"]
            .as_str()
            .is_some_and(|d| d.contains("store-x3 predicted from")),
        "{written}"
    );
    let modes = written["modes"].as_array().expect("modes");
    assert!(!modes.is_empty());
    assert!(
        modes
            .iter()
            .all(|m| m["points"].as_array().is_some_and(|p| !p.is_empty()))
    );
    let md = std::fs::read_to_string(&markdown).expect("Markdown written");
    assert!(
        md.starts_with("# Prediction checked against measurement"),
        "{md}"
    );

    // One run with --fit-nodes writes the same format; a bare --json still prints it.
    let held_out = predict(&["--validate", &a, "--fit-nodes", "1,2,3", "--json"]);
    let printed: serde_json::Value = serde_json::from_slice(&held_out.stdout).expect("JSON");
    assert_eq!(printed["schema"], "authscale-validation/1");
    let prediction = predict(&[&a, "--node-cores", "1", "--store-cores", "1", "--json"]);
    let printed: serde_json::Value = serde_json::from_slice(&prediction.stdout).expect("JSON");
    assert_eq!(printed["schema"], "authscale-prediction/1");

    // --json before the runs would take RUN_A as its FILE: refused, the run untouched.
    let run_json = format!("{a}/run.json");
    let before = std::fs::read(&run_json).expect("committed run");
    refused(
        &predict(&["--validate", "--json", &run_json, &b]),
        "is a measured run, not a file to write",
    );
    assert_eq!(std::fs::read(&run_json).expect("committed run"), before);

    // A link, a pipe or a device is not written by a rename (it replaced
    // /dev/stdout once, and reading a pipe to check it blocked): refused.
    let target = temp("target.json");
    std::fs::write(&target, "{}").expect("target");
    let link = temp("link.json");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    for path in [utf8(&link), "/dev/null"] {
        refused(
            &predict(&["--validate", &a, &b, "--json", path]),
            "not a regular file",
        );
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "{}");
    refused(
        &predict(&["--validate", &a, &b, "--json", "--markdown"]),
        "cannot both be printed",
    );
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&markdown);
}
