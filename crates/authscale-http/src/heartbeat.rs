//! A timer kept armed a second ahead, so that the per-request timers of
//! the node and the proxy (a request head's deadline, an upstream's
//! timeout) do not each wake the runtime's driver.
//!
//! tokio's timer unparks the I/O driver (an `eventfd` write, a system call)
//! whenever a newly registered timer is due before the earliest one it
//! knows of. A server whose only other timers are its 60 s idle timeouts
//! thus paid one such write for every 10 s head deadline and every 30 s
//! upstream timeout it set, whenever that timer was the earliest
//! (`strace -f -e trace=write -p PID` under load shows them; gdb puts them
//! in `tokio::runtime::time::Handle::reregister`;
//! `results/precision/2026-12-07/syscalls/`). With a timer always due
//! within a second, no per-request timer is the earliest and none writes.

use std::time::Duration;

use tokio::task::JoinHandle;

/// How far ahead the armed timer is; shorter than any per-request timer.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Keeps a timer armed on the current runtime until dropped.
#[derive(Debug)]
pub struct Heartbeat(JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the heartbeat on the current runtime (which must have its timer
/// enabled).
pub fn keep_armed() -> Heartbeat {
    Heartbeat(tokio::spawn(async {
        loop {
            tokio::time::sleep(PERIOD).await;
        }
    }))
}
