//! Failed-login throttling per account (OWASP authentication cheat sheet):
//! after `max_failures` wrong passwords within `window`, the account's
//! logins are refused until the window ends, whatever the password, so
//! guessing runs at `max_failures` tries per window instead of thousands
//! per second.
//!
//! The state is node-local and bounded: at most `capacity` accounts are
//! tracked (the one whose window started first is forgotten to make room),
//! and an account is kept as a 16-byte digest of its name, however long the
//! name. Limits, stated where the operator reads them (docs/security.md): each node
//! counts on its own, so behind N nodes a guesser gets up to N ×
//! `max_failures` tries per window; and anyone who knows a name can lock
//! its owner out for a window.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How failed logins are throttled.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures that lock an account; 0 turns throttling off.
    pub max_failures: u32,
    /// Counted from an account's first failure; the lock lasts until it ends.
    pub window: Duration,
    /// Accounts tracked at once.
    pub capacity: usize,
}

impl Default for ThrottleConfig {
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            max_failures: 5,
            window: Duration::from_secs(5 * 60),
            capacity: 65_536,
        }
    }
}

type Account = [u8; 16];

#[derive(Debug, Default)]
struct State {
    failures: HashMap<Account, (u32, Instant)>,
    /// (window start, account): the first is the next one to forget.
    by_start: BTreeSet<(Instant, Account)>,
}

/// Counts failed logins per account.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    state: Mutex<State>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// `Err(wait)` while `account` is locked: refuse the login and tell the
    /// client to retry after `wait`.
    pub fn check(&self, account: &str) -> Result<(), Duration> {
        self.check_at(account, Instant::now())
    }

    /// Counts a wrong password for `account`.
    pub fn failure(&self, account: &str) {
        self.failure_at(account, Instant::now());
    }

    /// A correct password clears the account's count.
    pub fn success(&self, account: &str) {
        if self.config.max_failures == 0 {
            return;
        }
        let key = digest(account);
        let mut state = self.lock();
        if let Some((_, start)) = state.failures.remove(&key) {
            state.by_start.remove(&(start, key));
        }
    }

    fn check_at(&self, account: &str, now: Instant) -> Result<(), Duration> {
        if self.config.max_failures == 0 {
            return Ok(());
        }
        let key = digest(account);
        let mut state = self.lock();
        let Some(&(failures, start)) = state.failures.get(&key) else {
            return Ok(());
        };
        let ends = start + self.config.window;
        if now >= ends {
            state.failures.remove(&key);
            state.by_start.remove(&(start, key));
            return Ok(());
        }
        if failures >= self.config.max_failures {
            return Err(ends - now);
        }
        Ok(())
    }

    fn failure_at(&self, account: &str, now: Instant) {
        if self.config.max_failures == 0 {
            return;
        }
        let key = digest(account);
        let window = self.config.window;
        let mut state = self.lock();
        if let Some((failures, start)) = state.failures.get_mut(&key) {
            if now < *start + window {
                *failures = failures.saturating_add(1);
                return;
            }
            let old = *start;
            state.failures.remove(&key);
            state.by_start.remove(&(old, key));
        }
        while state.failures.len() >= self.config.capacity.max(1) {
            let Some((_, oldest)) = state.by_start.pop_first() else {
                break;
            };
            state.failures.remove(&oldest);
        }
        state.failures.insert(key, (1, now));
        state.by_start.insert((now, key));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accounts tracked now (tests: the state stays bounded).
    pub fn tracked(&self) -> usize {
        self.lock().failures.len()
    }
}

fn digest(account: &str) -> Account {
    let full = Sha256::digest(account.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&full[..16]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max_failures: u32, capacity: usize) -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            max_failures,
            window: Duration::from_secs(60),
            capacity,
        })
    }

    #[test]
    fn locks_after_k_failures_until_the_window_ends() {
        let t = throttle(3, 100);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.check_at("alice", start), Ok(()));
            t.failure_at("alice", start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(t.check_at("alice", later), Err(Duration::from_secs(40)));
        assert_eq!(t.check_at("bob", later), Ok(()), "other accounts are free");
        assert_eq!(t.check_at("alice", start + Duration::from_secs(60)), Ok(()));
        assert_eq!(t.tracked(), 0, "an ended window is forgotten");
    }

    #[test]
    fn success_clears_and_zero_turns_it_off() {
        let t = throttle(2, 100);
        let now = Instant::now();
        t.failure_at("alice", now);
        t.success("alice");
        t.failure_at("alice", now);
        assert_eq!(t.check_at("alice", now), Ok(()));
        let off = throttle(0, 100);
        for _ in 0..100 {
            off.failure_at("alice", now);
        }
        assert_eq!(off.check_at("alice", now), Ok(()));
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn memory_stays_bounded() {
        let t = throttle(1, 10);
        let now = Instant::now();
        for i in 0..1000 {
            t.failure_at(&format!("user{i}"), now + Duration::from_millis(i));
        }
        assert_eq!(t.tracked(), 10);
        // The newest are kept: the last name is still locked.
        assert!(t.check_at("user999", now + Duration::from_secs(1)).is_err());
    }
}
