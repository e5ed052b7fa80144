//! The lab: runs a sweep as a scale model of a cluster on one machine. It
//! starts a real store, a proxy and N real nodes, each node (and the store)
//! in its own CPU cgroup, drives them with the load generator for every N
//! and auth mode, and records every measurement, step by step.
//!
//! The lab starts and stops processes and reads their counters; it draws
//! no conclusions (that is the report's job).

mod ab;
mod cgroup;
mod durability;
pub mod duration;
mod experiment;
mod external;
mod faults;
mod host;
mod http;
mod lab;
mod process;
mod progress;
mod record;
mod revocation;
mod search;
mod slices;
mod step;
mod store;
mod sweep;
mod validate;

pub use ab::{AB_SCHEMA, AbError, AbOptions, AbRun, AbSide, AbSlice, Side, ab};
pub use cgroup::{Caps, Throttling};
pub use experiment::{
    Capacity, Experiment, External, FaultKind, FaultPlan, Faults, Pairing, Persistence, Plan,
};
pub use lab::{Finished, LabOptions};
pub use record::{
    Component, Durability, FaultRun, Host, Latency, LittlesLaw, Probe, Run, SCHEMA, Slice, Step,
    utc, write_atomic,
};
pub use revocation::Revocation;
pub use store::StoreCounters;
pub use sweep::sweep;
