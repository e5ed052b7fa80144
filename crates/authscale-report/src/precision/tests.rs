use super::*;

#[test]
fn noise_floor_is_the_median_ratio_half_width() {
    let ratio = |w: f64| Ratio {
        n: 1,
        a: authscale_schema::AuthMode::Session,
        b: authscale_schema::AuthMode::Token,
        ratio: Estimate::new(1.0, 1.0 - w, 1.0 + w, 6),
    };
    let floor = noise_floor(&[ratio(0.01), ratio(0.05), ratio(0.02)], &[]);
    assert!(floor.is_some_and(|f| (f - 0.02).abs() < 1e-12), "{floor:?}");
    assert_eq!(noise_floor(&[], &[]), None);
}

#[test]
fn an_efficiency_above_1_names_the_nodes_cost_and_their_wake_ups_where_recorded() {
    // A committed store-x4 sweep whose session E(8) came out 1.20: its
    // nodes spent 61.2 CPU-us per request at N = 8 against 73.4 at 1.
    let run = committed_x4();
    let mut one = step(&run, AuthMode::Session, 1).expect("N = 1").clone();
    let mut eight = step(&run, AuthMode::Session, 8).expect("N = 8").clone();
    let e = Estimate::new(1.2, 1.14, 1.26, 7);
    // Recorded before the lab read the scheduler's counts: no wake-ups.
    let before = superlinear_cause(AuthMode::Session, &eight, &one, &e);
    assert!(
        before.starts_with("session E(8) = 1.20 [1.14, 1.26] lies above 1: the nodes spent 61.2 CPU-µs per request at N=8 against 73.4 at N=1 (-17%), so the same budgets served more."),
        "{before}"
    );
    for (s, per_request) in [(&mut one, 0.1), (&mut eight, 0.5)] {
        let nodes = s.components.get_mut(&Component::Nodes).expect("nodes");
        nodes.runs = Some((per_request * s.requests as f64).round() as u64);
    }
    let after = superlinear_cause(AuthMode::Session, &eight, &one, &e);
    assert!(
        after.contains("(-17%) (put on a CPU 0.500 times per request against 0.100), so"),
        "{after}"
    );
}

#[test]
fn an_efficiency_above_1_rules_on_no_cause_the_run_did_not_measure() {
    // The run measures that a request got cheaper, not why: the sentence
    // names both causes measured apart and calls neither the answer.
    let run = committed_x4();
    for mode in [AuthMode::Session, AuthMode::Token] {
        let one = step(&run, mode, 1).expect("N = 1").clone();
        let mut eight = step(&run, mode, 8).expect("N = 8").clone();
        let nodes = eight.components.get_mut(&Component::Nodes).expect("nodes");
        nodes.cpu_us_per_request = one.components[&Component::Nodes].cpu_us_per_request * 0.9;
        let e = Estimate::new(1.1, 1.06, 1.14, 7);
        let cause = superlinear_cause(mode, &eight, &one, &e);
        assert!(cause.contains("(-10%)"), "{cause}");
        assert!(
            cause.contains("The N = 1 cell and the quota period"),
            "{cause}"
        );
        assert!(
            cause.contains("Session nodes behind a busier store"),
            "{cause}"
        );
        for verdict in [
            "artefact of the scale model, not of the system",
            "not superlinear",
        ] {
            assert!(!cause.contains(verdict), "{cause}");
        }
    }
}

/// A committed store-x4 sweep (2026-12-07).
fn committed_x4() -> Run {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../results/precision/2026-12-07/precision-sweeps/x4-20261207T014021Z-default/run.json",
    );
    Run::read(&path).expect("a committed precision run")
}

#[test]
fn a_throttled_share_interval_stays_within_0_and_1() {
    // A committed default sweep whose token N = 3 nodes were throttled
    // in 85% of periods on average, with slices from 0.56 to 1.0: the
    // t interval reached 1.018 before it was clamped.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/precision/afternoon/run-1.json");
    let run = Run::read(&path).expect("a committed precision run");
    let p = precision(&run);
    let shares: Vec<Estimate> = p.steps.iter().filter_map(|s| s.node_throttled).collect();
    assert_eq!(shares.len(), run.steps.len());
    for e in shares {
        assert!(e.lo >= 0.0 && e.hi <= 1.0 && e.lo <= e.mean, "{e:?}");
    }
}
