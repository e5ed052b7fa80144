//! The lab: runs a sweep as a scale model of a cluster on one machine. It
//! starts a real store, a proxy and N real nodes, each node (and the store)
//! in its own CPU cgroup, drives them with the load generator for every N
//! and auth mode, and records every measurement, step by step.
//!
//! The lab starts and stops processes and reads their counters; it draws
//! no conclusions (that is the report's job).

mod cgroup;
mod cpuset;
mod durability;
pub mod duration;
mod experiment;
mod external;
mod http;
mod process;
mod record;
mod revocation;
mod slices;
mod store;
mod store_delay;
mod sweep;

pub use cgroup::{Caps, Throttling};
pub use cpuset::{Isolate, Isolation, Pinning};
pub use experiment::{
    Capacity, Experiment, External, FaultKind, FaultPlan, Faults, Pairing, Persistence, Plan,
};
pub use record::{
    Component, Durability, FaultRun, Host, Latency, LittlesLaw, Probe, Run, SCHEMA, Slice, Step,
    StoreDelay, utc, write_atomic,
};
pub use revocation::Revocation;
pub use store::StoreCounters;
pub use sweep::{Finished, LabOptions, sweep};
