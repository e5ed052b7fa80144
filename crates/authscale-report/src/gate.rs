//! The performance gate: threshold expressions over a run (and its
//! baseline), evaluated to pass or fail.
//!
//! An expression is `METRIC OP BOUND`:
//! - METRIC: `MODE.FIELD@N` (`token.efficiency@max`) or a ratio of two
//!   modes, `MODE/MODE FIELD@N` (`session/token throughput@1`). N is a node
//!   count, `min` or `max`. FIELD: throughput, speedup, efficiency, p50,
//!   p99, error_rate, store_cmds_per_req, store_us_per_cmd (the store's
//!   CPU per command it ran), cpu_us_per_req.COMPONENT,
//!   utilization.COMPONENT (COMPONENT: nodes, store, proxy, load).
//! - OP: `>=`, `<=`, `>`, `<`.
//! - BOUND: a number, `baseline`, `baseline * F` or `baseline + F`.

use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, Point, analyse};
use authscale_schema::{Component, Run};

/// A thresholds file: `checks = ["token.efficiency@max >= 0.8", …]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub checks: Vec<String>,
}

impl Thresholds {
    pub fn from_file(path: &std::path::Path) -> Result<Thresholds, GateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GateError(format!("cannot read thresholds {}: {e}", path.display())))?;
        let t: Thresholds = toml::from_str(&text)
            .map_err(|e| GateError(format!("thresholds {}: {e}", path.display())))?;
        if t.checks.is_empty() {
            return Err(GateError(format!(
                "thresholds {}: no checks",
                path.display()
            )));
        }
        Ok(t)
    }
}

/// A gate that cannot be evaluated (exit code 2): bad expression, unknown
/// metric, missing step or baseline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GateError(pub String);

/// One evaluated check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub expression: String,
    pub current: f64,
    pub baseline: Option<f64>,
    pub threshold: f64,
    pub passed: bool,
}

/// The format of `gate --json`.
pub const GATE_SCHEMA: &str = "authscale-gate/1";

/// All checks of a gate run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub checks: Vec<Check>,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
}

enum Bound {
    Number(f64),
    Baseline { times: f64, plus: f64 },
}

struct Metric {
    numerator: String,
    denominator: Option<String>,
    field: String,
    at: String,
}

/// Evaluates every check of `thresholds` on `run`, with `baseline` for
/// bounds that refer to it.
pub fn evaluate(
    thresholds: &Thresholds,
    run: &Run,
    baseline: Option<&Run>,
) -> Result<GateReport, GateError> {
    let current = analyse(run);
    let base = baseline.map(analyse);
    let mut checks = Vec::new();
    for expression in &thresholds.checks {
        let (metric, op, bound) = parse(expression)?;
        let value = metric.value(&current, "the run")?;
        let base_value = match (&bound, &base) {
            (Bound::Baseline { .. }, None) => {
                return Err(GateError(format!(
                    "{expression:?} compares with the baseline, but none was given"
                )));
            }
            (_, Some(b)) => metric.value(b, "the baseline").ok(),
            (_, None) => None,
        };
        let threshold = match bound {
            Bound::Number(n) => n,
            Bound::Baseline { times, plus } => {
                let b = base_value.ok_or_else(|| {
                    GateError(format!("{expression:?}: the baseline has no such value"))
                })?;
                b * times + plus
            }
        };
        let passed = match op {
            Op::Ge => value >= threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Lt => value < threshold,
        };
        checks.push(Check {
            expression: expression.clone(),
            current: value,
            baseline: base_value,
            threshold,
            passed,
        });
    }
    let passed = checks.iter().all(|c| c.passed);
    Ok(GateReport { checks, passed })
}

fn parse(expression: &str) -> Result<(Metric, Op, Bound), GateError> {
    let bad = |why: &str| GateError(format!("cannot read the check {expression:?}: {why}"));
    let (lhs, op, rhs) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
        .iter()
        .find_map(|(sym, op)| {
            expression
                .split_once(sym)
                .map(|(l, r)| (l.trim(), *op, r.trim()))
        })
        .ok_or_else(|| bad("no comparison (>=, <=, >, <)"))?;
    let bound = if let Some(rest) = rhs.strip_prefix("baseline") {
        let rest = rest.trim();
        if rest.is_empty() {
            Bound::Baseline {
                times: 1.0,
                plus: 0.0,
            }
        } else if let Some(f) = rest.strip_prefix('*') {
            Bound::Baseline {
                times: f
                    .trim()
                    .parse()
                    .map_err(|_| bad("expected a number after `baseline *`"))?,
                plus: 0.0,
            }
        } else if let Some(f) = rest.strip_prefix('+') {
            Bound::Baseline {
                times: 1.0,
                plus: f
                    .trim()
                    .parse()
                    .map_err(|_| bad("expected a number after `baseline +`"))?,
            }
        } else {
            return Err(bad(
                "the bound must be a number, `baseline`, `baseline * F` or `baseline + F`",
            ));
        }
    } else {
        Bound::Number(rhs.parse().map_err(|_| {
            bad("the bound must be a number, `baseline`, `baseline * F` or `baseline + F`")
        })?)
    };
    let finite = match bound {
        Bound::Number(x) => x.is_finite(),
        Bound::Baseline { times, plus } => times.is_finite() && plus.is_finite(),
    };
    if !finite {
        return Err(bad("the bound's numbers must be finite"));
    }
    if lhs.ends_with(['=', '>', '<']) || rhs.starts_with(['=', '>', '<']) {
        return Err(bad("the comparison must be one of >=, <=, >, <"));
    }
    Ok((metric(lhs, expression)?, op, bound))
}

/// One value of a run's analysis named in the gate's language
/// (`session.efficiency@8`, `token/session throughput@max`): the figures
/// that prose quotes.
pub(crate) fn figure(analysis: &Analysis, expression: &str) -> Result<f64, GateError> {
    metric(expression.trim(), expression)?.value(analysis, "the run")
}

/// The left side of a check, `MODE.FIELD@N` or `MODE/MODE FIELD@N`.
fn metric(lhs: &str, expression: &str) -> Result<Metric, GateError> {
    let bad = |why: &str| GateError(format!("cannot read the check {expression:?}: {why}"));
    if lhs.contains(" @") {
        return Err(bad("no space before @ (write MODE.FIELD@N)"));
    }
    let (subject, field_at) = match lhs.split_once(' ') {
        Some((ratio, field)) => (ratio.trim(), field.trim().to_owned()),
        None => {
            let (mode, field) = lhs
                .split_once('.')
                .ok_or_else(|| bad("expected MODE.FIELD@N or MODE/MODE FIELD@N"))?;
            (mode, field.to_owned())
        }
    };
    let (field, at) = field_at
        .split_once('@')
        .ok_or_else(|| bad("the metric needs @N, @min or @max"))?;
    let (numerator, denominator) = match subject.split_once('/') {
        Some((a, b)) => (a.trim().to_owned(), Some(b.trim().to_owned())),
        None => (subject.to_owned(), None),
    };
    let field = field.trim().to_owned();
    if !known_field(&field) {
        return Err(GateError(format!(
            "unknown metric {field:?} in {expression:?}: known are throughput, speedup, efficiency, p50, p99, error_rate, store_cmds_per_req, store_us_per_cmd, cpu_us_per_req.C, utilization.C (C: nodes, store, proxy, load)"
        )));
    }
    Ok(Metric {
        numerator,
        denominator,
        field,
        at: at.trim().to_owned(),
    })
}

fn known_field(field: &str) -> bool {
    match field.split_once('.') {
        Some(("cpu_us_per_req" | "utilization", c)) => c.parse::<Component>().is_ok(),
        Some(_) => false,
        None => [
            "throughput",
            "speedup",
            "efficiency",
            "p50",
            "p99",
            "error_rate",
            "store_cmds_per_req",
            "store_us_per_cmd",
        ]
        .contains(&field),
    }
}

impl Metric {
    fn value(&self, analysis: &Analysis, which: &str) -> Result<f64, GateError> {
        let a = self.of(analysis, &self.numerator, which)?;
        match &self.denominator {
            Some(d) => {
                let b = self.of(analysis, d, which)?;
                Ok(if b == 0.0 { f64::INFINITY } else { a / b })
            }
            None => Ok(a),
        }
    }

    fn of(&self, analysis: &Analysis, mode: &str, which: &str) -> Result<f64, GateError> {
        let m = analysis
            .modes
            .iter()
            .find(|m| m.mode.as_str() == mode)
            .ok_or_else(|| {
                GateError(format!(
                    "{which} has no mode {mode:?} (it has {:?})",
                    analysis.modes.iter().map(|m| &m.mode).collect::<Vec<_>>()
                ))
            })?;
        let point: &Point = match self.at.as_str() {
            "max" => m.points.last(),
            "min" => m.points.first(),
            n => {
                let n: u32 = n
                    .parse()
                    .map_err(|_| GateError(format!("@{n}: expected a node count, min or max")))?;
                m.points.iter().find(|p| p.n == n)
            }
        }
        .ok_or_else(|| GateError(format!("{which} has no {mode} step at N={}", self.at)))?;
        Ok(match self.field.split_once('.') {
            Some((map, c)) => {
                let c: Component = c.parse().map_err(GateError)?;
                let values = if map == "cpu_us_per_req" {
                    &point.cpu_us_per_req
                } else {
                    &point.utilization
                };
                values.get(&c).copied().unwrap_or(0.0)
            }
            None => match self.field.as_str() {
                "throughput" => point.throughput,
                "speedup" => point.speedup,
                "efficiency" => point.efficiency,
                "p50" => point.p50_ms,
                "p99" => point.p99_ms,
                "error_rate" => point.error_rate,
                // The store's CPU per command it ran (not per request).
                "store_us_per_cmd" => {
                    let per_request = point.cpu_us_per_req.get(&Component::Store).copied();
                    match per_request {
                        Some(us) if point.store_cmds_per_req > 0.0 => us / point.store_cmds_per_req,
                        _ => f64::NAN,
                    }
                }
                _ => point.store_cmds_per_req,
            },
        })
    }
}

impl GateReport {
    /// The table as plain text (for the terminal) or Markdown.
    fn table(&self, markdown: bool) -> String {
        let fmt = |v: f64| {
            if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            }
        };
        let mut rows = vec![[
            "check".to_owned(),
            "baseline".into(),
            "current".into(),
            "threshold".into(),
            "result".into(),
        ]];
        for c in &self.checks {
            rows.push([
                c.expression.clone(),
                c.baseline.map_or("—".into(), fmt),
                fmt(c.current),
                fmt(c.threshold),
                if c.passed {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
            ]);
        }
        let mut out = String::new();
        if markdown {
            for (i, r) in rows.iter().enumerate() {
                out.push_str(&format!("| {} |\n", r.join(" | ")));
                if i == 0 {
                    out.push_str("|---|---:|---:|---:|---|\n");
                }
            }
            out.push_str(&format!(
                "\n**Gate: {}**\n",
                if self.passed { "pass" } else { "FAIL" }
            ));
        } else {
            let widths: Vec<usize> = (0..5)
                .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
                .collect();
            for r in &rows {
                let cells: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                out.push_str(cells.join("  ").trim_end());
                out.push('\n');
            }
            out.push_str(&format!(
                "gate: {}\n",
                if self.passed { "pass" } else { "FAIL" }
            ));
        }
        out
    }
}

impl crate::Document for GateReport {
    const SCHEMA: &'static str = GATE_SCHEMA;

    fn title(&self) -> String {
        format!(
            "authscale gate: {}",
            if self.passed { "passed" } else { "failed" }
        )
    }

    fn markdown(&self) -> String {
        self.table(true)
    }

    fn text(&self) -> String {
        self.table(false)
    }
}
