//! Mean-value analysis of a closed queueing network: a fixed number of
//! connections cycle through queueing stations (each a group of identical
//! copies a request visits one of) and one pure delay. Exact for
//! product-form networks; above `EXACT_LIMIT` connections the
//! Bard–Schweitzer approximation replaces the exact recursion.

/// Above this many connections the exact recursion (one pass per
/// connection) gives way to the Bard–Schweitzer fixed point.
pub const EXACT_LIMIT: u64 = 200_000;

/// A group of identical queueing stations; each request visits one copy.
#[derive(Debug, Clone, Copy)]
pub struct Station {
    pub copies: u32,
    /// Service demand per request at one copy, in seconds: the visit
    /// ratio (1/copies) times the service time of a visit.
    pub demand_s: f64,
}

/// A closed network: the stations and the delay every request also spends
/// (round trips, time no queue holds it).
#[derive(Debug, Clone)]
pub struct Network {
    pub stations: Vec<Station>,
    pub delay_s: f64,
}

/// The steady state for one population.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Requests per second.
    pub throughput: f64,
    /// Mean time a request spends in the network (queues and delay), s.
    pub response_s: f64,
    /// Utilization of one copy of each station, in station order.
    pub utilization: Vec<f64>,
    /// Whether the exact recursion was used.
    pub exact: bool,
}

impl Network {
    pub fn solve(&self, population: u64) -> Solution {
        if population == 0 {
            return Solution {
                throughput: 0.0,
                response_s: self.delay_s,
                utilization: vec![0.0; self.stations.len()],
                exact: true,
            };
        }
        if population <= EXACT_LIMIT {
            self.exact(population)
        } else {
            self.schweitzer(population)
        }
    }

    fn finish(&self, throughput: f64, residence: &[f64], exact: bool) -> Solution {
        let response_s = self.delay_s
            + self
                .stations
                .iter()
                .zip(residence)
                .map(|(s, r)| f64::from(s.copies) * r)
                .sum::<f64>();
        Solution {
            throughput,
            response_s,
            utilization: self
                .stations
                .iter()
                .map(|s| throughput * s.demand_s)
                .collect(),
            exact,
        }
    }

    /// The exact recursion: R_k(n) = D_k (1 + Q_k(n-1)), X(n) = n / (Z + Σ R),
    /// Q_k(n) = X(n) R_k(n), per copy (copies of a station are symmetric).
    fn exact(&self, population: u64) -> Solution {
        let mut queue = vec![0.0; self.stations.len()];
        let mut residence = vec![0.0; self.stations.len()];
        let mut throughput = 0.0;
        for n in 1..=population {
            let mut total = self.delay_s;
            for (k, s) in self.stations.iter().enumerate() {
                residence[k] = s.demand_s * (1.0 + queue[k]);
                total += f64::from(s.copies) * residence[k];
            }
            throughput = n as f64 / total;
            for (k, r) in residence.iter().enumerate() {
                queue[k] = throughput * r;
            }
        }
        self.finish(throughput, &residence, true)
    }

    /// Bard–Schweitzer: Q_k(n-1) ≈ Q_k(n) (n-1)/n, iterated to a fixed point.
    fn schweitzer(&self, population: u64) -> Solution {
        let n = population as f64;
        let copies: f64 = self.stations.iter().map(|s| f64::from(s.copies)).sum();
        let mut queue = vec![n / copies.max(1.0); self.stations.len()];
        let mut residence = vec![0.0; self.stations.len()];
        let mut throughput = 0.0;
        for _ in 0..10_000 {
            let mut total = self.delay_s;
            for (k, s) in self.stations.iter().enumerate() {
                residence[k] = s.demand_s * (1.0 + queue[k] * (n - 1.0) / n);
                total += f64::from(s.copies) * residence[k];
            }
            let next = n / total;
            let mut moved: f64 = 0.0;
            for (k, r) in residence.iter().enumerate() {
                let q = next * r;
                moved = moved.max((q - queue[k]).abs());
                queue[k] = q;
            }
            let settled = (next - throughput).abs() <= 1e-9 * next && moved <= 1e-6;
            throughput = next;
            if settled {
                break;
            }
        }
        self.finish(throughput, &residence, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(demand_s: f64, delay_s: f64) -> Network {
        Network {
            stations: vec![Station {
                copies: 1,
                demand_s,
            }],
            delay_s,
        }
    }

    #[test]
    fn one_customer_sees_no_queue() {
        let s = single(0.002, 0.003).solve(1);
        assert!((s.response_s - 0.005).abs() < 1e-12);
        assert!((s.throughput - 200.0).abs() < 1e-9);
    }

    #[test]
    fn a_saturated_station_caps_throughput_at_its_rate() {
        // Many customers, one 1 ms station: X -> 1000/s, and Little's law
        // holds for the whole network.
        let s = single(0.001, 0.0).solve(500);
        assert!((s.throughput - 1000.0).abs() < 1e-6, "{}", s.throughput);
        assert!((s.throughput * s.response_s - 500.0).abs() < 1e-6);
        assert!((s.utilization[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_machine_repairman_model_matches_its_closed_form() {
        // One station (D = 1), think time Z = 2, three customers: the
        // normalisation constant gives X = Σ_{k<3} Z^k/k! ratios; exact MVA:
        // n=1: R=1, X=1/3; n=2: R=1+1/3, X=2/(10/3)=0.6; n=3: Q=0.8, R=1.8, X=3/3.8.
        let s = single(1.0, 2.0).solve(3);
        assert!((s.throughput - 3.0 / 3.8).abs() < 1e-12);
    }

    #[test]
    fn schweitzer_agrees_with_the_exact_recursion() {
        let net = Network {
            stations: vec![
                Station {
                    copies: 8,
                    demand_s: 50e-6 / 0.1 / 8.0,
                },
                Station {
                    copies: 1,
                    demand_s: 9e-6 / 0.04,
                },
            ],
            delay_s: 1e-4,
        };
        let exact = net.exact(64);
        let approx = net.schweitzer(64);
        assert!(
            (exact.throughput - approx.throughput).abs() / exact.throughput < 0.05,
            "{} vs {}",
            exact.throughput,
            approx.throughput
        );
    }
}
