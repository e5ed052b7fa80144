//! Fault runs: a store outage or a node loss injected under load, the
//! store's persistence set for each, and the summary of what the load saw
//! (failures, recovery, lost credentials).

use authscale_schema::AuthMode;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use authscale_load::TimelinePoint;

use crate::Stop;
use crate::durability;
use crate::http;
use crate::lab::Lab;
use crate::process::Managed;
use crate::progress;
use authscale_schema::{FaultKind, Faults, Persistence};
use authscale_schema::{FaultRun, Run};

impl Lab<'_> {
    /// The plan's fault runs on the mode's nodes (started up to the fault
    /// runs' N), each kind under each of its store persistences; false
    /// when interrupted.
    pub(crate) async fn fault_runs(
        &self,
        mode: AuthMode,
        faults: &Faults,
        nodes: &mut Vec<Managed>,
        run: &mut Run,
        dir: &Path,
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<bool> {
        self.grow(mode, nodes, faults.nodes as usize, &mut run.pids)
            .await?;
        self.set_upstreams(nodes).await?;
        for &kind in &faults.kinds {
            for &persistence in faults.persistences(kind) {
                if kind == FaultKind::StoreOutage && !self.store.owned {
                    run.warnings
                        .push("store-outage skipped: the store is external (--redis-url)".into());
                    continue;
                }
                if let Some(pid) = self
                    .store
                    .set_persistence(persistence, || self.store_group())
                    .await?
                {
                    run.pids.push(pid);
                }
                for node in nodes.iter() {
                    http::wait_ok(node.addr(), "/readyz", Duration::from_secs(10)).await?;
                }
                let Some(fault) = self
                    .fault_run(mode, kind, faults, nodes, &mut run.pids, stop)
                    .await?
                else {
                    return Ok(false);
                };
                if self.options.progress {
                    eprintln!("{}", progress::fault_line(&fault));
                }
                run.faults.push(fault);
                run.write(dir)?;
            }
        }
        // The next mode's steps measure a store without persistence.
        if let Some(pid) = self
            .store
            .set_persistence(Persistence::None, || self.store_group())
            .await?
        {
            run.pids.push(pid);
        }
        Ok(true)
    }

    /// One fault run: load for the whole duration, the fault injected at
    /// `at` and repaired `length` later; None when interrupted. Around the
    /// load (not during it, so the load's figures stay its own), the
    /// durability users are set up and checked again.
    pub(crate) async fn fault_run(
        &self,
        mode: AuthMode,
        kind: FaultKind,
        faults: &Faults,
        nodes: &mut [Managed],
        pids: &mut Vec<u32>,
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<Option<FaultRun>> {
        let n = nodes.len() as u32;
        let targets = |nodes: &[Managed]| durability::Targets {
            proxy: self.proxy.addrs[0],
            nodes: nodes.iter().map(Managed::addr).collect(),
            seed: self.plan.experiment.seed,
        };
        let before = if faults.durability_users > 0 {
            Some(
                durability::before(
                    &targets(nodes),
                    self.load_users(),
                    faults.durability_users,
                    // A node cache may keep a logged-out session this long.
                    self.plan.experiment.session_cache_ttl.0 + Duration::from_secs(1),
                )
                .await
                .with_context(|| format!("{mode} {kind}: the durability users"))?,
            )
        } else {
            None
        };
        // Fault runs go through the proxy whatever the sweep's balancing: a
        // lost node is what the proxy's health checks are for.
        let mut config = self
            .load_config(mode, self.plan.connections(n), None)
            .await?;
        config.duration = faults.duration.0;
        config.timeout = Duration::from_secs(2);
        config.timeline = true;
        let victim = (nodes[0].name.clone(), nodes[0].addr().to_string());
        let load = authscale_load::run(config, stop.as_mut(), None);
        let inject = async {
            tokio::time::sleep(faults.at.0).await;
            match kind {
                FaultKind::StoreOutage => self.store.stop().await,
                FaultKind::NodeLoss => nodes[0].kill().await,
            }
            tokio::time::sleep(faults.length.0).await;
            let pid = match kind {
                FaultKind::StoreOutage => self.store.restart(self.store_group()?).await?,
                FaultKind::NodeLoss => {
                    nodes[0] = self.start_node_at(mode, &victim.0, &victim.1).await?;
                    nodes[0].pid
                }
            };
            Ok::<_, anyhow::Error>(pid)
        };
        let (result, restarted) = tokio::join!(load, inject);
        pids.push(restarted?);
        let result = result?;
        if result.interrupted {
            return Ok(None);
        }
        let mut fault = fault_summary(mode, kind, n, faults, &result.timeline);
        fault.persistence = self.store.persistence();
        if let Some(before) = before {
            fault.durability = Some(
                durability::after(&targets(nodes), before)
                    .await
                    .with_context(|| format!("{mode} {kind}: the durability check"))?,
            );
        }
        Ok(Some(fault))
    }
}

/// Reads a fault run's timeline: failures, recovery, lost sessions.
pub(crate) fn fault_summary(
    mode: AuthMode,
    kind: FaultKind,
    nodes: u32,
    faults: &Faults,
    timeline: &[TimelinePoint],
) -> FaultRun {
    let at = faults.at.0.as_secs_f64();
    let end = at + faults.length.0.as_secs_f64();
    let total = |p: &TimelinePoint| p.success + p.unauthorized + p.failed;
    // The last second is cut short by the end of the run: judge full seconds only.
    let full = &timeline[..timeline.len().saturating_sub(1)];
    let healthy = |p: &TimelinePoint| total(p) > 0 && p.failed as f64 <= 0.01 * total(p) as f64;
    let recovery_s = full
        .iter()
        .position(|p| {
            p.second as f64 >= end.floor()
                && full.iter().filter(|q| q.second >= p.second).all(healthy)
        })
        .map(|i| (full[i].second as f64 - end).max(0.0));
    FaultRun {
        mode: mode.to_owned(),
        kind,
        persistence: Persistence::None,
        nodes,
        at_s: at,
        length_s: faults.length.0.as_secs_f64(),
        requests: timeline.iter().map(total).sum(),
        failed: timeline.iter().map(|p| p.failed).sum(),
        failed_during_fault: timeline
            .iter()
            .filter(|p| p.second as f64 >= at.floor() && (p.second as f64) < end.ceil())
            .map(|p| p.failed)
            .sum(),
        recovery_s,
        sessions_lost: timeline
            .iter()
            .filter(|p| p.second as f64 >= at.floor())
            .map(|p| p.unauthorized)
            .sum(),
        durability: None,
        timeline: timeline.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fault at 3 s for 2 s in a 10 s run.
    fn plan() -> Faults {
        Faults {
            kinds: vec![FaultKind::NodeLoss],
            persistence: vec![Persistence::None],
            durability_users: 0,
            nodes: 2,
            duration: Duration::from_secs(10).into(),
            at: Duration::from_secs(3).into(),
            length: Duration::from_secs(2).into(),
        }
    }

    /// Three healthy seconds before the fault, then one point a second
    /// from the fault on: (success, unauthorized, failed).
    fn timeline(points: &[(u64, u64, u64)]) -> Vec<TimelinePoint> {
        [(100, 0, 0); 3]
            .iter()
            .chain(points)
            .enumerate()
            .map(|(second, &(success, unauthorized, failed))| TimelinePoint {
                second: second as u64,
                success,
                unauthorized,
                failed,
                p99_ms: 1.0,
            })
            .collect()
    }

    #[test]
    fn failures_during_the_fault_and_the_recovery_are_counted() {
        let timeline = timeline(&[
            (50, 5, 50), // 3 s: the fault
            (60, 3, 40), // 4 s
            (70, 2, 30), // 5 s: repaired, still failing
            (100, 0, 0), // 6 s: healthy from here on
            (100, 0, 0),
            (100, 0, 1),
            (10, 0, 10), // the last, cut-short second is not judged
        ]);
        let f = fault_summary(
            AuthMode::Session,
            FaultKind::NodeLoss,
            2,
            &plan(),
            &timeline,
        );
        assert_eq!(f.mode, AuthMode::Session);
        assert_eq!(f.nodes, 2);
        assert_eq!(f.at_s, 3.0);
        assert_eq!(f.length_s, 2.0);
        assert_eq!(f.failed, 131);
        assert_eq!(f.requests, 931);
        // Seconds 3 and 4 lie within [3, 5).
        assert_eq!(f.failed_during_fault, 90);
        assert_eq!(f.recovery_s, Some(1.0));
        assert_eq!(f.sessions_lost, 10);
        assert_eq!(f.timeline.len(), 10);
        assert!(f.durability.is_none());
    }

    #[test]
    fn a_run_that_never_heals_has_no_recovery() {
        let timeline = timeline(&[
            (0, 0, 100),
            (0, 0, 100),
            (0, 0, 100),
            (90, 0, 10),
            (0, 0, 0),
        ]);
        let f = fault_summary(
            AuthMode::Token,
            FaultKind::StoreOutage,
            1,
            &plan(),
            &timeline,
        );
        assert_eq!(f.recovery_s, None);
        assert_eq!(f.failed_during_fault, 200);
        assert_eq!(f.sessions_lost, 0);
    }

    #[test]
    fn recovery_at_the_repair_counts_as_none_later() {
        let timeline = timeline(&[
            (0, 0, 100),
            (0, 0, 100),
            (100, 0, 0),
            (100, 0, 0),
            (100, 0, 0),
        ]);
        let f = fault_summary(AuthMode::Token, FaultKind::NodeLoss, 1, &plan(), &timeline);
        assert_eq!(f.recovery_s, Some(0.0));
    }
}
