//! Split load generation: a run divided into segments that several
//! generators (hosts) run at once, and the exact merge of their results
//! (HdrHistograms add without loss).

use std::collections::BTreeMap;

use crate::result::encode;
use crate::{Histograms, Latencies};
use crate::{LatencySummary, LoadConfig, LoadError, LoadResult, LoopMode};

/// Segment `index` (1-based) of `count`: its share of the rate, of the
/// connections and of the users (a disjoint range of user indices).
pub fn segment(config: &LoadConfig, index: u64, count: u64) -> Result<LoadConfig, LoadError> {
    if count == 0 || index == 0 || index > count {
        return Err(LoadError::Invalid(format!(
            "--segment {index}/{count}: expected I/N with 1 <= I <= N"
        )));
    }
    let share = |total: u64| {
        // Spread the remainder over the first segments, so shares add up.
        total / count + u64::from(index <= total % count)
    };
    let before = |total: u64| {
        (1..index)
            .map(|i| total / count + u64::from(i <= total % count))
            .sum::<u64>()
    };
    let mut part = config.clone();
    part.connections = share(config.connections).max(1);
    part.max_requests = share(config.max_requests).max(1);
    part.scenario.users = share(config.scenario.users).max(1);
    part.scenario.first_user = config.scenario.first_user + before(config.scenario.users);
    if let LoopMode::Open { rate } = config.mode {
        part.mode = LoopMode::Open {
            rate: rate / count as f64,
        };
    }
    Ok(part)
}

/// Combines results of segments that ran at the same time into one.
pub fn merge(parts: &[LoadResult]) -> Result<LoadResult, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let decode = |encoded: &str| LoadResult::decode_histogram(encoded);
    let mut corrected = decode(&first.histograms.corrected)?;
    let mut uncorrected = decode(&first.histograms.uncorrected)?;
    let mut by_step: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut config = first.config.clone();
    config.connections = 0;
    config.scenario.users = 0;
    config.max_requests = 0;
    let mut rate = 0.0;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            corrected
                .add(decode(&part.histograms.corrected)?)
                .map_err(|e| format!("{e:?}"))?;
            uncorrected
                .add(decode(&part.histograms.uncorrected)?)
                .map_err(|e| format!("{e:?}"))?;
        }
        for (step, encoded) in &part.histograms.by_step {
            let h = decode(encoded)?;
            match by_step.get_mut(step) {
                Some(total) => total.add(h).map_err(|e| format!("{e:?}"))?,
                None => {
                    by_step.insert(step.clone(), h);
                }
            }
        }
        for (step, outcomes) in &part.by_step {
            let entry = counts.entry(step.clone()).or_default();
            for (outcome, n) in outcomes {
                *entry.entry(outcome.clone()).or_default() += n;
            }
        }
        config.connections += part.config.connections;
        config.scenario.users += part.config.scenario.users;
        config.max_requests += part.config.max_requests;
        config.scenario.first_user = config
            .scenario
            .first_user
            .min(part.config.scenario.first_user);
        if let LoopMode::Open { rate: r } = part.config.mode {
            rate += r;
        }
    }
    if let LoopMode::Open { .. } = config.mode {
        config.mode = LoopMode::Open { rate };
    }
    let sum = |f: fn(&LoadResult) -> f64| parts.iter().map(f).sum::<f64>();
    Ok(LoadResult {
        protocol: first.protocol.clone(),
        started_at: parts
            .iter()
            .map(|p| p.started_at)
            .min()
            .unwrap_or(first.started_at),
        measured_seconds: parts.iter().map(|p| p.measured_seconds).fold(0.0, f64::max),
        offered_rate: first
            .offered_rate
            .map(|_| sum(|p| p.offered_rate.unwrap_or(0.0))),
        achieved_rate: sum(|p| p.achieved_rate),
        success_rate: sum(|p| p.success_rate),
        requests: parts.iter().map(|p| p.requests).sum(),
        errors: parts.iter().map(|p| p.errors).sum(),
        by_step: counts,
        queued_at_end: parts.iter().map(|p| p.queued_at_end).sum(),
        in_flight_at_end: parts.iter().map(|p| p.in_flight_at_end).sum(),
        interrupted: parts.iter().any(|p| p.interrupted),
        cpu_seconds: sum(|p| p.cpu_seconds),
        latency_us: Latencies {
            corrected: LatencySummary::of(&corrected),
            uncorrected: LatencySummary::of(&uncorrected),
            by_step: by_step
                .iter()
                .map(|(k, h)| (k.clone(), LatencySummary::of(h)))
                .collect(),
        },
        histograms: Histograms {
            corrected: encode(&corrected),
            uncorrected: encode(&uncorrected),
            by_step: by_step
                .iter()
                .map(|(k, h)| (k.clone(), encode(h)))
                .collect(),
        },
        timeline: Vec::new(),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn segments_share_rate_connections_and_users_without_overlap() {
        let target = crate::resolve_target("http://127.0.0.1:9", false)
            .await
            .expect("target");
        let mut config = LoadConfig::new(target);
        config.mode = LoopMode::Open { rate: 1000.0 };
        config.connections = 5;
        config.scenario.users = 11;
        config.scenario.first_user = 100;
        let parts: Vec<LoadConfig> = (1..=3)
            .map(|i| segment(&config, i, 3).expect("segment"))
            .collect();
        assert_eq!(parts.iter().map(|p| p.connections).sum::<u64>(), 5);
        assert_eq!(parts.iter().map(|p| p.scenario.users).sum::<u64>(), 11);
        let starts: Vec<u64> = parts.iter().map(|p| p.scenario.first_user).collect();
        assert_eq!(starts, [100, 104, 108]);
        let rates: f64 = parts
            .iter()
            .map(|p| {
                if let LoopMode::Open { rate } = p.mode {
                    rate
                } else {
                    0.0
                }
            })
            .sum();
        assert!((rates - 1000.0).abs() < 1e-9);
        assert!(segment(&config, 0, 3).is_err() && segment(&config, 4, 3).is_err());
    }
}
