//! Paired, interleaved measurement: the order in which a sweep visits its
//! (mode, N) cells round after round, and how a cell's slices add up to
//! one `Step` that keeps every slice.
//!
//! Why rounds: the machine's speed drifts over minutes. A step measured as
//! one block takes whatever speed the machine had then, so two steps (two
//! modes, or N = 1 and N = 8) compared later differ by the drift as well as
//! by what they measure. Visiting every cell once per round, in short
//! slices, puts every cell under the same drift; the report then forms
//! ratios within a round (session/token at N, X(N)/X(1)) and its intervals
//! from the rounds. Odd rounds run the cells in reverse order, so a drift
//! that is linear over two rounds hits both sides of a pair equally.

use std::collections::BTreeMap;

use crate::step::step_from_load;
use authscale_schema::{AuthMode, Component, ComponentCpu, Slice, Step};

/// One cell of the schedule: a mode and N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    pub mode: AuthMode,
    pub nodes: u32,
}

/// The cells of every round: mode by mode, N rising for the first mode,
/// falling for the second, rising for the third (so where one mode's cells
/// end the next mode's start at the same N); forward in even rounds and
/// reversed in odd ones.
///
/// Why a mode's cells are consecutive: a store-bound session cell measured
/// right after a token cell (the store idle for a slice) varied 10–18%
/// slice to slice, against 4–7% when it followed another session cell
/// (same machine, same day); the scheduler has to settle the store and the
/// nodes that were idle again. Ratios between modes are still paired by
/// round.
pub(crate) fn schedule(modes: &[AuthMode], nodes: &[u32], rounds: u32) -> Vec<Vec<Cell>> {
    let forward: Vec<Cell> = modes
        .iter()
        .enumerate()
        .flat_map(|(i, &mode)| {
            let mut cells: Vec<Cell> = nodes.iter().map(|&n| Cell { mode, nodes: n }).collect();
            if i % 2 == 1 {
                cells.reverse();
            }
            cells
        })
        .collect();
    (0..rounds)
        .map(|round| {
            let mut cells = forward.clone();
            if round % 2 == 1 {
                cells.reverse();
            }
            cells
        })
        .collect()
}

/// The rounds after the first stage: round r visits, in the first
/// round's order (reversed in odd rounds, as before), only the cells that
/// need more than r rounds.
pub(crate) fn second_stage(
    forward: &[Cell],
    e: &authscale_schema::Experiment,
    need: &[authscale_schema::CellRounds],
) -> Vec<Vec<Cell>> {
    let rounds_of = |cell: &Cell| {
        need.iter()
            .find(|c| c.mode == cell.mode && c.nodes == cell.nodes)
            .map_or(0, |c| c.rounds)
    };
    let most = forward.iter().map(rounds_of).max().unwrap_or(0);
    (e.rounds..most)
        .map(|round| {
            let mut cells: Vec<Cell> = forward
                .iter()
                .copied()
                .filter(|c| rounds_of(c) > round)
                .collect();
            if round % 2 == 1 {
                cells.reverse();
            }
            cells
        })
        .collect()
}

/// A measured slice as a `Slice` record.
pub(crate) fn slice_of(step: &Step, round: u32, seq: u32, first_node: u32) -> Slice {
    let per_component = |f: fn(&ComponentCpu) -> f64| -> BTreeMap<Component, f64> {
        step.components.iter().map(|(k, c)| (*k, f(c))).collect()
    };
    Slice {
        round,
        seq,
        first_node,
        seconds: step.seconds,
        throughput: step.throughput,
        requests: step.requests,
        errors: step.errors,
        p50_ms: step.latency_ms.p50,
        p99_ms: step.latency_ms.p99,
        cpu_us_per_request: per_component(|c| c.cpu_us_per_request),
        utilization: per_component(|c| c.utilization),
        throttled: step
            .components
            .iter()
            .filter_map(|(k, c)| {
                let t = c.throttling?;
                (t.periods > 0).then(|| (*k, t.throttled_periods as f64 / t.periods as f64))
            })
            .collect(),
        store_commands_per_request: step.store_commands_per_request,
        store_reads_per_protected_request: step.store_reads_per_protected_request,
        runs_per_request: step.runs_per_request(),
    }
}

/// Adds up the slices of one cell (measured one after another, not at the
/// same time): counts, CPU seconds and histograms add; rates are totals
/// over the summed measured time. The slices themselves are kept.
pub(crate) fn combine(parts: Vec<(Step, Slice)>) -> anyhow::Result<Step> {
    anyhow::ensure!(!parts.is_empty(), "a cell with no slices");
    let loads: Vec<_> = parts.iter().map(|(s, _)| s.load.clone()).collect();
    let mut load = authscale_load::merge(&loads).map_err(|e| anyhow::anyhow!(e))?;
    let seconds: f64 = parts.iter().map(|(s, _)| s.seconds).sum::<f64>().max(1e-9);
    let successes: f64 = parts.iter().map(|(s, _)| s.throughput * s.seconds).sum();
    load.measured_seconds = seconds;
    load.success_rate = successes / seconds;
    load.achieved_rate = load.requests as f64 / seconds;
    load.config.connections = parts[0].0.load.config.connections;
    let first = &parts[0].0;
    let requests = load.requests.max(1);
    let mut components: BTreeMap<Component, ComponentCpu> = BTreeMap::new();
    for (step, _) in &parts {
        for (name, c) in &step.components {
            let total = components.entry(*name).or_insert_with(|| ComponentCpu {
                limit_cores: c.limit_cores,
                capped: c.capped,
                cpu_period_ms: c.cpu_period_ms,
                runs: Some(0),
                ..ComponentCpu::default()
            });
            total.cpu_seconds += c.cpu_seconds;
            // Counted only where every slice has them.
            total.runs = total.runs.zip(c.runs).map(|(a, b)| a + b);
            total.throttling = match (total.throttling, c.throttling) {
                (Some(a), Some(b)) => Some(a.plus(b)),
                (None, b) => b,
                (a, None) => a,
            };
        }
    }
    for c in components.values_mut() {
        c.cpu_us_per_request = c.cpu_seconds * 1e6 / requests as f64;
        c.utilization = c.cpu_seconds / (c.limit_cores * seconds);
    }
    let mut store_commands: BTreeMap<String, u64> = BTreeMap::new();
    for (step, _) in &parts {
        for (k, v) in &step.store_commands {
            *store_commands.entry(k.clone()).or_default() += v;
        }
    }
    let mut step = step_from_load(
        first.mode,
        first.nodes,
        first.capacity,
        None,
        load,
        components,
        store_commands,
        None,
    );
    step.store_delay = authscale_schema::StoreDelay::combine(
        parts.iter().filter_map(|(step, _)| step.store_delay),
    );
    step.slices = parts.into_iter().map(|(_, slice)| slice).collect();
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthMode::{Session as S, Token as T};

    #[test]
    fn the_schedule_visits_every_cell_once_per_round_and_alternates() {
        let rounds = schedule(&[S, T], &[1, 2, 4], 4);
        assert_eq!(rounds.len(), 4);
        for cells in &rounds {
            assert_eq!(cells.len(), 6);
            for mode in [S, T] {
                for n in [1, 2, 4] {
                    assert_eq!(
                        cells
                            .iter()
                            .filter(|c| **c == Cell { mode, nodes: n })
                            .count(),
                        1
                    );
                }
            }
        }
        // A mode's cells are consecutive, and where the modes meet they
        // share N: mode 0 rising, mode 1 falling.
        let order = |cells: &[Cell]| -> Vec<(AuthMode, u32)> {
            cells.iter().map(|c| (c.mode, c.nodes)).collect()
        };
        assert_eq!(
            order(&rounds[0]),
            vec![(S, 1), (S, 2), (S, 4), (T, 4), (T, 2), (T, 1)]
        );
        // Odd rounds reverse even ones: within two rounds, each mode comes
        // first once (ABBA).
        let reversed: Vec<Cell> = rounds[0].iter().rev().copied().collect();
        assert_eq!(rounds[1], reversed);
        assert_eq!(rounds[2], rounds[0]);
        assert_ne!(rounds[0][0].mode, rounds[1][0].mode);
        // Averaged over two rounds, every cell sits at the same mean position.
        let mean_position = |cell: Cell| -> f64 {
            rounds[..2]
                .iter()
                .map(|cells| cells.iter().position(|c| *c == cell).unwrap_or(0) as f64)
                .sum::<f64>()
                / 2.0
        };
        let positions: Vec<f64> = rounds[0].iter().map(|c| mean_position(*c)).collect();
        assert!(positions.iter().all(|p| (p - positions[0]).abs() < 1e-9));
    }

    #[test]
    fn the_second_stage_visits_only_the_cells_that_need_more() {
        use authscale_schema::{CellRounds, Experiment};
        let e = Experiment {
            modes: vec![AuthMode::Session, AuthMode::Token],
            nodes: vec![1, 2],
            rounds: 4,
            ..Experiment::default()
        };
        let forward = schedule(&[S, T], &[1, 2], 1).remove(0);
        let need = |mode, nodes, rounds| CellRounds {
            mode,
            nodes,
            rounds,
        };
        let needs = [
            need(AuthMode::Session, 1, 8),
            need(AuthMode::Session, 2, 8),
            need(AuthMode::Token, 1, 6),
            need(AuthMode::Token, 2, 4),
        ];
        let extra = second_stage(&forward, &e, &needs);
        let order = |cells: &Vec<Cell>| -> Vec<(AuthMode, u32)> {
            cells.iter().map(|c| (c.mode, c.nodes)).collect()
        };
        assert_eq!(extra.len(), 4, "rounds 5 to 8");
        assert_eq!(order(&extra[0]), vec![(S, 1), (S, 2), (T, 1)]);
        assert_eq!(order(&extra[1]), vec![(T, 1), (S, 2), (S, 1)]);
        assert_eq!(order(&extra[2]), vec![(S, 1), (S, 2)]);
        assert_eq!(order(&extra[3]), vec![(S, 2), (S, 1)]);
        // Nothing more needed: no second stage.
        let enough: Vec<CellRounds> = needs
            .iter()
            .map(|c| CellRounds { rounds: 4, ..*c })
            .collect();
        assert!(second_stage(&forward, &e, &enough).is_empty());
    }

    #[test]
    fn three_modes_snake_so_neighbours_share_n() {
        let n = AuthMode::None;
        let rounds = schedule(&[S, T, n], &[1, 8], 1);
        let order: Vec<(AuthMode, u32)> = rounds[0].iter().map(|c| (c.mode, c.nodes)).collect();
        assert_eq!(order, vec![(S, 1), (S, 8), (T, 8), (T, 1), (n, 1), (n, 8)]);
    }

    #[test]
    fn one_mode_one_round_is_the_plain_order() {
        let rounds = schedule(&[T], &[1, 8], 1);
        assert_eq!(
            rounds,
            vec![vec![Cell { mode: T, nodes: 1 }, Cell { mode: T, nodes: 8 }]]
        );
    }
}
