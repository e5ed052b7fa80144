//! `authscale figures`: the figures that README.md and docs/*.md quote,
//! checked against the committed results they come from (exit 1 when any
//! is stale), or written again from them with `--update`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;

use crate::Failure;

/// Options of `authscale figures`.
#[derive(Debug, Args)]
pub struct FiguresOptions {
    /// Markdown files to check [default: README.md, docs/*.md and results/*/README.md under --root].
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Where the paths in the markers start [default: the current folder].
    #[arg(long, default_value = ".", value_name = "DIR")]
    root: PathBuf,
    /// Write every generated figure again from its results (the files are
    /// rewritten only where something changed).
    #[arg(long)]
    update: bool,
}

pub fn run(options: FiguresOptions) -> Result<(), Failure> {
    let files = if options.files.is_empty() {
        documents(&options.root).map_err(Failure::usage)?
    } else {
        options.files.clone()
    };
    let mut stale = 0;
    let mut broken = 0;
    let mut blocks = 0;
    let mut rewritten = 0;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", file.display())))?;
        let (fresh, problems, parts) = authscale_report::figures::refresh(
            &text,
            &options.root,
            &folder_in(&options.root, file),
        );
        for p in &problems {
            match &p.generated {
                Ok(_) if options.update => {
                    say!("{}:{}: {} — updated", file.display(), p.line, p.marker);
                }
                Ok(generated) => {
                    stale += 1;
                    let (written, generated) = first_difference(&p.written, generated);
                    say!(
                        "{}:{}: {} — the text does not match its results\n  written:   {written}\n  generated: {generated}",
                        file.display(),
                        p.line,
                        p.marker,
                    );
                }
                Err(why) => {
                    broken += 1;
                    say!(
                        "{}:{}: {} — cannot generate: {why}",
                        file.display(),
                        p.line,
                        p.marker
                    );
                }
            }
        }
        blocks += parts;
        if options.update && fresh != text {
            authscale_schema::write_atomic(file, fresh.as_bytes()).map_err(Failure::runtime)?;
            rewritten += 1;
        }
    }
    if broken > 0 {
        return Err(Failure::runtime(anyhow!(
            "{broken} generated figure(s) cannot be generated from their results"
        )));
    }
    if stale > 0 {
        return Err(Failure::runtime(anyhow!(
            "{stale} generated figure(s) differ from their results: run `authscale figures --update` after re-measuring, or restore the results"
        )));
    }
    if options.update {
        say!(
            "figures: {blocks} generated part(s) in {} file(s); {rewritten} file(s) rewritten",
            files.len()
        );
    } else {
        say!(
            "figures: {blocks} generated part(s) in {} file(s) match their results",
            files.len()
        );
    }
    Ok(())
}

/// README.md, every docs/*.md and every results/*/README.md under `root`.
fn documents(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = vec![root.join("README.md")];
    if let Ok(entries) = std::fs::read_dir(root.join("docs")) {
        let mut docs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
    }
    if let Ok(entries) = std::fs::read_dir(root.join("results")) {
        let mut notes: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("README.md"))
            .filter(|p| p.is_file())
            .collect();
        notes.sort();
        files.extend(notes);
    }
    if !files[0].is_file() {
        anyhow::bail!(
            "no README.md under {}: give --root or the files",
            root.display()
        );
    }
    Ok(files)
}

/// The folder of `file` relative to `root` (`docs` for docs/x.md), for
/// the links a generated part carries; empty when it is not under root.
fn folder_in(root: &Path, file: &Path) -> PathBuf {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let folder = canonical(file)
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default();
    folder
        .strip_prefix(canonical(root))
        .map(Path::to_owned)
        .unwrap_or_default()
}

/// The first line where two texts differ, from each.
fn first_difference<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    a.lines()
        .zip(b.lines())
        .find(|(x, y)| x != y)
        .unwrap_or_else(|| match (a.lines().count(), b.lines().count()) {
            (x, y) if x < y => ("(ends here)", b.lines().nth(x).unwrap_or("")),
            (x, _) => (
                a.lines().nth(b.lines().count().min(x)).unwrap_or(""),
                "(ends here)",
            ),
        })
}
