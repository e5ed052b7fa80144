//! The modelled store distance as the nodes achieved it: their
//! `authscale_store_rtt_achieved_seconds` sum and count, read at a step's
//! two snapshots, give the step's mean achieved delay.

use crate::http;
use crate::process::Managed;
use authscale_schema::StoreDelay;

/// The nodes' delay counters, summed, at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Counters {
    calls: u64,
    seconds: f64,
}

/// Reads every node's counters (one `/metrics` call each).
pub(crate) async fn read(nodes: &[Managed]) -> anyhow::Result<Counters> {
    let mut total = Counters::default();
    for node in nodes {
        let (status, body) = http::call(node.addr(), "GET", "/metrics", "").await?;
        anyhow::ensure!(status == 200, "{}/metrics answered {status}", node.addr());
        let one = parse(&body);
        total.calls += one.calls;
        total.seconds += one.seconds;
    }
    Ok(total)
}

fn parse(metrics: &str) -> Counters {
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    Counters {
        calls: value("authscale_store_rtt_achieved_seconds_count") as u64,
        seconds: value("authscale_store_rtt_achieved_seconds_sum"),
    }
}

/// The step's achieved delay between two readings; none without calls.
pub(crate) fn between(start: Counters, end: Counters) -> Option<StoreDelay> {
    let calls = end.calls.saturating_sub(start.calls);
    (calls > 0).then(|| StoreDelay {
        calls,
        mean_us: (end.seconds - start.seconds).max(0.0) * 1e6 / calls as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_comes_from_the_difference_of_two_readings() {
        let start = parse(
            "authscale_store_rtt_achieved_seconds_sum 0.5\nauthscale_store_rtt_achieved_seconds_count 2000\n",
        );
        let end = parse(
            "# TYPE authscale_store_rtt_achieved_seconds summary\nauthscale_store_rtt_achieved_seconds_sum 0.71\nauthscale_store_rtt_achieved_seconds_count 3000\n",
        );
        let delay = between(start, end).expect("calls");
        assert_eq!(delay.calls, 1000);
        assert!((delay.mean_us - 210.0).abs() < 1e-6, "{delay:?}");
        assert_eq!(between(end, end), None);
    }

    #[test]
    fn slices_combine_weighted_by_their_calls() {
        let d = StoreDelay::combine([
            StoreDelay {
                calls: 100,
                mean_us: 200.0,
            },
            StoreDelay {
                calls: 300,
                mean_us: 220.0,
            },
        ])
        .expect("calls");
        assert_eq!(d.calls, 400);
        assert!((d.mean_us - 215.0).abs() < 1e-9);
        assert_eq!(StoreDelay::combine([]), None);
    }
}
