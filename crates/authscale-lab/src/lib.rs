//! The lab: runs a sweep as a scale model of a cluster on one machine. It
//! starts a real store, a proxy and N real nodes, each node (and the store)
//! in its own CPU cgroup, drives them with the load generator for every N
//! and auth mode, and records every measurement, step by step.
//!
//! The lab starts and stops processes and reads their counters; it draws
//! no conclusions (that is the report's job).

mod ab;
mod cgroup;
mod cpuset;
mod durability;
mod external;
#[cfg(test)]
mod fake_tree;
mod faults;
mod host;
mod http;
mod lab;
mod launch;
mod process;
mod progress;
mod revocation;
mod search;
mod slices;
mod step;
mod store;
mod store_delay;
mod sweep;

pub use ab::{AbError, AbOptions, Rounds, ab};
pub use authscale_schema::{AB_SCHEMA, AbRun, AbSide, AbSlice, Side};
pub use cgroup::Caps;
pub use cpuset::Isolation;
pub use lab::{Finished, LabOptions, Needed};

// What the lab records and plans with is the schema crate's; re-exported
// so callers of the lab need not name two crates.
pub use authscale_schema::{
    Balance, Capacity, ComponentCpu, Durability, Experiment, External, FaultKind, FaultRun, Faults,
    Host, Isolate, Latency, LittlesLaw, Pairing, Persistence, Pinning, Plan, Probe, Revocation,
    Run, SCHEMA, Slice, Step, StoreDelay, Throttling, duration, utc, write_atomic,
};
pub use store::StoreCounters;
pub use sweep::sweep;

/// The user's stop (Ctrl-C), pinned once where a sweep or a comparison
/// starts and lent to every phase that waits: each returns early when it
/// resolves.
pub(crate) type Stop<'a> = std::pin::Pin<&'a mut (dyn Future<Output = ()> + 'a)>;
