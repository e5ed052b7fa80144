//! Figures in prose, generated from results files and checked: a Markdown
//! file (README.md, docs/*.md) marks each generated part, and this module
//! renders it again from the committed results, so `authscale figures`
//! finds any figure that no longer matches its file, and `--update`
//! rewrites it.
//!
//! A block spans lines:
//!
//! ```text
//! <!-- figures: KIND ARG... -->
//! (generated)
//! <!-- /figures -->
//! ```
//!
//! and a single value sits inside a line:
//! `<!-- figure: RUN METRIC DECIMALS -->0.30<!-- /figure -->`, where METRIC
//! is the gate's language (`session.efficiency@8`, `token/session
//! throughput@max`, `session.store_us_per_cmd@1`).
//!
//! Block kinds: `headline RUN` (the verdict, the noise floor, every mode
//! at the largest N with its interval), `section RUN HEADING` (a section
//! of the run's report), `modes STEPS_RUN FAULTS_RUN` (the trade-off table
//! of every mode), `spread RUN...` (how repeats agree; a `*` in a file
//! name matches), `spread-table "LABEL=RUN..."...` (one row per batch of
//! repeats: how far they agree), `ranges RUN...` (the range of the gate's figures over
//! repeats of the quick experiment), `times FILE` (a table of the tab-separated lines of a
//! file), `file FILE` (a file's text).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use authscale_schema::{FaultKind, Persistence, Run};

use crate::analysis::{Analysis, analyse};

const BLOCK_OPEN: &str = "<!-- figures:";
const BLOCK_CLOSE: &str = "<!-- /figures -->";
const INLINE_OPEN: &str = "<!-- figure:";
const INLINE_CLOSE: &str = "<!-- /figure -->";

/// A generated part of a document that differs from what its results
/// give, or that cannot be generated.
#[derive(Debug, Clone, PartialEq)]
pub struct Stale {
    /// 1-based line of the marker.
    pub line: usize,
    pub marker: String,
    pub written: String,
    /// What the results give, or why they cannot.
    pub generated: Result<String, String>,
}

/// Every generated part of `text` (a Markdown document in the folder
/// `doc_dir`, relative to `root`) checked against the results under `root`
/// (paths in markers are relative to it), the document with every part
/// generated again, and how many parts it has. Links a generated part
/// carries (a report section's charts) are made relative to the document.
/// A marker that cannot be read (not alone on its line, a block opened
/// again before it closes, an inline figure without its close) is a
/// problem too: nothing is skipped silently.
pub fn refresh(text: &str, root: &Path, doc_dir: &Path) -> (String, Vec<Stale>, usize) {
    let up = "../".repeat(doc_dir.components().count());
    let mut out = String::with_capacity(text.len());
    let mut stale = Vec::new();
    let mut parts = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let unreadable = |line: usize, marker: &str, why: String| Stale {
        line,
        marker: marker.trim().to_owned(),
        written: String::new(),
        generated: Err(why),
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let Some(spec) = block_spec(line) else {
            if line.contains(BLOCK_OPEN) || line.contains(BLOCK_CLOSE) {
                stale.push(unreadable(
                    i + 1,
                    line,
                    "a block's marker must stand alone on its line".into(),
                ));
            }
            out.push_str(&refresh_inline(line, i + 1, root, &mut stale, &mut parts));
            i += 1;
            continue;
        };
        parts += 1;
        out.push_str(line);
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim() == BLOCK_CLOSE || block_spec(lines[j]).is_some());
        let Some(close) = end.filter(|&j| lines[j].trim() == BLOCK_CLOSE) else {
            let why = match end {
                Some(j) => format!(
                    "another block opens at line {} before its {BLOCK_CLOSE}",
                    j + 1
                ),
                None => format!("no {BLOCK_CLOSE} after it"),
            };
            stale.push(unreadable(i + 1, spec, why));
            i += 1;
            continue;
        };
        let written: String = lines[i + 1..close].concat();
        let generated = block(spec, root, &up).map(|body| format!("{}\n", body.trim_end()));
        match &generated {
            Ok(body) if *body == written => out.push_str(body),
            Ok(body) => {
                out.push_str(body);
                stale.push(Stale {
                    line: i + 1,
                    marker: spec.to_owned(),
                    written,
                    generated,
                });
            }
            Err(_) => {
                out.push_str(&written);
                stale.push(Stale {
                    line: i + 1,
                    marker: spec.to_owned(),
                    written,
                    generated,
                });
            }
        }
        out.push_str(lines[close]);
        i = close + 1;
    }
    (out, stale, parts)
}

fn block_spec(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix(BLOCK_OPEN)?
        .strip_suffix("-->")
        .map(str::trim)
}

/// A line with its inline figures generated again.
fn refresh_inline(
    line: &str,
    number: usize,
    root: &Path,
    stale: &mut Vec<Stale>,
    parts: &mut usize,
) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find(INLINE_OPEN) {
        *parts += 1;
        let after = &rest[start + INLINE_OPEN.len()..];
        let spec_end = after.find("-->");
        let close = after.find(INLINE_CLOSE);
        let (Some(spec_end), Some(close)) = (spec_end, close.filter(|&c| Some(c) > spec_end))
        else {
            stale.push(Stale {
                line: number,
                marker: after.split("-->").next().unwrap_or("").trim().to_owned(),
                written: String::new(),
                generated: Err(format!("no {INLINE_CLOSE} after it on its line")),
            });
            break;
        };
        let spec = after[..spec_end].trim();
        let written = &after[spec_end + 3..close];
        out.push_str(&rest[..start + INLINE_OPEN.len()]);
        out.push_str(&after[..spec_end + 3]);
        let generated = inline(spec, root);
        match &generated {
            Ok(value) => out.push_str(value),
            Err(_) => out.push_str(written),
        }
        if generated.as_deref() != Ok(written) {
            stale.push(Stale {
                line: number,
                marker: spec.to_owned(),
                written: written.to_owned(),
                generated,
            });
        }
        out.push_str(INLINE_CLOSE);
        rest = &after[close + INLINE_CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

/// `RUN METRIC DECIMALS`: one value of a run, as printed.
fn inline(spec: &str, root: &Path) -> Result<String, String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let [run, metric @ .., decimals] = words.as_slice() else {
        return Err("expected RUN METRIC DECIMALS".into());
    };
    if metric.is_empty() {
        return Err("expected RUN METRIC DECIMALS".into());
    }
    let decimals: usize =
        decimals.parse().ok().filter(|&d| d <= 9).ok_or_else(|| {
            format!("{decimals:?}: the last word is the number of decimals, 0 to 9")
        })?;
    let analysis = analyse(&read(root, run)?);
    let value = crate::gate::figure(&analysis, &metric.join(" ")).map_err(|e| e.0)?;
    Ok(format!("{value:.decimals$}"))
}

fn block(spec: &str, root: &Path, up: &str) -> Result<String, String> {
    let words = words(spec)?;
    let args: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
    match (words.first().map(String::as_str), args.as_slice()) {
        (Some("headline"), [run]) => Ok(headline(&read(root, run)?)),
        (Some("section"), [run, heading]) => {
            let body = section(&read(root, run)?, heading)?;
            Ok(relink(
                &body,
                &format!("{up}{}/", run.trim_end_matches('/')),
            ))
        }
        (Some("modes"), [steps, faults]) => Ok(modes(&read(root, steps)?, &read(root, faults)?)),
        (Some("spread"), runs) if !runs.is_empty() => spread(root, runs),
        (Some("ranges"), runs) if !runs.is_empty() => ranges(root, runs),
        (Some("spread-table"), batches) if !batches.is_empty() => spread_table(root, batches),
        (Some("times"), [file]) => times(&text(root, file)?),
        (Some("file"), [file]) => text(root, file),
        _ => Err(format!(
            "unknown figures block {spec:?}: known are headline RUN, section RUN \"HEADING\", modes STEPS_RUN FAULTS_RUN, spread RUN..., spread-table \"LABEL=RUN...\"..., ranges RUN..., times FILE, file FILE"
        )),
    }
}

/// Words, with "double quotes" keeping spaces.
fn words(spec: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = spec.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("a quote is not closed in {spec:?}"))?;
            words.push(quoted[..end].to_owned());
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
    }
    Ok(words)
}

/// The largest file a marker may read: results, not anything else.
const MAX_FILE: u64 = 64 << 20;

/// `path` under `root`: relative, without `..`, a regular file or folder
/// (a marker in a document must not read outside the checkout, nor a
/// device or a pipe).
fn within(root: &Path, path: &str) -> Result<PathBuf, String> {
    let full = root.join(confined(path)?);
    let meta = std::fs::metadata(&full).map_err(|e| format!("cannot read {path}: {e}"))?;
    let run = full.join("run.json");
    let file_meta = if meta.is_dir() {
        std::fs::metadata(&run).map_err(|e| format!("cannot read {}: {e}", run.display()))?
    } else {
        meta
    };
    if !file_meta.is_file() || file_meta.len() > MAX_FILE {
        return Err(format!(
            "{path}: not a regular file of at most {} MiB",
            MAX_FILE >> 20
        ));
    }
    Ok(full)
}

/// A path a marker may name: relative, every part a plain name.
fn confined(path: &str) -> Result<&Path, String> {
    let relative = Path::new(path);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "{path}: a marker names a path inside the checkout, relative and without .."
        ));
    }
    Ok(relative)
}

fn read(root: &Path, run: &str) -> Result<Run, String> {
    Run::read(&within(root, run)?).map_err(|e| format!("{e:#}"))
}

fn text(root: &Path, file: &str) -> Result<String, String> {
    std::fs::read_to_string(within(root, file)?).map_err(|e| format!("cannot read {file}: {e}"))
}

/// `](chart.svg)` links of a report, which sit beside its run.json,
/// pointed at the run's folder as seen from the document (`prefix`).
fn relink(body: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("](") {
        let (before, after) = rest.split_at(at + 2);
        out.push_str(before);
        let end = after.find(')').unwrap_or(after.len());
        let target = &after[..end];
        if !target.contains(['/', ':', '#']) && !target.is_empty() {
            out.push_str(prefix);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The body of one `## HEADING` section of the run's report.
fn section(run: &Run, heading: &str) -> Result<String, String> {
    let report = report_md(run);
    let start = report
        .lines()
        .position(|l| l.strip_prefix("## ") == Some(heading))
        .ok_or_else(|| format!("the report has no section {heading:?}"))?;
    let body: Vec<&str> = report
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    Ok(body.join("\n").trim().to_owned())
}

fn report_md(run: &Run) -> String {
    crate::render(run)
        .into_iter()
        .find(|(name, _)| name == "report.md")
        .map(|(_, text)| text)
        .unwrap_or_default()
}

/// The verdict, the noise floor, and every mode at the largest N with
/// its 95% interval, with the mode-to-mode throughput ratio there.
fn headline(run: &Run) -> String {
    let analysis = analyse(run);
    let precision = crate::precision::precision(run);
    let mut out = String::new();
    for m in &analysis.modes {
        let _ = writeln!(out, "- {}", m.verdict);
    }
    if let Some(floor) = precision.noise_floor {
        let _ = writeln!(
            out,
            "\nNoise floor: a typical figure of this run resolves differences of {:.1}% or more (95% intervals over {} rounds).",
            100.0 * floor,
            run.plan.experiment.rounds
        );
    }
    let n = run.plan.max_nodes();
    let _ = writeln!(out, "\n| at N={n} | X (req/s) | E(N) | p99 (ms) |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for s in precision.steps.iter().filter(|s| s.n == n) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.mode,
            s.throughput.show(0),
            s.efficiency.as_ref().map_or("—".to_owned(), |e| e.show(2)),
            s.p99_ms.show(1),
        );
    }
    for r in precision.ratios.iter().filter(|r| r.n == n) {
        let _ = writeln!(
            out,
            "| {}/{} throughput | {} | | |",
            r.a,
            r.b,
            r.ratio.show(2)
        );
    }
    out.trim().to_owned()
}

/// One row per mode: X(1), X and E at the largest N, the bottleneck
/// there, the revocation probe (from `steps`), and what a store outage
/// and a node loss did (from `faults`).
fn modes(steps: &Run, faults: &Run) -> String {
    let analysis: Analysis = analyse(steps);
    let mut out = String::new();
    let n = steps.plan.max_nodes();
    let _ = writeln!(
        out,
        "| mode | X(1) req/s | X({n}) req/s | E({n}) | bottleneck at N={n} | revocation (probed) | store outage: requests failed | node loss: credentials lost |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|---:|---:|");
    for m in &analysis.modes {
        let (Some(first), Some(last)) = (m.points.first(), m.points.last()) else {
            continue;
        };
        let revocation =
            steps
                .revocations
                .iter()
                .find(|r| r.mode == m.mode)
                .map_or("—".to_owned(), |r| match r.latency_ms {
                    Some(ms) => format!("{ms:.0} ms"),
                    None => format!("not within {:.0} s", r.window_ms / 1000.0),
                });
        let fault = |kind: FaultKind| {
            faults
                .faults
                .iter()
                .find(|f| f.mode == m.mode && f.kind == kind && f.persistence == Persistence::None)
        };
        let outage = fault(FaultKind::StoreOutage).map_or("—".to_owned(), |f| {
            format!("{:.0}%", 100.0 * f.failed as f64 / f.requests.max(1) as f64)
        });
        let lost =
            fault(FaultKind::NodeLoss).map_or("—".to_owned(), |f| f.sessions_lost.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {revocation} | {outage} | {lost} |",
            m.mode,
            thousands(first.throughput),
            thousands(last.throughput),
            last.efficiency,
            m.bottleneck,
        );
    }
    out
}

/// `12,345`: a rate as the README prints it.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row per batch of repeats (`LABEL=PATTERN PATTERN...`): how far
/// its runs agree, in the numbers `authscale spread` summarizes.
fn spread_table(root: &Path, batches: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| batch | values within ±5% of their median | 90% of values within | figures with every run within ±5% | run intervals containing the median | median interval half-width |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for batch in batches {
        let (label, patterns) = batch
            .split_once('=')
            .ok_or_else(|| format!("{batch:?}: expected LABEL=RUN..."))?;
        let patterns: Vec<&str> = patterns.split_whitespace().collect();
        let runs = runs(root, &patterns)?;
        let s = crate::spread::summarize(&crate::spread::figures(&runs), 0.05);
        let share = crate::spread::share;
        let percent = |x: Option<f64>| x.map_or("—".to_owned(), |x| format!("{:.1}%", 100.0 * x));
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} |",
            share(s.within, s.values),
            s.tolerance_held_by_90.map_or("—".to_owned(), |t| format!(
                "±{}%",
                crate::spread::percent_up(t)
            )),
            share(s.figures_within, s.figures),
            share(s.covering, s.intervals),
            percent(s.median_half_width),
        );
    }
    Ok(out)
}

/// How repeats agree: the summary lines of `authscale spread`.
fn spread(root: &Path, patterns: &[&str]) -> Result<String, String> {
    let text = crate::spread::spread(&runs(root, patterns)?, 0.05)
        .ok_or_else(|| format!("{patterns:?}: no figure has values from two runs"))?;
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("values (run × figure)"))
        .collect();
    Ok(summary.join("\n"))
}

/// The figures the gate's thresholds are chosen from, each as the range
/// over repeats of one experiment (A/A runs): what identical code gives.
const RANGES: [(&str, &str, usize); 12] = [
    ("token efficiency", "token.efficiency@max", 3),
    ("session efficiency", "session.efficiency@max", 3),
    (
        "session/token throughput @1",
        "session/token throughput@1",
        3,
    ),
    (
        "session/token throughput",
        "session/token throughput@max",
        3,
    ),
    (
        "session store commands per request",
        "session.store_cmds_per_req@max",
        3,
    ),
    (
        "session store utilization",
        "session.utilization.store@max",
        3,
    ),
    (
        "session node CPU µs/request",
        "session.cpu_us_per_req.nodes@max",
        1,
    ),
    (
        "token node CPU µs/request",
        "token.cpu_us_per_req.nodes@max",
        1,
    ),
    (
        "token proxy CPU µs/request",
        "token.cpu_us_per_req.proxy@max",
        1,
    ),
    ("session throughput @1 (req/s)", "session.throughput@1", 0),
    ("token throughput @1 (req/s)", "token.throughput@1", 0),
    ("token p99 (ms)", "token.p99@max", 1),
];

fn ranges(root: &Path, patterns: &[&str]) -> Result<String, String> {
    let analyses: Vec<Analysis> = runs(root, patterns)?.iter().map(analyse).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| metric (at the largest N unless @1) | min | median | max | spread (max−min)/median |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (label, expression, decimals) in RANGES {
        let mut values = analyses
            .iter()
            .map(|a| crate::gate::figure(a, expression).map_err(|e| e.0))
            .collect::<Result<Vec<f64>, String>>()?;
        values.sort_by(f64::total_cmp);
        let (min, max) = (values[0], values[values.len() - 1]);
        let median = if values.len() % 2 == 1 {
            values[values.len() / 2]
        } else {
            (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
        };
        let spread = 100.0 * (max - min) / median;
        let _ = writeln!(
            out,
            "| {label} | {min:.decimals$} | {median:.decimals$} | {max:.decimals$} | {} |",
            if spread < 10.0 {
                format!("{spread:.1}%")
            } else {
                format!("{spread:.0}%")
            }
        );
    }
    Ok(out)
}

/// The runs the patterns name, in order.
fn runs(root: &Path, patterns: &[&str]) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for pattern in patterns {
        for path in expand(root, pattern)? {
            runs.push(Run::read(&path).map_err(|e| format!("{e:#}"))?);
        }
    }
    Ok(runs)
}

/// The files a pattern names, sorted; `*` matches within a file name.
fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = root.join(confined(pattern)?);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{pattern}: not a file pattern"));
    };
    let name = name.to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return Ok(vec![within(root, pattern)?]);
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{pattern}: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| {
                n.len() >= prefix.len() + suffix.len()
                    && n.starts_with(prefix)
                    && n.ends_with(suffix)
            })
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!("{pattern}: no file matches"));
    }
    found
        .iter()
        .map(|p| within(root, &p.strip_prefix(root).unwrap_or(p).to_string_lossy()))
        .collect()
}

/// A Markdown table of tab-separated lines, the first one the header.
fn times(text: &str) -> Result<String, String> {
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let Some(header) = rows.first() else {
        return Err("the file is empty".into());
    };
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in &rows[1..] {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn a_generated_block_and_value_are_checked_and_rewritten() {
        let dir = std::env::temp_dir().join(format!("authscale-figures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("times.tsv"), "experiment\tseconds\ndefault\t107\n")
            .expect("write");
        let fresh = "a\n<!-- figures: times times.tsv -->\n| experiment | seconds |\n|---|---|\n| default | 107 |\n<!-- /figures -->\nb\n";
        assert_eq!(
            refresh(fresh, &dir, Path::new("")),
            (fresh.to_owned(), vec![], 1)
        );
        let edited = fresh.replace("| 107 |", "| 90 |");
        let (again, stale, _) = refresh(&edited, &dir, Path::new(""));
        assert_eq!(again, fresh);
        assert_eq!(stale.len(), 1);
        assert_eq!(
            (stale[0].line, stale[0].marker.as_str()),
            (2, "times times.tsv")
        );
        std::fs::write(dir.join("times.tsv"), "experiment\tseconds\ndefault\t110\n")
            .expect("write");
        assert_eq!(
            refresh(fresh, &dir, Path::new("")).1.len(),
            1,
            "a changed result makes the prose stale"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_inline_value_comes_from_the_run() {
        let line = "E(8) is <!-- figure: results/examples/default session.efficiency@8 2 -->0.99<!-- /figure --> here\n";
        let (fixed, stale, _) = refresh(line, &root(), Path::new(""));
        assert_eq!(stale.len(), 1);
        let value = stale[0].generated.clone().expect("a value");
        assert_eq!(fixed, line.replace(">0.99<", &format!(">{value}<")));
        assert_eq!(refresh(&fixed, &root(), Path::new("")).1, vec![]);
    }

    /// Why the only generated part of `text` cannot be generated.
    fn error_of(text: &str) -> String {
        let (_, stale, _) = refresh(text, &root(), Path::new(""));
        stale[0].generated.clone().expect_err("cannot be generated")
    }

    #[test]
    fn what_cannot_be_generated_is_named() {
        let missing =
            error_of("<!-- figures: headline results/nowhere -->\nx\n<!-- /figures -->\n");
        assert!(missing.contains("cannot read"), "{missing}");
        let unknown = error_of("<!-- figures: table x -->\nx\n<!-- /figures -->\n");
        assert!(unknown.contains("unknown figures block"), "{unknown}");
        let open = error_of("<!-- figures: file README.md -->\nx\n");
        assert!(open.contains("no <!-- /figures -->"), "{open}");
        // Nothing a marker names leaves the checkout, or reads a device.
        for path in ["/etc/passwd", "../../etc/passwd", "results/../../x"] {
            let outside = error_of(&format!(
                "<!-- figures: file {path} -->\n<!-- /figures -->\n"
            ));
            assert!(outside.contains("relative and without .."), "{outside}");
        }
        let device = within(Path::new("/"), "dev/zero").expect_err("a device");
        assert!(device.contains("not a regular file"), "{device}");
        let quote = error_of(
            "<!-- figures: section results/examples/default \"Verdict -->\n<!-- /figures -->\n",
        );
        assert!(quote.contains("quote is not closed"), "{quote}");
        let decimals = error_of(
            "<!-- figure: results/examples/default session.efficiency@8 999999 -->x<!-- /figure -->\n",
        );
        assert!(decimals.contains("0 to 9"), "{decimals}");
    }

    #[test]
    fn a_marker_that_cannot_be_read_is_never_skipped() {
        // Opened again before it closed: --update must not swallow the text between.
        let text = "<!-- figures: file README.md -->\nkeep\n<!-- figures: file README.md -->\nT\n<!-- /figures -->\n";
        let (again, stale, parts) = refresh(text, &root(), Path::new(""));
        assert_eq!(parts, 2);
        assert!(again.contains("keep\n"), "{again}");
        let why = stale[0].generated.clone().expect_err("unreadable");
        assert!(why.contains("another block opens at line 3"), "{why}");
        // Not alone on its line, or an inline figure without its close.
        let inline = error_of(
            "- <!-- figures: headline results/examples/default -->\nx\n<!-- /figures -->\n",
        );
        assert!(inline.contains("stand alone on its line"), "{inline}");
        let (_, stale, parts) = refresh(
            "A <!-- figure: results/examples/default session.efficiency@8 2 -->0.99 oops\n",
            &root(),
            Path::new(""),
        );
        assert_eq!(parts, 1);
        assert!(
            stale[0]
                .generated
                .as_ref()
                .is_err_and(|e| e.contains("no <!-- /figure -->"))
        );
    }

    #[test]
    fn a_sections_chart_links_point_at_its_run_from_the_document() {
        let body = "![a](fault-x.svg) [b](https://x.org/y) [c](#top) ![d](../z.svg)";
        assert_eq!(
            relink(body, "../results/examples/faults/"),
            "![a](../results/examples/faults/fault-x.svg) [b](https://x.org/y) [c](#top) ![d](../z.svg)"
        );
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(2_161_779.4), "2,161,779");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(12.0), "12");
    }
}
