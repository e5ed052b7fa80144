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

mod tables;
use tables::*;

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

#[cfg(test)]
mod tests;
