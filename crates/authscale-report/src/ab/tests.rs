use super::*;
use authscale_schema::AbSide;

fn slice(side: Side, round: u32, cpu: f64, throughput: f64) -> AbSlice {
    AbSlice {
        side,
        round,
        seq: 0,
        seconds: 1.0,
        requests: 1000,
        protected_requests: 950,
        errors: 0,
        throughput,
        p50_ms: 2.0,
        p99_ms: 5.0,
        node_cpu_us_per_protected_request: cpu,
        store_commands_per_request: 0.1,
    }
}

/// Rounds whose speed drifts by up to ±15%, B costing `factor` times
/// A's CPU within each round (with ±1% of its own noise).
fn run(factor: f64, rounds: u32) -> AbRun {
    let mut slices = Vec::new();
    for round in 0..rounds {
        let drift = 1.0 + 0.15 * ((round as f64) * 1.7).sin();
        let wobble = 1.0 + 0.01 * ((round as f64) * 2.3).cos();
        slices.push(slice(Side::A, round, 37.0 * drift, 1000.0 / drift));
        slices.push(slice(
            Side::B,
            round,
            37.0 * drift * factor * wobble,
            1000.0 / (drift * factor * wobble),
        ));
    }
    let side = |label: &str| AbSide {
        label: label.into(),
        bin: "/bin/true".into(),
        node_args: Vec::new(),
    };
    AbRun {
        schema: authscale_schema::AB_SCHEMA.into(),
        mode: authscale_schema::AuthMode::Token,
        nodes: 2,
        rounds,
        slice_ms: 1000.0,
        warmup_ms: 300.0,
        node_cpu: 0.1,
        work_us: 20,
        caps: "none".into(),
        node_cpu_period_ms: None,
        block_rounds: None,
        stages: None,
        started_at: String::new(),
        wall_seconds: 0.0,
        a: side("A"),
        b: side("B"),
        b_costlier: None,
        warnings: Vec::new(),
        slices,
    }
}

fn figure(r: &AbReport, f: Figure) -> &AbFigure {
    r.figures.iter().find(|x| x.figure == f).expect("figure")
}

#[test]
fn a_known_ratio_is_found_despite_drift_and_fails_its_bound() {
    let limits: AbLimits =
        toml::from_str("[fail]\nnode_cpu_us_per_protected_request = 1.05\nthroughput = 0.95")
            .expect("limits");
    let r = judge(&run(1.10, 10), &limits).expect("judged");
    let cpu = figure(&r, Figure::NodeCpuUsPerProtectedRequest);
    assert!(cpu.ratio.contains(1.10), "{:?}", cpu.ratio);
    assert!(cpu.ratio.lo > 1.05, "{:?}", cpu.ratio);
    assert_eq!(cpu.verdict, "more CPU");
    assert!(cpu.failed);
    let x = figure(&r, Figure::Throughput);
    assert!(x.ratio.contains(1.0 / 1.10), "{:?}", x.ratio);
    assert_eq!(x.verdict, "slower");
    assert!(x.failed);
    assert!(!r.passed());
    assert!(markdown(&r).contains("| node_cpu_us_per_protected_request |"));
    assert!(markdown(&r).contains("### A/B: **FAIL**"));
}

#[test]
fn a_gate_file_without_bounds_or_with_a_bound_at_or_below_zero_is_refused() {
    let path =
        std::env::temp_dir().join(format!("authscale-ab-limits-{}.toml", std::process::id()));
    for (text, says) in [
        ("[fail]\n", "no bounds"),
        ("rev = \"abc\"\n[fail]\nthroughput = 0.9\n", "Node-cost"),
        ("[fail]\nthroughput = -1\n", "above 0"),
        ("[fail]\nthroughput = nan\n", "above 0"),
    ] {
        std::fs::write(&path, text).expect("write");
        let error = AbLimits::from_file(&path).expect_err(text);
        assert!(error.0.contains(says), "{text}: {}", error.0);
    }
    std::fs::write(&path, "[fail]\nthroughput = 0.95\n").expect("write");
    assert!(AbLimits::from_file(&path).is_ok());
    let _ = std::fs::remove_file(&path);
}

/// A/A on capped nodes: p50 one side or the other of a quota period's
/// edge, round by round, lands B/A far from 1 with a tight interval.
#[test]
fn a_latency_move_under_one_quota_period_is_no_verdict() {
    let mut r = run(1.0, 10);
    for s in &mut r.slices {
        if s.side == Side::B {
            s.p50_ms = 3.6 + 0.1 * f64::from(s.round % 3);
            s.p99_ms = 25.0;
        } else {
            s.p50_ms = 1.2 + 0.1 * f64::from(s.round % 2);
        }
    }
    let limits = AbLimits::default();
    let uncapped = judge(&r, &limits).expect("judged");
    assert_eq!(figure(&uncapped, Figure::P50Ms).verdict, "slower");
    r.node_cpu_period_ms = Some(10.0);
    let capped = judge(&r, &limits).expect("judged");
    let p50 = figure(&capped, Figure::P50Ms);
    assert_eq!(p50.resolved, Resolved::NotResolved);
    assert_eq!(
        p50.verdict,
        "not resolved (moved less than one quota period)"
    );
    // Four periods later at p99 is a move the period cannot explain.
    assert_eq!(figure(&capped, Figure::P99Ms).verdict, "slower");
}

#[test]
fn identical_sides_are_not_resolved_and_pass() {
    let mut identical = run(1.0, 10);
    for s in &mut identical.slices {
        let round = s.round as f64;
        s.node_cpu_us_per_protected_request = 37.0 * (1.0 + 0.1 * (round * 1.7).sin());
    }
    let limits: AbLimits =
        toml::from_str("[fail]\nnode_cpu_us_per_protected_request = 1.05").expect("limits");
    let r = judge(&identical, &limits).expect("judged");
    for f in &r.figures {
        assert_eq!(f.resolved, Resolved::NotResolved, "{:?}", f);
        assert_eq!(f.verdict, "not resolved");
        assert!(!f.failed);
    }
    assert!(r.passed());
    assert!(markdown(&r).contains("### A/B: pass"));
    // Without bounds nothing is judged, and the table says so.
    let unbounded = judge(&identical, &AbLimits::default()).expect("judged");
    assert!(
        markdown(&unbounded).contains("### A/B: no bounds given (--gate), nothing judged"),
        "{}",
        markdown(&unbounded)
    );
}

#[test]
fn a_figure_that_is_zero_on_both_sides_is_equal_not_nan() {
    let mut r = run(1.0, 4);
    for s in &mut r.slices {
        s.store_commands_per_request = 0.0;
    }
    let limits: AbLimits =
        toml::from_str("[fail]\nstore_commands_per_request = 1.05").expect("limits");
    let judged = judge(&r, &limits).expect("judged");
    let store = figure(&judged, Figure::StoreCommandsPerRequest);
    assert_eq!(store.ratio.mean, 1.0);
    assert_eq!(store.verdict, "none on either side");
    assert!(!store.failed);
}

#[test]
fn a_small_change_inside_its_bound_is_resolved_but_passes() {
    let limits: AbLimits =
        toml::from_str("[fail]\nnode_cpu_us_per_protected_request = 1.05").expect("limits");
    let r = judge(&run(0.97, 10), &limits).expect("judged");
    let cpu = figure(&r, Figure::NodeCpuUsPerProtectedRequest);
    assert_eq!(cpu.verdict, "less CPU");
    assert!(!cpu.failed);
}

/// The workspace crates a crate depends on (normal dependencies),
/// itself included, read from the crates' Cargo.toml files.
fn workspace_closure(root: &Path, name: &str) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![name.to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let manifest = root.join("crates").join(&name).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("a crate's Cargo.toml");
        let value: toml::Value = toml::from_str(&text).expect("toml");
        if let Some(deps) = value.get("dependencies").and_then(toml::Value::as_table) {
            todo.extend(deps.keys().filter(|d| d.starts_with("authscale-")).cloned());
        }
    }
    seen
}

#[test]
fn the_committed_limits_cover_every_crate_a_node_runs_and_bound_node_cpu() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("results/baseline/ab.toml");
    let limits = AbLimits::from_file(&path).expect("results/baseline/ab.toml");
    // A crate the node comes to depend on is node code: the gate must
    // not skip a change to it as "nothing differs".
    for name in workspace_closure(&root, "authscale-node") {
        for part in ["src", "Cargo.toml"] {
            let wanted = format!("crates/{name}/{part}");
            assert!(
                limits
                    .node_code
                    .iter()
                    .any(|p| wanted == *p || wanted.starts_with(&format!("{p}/"))),
                "{wanted} is missing from node_code in results/baseline/ab.toml"
            );
        }
    }
    for path in &limits.node_code {
        assert!(
            root.join(path).exists(),
            "node_code names {path}, which does not exist"
        );
    }
    let cpu = limits.fail[&Figure::NodeCpuUsPerProtectedRequest];
    assert!(cpu > 1.0, "a cost bound lies above 1: {cpu}");
    assert!(
        limits
            .fail
            .get(&Figure::Throughput)
            .is_none_or(|t| *t < 1.0)
    );
}

#[test]
fn one_round_cannot_be_judged_and_unknown_figures_are_refused() {
    assert!(judge(&run(1.0, 1), &AbLimits::default()).is_err());
    assert!(toml::from_str::<AbLimits>("[fail]\nlatency = 1.1").is_err());
}
