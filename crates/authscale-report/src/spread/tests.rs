use super::*;

fn est(mean: f64, half: f64) -> Option<Estimate> {
    Some(Estimate::new(mean, mean - half, mean + half, 6))
}

#[test]
fn counts_values_figures_and_covering_intervals_against_the_median() {
    let figures = vec![
        // Median 1.00: 0.97 and 1.04 within 5%, 1.10 not; the 1.10
        // interval misses the median, the others contain it.
        Figure {
            name: "a".into(),
            values: vec![est(0.97, 0.05), est(1.00, 0.02), est(1.10, 0.05)],
        },
        // All three within 5% of 0.50.
        Figure {
            name: "b".into(),
            values: vec![est(0.49, 0.01), est(0.50, 0.01), est(0.51, 0.02)],
        },
    ];
    let s = summarize(&figures, 0.05);
    assert_eq!((s.within, s.values), (5, 6));
    assert_eq!((s.figures_within, s.figures), (1, 2));
    assert_eq!((s.covering, s.intervals), (5, 6));
    assert_eq!(figures[0].median(), Some(1.00));
}

#[test]
fn the_median_half_width_of_an_even_count_averages_the_middle_two() {
    let f = Figure {
        name: "a".into(),
        values: vec![est(1.0, 0.02), est(1.0, 0.04)],
    };
    let w = summarize(std::slice::from_ref(&f), 0.05).median_half_width;
    assert!(w.is_some_and(|w| (w - 0.03).abs() < 1e-12), "{w:?}");
}

#[test]
fn the_tolerance_held_by_90_percent_is_the_nearest_rank_deviation() {
    // Five values per figure, the middle one at 1.00 (the median).
    let figure = |devs: [f64; 4]| Figure {
        name: "a".into(),
        values: vec![
            est(1.0, 0.1),
            est(1.0 - devs[0], 0.1),
            est(1.0 - devs[1], 0.1),
            est(1.0 + devs[2], 0.1),
            est(1.0 + devs[3], 0.1),
        ],
    };
    // Deviations: 0, 0.01, 0.02, 0.03, 0.04 and 0, 0.05, 0.06, 0.07,
    // 0.20; the 9th of 10 sorted is 0.07: nine of ten lie within ±7%.
    let figures = vec![
        figure([0.01, 0.02, 0.03, 0.04]),
        figure([0.05, 0.06, 0.07, 0.20]),
    ];
    let t = summarize(&figures, 0.05).tolerance_held_by_90;
    assert!(t.is_some_and(|t| (t - 0.07).abs() < 1e-12), "{t:?}");
    // With one figure of five, 90% means all five: the largest, 0.04.
    let t = summarize(&figures[..1], 0.05).tolerance_held_by_90;
    assert!(t.is_some_and(|t| (t - 0.04).abs() < 1e-12), "{t:?}");
}

#[test]
fn tolerances_print_as_precise_as_given() {
    assert_eq!(percent(0.05), "5");
    assert_eq!(percent(0.005), "0.5");
    assert_eq!(percent(0.0149), "1.49");
    assert_eq!(percent(0.0000001), "0.00001");
}

#[test]
fn a_held_tolerance_prints_rounded_up_so_it_stays_true() {
    assert_eq!(percent_up(0.05306), "5.4");
    assert_eq!(percent_up(0.053), "5.3");
    assert_eq!(percent_up(0.0), "0.0");
    assert_eq!(percent_up(0.22915), "23.0");
}

#[test]
fn a_figure_of_one_run_is_shown_but_not_counted() {
    let figures = vec![
        Figure {
            name: "a".into(),
            values: vec![est(1.0, 0.1), None],
        },
        Figure {
            name: "b".into(),
            values: vec![est(1.0, 0.1), est(1.2, 0.1)],
        },
    ];
    let s = summarize(&figures, 0.05);
    assert_eq!((s.within, s.values), (0, 2));
    assert_eq!((s.figures_within, s.figures), (0, 1));
    assert_eq!(missing(&figures), vec![(2, 1)]);
}

#[test]
fn a_missing_value_counts_against_all_within_but_not_as_a_value() {
    let f = Figure {
        name: "a".into(),
        values: vec![est(1.0, 0.1), None, est(1.02, 0.1)],
    };
    assert_eq!(f.median(), Some(1.01));
    let s = summarize(std::slice::from_ref(&f), 0.05);
    assert_eq!((s.within, s.values), (2, 2));
    assert_eq!((s.figures_within, s.figures), (0, 1));
}
