//! One convention for a command's result: text on standard output, and
//! `--json`, `--markdown` and `--html`, each written to a FILE or, given
//! `-` (or no FILE), printed instead of the text. Every format is rendered
//! from the same result ([`Document`]); files are written whole
//! (atomically).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use authscale_report::Document;
use authscale_schema::Run;
use clap::Args;

use crate::{Failure, common};

/// Printed instead of the text: `--json -`, or `--json` with no FILE.
pub const STDOUT: &str = "-";

/// Where a result goes besides the terminal.
#[derive(Debug, Clone, Default, Args)]
pub struct Outputs {
    /// JSON, its format named in a `schema` field: written to FILE, or
    /// printed instead of the text with `-` or no FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = STDOUT)]
    pub json: Option<PathBuf>,
    /// Markdown (a CI job summary, a pull-request comment): written to
    /// FILE, or printed instead of the text with `-` or no FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = STDOUT)]
    pub markdown: Option<PathBuf>,
    /// One self-contained HTML page (nothing beside it, nothing fetched):
    /// written to FILE, or printed instead of the text with `-` or no FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = STDOUT)]
    pub html: Option<PathBuf>,
}

impl Outputs {
    fn each(&self) -> [(&'static str, Option<&Path>); 3] {
        [
            ("--json", self.json.as_deref()),
            ("--markdown", self.markdown.as_deref()),
            ("--html", self.html.as_deref()),
        ]
    }

    /// Checked before any work: at most one format printed, and no FILE
    /// that is a measured run (`--json RUN_A RUN_B` takes RUN_A as the
    /// FILE; writing it would destroy the run), a folder, a link or a
    /// device, one of the command's `inputs` or a file inside an input
    /// folder (a run's own report), or the FILE of another format.
    pub fn check(&self, inputs: &[&Path]) -> Result<(), Failure> {
        let files: Vec<(&str, &Path)> = self
            .each()
            .into_iter()
            .filter_map(|(flag, p)| Some((flag, p?)))
            .filter(|(_, p)| *p != Path::new(STDOUT))
            .collect();
        for (i, (flag, path)) in files.iter().enumerate() {
            if let Some((other, _)) = files[..i].iter().find(|(_, p)| same_place(p, path)) {
                return Err(Failure::usage(anyhow!(
                    "{other} and {flag} both name {}: give each format its own file",
                    path.display()
                )));
            }
            protect(flag, path, inputs)?;
        }
        let printed: Vec<&str> = self
            .each()
            .into_iter()
            .filter(|(_, p)| *p == Some(Path::new(STDOUT)))
            .map(|(flag, _)| flag)
            .collect();
        if printed.len() > 1 {
            let (both, one) = if printed.len() == 2 {
                ("both", "one of them")
            } else {
                ("all", "all but one of them")
            };
            return Err(Failure::usage(anyhow!(
                "{} cannot {both} be printed: give {one} a FILE",
                printed.join(" and ")
            )));
        }
        for (flag, output) in self.each() {
            let Some(path) = output.filter(|p| *p != Path::new(STDOUT)) else {
                continue;
            };
            // Written by a rename: a link would be replaced, not written
            // through, and reading a pipe or device (to check it is no run)
            // would block. Only a new or a regular file is written.
            if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
                return Err(Failure::usage(anyhow!(
                    "{flag} {}: not a regular file; give a new or regular file, or {STDOUT} to print",
                    path.display()
                )));
            }
            if Run::read(path).is_ok() {
                return Err(Failure::usage(anyhow!(
                    "{flag} {} is a measured run, not a file to write: {flag} takes the \
                     FILE right after it, so put the runs first",
                    path.display()
                )));
            }
            common::writable(flag, path).map_err(Failure::usage)?;
        }
        Ok(())
    }

    /// Writes every format asked for and prints the one asked to be
    /// printed, or the text.
    pub fn deliver<D: Document>(&self, doc: &D) -> Result<(), Failure> {
        let mut printed = None;
        for (flag, output) in self.each() {
            let Some(path) = output else { continue };
            let contents = match flag {
                "--json" => doc.json().map_err(Failure::runtime)? + "\n",
                "--markdown" => doc.markdown(),
                _ => doc.html(),
            };
            if path == Path::new(STDOUT) {
                printed = Some(contents);
            } else {
                authscale_schema::write_atomic(path, contents.as_bytes())
                    .map_err(Failure::runtime)?;
            }
        }
        say_raw!("{}", printed.unwrap_or_else(|| doc.text()));
        Ok(())
    }
}

/// Where a path points, for comparing: resolved through its folder (the
/// file itself may not exist yet).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

fn same_place(a: &Path, b: &Path) -> bool {
    resolved(a) == resolved(b)
}

/// Refuses an output `path` that is one of `inputs`, or lies inside an
/// input folder: writing it would change what the command reads, or a
/// run's own files.
pub fn protect(flag: &str, path: &Path, inputs: &[&Path]) -> Result<(), Failure> {
    let out = resolved(path);
    for input in inputs {
        let input = resolved(input);
        if out == input || (input.is_dir() && out.starts_with(&input)) {
            return Err(Failure::usage(anyhow!(
                "{flag} {} would overwrite {}, which this command reads: write it elsewhere",
                path.display(),
                if out == input {
                    "that input".to_owned()
                } else {
                    format!("a file of {}", input.display())
                }
            )));
        }
    }
    Ok(())
}
