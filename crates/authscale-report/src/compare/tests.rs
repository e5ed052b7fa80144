use super::*;
use crate::Document;

#[test]
fn welch_ratio_of_independent_samples() {
    let a = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0];
    // 20% faster, same spread: resolved.
    let b: Vec<f64> = a.iter().map(|x| x * 1.2).collect();
    let r = independent_ratio(&a, &b).expect("slices");
    assert!((r.mean - 1.2).abs() < 1e-9, "{r:?}");
    assert!(
        r.lo > 1.0 && r.hi < 1.3 && r.lo < 1.2 && r.hi > 1.2,
        "{r:?}"
    );
    // A/B is the reciprocal interval.
    let back = independent_ratio(&b, &a).expect("slices");
    assert!((back.lo - 1.0 / r.hi).abs() < 1e-9 && (back.hi - 1.0 / r.lo).abs() < 1e-9);
    // 1% apart within ±2% noise: not resolved.
    let c: Vec<f64> = a.iter().map(|x| x * 1.01).rev().collect();
    let n = independent_ratio(&a, &c).expect("slices");
    assert!(n.contains(1.0), "{n:?}");
    assert_eq!(verdict(&n, Better::Higher, 0.0), "not resolved");
    // Too few slices: no interval.
    assert!(independent_ratio(&a[..1], &b).is_none());
}

#[test]
fn verdicts_follow_the_direction_of_the_figure() {
    let up = Estimate::new(1.2, 1.1, 1.3, 6);
    let down = Estimate::new(0.8, 0.7, 0.9, 6);
    assert_eq!(verdict(&up, Better::Higher, 0.0), "B faster");
    assert_eq!(verdict(&up, Better::Lower, 0.0), "B slower");
    assert_eq!(verdict(&down, Better::Lower, 0.0), "B faster");
    assert_eq!(verdict(&down, Better::Higher, 0.0), "B slower");
}

#[test]
fn a_difference_counts_only_beyond_the_drift_band() {
    let est = |lo: f64, hi: f64| Estimate::new((lo * hi).sqrt(), lo, hi, 6);
    // [1.06, 1.20] lies beyond ±5% but reaches into ±10%.
    let up = est(1.06, 1.20);
    assert_eq!(verdict(&up, Better::Higher, 0.05), "B faster");
    assert_eq!(verdict(&up, Better::Higher, 0.10), "not resolved");
    // The band is symmetric in logs: below 1/1.05 = 0.952 is beyond it.
    assert_eq!(verdict(&est(0.80, 0.95), Better::Higher, 0.05), "B slower");
    assert_eq!(
        verdict(&est(0.80, 0.96), Better::Higher, 0.05),
        "not resolved"
    );
    // Inside the band: not resolved, however narrow.
    assert_eq!(
        verdict(&est(1.01, 1.02), Better::Higher, 0.05),
        "not resolved"
    );
}

fn slices(throughputs: &[f64], p99s: &[f64]) -> Vec<Slice> {
    throughputs
        .iter()
        .zip(p99s)
        .enumerate()
        .map(|(i, (x, p99))| Slice {
            round: i as u32,
            seq: i as u32,
            first_node: 0,
            seconds: 1.0,
            throughput: *x,
            requests: *x as u64,
            p99_ms: *p99,
            ..Slice::default()
        })
        .collect()
}

#[test]
fn sliced_runs_get_intervals_and_a_verdict_per_figure() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run.json");
    let mut a = Run::read(&path).expect("fixture");
    let mut b = a.clone();
    let (mode, n) = (a.steps[0].mode, a.steps[0].nodes);
    a.steps[0].slices = slices(&[100.0, 104.0, 97.0, 101.0], &[10.0, 12.0, 9.0, 11.0]);
    // B: twice the throughput, the same p99 within the noise.
    b.steps[0].slices = slices(&[205.0, 196.0, 201.0, 199.0], &[11.0, 9.5, 10.5, 10.0]);
    b.steps[0].throughput = a.steps[0].throughput * 2.0;
    let comparison = compare(&a, &b, DEFAULT_DRIFT);
    let table = comparison.markdown();
    // The JSON reads back into the same rows.
    let json = comparison.json().expect("json");
    assert_eq!(
        crate::document::from_json::<Comparison>(&json).expect("parse"),
        comparison
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("| {mode} | {n} |")))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | mode | N | X A | X B | B/A | p99 A | p99 B | B/A | …
    // The geometric means' ratio, 1.99, in an interval that excludes 1.
    assert!(
        cells[5].starts_with("1.99") && cells[5].ends_with("B faster"),
        "{row}"
    );
    assert!(cells[8].ends_with("not resolved"), "{row}");
    assert!(table.contains("Welch"), "{table}");
    // Steps without slices keep a bare ratio.
    let other = table
        .lines()
        .find(|l| l.starts_with("| ") && !l.starts_with("| mode") && *l != row);
    if let Some(other) = other {
        assert!(!other.contains('['), "{other}");
    }
}
