//! Mean-value analysis of the cluster as a closed queueing network: each
//! of N nodes has its own M connections (a class), which queue at that
//! node, then at one of K store shards, then spend a fixed delay (round
//! trips). The classes are identical, so one class's equations describe
//! them all; they are solved with the Bard–Schweitzer approximation of
//! multi-class MVA (exact MVA is exponential in the number of classes).

/// The network for N identical node classes.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    pub nodes: u32,
    /// Connections per node.
    pub connections: u32,
    /// CPU time per request at its node, seconds of the node's capacity.
    pub node_demand_s: f64,
    pub shards: u32,
    /// Store time per request, seconds of one shard's capacity, before
    /// spreading over the shards (each shard gets 1/K of it on average).
    pub store_demand_s: f64,
    /// Time no queue holds a request (round trips, multi-core slack), s.
    pub delay_s: f64,
}

/// The steady state.
#[derive(Debug, Clone, Copy)]
pub struct Solution {
    /// Requests per second, all nodes together.
    pub throughput: f64,
    /// Mean time a request spends in the network, seconds.
    pub response_s: f64,
    pub node_utilization: f64,
    /// Of the (each) shard.
    pub store_utilization: f64,
    /// Requests at one node, queued or in service.
    pub node_queue: f64,
    /// Requests at one shard (all nodes' together), queued or in service.
    pub store_queue: f64,
}

impl Network {
    /// Bard–Schweitzer: a connection arriving at a station sees the
    /// queue less its own (M−1)/M share of its class, iterated to a fixed point.
    pub fn solve(&self) -> Solution {
        let n = f64::from(self.nodes);
        let m = f64::from(self.connections);
        let k = f64::from(self.shards);
        let shard_demand = self.store_demand_s / k;
        // Per class: customers at its node, and at one shard.
        let (mut q_node, mut q_shard) = (m / 2.0, m / (2.0 * k));
        let mut x = 0.0;
        for _ in 0..100_000 {
            let r_node = self.node_demand_s * (1.0 + q_node * (m - 1.0) / m);
            let r_shard = shard_demand * (1.0 + n * q_shard - q_shard / m);
            let response = r_node + k * r_shard + self.delay_s;
            let next = m / response;
            let (qn, qs) = (next * r_node, next * r_shard);
            let settled = (next - x).abs() <= 1e-10 * next
                && (qn - q_node).abs() <= 1e-9 * m
                && (qs - q_shard).abs() <= 1e-9 * m;
            x = next;
            q_node = qn;
            q_shard = qs;
            if settled {
                break;
            }
        }
        Solution {
            throughput: n * x,
            response_s: m / x,
            node_utilization: x * self.node_demand_s,
            store_utilization: n * x * shard_demand,
            node_queue: q_node,
            store_queue: n * q_shard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact single-class MVA over queueing stations (demands) and a delay.
    fn exact(demands: &[f64], delay: f64, population: u32) -> f64 {
        let mut queue = vec![0.0; demands.len()];
        let mut x = 0.0;
        for n in 1..=population {
            let r: Vec<f64> = demands
                .iter()
                .zip(&queue)
                .map(|(d, q)| d * (1.0 + q))
                .collect();
            x = f64::from(n) / (delay + r.iter().sum::<f64>());
            queue = r.iter().map(|r| x * r).collect();
        }
        x
    }

    fn net(nodes: u32, connections: u32, node: f64, store: f64, delay: f64) -> Network {
        Network {
            nodes,
            connections,
            node_demand_s: node,
            shards: 1,
            store_demand_s: store,
            delay_s: delay,
        }
    }

    #[test]
    fn one_connection_sees_no_queue() {
        let s = net(1, 1, 0.002, 0.001, 0.003).solve();
        assert!((s.response_s - 0.006).abs() < 1e-12);
        assert!((s.throughput - 1000.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn one_node_agrees_with_exact_mva() {
        for (m, node, store, delay) in [
            (8, 500e-6, 225e-6, 0.0),
            (8, 25e-6, 9e-6, 300e-6),
            (3, 1.0, 0.5, 2.0),
            (64, 1e-3, 1e-3, 1e-3),
        ] {
            let approx = net(1, m, node, store, delay).solve().throughput;
            let exact = exact(&[node, store], delay, m);
            assert!(
                (approx - exact).abs() / exact < 0.05,
                "M={m}: {approx} vs exact {exact}"
            );
        }
    }

    #[test]
    fn little_and_the_bottleneck_law_hold() {
        let s = net(50, 8, 500e-6, 225e-6, 1e-4).solve();
        // The store (225 µs a request) caps everything at 4444/s.
        assert!(s.throughput <= 1.0 / 225e-6 * (1.0 + 1e-9));
        assert!(s.throughput > 0.99 / 225e-6, "{}", s.throughput);
        assert!((s.throughput * s.response_s - 400.0).abs() < 1e-6);
        assert!(s.store_utilization > 0.99 && s.store_utilization <= 1.0 + 1e-9);
    }
}
