//! Store errors in the log at a bounded rate. During an outage every
//! request fails the same way; one line per second with a count says as
//! much as thousands of lines, and keeps the log (and the disk) usable.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::StoreError;

/// At most one line per `period` about store errors, counting the others.
#[derive(Debug)]
pub(crate) struct ErrorLog {
    period: Duration,
    /// Set by an error, cleared by the next success: the success path
    /// reads only this flag.
    failing: AtomicBool,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// When the last line was written.
    last_line: Option<Instant>,
    /// Errors since then, not yet in a line.
    unlogged: u64,
}

/// What to write about one error, if anything.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// Errors this line stands for (this one and those held back).
    pub errors: u64,
    /// Since the previous line; None for the first.
    pub over: Option<Duration>,
}

impl ErrorLog {
    pub(crate) fn new(period: Duration) -> ErrorLog {
        ErrorLog {
            period,
            failing: AtomicBool::new(false),
            window: Mutex::new(Window::default()),
        }
    }

    /// Counts one error at `now`; returns the line to write, if one is due.
    pub(crate) fn on_error(&self, now: Instant) -> Option<Line> {
        self.failing.store(true, Ordering::Relaxed);
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.unlogged += 1;
        let over = window.last_line.map(|t| now.saturating_duration_since(t));
        if over.is_some_and(|over| over < self.period) {
            return None;
        }
        let errors = std::mem::take(&mut window.unlogged);
        window.last_line = Some(now);
        Some(Line { errors, over })
    }

    /// Notes a success; after errors, returns how many were not logged.
    pub(crate) fn on_success(&self) -> Option<u64> {
        if !self.failing.load(Ordering::Relaxed) || !self.failing.swap(false, Ordering::Relaxed) {
            return None;
        }
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        Some(std::mem::take(&mut window.unlogged))
    }

    /// Logs `error` if a line is due.
    pub(crate) fn error(&self, error: &StoreError) {
        let Some(line) = self.on_error(Instant::now()) else {
            return;
        };
        match line.over {
            None => tracing::warn!(error = %error, "store unavailable"),
            Some(over) => tracing::warn!(
                error = %error,
                errors = line.errors,
                "store unavailable ({} errors in the last {:.1} s)",
                line.errors,
                over.as_secs_f64()
            ),
        }
    }

    /// Logs the end of an outage.
    pub(crate) fn success(&self) {
        if let Some(unlogged) = self.on_success() {
            tracing::info!(
                unlogged,
                "store available again ({unlogged} errors since the last line)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn one_line_per_period_with_the_count_of_the_rest() {
        let log = ErrorLog::new(SECOND);
        let t0 = Instant::now();
        assert_eq!(
            log.on_error(t0),
            Some(Line {
                errors: 1,
                over: None
            })
        );
        // 36 more within the second: held back.
        for i in 1..=36 {
            assert_eq!(log.on_error(t0 + Duration::from_millis(i * 25)), None);
        }
        // The first error a second later writes a line standing for 37.
        assert_eq!(
            log.on_error(t0 + SECOND),
            Some(Line {
                errors: 37,
                over: Some(SECOND)
            })
        );
        assert_eq!(log.on_error(t0 + SECOND + Duration::from_millis(999)), None);
        assert_eq!(
            log.on_error(t0 + 3 * SECOND),
            Some(Line {
                errors: 2,
                over: Some(2 * SECOND)
            })
        );
    }

    #[test]
    fn recovery_reports_the_unlogged_errors_once() {
        let log = ErrorLog::new(SECOND);
        assert_eq!(log.on_success(), None, "no outage, nothing to say");
        let t0 = Instant::now();
        assert!(log.on_error(t0).is_some());
        for i in 1..=4 {
            assert_eq!(log.on_error(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.on_success(), Some(4));
        assert_eq!(log.on_success(), None);
        // A new outage within the period stays quiet until the period ends.
        assert_eq!(log.on_error(t0 + Duration::from_millis(500)), None);
        assert_eq!(
            log.on_error(t0 + SECOND),
            Some(Line {
                errors: 2,
                over: Some(SECOND)
            })
        );
    }

    #[test]
    fn a_burst_of_errors_from_many_threads_writes_one_line() {
        let log = ErrorLog::new(Duration::from_secs(3600));
        let now = Instant::now();
        let lines: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..250).filter(|_| log.on_error(now).is_some()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        assert_eq!(lines, 1);
        assert_eq!(log.on_success(), Some(999));
    }
}
