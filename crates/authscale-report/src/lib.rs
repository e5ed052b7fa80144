//! Turning a sweep's results into something a person can read and a CI
//! job can act on: the analysis (USL fit, efficiency, the store's ceiling,
//! a bottleneck verdict from the evidence), `report.md` with SVG charts,
//! a comparison of two runs, how repeated runs agree, and the performance
//! gate.
//!
//! The report reads files and writes files: it opens no sockets and
//! spawns no processes.

pub mod ab;
mod analysis;
pub mod compare;
pub mod document;
pub mod export;
pub mod figures;
mod gate;
pub mod html;
pub mod instructions;
pub mod interval;
pub mod md;
pub mod precision;
pub mod predict;
mod report;
pub mod sequential;
pub mod spread;
mod svg;
pub mod usl;

pub use analysis::{Analysis, Ceiling, Finding, ModeAnalysis, Point, Shape, Verdict, analyse};
pub use compare::compare;
pub use document::{Document, from_json};
pub use gate::{Check, GateError, GateReport, Thresholds, evaluate};
pub use report::{render, write};
