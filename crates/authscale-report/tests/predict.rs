//! The capacity model on synthetic runs with known costs (its answers are
//! then analytic) and on the committed quick run: ceilings, work and
//! shard scaling, refusals, validation, and the report section.

use std::path::Path;

use authscale_report::predict::{
    self, Cluster, PredictError, cluster_section, parse_nodes, validate_held_out,
};
use authscale_schema::{AuthMode, Component, Run};

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
        .find(|m| m.mode == AuthMode::Session)
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
    assert_eq!(far.bottleneck, "store");
    // One node of 0.1 core at 50 µs: at most 2,000 req/s, nodes-bound.
    let one = &session.points[0];
    assert!(one.throughput <= 0.1 / (NODE_US * 1e-6) * (1.0 + 1e-9));
    assert_eq!(one.bottleneck, "nodes");
    // The knee: where X(N) stops growing with N, efficiency falls under 0.8;
    // with X(1) ≤ 2000 and the ceiling 4444 it comes by N = 3.
    assert!(session.knee_exact.is_some_and(|k| (2..=3).contains(&k)));
    // Token needs no store: linear in N at its nodes' capacity.
    let token = p
        .modes
        .iter()
        .find(|m| m.mode == AuthMode::Token)
        .expect("token");
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
    assert_eq!(f.bottleneck, "connections");
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
            .find(|s| s.mode == m.mode && s.nodes == 4)
            .expect("step")
            .throughput;
        assert_eq!(p.measured, measured);
        assert!((p.error_pct - (p.predicted - measured) / measured * 100.0).abs() < 1e-9);
    }
    assert!(validate_held_out(&run, "quick", &[1, 2, 4]).is_err());
    assert!(validate_held_out(&run, "quick", &[3]).is_err());
    let text = predict::validation_text(&v);
    assert!(text.contains("knee predicted") && text.contains("no intervals in this run"));
}

#[test]
fn the_cluster_section_extrapolates_every_mode() {
    let run = fixture();
    let md = cluster_section(&run);
    assert!(md.starts_with("## What this means at cluster size"));
    for mode in ["session", "token"] {
        assert!(md.contains(&format!("| {mode} |")), "{mode}: {md}");
    }
    assert!(md.contains("no intervals in this run"));
    assert_eq!(md, cluster_section(&run), "deterministic");
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
