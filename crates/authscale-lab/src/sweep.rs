//! `sweep`: start a store and a proxy, then for each mode grow the node set
//! through the experiment's N values, measure each step, and record
//! everything, rewriting the results after every step. Steps run as blocks
//! (one mode and N after the other) or interleaved (`slices`).

use authscale_schema::AuthMode;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::Stop;
use crate::http;
use crate::lab::{Finished, Lab, LabOptions};
use crate::process::Managed;
use crate::progress;
use authscale_schema::{Capacity, Plan};
use authscale_schema::{Run, Slice, Step};

/// Runs the sweep. `stop` (Ctrl-C) ends it early; the steps measured so far
/// stay in the results, which say the run was interrupted.
pub async fn sweep(
    plan: Plan,
    options: LabOptions,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Finished> {
    if let Some(external) = plan.experiment.external.clone() {
        return crate::external::sweep_external(plan, options, &external, stop).await;
    }
    if options.progress {
        eprintln!("{}", progress::TimeToGo::of(&plan).line());
    }
    let (lab, mut run, dir) = Lab::start(&plan, &options).await?;
    tokio::pin!(stop);
    let mut stop: Stop<'_> = stop;
    let outcome = lab.modes(&mut run, &dir, &mut stop).await;
    lab.close(&mut run, &dir, outcome)?;
    Ok(Finished { dir, run })
}

impl Lab<'_> {
    /// Every mode in turn; false when interrupted.
    async fn modes(&self, run: &mut Run, dir: &Path, stop: &mut Stop<'_>) -> anyhow::Result<bool> {
        if self.plan.interleaved() {
            return self.interleaved(run, dir, stop).await;
        }
        for &mode in &self.plan.experiment.modes {
            self.store.flush().await?;
            self.set_policy(mode).await?;
            let mut nodes: Vec<Managed> = Vec::new();
            for &n in &self.plan.experiment.nodes {
                self.grow(mode, &mut nodes, n as usize, &mut run.pids)
                    .await?;
                self.set_upstreams(&nodes).await?;
                for node in &nodes {
                    http::wait_ok(node.addr(), "/readyz", Duration::from_secs(10)).await?;
                }
                let window = (
                    self.plan.experiment.warmup.0,
                    self.plan.experiment.duration.0,
                );
                let step = match self.plan.experiment.capacity {
                    Capacity::Closed => self.measure(mode, &nodes, None, window, stop).await?,
                    Capacity::Slo => self.search(mode, &nodes, stop).await?,
                };
                let Some(step) = step else { return Ok(false) };
                self.check_limits(&step, run);
                if self.options.progress {
                    eprintln!("{}", progress::step_line(&step, run.baseline(mode)));
                }
                run.steps.push(step);
                run.write(dir)?;
            }
            if !self.after_steps(mode, &mut nodes, run, dir, stop).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The interleaved sweep: every mode's nodes run side by side (idle
    /// ones cost nothing); round after round, the proxy is pointed at each
    /// (mode, N) set in turn for one slice. Steps are written once every
    /// round is measured.
    async fn interleaved(
        &self,
        run: &mut Run,
        dir: &Path,
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<bool> {
        let e = &self.plan.experiment;
        self.store.flush().await?;
        // Every mode's nodes, started once and used for all its cells.
        let mut sets: BTreeMap<AuthMode, Vec<Managed>> = BTreeMap::new();
        for &mode in &e.modes {
            let mut nodes = Vec::new();
            self.grow(
                mode,
                &mut nodes,
                self.plan.max_nodes() as usize,
                &mut run.pids,
            )
            .await?;
            for node in &nodes {
                http::wait_ok(node.addr(), "/readyz", Duration::from_secs(10)).await?;
            }
            sets.insert(mode, nodes);
        }
        let schedule = crate::slices::schedule(&e.modes, &e.nodes, e.rounds);
        // One unrecorded warm-up visit of every cell: first connections,
        // first logins, the store's first keys.
        let warm = (
            Duration::ZERO,
            self.plan
                .experiment
                .slice_warmup
                .0
                .max(Duration::from_millis(200)),
        );
        for cell in &schedule[0] {
            let nodes = &sets[&cell.mode][..cell.nodes as usize];
            self.point_at(cell.mode, nodes).await?;
            if self
                .measure(cell.mode, nodes, None, warm, stop)
                .await?
                .is_none()
            {
                return Ok(false);
            }
        }
        let window = (
            self.plan.experiment.slice_warmup.0,
            self.plan.experiment.slice.0,
        );
        let mut cells: BTreeMap<(AuthMode, u32), Vec<(Step, Slice)>> = BTreeMap::new();
        let mut schedule = schedule;
        let mut seq = 0;
        let steps_before = run.steps.len();
        let clock = std::time::Instant::now();
        let needed = self.options.needed.as_ref().filter(|_| e.precision > 0.0);
        let mut round = 0;
        while round < schedule.len() {
            let order = schedule[round].clone();
            if let Some(stages) = run.stages.as_mut() {
                // The second stage stops where the next round would not
                // fit in the time allowed.
                let per_slice = stages.first_seconds
                    / (f64::from(stages.first) * schedule[0].len() as f64).max(1.0);
                let next = clock.elapsed().as_secs_f64() + per_slice * order.len() as f64;
                if next > self.plan.experiment.max_time.0.as_secs_f64() {
                    stages.cut_by_time = true;
                    break;
                }
            }
            let started = std::time::Instant::now();
            // Each round starts every cell one node further along its
            // mode's set, so X(1) is not one process's speed for the whole
            // run: the N = 1 cell visits every node in turn, and every cell
            // shares its round's first node with the others it is paired
            // with.
            if round > 0 {
                for set in sets.values_mut() {
                    set.rotate_left(1);
                }
            }
            let first_node = round % sets.values().next().map_or(1, Vec::len).max(1);
            for cell in &order {
                let nodes = &sets[&cell.mode][..cell.nodes as usize];
                self.point_at(cell.mode, nodes).await?;
                let Some(step) = self.measure(cell.mode, nodes, None, window, stop).await? else {
                    return Ok(false);
                };
                let slice = crate::slices::slice_of(&step, round as u32, seq, first_node as u32);
                seq += 1;
                cells
                    .entry((cell.mode, cell.nodes))
                    .or_default()
                    .push((step, slice));
            }
            round += 1;
            // The steps so far (every round measured until now), so an
            // interrupted sweep keeps its finished rounds.
            run.steps.truncate(steps_before);
            for &mode in &e.modes {
                for &n in &e.nodes {
                    if let Some(parts) = cells.get(&(mode, n)) {
                        run.steps.push(crate::slices::combine(parts.clone())?);
                    }
                }
            }
            if let Some(needed) = needed
                && round == e.rounds as usize
            {
                // The first stage is measured: the rounds each cell needs.
                let need = (needed.0)(run);
                let extra = crate::slices::second_stage(&schedule[0], e, &need);
                let stages = authscale_schema::Stages {
                    first: e.rounds,
                    needed: need,
                    rounds: e.rounds,
                    cut_by_time: false,
                    first_seconds: clock.elapsed().as_secs_f64(),
                    seconds: 0.0,
                };
                if self.options.progress {
                    eprintln!(
                        "{}",
                        progress::second_stage_line(&stages, &extra, e.precision)
                    );
                }
                schedule.extend(extra);
                run.stages = Some(stages);
            }
            if let Some(stages) = run.stages.as_mut() {
                stages.rounds = round as u32;
                stages.seconds = clock.elapsed().as_secs_f64();
            }
            if self.options.progress {
                let left = progress::time_left(
                    round,
                    schedule.len(),
                    clock.elapsed().as_secs_f64(),
                    run.stages
                        .as_ref()
                        .map(|_| self.plan.experiment.max_time.0.as_secs_f64()),
                    progress::TimeToGo::of(self.plan).after,
                );
                eprintln!(
                    "  round {round}/{}: {} slices in {:.1} s; about {} left",
                    schedule.len(),
                    order.len(),
                    started.elapsed().as_secs_f64(),
                    progress::minutes(left)
                );
            }
            run.write(dir)?;
        }
        run.steps.truncate(steps_before);
        for &mode in &e.modes {
            for &n in &e.nodes {
                let parts = cells.remove(&(mode, n)).unwrap_or_default();
                let step = crate::slices::combine(parts)?;
                self.check_limits(&step, run);
                if self.options.progress {
                    eprintln!("{}", progress::step_line(&step, run.baseline(mode)));
                }
                run.steps.push(step);
            }
        }
        run.write(dir)?;
        for &mode in &e.modes {
            let Some(nodes) = sets.get_mut(&mode) else {
                continue;
            };
            self.point_at(mode, nodes).await?;
            if !self.after_steps(mode, nodes, run, dir, stop).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// After a mode's steps: the revocation probe and the fault runs, on
    /// the mode's nodes; false when interrupted.
    async fn after_steps(
        &self,
        mode: AuthMode,
        nodes: &mut Vec<Managed>,
        run: &mut Run,
        dir: &Path,
        stop: &mut Stop<'_>,
    ) -> anyhow::Result<bool> {
        if mode.has_credential() && !self.plan.experiment.revocation_window.0.is_zero() {
            let addrs: Vec<_> = nodes.iter().map(Managed::addr).collect();
            let probe = crate::revocation::probe(
                mode,
                self.proxy.addrs[0],
                &addrs,
                self.plan.experiment.seed,
                // A user the load generator did not use.
                self.directory_size() - 1,
                self.plan.experiment.revocation_window.0,
            )
            .await?;
            if self.options.progress {
                eprintln!("{}", progress::revocation_line(&probe));
            }
            run.revocations.push(probe);
            run.write(dir)?;
        }
        match &self.plan.experiment.faults {
            Some(faults) => self.fault_runs(mode, faults, nodes, run, dir, stop).await,
            None => Ok(true),
        }
    }
}
