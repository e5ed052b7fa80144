//! A comparison as Markdown (for a terminal, a pull-request comment or a
//! CI job summary), and the result `ab` prints and writes.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{AbFigure, AbReport};
use authscale_schema::AbRun;

fn limit_text(f: &AbFigure) -> String {
    match f.limit {
        None => "–".to_owned(),
        Some(l) if f.figure.higher_is_better() => format!("hi < {l}"),
        Some(l) => format!("lo > {l}"),
    }
}

/// The comparison as Markdown: for a terminal, a pull-request comment or
/// a CI job summary.
pub fn markdown(r: &AbReport) -> String {
    let mut out = format!(
        "### A/B: {}\n\nA: `{}`  \nB: `{}`  \n{} mode, N={} nodes per side, {} rounds (ABBA, paired by round)\n\n\
         | figure | A | B | B/A [95%] | verdict | fails if |\n|---|---:|---:|---|---|---|\n",
        match r.outcome() {
            "FAIL" => "**FAIL**",
            "CANNOT JUDGE" => "**CANNOT JUDGE**",
            other => other,
        },
        r.a,
        r.b,
        r.mode,
        r.nodes,
        r.rounds
    );
    for f in &r.figures {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {} | {}{} | {} |",
            f.figure.name(),
            f.a_mean,
            f.b_mean,
            f.ratio.show(3),
            f.verdict,
            if f.failed { " **FAIL**" } else { "" },
            limit_text(f)
        );
    }
    let _ = writeln!(out, "\n{}", r.precision_line());
    for w in &r.warnings {
        let _ = writeln!(out, "\n> warning: {w}");
    }
    out
}

/// The format of `ab --json`.
pub const AB_RESULT_SCHEMA: &str = "authscale-ab-result/1";

/// What `ab` prints and writes: the measured run (every slice) and its
/// judgment, and whether a failure was accepted by a `Node-cost:` trailer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbResult {
    pub run: AbRun,
    pub report: AbReport,
    /// A failed bound that the change says it accepts, with why.
    #[serde(default)]
    pub accepted: Option<String>,
}

impl crate::Document for AbResult {
    const SCHEMA: &'static str = AB_RESULT_SCHEMA;

    fn title(&self) -> String {
        format!("authscale ab: {} against {}", self.report.b, self.report.a)
    }

    fn markdown(&self) -> String {
        let mut out = markdown(&self.report);
        if let Some(line) = &self.accepted {
            let _ = writeln!(out, "\n{line}");
        }
        out
    }

    /// The Markdown, and last the outcome on a line of its own for a
    /// script to find (`ab: pass`, `ab: FAIL`, `ab: CANNOT JUDGE`), then
    /// an accepted failure's reason.
    fn text(&self) -> String {
        let mut out = markdown(&self.report);
        let _ = writeln!(out, "\nab: {}", self.report.outcome());
        if let Some(line) = &self.accepted {
            let _ = writeln!(out, "ab: {line}");
        }
        out
    }
}
