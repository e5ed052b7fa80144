//! What the analysis concluded about one mode, as data, and the report's
//! sentence written from it.

use authscale_schema::{AuthMode, Component, Step};
use serde::Serialize;

use super::{Bottleneck, HARNESS_LIMIT, Point, SATURATED};

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// What the analysis concluded about one mode, as data: how throughput
/// grew, what limited it (with the figures it was chosen from), and the
/// share of failed requests. `Display` writes the report's sentence from
/// it; nothing else decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub mode: AuthMode,
    pub shape: Shape,
    /// None when no step was measured.
    pub finding: Option<Finding>,
    /// The share of requests that failed at the largest N, when above 1%.
    pub failed: Option<(f64, u32)>,
}

/// How throughput grew with N.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Shape {
    NoSteps,
    OneStep {
        n: u32,
        throughput: f64,
    },
    /// Efficiency stayed under the knee bar from some N on.
    Flattens {
        before: (u32, f64, f64),
        last: (u32, f64),
        growth: f64,
        ideal: f64,
    },
    /// No knee: (N, E(N), X) at the largest N, and X at the smallest.
    Linear {
        last: (u32, f64, f64),
        first: (u32, f64),
    },
}

/// What limited the largest step, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// An external deployment: its CPUs are outside the lab's view.
    NotMeasured,
    /// The proxy or the load generator near its core (share of it) at N.
    Harness {
        component: Component,
        utilization: f64,
        n: u32,
    },
    /// The store at its budget (cores; None: uncapped, one core) from N on.
    Store {
        utilization: f64,
        budget: Option<f64>,
        from: u32,
        commands_per_request: f64,
    },
    /// The nodes at their budgets (cores each), and the share of quota
    /// periods they were throttled in where the kernel counted it.
    Nodes {
        utilization: f64,
        budget_each: f64,
        throttled_share: Option<f64>,
    },
    /// Nothing at its budget at N: utilizations of nodes, store, proxy
    /// (None: no proxy in the path, client-side balancing), load generator.
    NoneSaturated {
        n: u32,
        utilization: [f64; 3],
        proxy: Option<f64>,
    },
}

impl Finding {
    pub fn bottleneck(&self) -> Bottleneck {
        match self {
            Finding::NotMeasured => Bottleneck::NotMeasured,
            Finding::Harness { component, .. } => Bottleneck::Component(*component),
            Finding::Store { .. } => Bottleneck::Component(Component::Store),
            Finding::Nodes { .. } => Bottleneck::Component(Component::Nodes),
            Finding::NoneSaturated { .. } => Bottleneck::None,
        }
    }
}

impl Verdict {
    pub fn bottleneck(&self) -> Bottleneck {
        self.finding
            .as_ref()
            .map_or(Bottleneck::None, Finding::bottleneck)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = self.mode;
        match &self.shape {
            Shape::NoSteps => return write!(f, "{mode}: no steps were measured."),
            Shape::OneStep { n, throughput } => write!(
                f,
                "{mode}: one step measured (N={n}, {throughput:.0} req/s)."
            )?,
            Shape::Flattens {
                before: (n0, e0, x0),
                last: (n, e),
                growth,
                ideal,
            } => write!(
                f,
                "{mode}: throughput scales to N={n0} (E={e0:.2}, {x0:.0} req/s), then flattens: from N={n0} to N={n} it grows {} where linear scaling would add {} (E({n})={e:.2}).",
                pct(*growth),
                pct(*ideal)
            )?,
            Shape::Linear {
                last: (n, e, x),
                first: (n1, x1),
            } => write!(
                f,
                "{mode}: scales nearly linearly to N={n} (E({n})={e:.2}, {x:.0} req/s against {x1:.0} at N={n1})."
            )?,
        }
        match &self.finding {
            None => {}
            Some(Finding::NotMeasured) => f.write_str(
                " Bottleneck: not measured — this deployment is external, so the nodes' and the balancer's CPU are outside the lab's view; the throughput shape above is the evidence.",
            )?,
            Some(Finding::Harness {
                component,
                utilization,
                n,
            }) => write!(
                f,
                " Caution: the {} used {} of its core at N={n}; the harness, not the system under test, may have set the limit.",
                if *component == Component::Proxy {
                    component.as_str()
                } else {
                    "load generator"
                },
                pct(*utilization)
            )?,
            Some(Finding::Store {
                utilization,
                budget,
                from,
                commands_per_request,
            }) => write!(
                f,
                " Bottleneck: the store, at {} of {} from N={from} on ({commands_per_request:.2} store commands per request).",
                pct(*utilization),
                match budget {
                    Some(cores) => format!("its {cores:.2}-core budget"),
                    None => "one core (uncapped)".into(),
                }
            )?,
            Some(Finding::Nodes {
                utilization,
                budget_each,
                throttled_share,
            }) => write!(
                f,
                " Bottleneck: the nodes themselves, at {} of their {budget_each:.2}-core budgets{} — each node's own CPU is the limit, and adding nodes adds capacity.",
                pct(*utilization),
                throttled_share.map_or(String::new(), |share| format!(
                    " ({} of quota periods throttled)",
                    pct(share)
                ))
            )?,
            Some(Finding::NoneSaturated {
                n,
                utilization: [nodes, store, load],
                proxy,
            }) => write!(
                f,
                " No component reached its budget at N={n} (nodes {}, store {}, {}load generator {}): the limit is latency or contention outside the measured CPUs.",
                pct(*nodes),
                pct(*store),
                proxy.map_or(String::new(), |p| format!("proxy {}, ", pct(p))),
                pct(*load)
            )?,
        }
        if let Some((rate, n)) = self.failed {
            write!(f, " {} of requests failed at N={n}.", pct(rate))?;
        }
        Ok(())
    }
}

/// Names the component that limited the largest step, from the recorded
/// figures only.
pub(super) fn verdict(
    mode: AuthMode,
    points: &[Point],
    steps: &[&Step],
    knee: Option<u32>,
) -> Verdict {
    let (Some(first), Some(last), Some(last_step)) = (points.first(), points.last(), steps.last())
    else {
        return Verdict {
            mode,
            shape: Shape::NoSteps,
            finding: None,
            failed: None,
        };
    };
    let util = |c: Component| last.utilization.get(&c).copied().unwrap_or(0.0);
    let shape = if points.len() == 1 {
        Shape::OneStep {
            n: first.n,
            throughput: first.throughput,
        }
    } else if let Some(knee) = knee {
        let before = points
            .iter()
            .take_while(|p| p.n < knee)
            .last()
            .unwrap_or(first);
        Shape::Flattens {
            before: (before.n, before.efficiency, before.throughput),
            last: (last.n, last.efficiency),
            growth: last.throughput / before.throughput - 1.0,
            ideal: f64::from(last.n) / f64::from(before.n) - 1.0,
        }
    } else {
        Shape::Linear {
            last: (last.n, last.efficiency, last.throughput),
            first: (first.n, first.throughput),
        }
    };
    let saturated_from = |c: Component| {
        points
            .iter()
            .find(|p| p.utilization.get(&c).copied().unwrap_or(0.0) >= SATURATED)
            .map(|p| p.n)
    };
    use Component::{Load, Nodes, Proxy, Store};
    // The harness first (it can hide anything), then the store, whose
    // counters an external deployment also gives; the nodes only where
    // their CPU was measured.
    let finding = if [Proxy, Load].into_iter().any(|c| util(c) >= HARNESS_LIMIT) {
        let component = if util(Proxy) >= util(Load) {
            Proxy
        } else {
            Load
        };
        Finding::Harness {
            component,
            utilization: util(component),
            n: last.n,
        }
    } else if util(Store) >= SATURATED && last.store_cmds_per_req > 0.1 {
        let store = last_step.cpu(Store);
        Finding::Store {
            utilization: util(Store),
            budget: (store.capped || store.limit_cores != 1.0).then_some(store.limit_cores),
            from: saturated_from(Store).unwrap_or(last.n),
            commands_per_request: last.store_cmds_per_req,
        }
    } else if !last.utilization.contains_key(&Nodes) {
        Finding::NotMeasured
    } else if util(Nodes) >= SATURATED {
        Finding::Nodes {
            utilization: util(Nodes),
            budget_each: last_step.cpu(Nodes).limit_cores / f64::from(last.n),
            throttled_share: last_step
                .cpu(Nodes)
                .throttling
                .map(|_| last.node_throttled_share),
        }
    } else {
        Finding::NoneSaturated {
            n: last.n,
            utilization: [util(Nodes), util(Store), util(Load)],
            proxy: last.utilization.get(&Proxy).copied(),
        }
    };
    Verdict {
        mode,
        shape,
        finding: Some(finding),
        failed: (last.error_rate > 0.01).then_some((last.error_rate, last.n)),
    }
}
