//! The report and the gate on a fixed run (a real quick sweep, committed as
//! a fixture): deterministic output, verdicts that follow the evidence,
//! and the gate's pass, fail and error paths.

use std::path::Path;

use authscale_report::{GateError, ModeAnalysis, Thresholds, analyse, compare, evaluate, render};
use authscale_schema::{AuthMode, Component, Run};

fn fixture() -> Run {
    Run::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run.json"))
        .expect("fixture")
}

/// The analysis of `mode` in `run`.
fn analysis_of(run: &Run, mode: AuthMode) -> ModeAnalysis {
    let mut modes = analyse(run).modes.into_iter();
    modes.find(|m| m.mode == mode).expect("the mode")
}

fn checks(list: &[&str]) -> Thresholds {
    Thresholds {
        checks: list.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn the_report_is_deterministic_and_complete() {
    let run = fixture();
    let first = render(&run);
    assert_eq!(first, render(&run), "same run, same files");
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "report.md",
            "report.html",
            "throughput.svg",
            "latency.svg",
            "efficiency.svg",
            "cpu.svg",
            "summary.csv"
        ]
    );
    let md = &first[0].1;
    for section in [
        "## Verdict",
        "## Throughput",
        "## Scalability model",
        "## Where the CPU goes",
        "## The store's ceiling",
        "## Cross-checks",
        "## What this means",
    ] {
        assert!(md.contains(section), "{section} missing");
    }
    for image in ["throughput.svg", "latency.svg", "efficiency.svg", "cpu.svg"] {
        assert!(md.contains(&format!("({image})")), "{image} not embedded");
    }
    // Every step has its row.
    for step in &run.steps {
        assert!(
            md.contains(&format!(
                "| {} | {} | {:.0} |",
                step.mode, step.nodes, step.throughput
            )),
            "{} N={}",
            step.mode,
            step.nodes
        );
    }
    assert!(
        md.contains("fewer than 6: indicative only"),
        "3 points per mode must be flagged"
    );
    for (_, svg) in &first[2..first.len() - 1] {
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
    // The page holds the same report with every chart inline.
    let html = &first[1].1;
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(r#"<h2 id="verdict">"#));
    for chart in ["throughput", "latency", "efficiency", "cpu"] {
        assert!(html.contains(&format!(r#"id="chart-{chart}""#)), "{chart}");
    }
}

#[test]
fn verdicts_name_the_component_the_evidence_points_at() {
    let run = fixture();
    let analysis = analyse(&run);
    let session = analysis
        .modes
        .iter()
        .find(|m| m.mode == AuthMode::Session)
        .expect("session");
    let token = analysis
        .modes
        .iter()
        .find(|m| m.mode == AuthMode::Token)
        .expect("token");
    // In the fixture the store sits at its budget at N=4 and token nodes at theirs.
    assert_eq!(session.bottleneck.as_str(), "store", "{}", session.verdict);
    assert!(
        matches!(
            session.verdict.finding,
            Some(authscale_report::Finding::Store { .. })
        ) && session
            .verdict
            .to_string()
            .contains("Bottleneck: the store"),
        "{}",
        session.verdict
    );
    assert_eq!(token.bottleneck.as_str(), "nodes", "{}", token.verdict);
    assert!(session.ceiling.is_some() && token.ceiling.is_none());

    // Change the evidence and the verdict follows: a store far from its
    // budget and saturated nodes make the nodes the bottleneck.
    let mut altered = run.clone();
    for step in altered
        .steps
        .iter_mut()
        .filter(|s| s.mode == AuthMode::Session)
    {
        if let Some(store) = step.components.get_mut(&Component::Store) {
            store.utilization = 0.2;
        }
        if let Some(nodes) = step.components.get_mut(&Component::Nodes) {
            nodes.utilization = 0.99;
        }
    }
    let session = analysis_of(&altered, AuthMode::Session);
    assert_eq!(session.bottleneck.as_str(), "nodes", "{}", session.verdict);

    // A harness near its limit is called out rather than blamed on the system.
    let mut harness = run.clone();
    if let Some(last) = harness
        .steps
        .iter_mut()
        .rfind(|s| s.mode == AuthMode::Token)
        && let Some(proxy) = last.components.get_mut(&Component::Proxy)
    {
        proxy.utilization = 0.93;
    }
    let token = analysis_of(&harness, AuthMode::Token);
    assert_eq!(token.bottleneck.as_str(), "proxy");
    assert!(
        matches!(
            token.verdict.finding,
            Some(authscale_report::Finding::Harness { .. })
        ) && token.verdict.to_string().contains("Caution"),
        "{}",
        token.verdict
    );
}

#[test]
fn the_gate_passes_fails_and_refuses_as_it_should() {
    let run = fixture();
    let pass = evaluate(
        &checks(&[
            "token.efficiency@max >= 0.5",
            "session/token throughput@1 >= 0.5",
            "token.cpu_us_per_req.nodes@max <= baseline * 1.25",
            "session.store_cmds_per_req@max <= 1.05",
        ]),
        &run,
        Some(&run),
    )
    .expect("evaluates");
    assert!(pass.passed, "{}", authscale_report::Document::text(&pass));
    assert_eq!(pass.checks[2].baseline, Some(pass.checks[2].current));

    let fail = evaluate(
        &checks(&["token.throughput@max >= 1000000000"]),
        &run,
        Some(&run),
    )
    .expect("evaluates");
    assert!(!fail.passed);
    assert!(authscale_report::Document::markdown(&fail).contains("FAIL"));

    let errors: [(&str, &str); 11] = [
        ("token.efficiency@max >= NaN", "finite"),
        ("token.efficiency@max >= inf", "finite"),
        ("token.p99@max <= baseline * inf", "finite"),
        ("token.efficiency@max => 0.5", "must be one of >=, <=, >, <"),
        ("token.efficiency @max >= 0.5", "no space before @"),
        ("token.speed@max >= 1", "unknown metric"),
        ("sticky.throughput@1 >= 1", "no mode"),
        ("token.throughput@7 >= 1", "no token step at N=7"),
        ("token.throughput@max", "no comparison"),
        ("token.throughput@max >= fast", "bound must be"),
        ("token.cpu_us_per_req.gpu@max <= 1", "unknown metric"),
    ];
    for (expression, expected) in errors {
        let error: GateError =
            evaluate(&checks(&[expression]), &run, Some(&run)).expect_err(expression);
        assert!(error.0.contains(expected), "{expression}: {}", error.0);
    }
    let no_baseline = evaluate(
        &checks(&["token.throughput@1 >= baseline * 0.5"]),
        &run,
        None,
    )
    .expect_err("needs baseline");
    assert!(no_baseline.0.contains("baseline"));
}

#[test]
fn compare_lines_up_shared_steps_with_ratios() {
    let a = fixture();
    let mut b = a.clone();
    for step in &mut b.steps {
        step.throughput *= 2.0;
    }
    let table = authscale_report::Document::markdown(&compare(
        &a,
        &b,
        authscale_report::compare::DEFAULT_DRIFT,
    ));
    assert!(table.contains("| token | 4 |"), "{table}");
    assert!(table.contains("| 2.000 |"), "{table}");
}

/// A fault run recorded before durability was measured (a real sweep's
/// run.json, trimmed to two modes).
fn faults_before_durability() -> Run {
    Run::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faults-before-durability.json"),
    )
    .expect("an older run still loads")
}

#[test]
fn a_fault_run_recorded_before_durability_still_renders_and_says_not_measured() {
    let run = faults_before_durability();
    assert!(
        run.faults
            .iter()
            .all(|f| f.durability.is_none() && f.persistence == authscale_schema::Persistence::None)
    );
    let files = render(&run);
    let md = &files[0].1;
    assert!(md.contains("## Fault runs") && md.contains("### Auth state across the fault"));
    assert!(
        md.contains("| session | store-outage | none | not measured | not measured |"),
        "{md}"
    );
    // The charts keep their names.
    assert!(
        files
            .iter()
            .any(|(name, _)| name == "fault-session-store-outage-success.svg")
    );
}

#[test]
fn the_durability_table_shows_each_mode_and_persistence_with_what_was_checked() {
    let mut run = faults_before_durability();
    let template = run
        .faults
        .iter()
        .find(|f| {
            f.mode == AuthMode::TokenDenylist && f.kind == authscale_schema::FaultKind::StoreOutage
        })
        .expect("a token-denylist store outage")
        .clone();
    let measured = |persistence, lost| authscale_schema::FaultRun {
        persistence,
        durability: Some(authscale_schema::Durability {
            logged_out: 50,
            revocations_checked: 48,
            revocations_lost: lost,
            sessions_checked: 50,
            sessions_lost: 0,
            unanswered: 1,
        }),
        ..template.clone()
    };
    run.faults = vec![
        measured(authscale_schema::Persistence::None, 48),
        measured(authscale_schema::Persistence::Aof, 0),
    ];
    let files = render(&run);
    let md = &files[0].1;
    assert!(
        md.contains("| token-denylist | store-outage | none | 48 / 48 | 0 / 50 | 2 of 50 | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("| token-denylist | store-outage | aof | 0 / 48 | 0 / 50 | 2 of 50 | 1 |"),
        "{md}"
    );
    assert!(md.contains("| token-denylist | store-outage (AOF) (3 s at 3 s) |"));
    // Each run has its own charts: the AOF one beside the other.
    for name in [
        "fault-token-denylist-store-outage-success.svg",
        "fault-token-denylist-store-outage-aof-success.svg",
    ] {
        assert!(files.iter().any(|(n, _)| n == name), "{name}");
        assert!(md.contains(&format!("({name})")), "{name} not embedded");
    }
}

#[test]
fn an_interleaved_run_states_its_noise_floor_and_what_it_does_not_hold() {
    // A committed default sweep: 7 rounds, rotated node sets.
    let run = Run::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/precision/shipped/run-1.json"),
    )
    .expect("a committed precision run");
    let files = render(&run);
    let md = &files[0].1;
    assert!(md.contains("## How sure these figures are"), "{md}");
    assert!(
        md.contains("**Noise floor: a typical figure of this run resolves differences of "),
        "{md}"
    );
    assert!(md.contains("one node further along"), "{md}");
    // The floor is the run's own noise; the report says what it leaves out.
    assert!(
        md.contains("drift between runs") && md.contains("authscale spread"),
        "{md}"
    );
}
