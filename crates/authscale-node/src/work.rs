//! Calibrated CPU work standing for application logic on the protected
//! route. Real computation (not a sleep), so it consumes the node's CPU
//! budget exactly as application code would.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Spins the CPU for a requested number of microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    iterations_per_us: f64,
}

impl Work {
    /// Measures this machine's speed: the fastest of several short trials,
    /// since a trial can only be slowed (never sped up) by interference.
    pub fn calibrate() -> Work {
        const TRIAL: u64 = 200_000;
        let best = (0..5)
            .map(|_| {
                let start = Instant::now();
                black_box(spin(TRIAL));
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(1))
            .max(Duration::from_nanos(1));
        Work {
            iterations_per_us: TRIAL as f64 / (best.as_nanos() as f64 / 1000.0),
        }
    }

    pub fn iterations_per_us(&self) -> f64 {
        self.iterations_per_us
    }

    /// Burns about `us` microseconds of CPU.
    pub fn run(&self, us: u64) -> u64 {
        if us == 0 {
            return 0;
        }
        black_box(spin((self.iterations_per_us * us as f64) as u64))
    }
}

/// A dependent chain of multiplies the optimiser cannot remove or vectorise.
fn spin(iterations: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for i in 0..iterations {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i) ^ (x >> 29);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_gives_a_positive_rate_and_run_scales_with_it() {
        let work = Work::calibrate();
        assert!(work.iterations_per_us() > 0.0);
        assert_eq!(work.run(0), 0);
        // The result depends on the iteration count, so the loop ran.
        assert_ne!(work.run(5), work.run(50));
    }
}
