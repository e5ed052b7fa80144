//! The SLO capacity search: offer a rate, double it while the probes pass,
//! then bisect between the best passing and the lowest failing rate; the
//! step is the best passing probe, with every probe recorded.

use authscale_schema::AuthMode;

use crate::Stop;
use crate::lab::Lab;
use crate::process::Managed;
use authscale_schema::{Probe, Step};

/// Where the search stands between probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateSearch {
    /// The rate the next probe offers, requests per second.
    pub rate: f64,
    /// The best passing rate so far (0 before any pass).
    pub last_pass: f64,
    /// The rate of the last failing probe.
    pub failed_at: Option<f64>,
}

impl RateSearch {
    pub(crate) fn new(rate: f64) -> RateSearch {
        RateSearch {
            rate,
            last_pass: 0.0,
            failed_at: None,
        }
    }

    /// Takes the verdict of the probe at `self.rate` and moves to the next
    /// rate; true when the pass and the fail lie within 5% of each other
    /// and the search is done.
    pub(crate) fn next(&mut self, passed: bool) -> bool {
        let (rate, last_pass) = (self.rate, self.last_pass);
        if passed {
            self.last_pass = rate;
            self.rate = match self.failed_at {
                None => rate * 2.0,
                Some(fail) => (rate + fail) / 2.0,
            };
        } else {
            self.failed_at = Some(rate);
            self.rate = (last_pass + rate) / 2.0;
        }
        self.failed_at
            .is_some_and(|f| (f - last_pass.max(self.rate)).abs() / f < 0.05)
    }
}

/// A probe passes when its p99 is within the SLO, it achieved at least 95%
/// of the offered rate, and fewer than 0.1% of its requests failed.
pub(crate) fn passes(step: &Step, rate: f64, slo_p99_ms: f64) -> bool {
    step.latency_ms.p99 <= slo_p99_ms
        && step.load.achieved_rate >= 0.95 * rate
        && step.error_rate < 0.001
}

impl Lab<'_> {
    /// The SLO capacity search: double the rate until a probe fails, then
    /// bisect; the step is the best passing probe.
    pub(crate) async fn search(
        &self,
        mode: AuthMode,
        nodes: &[Managed],
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<Option<Step>> {
        let e = &self.plan.experiment;
        let mut search = RateSearch::new(e.slo_start_rate_per_node * nodes.len() as f64);
        let mut best: Option<Step> = None;
        let mut probes = Vec::new();
        for _ in 0..e.slo_probes {
            let rate = search.rate;
            let window = (
                self.plan.experiment.warmup.0,
                self.plan.experiment.duration.0,
            );
            let Some(step) = self.measure(mode, nodes, Some(rate), window, stop).await? else {
                return Ok(None);
            };
            let passed = passes(
                &step,
                rate,
                self.plan.experiment.slo_p99.0.as_secs_f64() * 1000.0,
            );
            probes.push(Probe {
                offered_rate: rate,
                achieved_rate: step.load.achieved_rate,
                p99_ms: step.latency_ms.p99,
                error_rate: step.error_rate,
                passed,
            });
            if self.options.progress {
                eprintln!(
                    "    probe {rate:>8.0} req/s: {}",
                    if passed { "pass" } else { "fail" }
                );
            }
            if passed {
                best = Some(step);
            }
            if search.next(passed) {
                break;
            }
        }
        let Some(mut step) = best else {
            anyhow::bail!(
                "{mode} with {} nodes failed the SLO even at {:.0} req/s: lower slo-start-rate-per-node",
                nodes.len(),
                e.slo_start_rate_per_node * nodes.len() as f64
            );
        };
        step.probes = probes;
        Ok(Some(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rates a search offers when the system passes up to `capacity`.
    fn offered(start: f64, capacity: f64, probes: usize) -> Vec<f64> {
        let mut search = RateSearch::new(start);
        let mut rates = Vec::new();
        for _ in 0..probes {
            rates.push(search.rate);
            if search.next(search.rate <= capacity) {
                break;
            }
        }
        rates
    }

    #[test]
    fn the_rate_doubles_while_probes_pass() {
        let mut search = RateSearch::new(100.0);
        assert!(!search.next(true));
        assert_eq!(search.rate, 200.0);
        assert!(!search.next(true));
        assert_eq!(search.rate, 400.0);
        assert_eq!(search.last_pass, 200.0);
        assert_eq!(search.failed_at, None);
    }

    #[test]
    fn after_a_failure_the_search_bisects_between_pass_and_fail() {
        let mut search = RateSearch::new(100.0);
        search.next(true); // 100 passes: 200
        search.next(true); // 200 passes: 400
        assert!(!search.next(false)); // 400 fails: halfway to 200
        assert_eq!(search.rate, 300.0);
        assert_eq!(search.failed_at, Some(400.0));
        assert!(!search.next(true)); // 300 passes: halfway to 400
        assert_eq!(search.rate, 350.0);
        assert!(!search.next(false)); // 350 fails: halfway to 300
        assert_eq!(search.rate, 325.0);
    }

    #[test]
    fn the_search_ends_when_pass_and_fail_are_within_five_percent() {
        let rates = offered(100.0, 330.0, 20);
        assert_eq!(rates[..5], [100.0, 200.0, 400.0, 300.0, 350.0]);
        let last = *rates.last().unwrap_or(&0.0);
        assert!(rates.len() < 20, "the search stopped by itself: {rates:?}");
        assert!((last - 330.0).abs() / 330.0 < 0.1, "{rates:?}");
    }

    #[test]
    fn a_first_failure_halves_the_rate() {
        let mut search = RateSearch::new(1000.0);
        assert!(!search.next(false));
        assert_eq!(search.rate, 500.0);
        assert_eq!(search.last_pass, 0.0);
    }

    #[test]
    fn a_probe_passes_only_within_the_slo_at_the_offered_rate_without_errors() {
        let mut step = crate::step::step_from_load(
            AuthMode::Token,
            1,
            authscale_schema::Capacity::Slo,
            Some(2000.0),
            crate::step::tests::load(),
            Default::default(),
            Default::default(),
            None,
        );
        step.error_rate = 0.0;
        // The synthetic load: 2,000 req/s achieved, p99 9 ms.
        assert!(passes(&step, 2000.0, 10.0));
        assert!(!passes(&step, 2000.0, 5.0), "p99 over the SLO");
        assert!(
            !passes(&step, 2200.0, 10.0),
            "under 95% of the offered rate"
        );
        step.error_rate = 0.001;
        assert!(!passes(&step, 2000.0, 10.0), "0.1% errors");
    }
}
