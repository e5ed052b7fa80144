//! The capacity model on synthetic runs with known costs (its answers are
//! then analytic) and on the committed quick run: ceilings, work and
//! shard scaling, refusals, validation, and the report section.

use authscale_schema::AuthMode;
use authscale_schema::Component;
use std::path::Path;

use authscale_report::predict::{
    self, Cluster, PredictError, cluster_section, parse_nodes, validate_held_out,
};
use authscale_schema::{Run, Slice};

fn fixture() -> Run {
    Run::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run.json"))
        .expect("fixture")
}

const NODE_US: f64 = 50.0;
const STORE_US_PER_CMD: f64 = 9.0;

/// The quick run with its measured costs replaced by known ones: every
/// request costs the node `NODE_US`, every session request is one store
/// command of `STORE_US_PER_CMD`, whatever the load.
fn synthetic() -> Run {
    let mut run = fixture();
    for s in &mut run.steps {
        let requests = s.requests as f64;
        let nodes = s
            .components
            .get_mut(&Component::Nodes)
            .expect("nodes measured");
        nodes.cpu_seconds = NODE_US * 1e-6 * requests;
        let store = s
            .components
            .get_mut(&Component::Store)
            .expect("store measured");
        if s.mode == AuthMode::Session {
            store.cpu_seconds = STORE_US_PER_CMD * 1e-6 * requests;
            s.store_commands = [("get".to_owned(), s.requests)].into();
            s.store_commands_per_request = 1.0;
        } else {
            s.store_commands.clear();
            s.store_commands_per_request = 0.0;
        }
    }
    run
}

fn cluster(node_cores: f64, store_cores: f64, nodes: Vec<u32>) -> Cluster {
    Cluster {
        node_cores,
        store_cores,
        store_shards: 1,
        store_rtt_s: 0.0,
        work_us: 20.0,
        connections_per_node: 8,
        nodes,
    }
}

/// Asserts that `got` is within 0.1% of `want`, naming `what` if not.
fn assert_within_a_thousandth(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() < 1e-3 * want, "{what}: {got} vs {want}");
}

#[test]
fn a_store_of_known_cost_gives_the_analytic_ceiling() {
    // 0.04 core at 9 µs per command, one command per request: 4,444 req/s.
    let ceiling = 0.04 / (STORE_US_PER_CMD * 1e-6);
    let p = predict::predict(
        &synthetic(),
        "synthetic",
        &cluster(0.1, 0.04, vec![1, 2, 1000]),
    )
    .expect("prediction");
    let session = p
        .modes
        .iter()
        .find(|m| m.mode == "session")
        .expect("session");
    let c = session.store_ceiling_rps.expect("session uses the store");
    assert!((c - ceiling).abs() < 1e-6, "{c} vs {ceiling}");
    let far = session.points.last().expect("N=1000");
    assert!(
        far.throughput <= ceiling * (1.0 + 1e-9),
        "{}",
        far.throughput
    );
    assert!(far.throughput > ceiling * 0.999, "{}", far.throughput);
    assert_eq!(far.bottleneck.as_str(), "store");
    // One node of 0.1 core at 50 µs: at most 2,000 req/s, nodes-bound.
    let one = &session.points[0];
    assert!(one.throughput <= 0.1 / (NODE_US * 1e-6) * (1.0 + 1e-9));
    assert_eq!(one.bottleneck.as_str(), "nodes");
    // The knee: where X(N) stops growing with N, efficiency falls under 0.8;
    // with X(1) ≤ 2000 and the ceiling 4444 it comes by N = 3.
    assert!(session.knee_exact.is_some_and(|k| (2..=3).contains(&k)));
    // Token needs no store: linear in N at its nodes' capacity.
    let token = p.modes.iter().find(|m| m.mode == "token").expect("token");
    assert!(token.store_ceiling_rps.is_none() && token.knee.is_none());
    let (t1, t1000) = (&token.points[0], token.points.last().expect("N=1000"));
    assert!((t1000.throughput / t1.throughput - 1000.0).abs() < 1e-6);
}

#[test]
fn shards_divide_the_store_load_and_cores_cap_at_one_per_shard() {
    let run = synthetic();
    let mut c = cluster(2.0, 1.0, vec![1, 10_000]);
    c.store_shards = 3;
    let p = predict::predict(&run, "synthetic", &c).expect("prediction");
    let session = &p.modes[0];
    let expected = 3.0 / (STORE_US_PER_CMD * 1e-6);
    assert!((session.store_ceiling_rps.expect("store") - expected).abs() < 1e-6);
    // Four cores per shard are still one thread's worth.
    c.store_cores = 4.0;
    let p4 = predict::predict(&run, "synthetic", &c).expect("prediction");
    assert_eq!(p4.modes[0].store_ceiling_rps, session.store_ceiling_rps);
}

#[test]
fn more_work_costs_the_nodes_per_protected_request() {
    let run = synthetic();
    let base = predict::predict(&run, "s", &cluster(1.0, 1.0, vec![1])).expect("base");
    let mut heavier = cluster(1.0, 1.0, vec![1]);
    heavier.work_us = 120.0;
    let more = predict::predict(&run, "s", &heavier).expect("heavier");
    let (b, m) = (&base.modes[0], &more.modes[0]);
    let added = m.points[0].node_cpu_us_per_request - b.points[0].node_cpu_us_per_request;
    let share = m.costs.protected_share;
    assert!(share > 0.5 && share < 1.0, "{share}");
    assert!((added - 100.0 * share).abs() < 1e-9, "{added}");
    assert!(m.points[0].throughput < b.points[0].throughput);
}

#[test]
fn a_round_trip_is_latency_that_few_connections_cannot_hide() {
    let run = synthetic();
    let near = predict::predict(&run, "s", &cluster(2.0, 1.0, vec![4])).expect("near");
    let mut far = cluster(2.0, 1.0, vec![4]);
    far.store_rtt_s = 1e-3;
    let far = predict::predict(&run, "s", &far).expect("far");
    let (n, f) = (&near.modes[0].points[0], &far.modes[0].points[0]);
    assert!(f.latency_ms > 1.0 && f.latency_ms > n.latency_ms);
    assert!(f.throughput < n.throughput);
    assert_eq!(f.bottleneck.as_str(), "connections");
    // Little's law: 4 nodes × 8 connections = X × mean latency.
    assert!((f.throughput * f.latency_ms / 1e3 - 32.0).abs() < 1e-6);
}

#[test]
fn invalid_inputs_are_refused_by_name() {
    let run = synthetic();
    let refuse = |c: Cluster| predict::predict(&run, "s", &c).expect_err("refused");
    assert_eq!(
        refuse(cluster(0.0, 1.0, vec![1])),
        PredictError::NodeCores(0.0)
    );
    assert_eq!(
        refuse(cluster(1.0, -1.0, vec![1])),
        PredictError::StoreCores(-1.0)
    );
    assert!(
        refuse(cluster(1.0, 1.0, vec![1, 4, 2]))
            .to_string()
            .contains("--nodes")
    );
    assert!(parse_nodes("1,4,2").is_err() && parse_nodes("4,4").is_err());
    assert!(parse_nodes("0..3").is_err() && parse_nodes("8..2").is_err());
    assert_eq!(parse_nodes("1..4"), Ok(vec![1, 2, 3, 4]));
    assert_eq!(parse_nodes("1,2,8"), Ok(vec![1, 2, 8]));
    let mut fewer = cluster(1.0, 1.0, vec![1]);
    fewer.work_us = 0.0;
    fewer.connections_per_node = 0;
    assert_eq!(refuse(fewer), PredictError::Connections);

    let mut storeless = run.clone();
    for s in &mut storeless.steps {
        s.components.remove(&Component::Store);
    }
    let err = predict::predict(&storeless, "s", &cluster(1.0, 1.0, vec![1])).expect_err("no store");
    assert!(
        matches!(err, PredictError::StoreNotMeasured(ref m) if m == "session"),
        "{err}"
    );
}

#[test]
fn the_run_predicts_its_own_held_out_steps() {
    let run = fixture();
    let v = validate_held_out(&run, "quick", &[1, 2]).expect("validation");
    for m in &v.modes {
        assert_eq!(m.points.iter().map(|p| p.n).collect::<Vec<_>>(), [4]);
        let p = &m.points[0];
        let measured = run
            .steps
            .iter()
            .find(|s| s.mode.as_str() == m.mode && s.nodes == 4)
            .expect("step")
            .throughput;
        assert_eq!(p.measured, measured);
        assert!((p.error_pct - (p.predicted - measured) / measured * 100.0).abs() < 1e-9);
    }
    assert!(validate_held_out(&run, "quick", &[1, 2, 4]).is_err());
    assert!(validate_held_out(&run, "quick", &[3]).is_err());
    let text = predict::validation_markdown(&v);
    assert!(text.contains("Knee predicted") && text.contains("no intervals in this run"));
}

/// The fixture with every step given three slices whose node and store
/// costs spread ±10% around the step's own.
fn with_slices(run: &Run) -> Run {
    let mut run = run.clone();
    for s in &mut run.steps {
        let requests = s.requests as f64;
        let node_us = s.components[&Component::Nodes].cpu_seconds / requests * 1e6;
        let store_us = s.components[&Component::Store].cpu_seconds / requests * 1e6;
        s.slices = [0.9, 1.0, 1.1]
            .iter()
            .enumerate()
            .map(|(round, f)| Slice {
                round: round as u32,
                seq: round as u32,
                first_node: 0,
                throughput: s.throughput,
                requests: s.requests / 3,
                cpu_us_per_request: [
                    (Component::Nodes, node_us * f),
                    (Component::Store, store_us * f),
                ]
                .into(),
                store_commands_per_request: s.store_commands_per_request,
                ..Slice::default()
            })
            .collect();
    }
    run
}

#[test]
fn the_cluster_section_gives_what_ifs_beside_the_held_out_error() {
    let run = fixture();
    let md = cluster_section(&run);
    assert!(
        md.trim_start()
            .starts_with("## What this means at cluster size")
    );
    assert!(md.contains("Predictions, not measurements"));
    for mode in ["session", "token"] {
        for what_if in ["one 1-core Redis", "4 × 1 core"] {
            assert!(md.contains(what_if), "{what_if}: {md}");
        }
        assert!(md.contains(&format!("| {mode} |")), "{mode}: {md}");
    }
    // The error beside each mode is the run's own held-out check: its
    // first half of N (1, 2) predicting the rest (4).
    let check = validate_held_out(&run, "quick", &[1, 2]).expect("validation");
    for m in &check.modes {
        let cell = format!(
            "{:.1}% (max {:.1}%)",
            m.mean_abs_error_pct, m.max_abs_error_pct
        );
        assert!(md.contains(&cell), "{}: {cell} in {md}", m.mode);
    }
    assert!(md.contains("no intervals in this run"));
    assert!(!md.contains("] |"), "point values only: {md}");
    assert_eq!(md, cluster_section(&run), "deterministic");
    let (_, report) = &authscale_report::render(&run)[0];
    assert!(report.contains(&md), "the report carries the section");
}

#[test]
fn a_run_with_slices_gives_predictions_with_intervals() {
    let run = with_slices(&fixture());
    let mut own = Cluster::of_run(&run);
    own.nodes = vec![1, 4, 64];
    let p = predict::predict(&run, "sliced", &own).expect("prediction");
    for m in &p.modes {
        for pt in &m.points {
            let (lo, hi) = pt.throughput_interval.expect("an interval");
            assert!(
                lo < pt.throughput && pt.throughput < hi,
                "{lo} {} {hi}",
                pt.throughput
            );
        }
    }
    assert!(!p.intervals.contains("no intervals"), "{}", p.intervals);
    let md = predict::prediction_markdown(&p);
    let first = &p.modes[0].points[0];
    let (lo, hi) = first.throughput_interval.expect("an interval");
    assert!(
        md.contains(&format!("{:.0} [{lo:.0}, {hi:.0}]", first.throughput)),
        "{md}"
    );
    let check = validate_held_out(&run, "sliced", &[1, 2]).expect("validation");
    for m in &check.modes {
        let (lo, hi) = m.points[0].predicted_interval.expect("an interval");
        assert!(lo < m.points[0].predicted && m.points[0].predicted < hi);
    }
    assert!(predict::validation_markdown(&check).contains("] |"));
    let section = cluster_section(&run);
    assert!(section.contains("] |"), "{section}");
    assert!(!section.contains("no intervals in this run"), "{section}");
}

/// Session's store cost per command falling with N (12, 9, 6 µs at
/// N = 1, 2, 4), or flat at `flat`.
fn falling_store_cost(flat: Option<f64>) -> Run {
    let mut run = synthetic();
    for s in &mut run.steps {
        if s.mode == AuthMode::Session {
            let cost = flat.unwrap_or(match s.nodes {
                1 => 12.0,
                2 => 9.0,
                _ => 6.0,
            });
            s.components
                .get_mut(&Component::Store)
                .expect("store")
                .cpu_seconds = cost * 1e-6 * s.requests as f64;
        }
    }
    run
}

#[test]
fn a_store_cost_falling_with_load_gives_a_ceiling_between_the_flat_cost_bounds() {
    let nodes: Vec<u32> = (1..=64).chain([1000]).collect();
    let c = cluster(0.1, 0.04, nodes);
    let session = |run: &Run| {
        predict::predict(run, "synthetic", &c)
            .expect("prediction")
            .modes
            .into_iter()
            .find(|m| m.mode == "session")
            .expect("session")
    };
    let (falling, dear, cheap) = (
        session(&falling_store_cost(None)),
        session(&falling_store_cost(Some(12.0))),
        session(&falling_store_cost(Some(6.0))),
    );
    let mut between = 0;
    for ((f, d), ch) in falling.points.iter().zip(&dear.points).zip(&cheap.points) {
        let cost = f.store_cpu_us_per_command.expect("uses the store");
        assert!(
            (6.0 - 1e-9..=12.0 + 1e-9).contains(&cost),
            "N={}: {cost}",
            f.n
        );
        assert!(
            d.throughput * (1.0 - 1e-6) <= f.throughput
                && f.throughput <= ch.throughput * (1.0 + 1e-6),
            "N={}: {} not within [{}, {}]",
            f.n,
            f.throughput,
            d.throughput,
            ch.throughput
        );
        if cost > 6.0 + 1e-6 && cost < 12.0 - 1e-6 && f.throughput > d.throughput * 1.001 {
            between += 1;
        }
    }
    assert!(between > 0, "no N took an interpolated cost");
    // Beyond the loads the run measured the cost is held flat at the
    // busiest step's: N → ∞ meets the 6 µs store's ceiling.
    let ceiling = 0.04 / 6e-6;
    let far = falling.points.last().expect("N=1000");
    assert!((falling.store_ceiling_rps.expect("ceiling") - ceiling).abs() < 1e-6);
    assert!(far.throughput > ceiling * 0.99 && far.throughput <= ceiling * (1.0 + 1e-9));
    assert!(dear.store_ceiling_rps.expect("ceiling") < ceiling * 0.51);
}

#[test]
fn the_chart_marks_the_knee_and_draws_measured_points_of_the_same_setting() {
    let run = fixture();
    let mut own = Cluster::of_run(&run);
    own.nodes = vec![1, 2, 4, 8, 16, 32];
    let p = predict::predict(&run, "quick", &own).expect("prediction");
    let svg = predict::prediction_svg(&p);
    assert!(svg.contains("session measured") && svg.contains("session predicted"));
    if let Some(k) = p.modes[0].knee_exact {
        assert!(svg.contains(&format!("session knee N={k}")));
    }
    let mut other = own.clone();
    other.node_cores = 2.0;
    let p = predict::predict(&run, "quick", &other).expect("prediction");
    assert!(!predict::prediction_svg(&p).contains("measured"));
}

#[test]
fn the_runs_own_setting_takes_each_steps_own_costs_back() {
    // Each step's load level is the model's own answer at that step, so
    // predicting the run's setting at a measured N lands on that step's
    // measured cost (where the step is not pooled with a neighbour).
    let run = fixture();
    let mut own = Cluster::of_run(&run);
    own.nodes = vec![1, 2, 4];
    let p = predict::predict(&run, "quick", &own).expect("prediction");
    let mut checked = 0;
    for m in &p.modes {
        let at = |n: u32| m.points.iter().find(|pt| pt.n == n).expect("N");
        for c in m.costs.node.points.iter().filter(|c| c.steps.len() == 1) {
            let got = at(c.steps[0]).node_cpu_us_per_request;
            assert_within_a_thousandth(got, c.cost_us, &format!("{} node", m.mode));
            checked += 1;
        }
        if let Some(store) = &m.costs.store {
            for c in store
                .per_command
                .points
                .iter()
                .filter(|c| c.steps.len() == 1)
            {
                let got = at(c.steps[0]).store_cpu_us_per_command.expect("store");
                assert_within_a_thousandth(got, c.cost_us, &format!("{} store", m.mode));
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "only {checked} unpooled costs");
}
