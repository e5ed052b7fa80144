//! What a run records: counts by step and outcome, and latency in
//! HdrHistograms (1 µs to 60 s, 3 significant digits), corrected (from the
//! intended send time) and uncorrected (from the actual send).

use std::time::Duration;

use hdrhistogram::Histogram;

/// What a virtual user does next: one request of its visit (log in, a
/// protected request, log out). Counted in `LoadResult.by_step` under
/// the labels `as_str` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    Api,
    Logout,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Login, Action::Api, Action::Logout];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::Api => "api",
            Action::Logout => "logout",
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Unauthorized,
    ClientError,
    ServerError,
    /// 1xx or 3xx: unexpected from a node.
    OtherStatus,
    ConnectError,
    Timeout,
    /// The connection broke while writing or reading.
    IoError,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Success,
        Outcome::Unauthorized,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::OtherStatus,
        Outcome::ConnectError,
        Outcome::Timeout,
        Outcome::IoError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "2xx",
            Outcome::Unauthorized => "401",
            Outcome::ClientError => "4xx",
            Outcome::ServerError => "5xx",
            Outcome::OtherStatus => "other_status",
            Outcome::ConnectError => "connect_error",
            Outcome::Timeout => "timeout",
            Outcome::IoError => "io_error",
        }
    }

    pub fn from_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Success,
            401 => Outcome::Unauthorized,
            400..=499 => Outcome::ClientError,
            500..=599 => Outcome::ServerError,
            _ => Outcome::OtherStatus,
        }
    }

    pub fn is_error(self) -> bool {
        self != Outcome::Success
    }

    /// Whether the request's latency means something (an answer or a
    /// timeout, not a refused connection).
    fn has_latency(self) -> bool {
        !matches!(self, Outcome::ConnectError | Outcome::IoError)
    }
}

pub(crate) const MAX_US: u64 = 60_000_000;

/// One second of a run, for timelines (fault runs).
#[derive(Debug, Clone)]
pub(crate) struct Second {
    pub success: u64,
    pub unauthorized: u64,
    pub failed: u64,
    /// Corrected latency, 2 significant digits: small enough to keep one
    /// per second.
    pub latency: Histogram<u64>,
}

/// The longest timeline kept: one entry per second.
pub(crate) const TIMELINE_MAX_SECONDS: usize = 3600;

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Everything measured, merged from all connections.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub counts: [[u64; Outcome::ALL.len()]; Action::ALL.len()],
    pub corrected: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
    pub by_step: [Histogram<u64>; Action::ALL.len()],
    pub timeline: Vec<Second>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            counts: Default::default(),
            corrected: histogram(),
            uncorrected: histogram(),
            by_step: std::array::from_fn(|_| histogram()),
            timeline: Vec::new(),
        }
    }
}

impl Stats {
    pub fn record(
        &mut self,
        step: Action,
        outcome: Outcome,
        corrected: Duration,
        uncorrected: Duration,
    ) {
        self.counts[step as usize][outcome as usize] += 1;
        if outcome.has_latency() {
            let c = (corrected.as_micros() as u64).clamp(1, MAX_US);
            let u = (uncorrected.as_micros() as u64).clamp(1, MAX_US);
            self.corrected.saturating_record(c);
            self.uncorrected.saturating_record(u);
            self.by_step[step as usize].saturating_record(c);
        }
    }

    /// Counts the outcome in second `second` of the run.
    pub fn record_second(&mut self, second: usize, outcome: Outcome, corrected: Duration) {
        if second >= TIMELINE_MAX_SECONDS {
            return;
        }
        while self.timeline.len() <= second {
            self.timeline.push(Second {
                success: 0,
                unauthorized: 0,
                failed: 0,
                latency: Histogram::new_with_bounds(1, MAX_US, 2).expect("valid histogram bounds"),
            });
        }
        let bucket = &mut self.timeline[second];
        match outcome {
            Outcome::Success => bucket.success += 1,
            Outcome::Unauthorized => bucket.unauthorized += 1,
            _ => bucket.failed += 1,
        }
        if outcome.has_latency() {
            bucket
                .latency
                .saturating_record((corrected.as_micros() as u64).clamp(1, MAX_US));
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn errors(&self) -> u64 {
        self.counts
            .iter()
            .map(|row| {
                Outcome::ALL
                    .iter()
                    .filter(|o| o.is_error())
                    .map(|o| row[*o as usize])
                    .sum::<u64>()
            })
            .sum()
    }
}
