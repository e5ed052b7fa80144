//! One output convention for every result: `--json`, `--markdown` and
//! `--html`, each to a FILE or printed with `-`; the JSON names its format
//! and reads back into the report crate's types.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{refused_args, succeeded, utf8};

use authscale_report::compare::Comparison;
use authscale_report::predict::Validation;
use authscale_report::spread::Spread;
use authscale_report::{GateReport, from_json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sweeps() -> Vec<PathBuf> {
    let dir = root().join("results/precision/2026-12-07/precision-sweeps");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("committed repeats")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("default-"))
        })
        .collect();
    runs.sort();
    runs
}

fn authscale(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(support::bin())
        .args(args)
        .args(paths)
        .output()
        .expect("authscale runs")
}

#[test]
fn compare_prints_json_that_reads_back_into_its_rows() {
    let runs = sweeps();
    let out = authscale(&["compare", "--json", "-"], &[&runs[0], &runs[1]]);
    let json = succeeded(&out);
    assert!(
        json.contains(r#""schema": "authscale-compare/1""#),
        "{json}"
    );
    let comparison: Comparison = from_json(&json).expect("the JSON reads back");
    assert_eq!(comparison.steps.len(), 12, "two modes × six N");
    assert!(
        comparison
            .steps
            .iter()
            .all(|s| s.throughput.interval.is_some() && s.throughput.verdict.is_some()),
        "sliced runs give every throughput ratio an interval and a verdict"
    );
    // The same rows as Markdown, and as a page, to files.
    let dir = std::env::temp_dir().join(format!("authscale-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (md, html) = (dir.join("c.md"), dir.join("c.html"));
    let text = succeeded(&authscale(
        &["compare", "--markdown", utf8(&md), "--html", utf8(&html)],
        &[&runs[0], &runs[1]],
    ));
    let md = std::fs::read_to_string(&md).expect("markdown written");
    assert_eq!(text.trim_end(), md.trim_end(), "the text is the Markdown");
    let first = &comparison.steps[0];
    assert!(
        md.contains(&format!("| {} | {} |", first.mode, first.n)),
        "{md}"
    );
    let html = std::fs::read_to_string(&html).expect("html written");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<table>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spread_prints_json_that_reads_back_into_its_figures() {
    let runs = sweeps();
    let paths: Vec<&Path> = runs.iter().map(PathBuf::as_path).collect();
    let json = succeeded(&authscale(&["spread", "--json", "-"], &paths));
    let spread: Spread = from_json(&json).expect("the JSON reads back");
    assert_eq!(spread.runs.len(), 5);
    assert_eq!(spread.figures.len(), 16);
    assert!(spread.figures.iter().all(|f| f.values.len() == 5));
    assert_eq!(spread.summary.values, 80);
    // The text says what the JSON holds.
    let text = succeeded(&authscale(&["spread"], &paths));
    assert!(
        text.contains(&format!(
            "{} of {} (",
            spread.summary.within, spread.summary.values
        )),
        "{text}"
    );
}

#[test]
fn predict_validate_writes_json_that_reads_back() {
    let examples = root().join("results/examples");
    let dir = std::env::temp_dir().join(format!("authscale-outputs-v-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("validation.json");
    let out = authscale(
        &["predict", "--validate"],
        &[&examples.join("default"), &examples.join("store-x3")],
    );
    let text = succeeded(&out);
    let (default, store) = (examples.join("default"), examples.join("store-x3"));
    let args = ["predict", "--validate", utf8(&default), utf8(&store)];
    let out = authscale(&[&args[..], &["--json", utf8(&file)]].concat(), &[]);
    assert_eq!(
        succeeded(&out),
        text,
        "with --json FILE the text is printed"
    );
    let validation: Validation =
        from_json(&std::fs::read_to_string(&file).expect("written")).expect("reads back");
    assert!(validation.modes.len() >= 2);
    assert!(validation.modes.iter().all(|m| !m.points.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gate_json_names_its_format_and_two_printed_formats_are_refused() {
    let baseline = root().join("results/baseline");
    let json = succeeded(&authscale(
        &["gate", "--json", "--baseline", utf8(&baseline), "--run"],
        &[&baseline],
    ));
    let report: GateReport = from_json(&json).expect("reads back");
    assert!(report.passed && !report.checks.is_empty());
    // Another format's JSON is refused by name.
    let err = from_json::<Spread>(&json).expect_err("a gate is no spread");
    assert!(err.to_string().contains("authscale-gate/1"), "{err}");
    let runs = sweeps();
    let out = authscale(
        &["compare", "--json", "-", "--html", "-"],
        &[&runs[0], &runs[1]],
    );
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--json and --html cannot both be printed"),
        "{said}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn export_writes_what_benchmark_dashboards_ingest() {
    let run = root().join("results/examples/default");
    let csv = std::fs::read_to_string(run.join("summary.csv")).expect("summary.csv");
    // token N=8's throughput interval as summary.csv gives it.
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let row: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("token,8,"))
        .expect("token N=8")
        .split(',')
        .collect();
    let column = |name: &str| -> f64 {
        row[header.iter().position(|h| *h == name).expect(name)]
            .parse()
            .expect("number")
    };
    let bmf: serde_json::Value = serde_json::from_str(&succeeded(&authscale(
        &["export", "--format", "bmf"],
        &[&run],
    )))
    .expect("BMF is JSON");
    // Bencher Metric Format: benchmark → measure → { value, lower_value?,
    // upper_value? }, every one a number, nothing else.
    for (benchmark, measures) in bmf.as_object().expect("an object") {
        for (measure, metric) in measures.as_object().expect("measures") {
            let metric = metric.as_object().expect("a metric");
            assert!(metric["value"].is_number(), "{benchmark} {measure}");
            assert!(
                metric
                    .iter()
                    .all(
                        |(k, v)| ["value", "lower_value", "upper_value"].contains(&k.as_str())
                            && v.is_number()
                    ),
                "{benchmark} {measure}: {metric:?}"
            );
        }
    }
    let x = &bmf["token N=8"]["throughput"];
    assert!((x["lower_value"].as_f64().expect("lo") - column("throughput_rps_lo")).abs() < 0.1);
    assert!((x["upper_value"].as_f64().expect("hi") - column("throughput_rps_hi")).abs() < 0.1);
    assert!(
        bmf["token/session N=8"]["throughput-ratio"]["value"]
            .as_f64()
            .expect("ratio")
            > 1.0
    );
    // github-action-benchmark: one direction per file, every entry complete.
    for (better, expect) in [
        ("bigger", "token N=8 throughput"),
        ("smaller", "node/token instructions"),
    ] {
        let out = authscale(
            &[
                "export",
                "--format",
                "github-action-benchmark",
                "--better",
                better,
                "--instructions",
                root()
                    .join("results/baseline/instructions.toml")
                    .to_str()
                    .expect("utf-8"),
            ],
            &[&run],
        );
        let entries: Vec<serde_json::Value> =
            serde_json::from_str(&succeeded(&out)).expect("an array");
        // The action's BenchmarkResult: name, unit (strings) and value
        // (a number) required; range and extra optional strings; nothing else.
        for e in &entries {
            let fields = e.as_object().expect("an object");
            assert!(
                fields
                    .keys()
                    .all(|k| ["name", "unit", "value", "range", "extra"].contains(&k.as_str())),
                "{e}"
            );
            assert!(
                e["name"].is_string() && e["unit"].is_string() && e["value"].is_number(),
                "{e}"
            );
            for optional in ["range", "extra"] {
                assert!(
                    e.get(optional).is_none_or(serde_json::Value::is_string),
                    "{e}"
                );
            }
        }
        assert!(
            entries.iter().any(|e| e["name"] == expect),
            "{better}: {expect}"
        );
    }
    // A run folder as --output is refused before anything is written.
    let out = authscale(&["export", "--format", "bmf", "-o"], &[&run, &run]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_output_overwrites_an_input_or_another_output() {
    let runs = sweeps();
    let dir = std::env::temp_dir().join(format!("authscale-outputs-in-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let baseline = dir.join("baseline");
    std::fs::create_dir_all(&baseline).expect("baseline copy");
    for file in ["run.json", "thresholds.toml"] {
        std::fs::copy(
            root().join("results/baseline").join(file),
            baseline.join(file),
        )
        .expect("copy");
    }
    let refused = |args: &[&str], paths: &[&Path], reason: &str| {
        refused_args(args, &authscale(args, paths), reason);
    };
    let thresholds = baseline.join("thresholds.toml");
    let before = std::fs::read(&thresholds).expect("thresholds");
    refused(
        &[
            "gate",
            "--baseline",
            utf8(&baseline),
            "--json",
            utf8(&thresholds),
            "--run",
        ],
        &[&root().join("results/baseline")],
        "which this command reads",
    );
    assert_eq!(
        std::fs::read(&thresholds).expect("thresholds"),
        before,
        "untouched"
    );
    // Another run's own files, and one file for two formats.
    let report = runs[1].join("report.md");
    refused(
        &["compare", "--markdown", utf8(&report)],
        &[&runs[0], &runs[1]],
        "would overwrite a file of",
    );
    let same = dir.join("out.txt");
    refused(
        &["compare", "--json", utf8(&same), "--markdown", utf8(&same)],
        &[&runs[0], &runs[1]],
        "both name",
    );
    // export's input instructions, and `-o -` as standard output.
    let counts = dir.join("counts.toml");
    std::fs::copy(root().join("results/baseline/instructions.toml"), &counts).expect("copy");
    refused(
        &[
            "export",
            "--format",
            "bmf",
            "--instructions",
            utf8(&counts),
            "-o",
            utf8(&counts),
        ],
        &[&root().join("results/examples/default")],
        "which this command reads",
    );
    let printed = succeeded(&authscale(
        &["export", "--format", "bmf", "-o", "-"],
        &[&root().join("results/examples/default")],
    ));
    assert!(printed.trim_start().starts_with('{'), "{printed}");
    assert!(!Path::new("-").exists(), "no file named -");
    let _ = std::fs::remove_dir_all(&dir);
}
