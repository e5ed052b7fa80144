//! Side A of the gate's A/B layer, found rather than written down: the
//! commit this change starts from (the merge base with `--a-base`, by
//! default the parent commit), and whether the nodes' code differs from it
//! at all. A cost change a commit intends is said in that commit, with a
//! `Node-cost:` trailer, not by moving a revision in a file.

use anyhow::{Context, anyhow};
use std::process::Command;

/// The trailer that accepts a node cost change: `Node-cost: intended, <why>`.
pub const ACCEPT_TRAILER: &str = "Node-cost";

/// Runs git in the current folder; its trimmed output, or why it failed.
pub fn git(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .context("git is not available")?;
    anyhow::ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The commit side A is built from: where this change starts from `base`
/// (`git merge-base HEAD base`; for the default `HEAD^` the parent).
pub fn start_of_change(base: &str) -> anyhow::Result<String> {
    git(&["--version"]).context("git is needed to find side A")?;
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{base}^{{commit}}"),
    ])
    .map_err(|_| {
        anyhow!(
            "--a-base {base:?} is not a commit here (a shallow clone? `git fetch --deepen 1`, or name side A with --a-rev or --a-bin)"
        )
    })?;
    git(&["merge-base", "HEAD", &commit])
        .with_context(|| format!("HEAD and {base} share no history"))
}

/// Whether the working tree's node code (the gate file's `node_code`
/// paths, uncommitted changes included) differs from `commit`'s.
pub fn node_code_differs(commit: &str, paths: &[String]) -> anyhow::Result<bool> {
    let mut args = vec!["diff", "--quiet", commit, "--"];
    args.extend(paths.iter().map(String::as_str));
    let status = Command::new("git")
        .args(&args)
        .status()
        .context("git is not available")?;
    match status.code() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(anyhow!("git diff against {commit} failed")),
    }
}

/// The commits after `commit` up to HEAD that accept a node cost change,
/// as (commit, the trailer's text).
pub fn accepted_changes(commit: &str) -> anyhow::Result<Vec<(String, String)>> {
    let format =
        format!("--format=%H%x1f%(trailers:key={ACCEPT_TRAILER},valueonly,separator=%x20)%x1e");
    let log = git(&["log", &format, &format!("{commit}..HEAD")])?;
    Ok(parse_accepted(&log))
}

fn parse_accepted(log: &str) -> Vec<(String, String)> {
    log.split('\x1e')
        .filter_map(|entry| {
            let (commit, reason) = entry.trim().split_once('\x1f')?;
            let reason = reason.trim();
            (!reason.is_empty()).then(|| (commit.to_owned(), reason.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commits_with_the_trailer_accept_a_cost_change() {
        let log = "aaa\x1f\x1e\nbbb\x1fintended, RS256 by default\n\x1e\nccc\x1f  \x1e";
        assert_eq!(
            parse_accepted(log),
            vec![("bbb".to_owned(), "intended, RS256 by default".to_owned())]
        );
        assert!(parse_accepted("").is_empty());
    }
}
