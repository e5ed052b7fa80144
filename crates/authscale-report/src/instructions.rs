//! The deterministic layer of the performance gate: instructions per
//! operation counted by callgrind, compared with a committed baseline under
//! a tight bound.
//!
//! An instruction count does not depend on what else the machine does, so
//! a bound of a few percent can hold where seconds need ×1.4. It does
//! depend on the compiler and the target, so counts from another toolchain
//! are not judged at all. Pure computation: the CLI runs callgrind and
//! hands this module its output.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The default bound: a count may grow this many percent over its baseline.
pub const DEFAULT_BOUND_PERCENT: f64 = 3.0;

/// What produced a set of counts. Counts are comparable only when
/// `rustc` and `target` are equal; `valgrind` is recorded for the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// `rustc -V` of the compiler that built the measured program.
    pub rustc: String,
    /// The target triple.
    pub target: String,
    /// `valgrind --version`.
    pub valgrind: String,
}

/// Instructions per operation, as measured or as committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionCounts {
    pub toolchain: Toolchain,
    /// Operation name (`node/token`, `jwt/verify/RS256`, …) → instructions.
    pub ops: BTreeMap<String, u64>,
}

impl InstructionCounts {
    pub fn from_toml(text: &str) -> Result<InstructionCounts, InstructionsError> {
        toml::from_str(text).map_err(|e| InstructionsError::Parse(e.to_string()))
    }

    /// The baseline file: a header saying what the numbers are, then TOML.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Instructions per operation under callgrind (bench/examples/icount.rs):\n\
             # (count of 2K runs - count of K runs) / K, fixtures not counted.\n\
             # Written by `authscale gate-instructions --write-baseline`.\n\n{body}"
        )
    }
}

/// Why counts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InstructionsError {
    #[error("cannot parse instruction counts: {0}")]
    Parse(String),
    #[error("{0}")]
    Measurement(String),
}

/// The instruction total of one callgrind dump file (`totals:`, or
/// `summary:` in older formats).
pub fn dump_total(text: &str) -> Option<u64> {
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    field("totals:").or_else(|| field("summary:"))
}

/// Instructions per operation from the measuring program's manifest (one
/// `measured op=<name> n=<iterations>` line per dump, in dump order) and
/// the dumps' totals: each operation runs K then 2K times, and its count is
/// (total(2K) − total(K)) / K, rounded.
pub fn per_op(manifest: &str, totals: &[u64]) -> Result<BTreeMap<String, u64>, InstructionsError> {
    fn bad<T>(message: String) -> Result<T, InstructionsError> {
        Err(InstructionsError::Measurement(message))
    }
    let entries: Vec<(&str, u64)> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("measured "))
        .map(|l| {
            let op = l.split_whitespace().find_map(|w| w.strip_prefix("op="));
            let n = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("n=")?.parse().ok());
            op.zip(n).ok_or_else(|| l.to_owned())
        })
        .collect::<Result<_, _>>()
        .or_else(|line| bad(format!("unreadable manifest line {line:?}")))?;
    if entries.len() != totals.len() {
        return bad(format!(
            "{} measurements announced but {} callgrind dumps found",
            entries.len(),
            totals.len()
        ));
    }
    let mut ops = BTreeMap::new();
    for (pair, total) in entries.chunks(2).zip(totals.chunks(2)) {
        let [(op, k), (op2, k2)] = pair else {
            return bad(format!("{} has no 2K measurement", pair[0].0));
        };
        if op != op2 || *k2 != 2 * k || *k == 0 {
            return bad(format!(
                "expected {op} n={k} then n={}, got {op2} n={k2}",
                2 * k
            ));
        }
        let Some(extra) = total[1].checked_sub(total[0]) else {
            return bad(format!(
                "{op}: 2K iterations counted fewer instructions than K"
            ));
        };
        ops.insert((*op).to_owned(), (extra + k / 2) / k);
    }
    Ok(ops)
}

/// How one operation fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// In the baseline but not measured, or measured but not in the baseline.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub op: String,
    pub baseline: Option<u64>,
    pub now: Option<u64>,
    pub verdict: Verdict,
}

impl Row {
    /// Relative change, percent.
    pub fn change_percent(&self) -> Option<f64> {
        let (b, n) = (self.baseline?, self.now?);
        (b > 0).then(|| (n as f64 - b as f64) / b as f64 * 100.0)
    }
}

/// The outcome of the whole comparison, and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    CannotJudge,
}

impl Outcome {
    /// 0 pass, 1 fail, 2 cannot judge.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::CannotJudge => 2,
        }
    }
}

/// The format of `gate-instructions --json`.
pub const INSTRUCTIONS_SCHEMA: &str = "authscale-instructions/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub bound_percent: f64,
    pub rows: Vec<Row>,
    /// Set when the counts come from another compiler or target: then no
    /// row is judged.
    pub toolchain_differs: Option<String>,
    pub outcome: Outcome,
}

/// Judges `now` against `baseline`: an operation fails when its count grew
/// by more than `bound_percent`. Another toolchain, or an operation on one
/// side only, makes the comparison unjudgeable (exit 2), never a pass.
pub fn compare(
    baseline: &InstructionCounts,
    now: &InstructionCounts,
    bound_percent: f64,
) -> Comparison {
    let toolchain_differs = toolchain_difference(&baseline.toolchain, &now.toolchain);
    let names: std::collections::BTreeSet<&String> =
        baseline.ops.keys().chain(now.ops.keys()).collect();
    let rows: Vec<Row> = names
        .into_iter()
        .map(|op| {
            let (b, n) = (baseline.ops.get(op).copied(), now.ops.get(op).copied());
            let verdict = match (b, n) {
                (Some(b), Some(n)) if (n as f64) <= b as f64 * (1.0 + bound_percent / 100.0) => {
                    Verdict::Pass
                }
                (Some(_), Some(_)) => Verdict::Fail,
                _ => Verdict::Missing,
            };
            Row {
                op: op.clone(),
                baseline: b,
                now: n,
                verdict,
            }
        })
        .collect();
    let outcome =
        if toolchain_differs.is_some() || rows.iter().any(|r| r.verdict == Verdict::Missing) {
            Outcome::CannotJudge
        } else if rows.iter().any(|r| r.verdict == Verdict::Fail) {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
    Comparison {
        bound_percent,
        rows,
        toolchain_differs,
        outcome,
    }
}

fn toolchain_difference(baseline: &Toolchain, now: &Toolchain) -> Option<String> {
    let mut differences = Vec::new();
    if baseline.rustc != now.rustc {
        differences.push(format!(
            "rustc: baseline {:?}, now {:?}",
            baseline.rustc, now.rustc
        ));
    }
    if baseline.target != now.target {
        differences.push(format!(
            "target: baseline {:?}, now {:?}",
            baseline.target, now.target
        ));
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

impl crate::Document for Comparison {
    const SCHEMA: &'static str = INSTRUCTIONS_SCHEMA;

    fn title(&self) -> String {
        "authscale gate-instructions".to_owned()
    }

    /// A markdown table (op, baseline, now, change, verdict) and a closing
    /// line with the outcome and what to do about it.
    fn markdown(&self) -> String {
        let mut out = String::new();
        if let Some(difference) = &self.toolchain_differs {
            let _ = writeln!(
                out,
                "**NOT JUDGED: the toolchain differs from the baseline's** ({difference}). \
                 Instruction counts are only comparable from the same compiler and target. \
                 Re-baseline on purpose with `--write-baseline`.\n"
            );
        }
        crate::md::table_head(&mut out, "op | >baseline | >now | >change | verdict");
        for row in &self.rows {
            let count = |c: Option<u64>| c.map_or_else(|| "—".to_owned(), |c| c.to_string());
            let change = row
                .change_percent()
                .map_or_else(|| "—".to_owned(), |c| format!("{c:+.2}%"));
            let verdict = match (self.toolchain_differs.is_some(), row.verdict) {
                (true, _) => "not judged",
                (false, Verdict::Pass) => "pass",
                (false, Verdict::Fail) => "**FAIL**",
                (false, Verdict::Missing) if row.now.is_none() => "not measured",
                (false, Verdict::Missing) => "not in baseline",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.op,
                count(row.baseline),
                count(row.now),
                change,
                verdict
            );
        }
        let failed = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .count();
        let _ = writeln!(
            out,
            "\n{}",
            match self.outcome {
                Outcome::Pass => format!(
                    "PASS: every operation within +{}% of its baseline.",
                    self.bound_percent
                ),
                Outcome::Fail => format!(
                    "FAIL: {failed} of {} operations grew by more than +{}%.",
                    self.rows.len(),
                    self.bound_percent
                ),
                Outcome::CannotJudge if self.toolchain_differs.is_some() => {
                    "CANNOT JUDGE: different toolchain (exit 2).".to_owned()
                }
                Outcome::CannotJudge => "CANNOT JUDGE: the baseline and the measurement \
                     name different operations (exit 2); re-baseline with --write-baseline \
                     if that is intended."
                    .to_owned(),
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Document;

    fn toolchain() -> Toolchain {
        Toolchain {
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            valgrind: "valgrind-3.19.0".into(),
        }
    }

    fn counts(ops: &[(&str, u64)]) -> InstructionCounts {
        InstructionCounts {
            toolchain: toolchain(),
            ops: ops.iter().map(|(o, c)| ((*o).to_owned(), *c)).collect(),
        }
    }

    #[test]
    fn growth_within_the_bound_passes() {
        let baseline = counts(&[("node/token", 100_000), ("session/id-generate", 700)]);
        let now = counts(&[("node/token", 103_000), ("session/id-generate", 650)]);
        let comparison = compare(&baseline, &now, DEFAULT_BOUND_PERCENT);
        assert_eq!(comparison.outcome, Outcome::Pass);
        assert_eq!(comparison.outcome.exit_code(), 0);
        assert!(
            comparison
                .markdown()
                .contains("| node/token | 100000 | 103000 | +3.00% | pass |")
        );
    }

    #[test]
    fn growth_of_3_1_percent_fails() {
        let baseline = counts(&[("node/token", 100_000), ("node/none", 10_000)]);
        let now = counts(&[("node/token", 103_100), ("node/none", 10_000)]);
        let comparison = compare(&baseline, &now, DEFAULT_BOUND_PERCENT);
        assert_eq!(comparison.outcome, Outcome::Fail);
        assert_eq!(comparison.outcome.exit_code(), 1);
        let table = comparison.markdown();
        assert!(
            table.contains("| node/token | 100000 | 103100 | +3.10% | **FAIL** |"),
            "{table}"
        );
        assert!(table.contains("FAIL: 1 of 2 operations"), "{table}");
    }

    #[test]
    fn the_bound_is_configurable() {
        let baseline = counts(&[("node/token", 100_000)]);
        let now = counts(&[("node/token", 103_100)]);
        assert_eq!(compare(&baseline, &now, 5.0).outcome, Outcome::Pass);
        assert_eq!(compare(&baseline, &now, 1.0).outcome, Outcome::Fail);
    }

    #[test]
    fn a_different_toolchain_is_reported_and_not_judged() {
        let baseline = counts(&[("node/token", 100_000)]);
        let mut now = counts(&[("node/token", 200_000)]);
        now.toolchain.rustc = "rustc 1.96.0 (aaaaaaaaa 2026-05-28)".into();
        let comparison = compare(&baseline, &now, DEFAULT_BOUND_PERCENT);
        assert_eq!(comparison.outcome, Outcome::CannotJudge);
        assert_eq!(comparison.outcome.exit_code(), 2);
        let why = comparison
            .toolchain_differs
            .as_deref()
            .expect("a difference");
        assert!(why.contains("1.96.0") && why.contains("1.95.0"), "{why}");
        let table = comparison.markdown();
        assert!(
            table.contains("NOT JUDGED: the toolchain differs"),
            "{table}"
        );
        assert!(table.contains("| not judged |"), "{table}");
        // Another valgrind alone does not change what the program executes.
        let mut other_valgrind = counts(&[("node/token", 100_000)]);
        other_valgrind.toolchain.valgrind = "valgrind-3.22.0".into();
        assert_eq!(
            compare(&baseline, &other_valgrind, 3.0).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn an_operation_on_one_side_only_cannot_be_judged() {
        let baseline = counts(&[("node/token", 100_000), ("proxy/forward", 50_000)]);
        let now = counts(&[("node/token", 100_000)]);
        let comparison = compare(&baseline, &now, DEFAULT_BOUND_PERCENT);
        assert_eq!(comparison.outcome, Outcome::CannotJudge);
        assert!(
            comparison
                .markdown()
                .contains("| proxy/forward | 50000 | — | — | not measured |")
        );
        let grown = counts(&[
            ("node/token", 100_000),
            ("proxy/forward", 50_000),
            ("new", 1),
        ]);
        let comparison = compare(&baseline, &grown, DEFAULT_BOUND_PERCENT);
        assert_eq!(comparison.outcome, Outcome::CannotJudge);
        assert!(
            comparison
                .markdown()
                .contains("| new | — | 1 | — | not in baseline |")
        );
    }

    #[test]
    fn a_failure_does_not_hide_a_missing_operation() {
        let baseline = counts(&[("a", 100), ("b", 100)]);
        let now = counts(&[("a", 200)]);
        assert_eq!(compare(&baseline, &now, 3.0).outcome, Outcome::CannotJudge);
    }

    #[test]
    fn per_op_takes_the_difference_of_k_and_2k() {
        let manifest = "measured op=node/none n=32\nmeasured op=node/none n=64\n\
                        noise\nmeasured op=load/request n=32\nmeasured op=load/request n=64\n";
        // node/none: 32 × 9612 + 400 once; load: 32 × 21350 + 3_000_000 once.
        let totals = [
            32 * 9612 + 400,
            64 * 9612 + 400,
            32 * 21_350 + 3_000_000,
            64 * 21_350 + 3_000_000,
        ];
        let ops = per_op(manifest, &totals).expect("ops");
        assert_eq!(ops["node/none"], 9612);
        assert_eq!(ops["load/request"], 21_350);
    }

    #[test]
    fn per_op_refuses_a_manifest_that_does_not_match_the_dumps() {
        let manifest = "measured op=a n=32\nmeasured op=a n=64\n";
        assert!(per_op(manifest, &[1]).is_err());
        assert!(per_op("measured op=a n=32\nmeasured op=b n=64\n", &[1, 2]).is_err());
        assert!(per_op(manifest, &[10, 5]).is_err());
    }

    #[test]
    fn dump_totals_are_read_from_callgrind_output() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 307597\n\nfn=x\n1 2\ntotals: 307597\n";
        assert_eq!(dump_total(dump), Some(307_597));
        assert_eq!(dump_total("events: Ir\nsummary: 12\n"), Some(12));
        assert_eq!(dump_total("nothing"), None);
    }

    #[test]
    fn counts_round_trip_through_the_baseline_file() {
        let original = counts(&[("jwt/verify/ES256", 775_979), ("node/session", 30_554)]);
        let text = original.to_toml();
        assert!(text.starts_with("# Instructions per operation"));
        assert_eq!(
            InstructionCounts::from_toml(&text).expect("parse"),
            original
        );
    }
}
