//! What a run records of where and when it ran: the host's facts, the
//! run's folder, and how the run ended.

use authscale_schema::RunStatus;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cgroup::Caps;
use crate::store::Store;
use authscale_schema::Plan;
use authscale_schema::{Host, Run, utc};

/// The facts of this machine and of the lab's store that a local run records.
pub(crate) async fn host(caps: &Caps, store: &Store) -> Host {
    Host {
        caps: caps.label().to_owned(),
        caps_detail: match caps {
            Caps::V2 { root } | Caps::V1 { root } => root.display().to_string(),
            Caps::None { reason } => reason.clone(),
        },
        redis_version: store.version.clone(),
        store: if store.owned {
            format!(
                "{} (started by the lab)",
                authscale_auth::redact_urls(&store.url)
            )
        } else {
            format!("{} (external)", authscale_auth::redact_urls(&store.url))
        },
        redis_persistence: store.persistence_settings().await,
        ..build_facts()
    }
}

/// The facts of this machine and of this build that every run records,
/// with the rest left empty for the caller to fill.
pub(crate) fn build_facts() -> Host {
    Host {
        cores: cores(),
        kernel: kernel(),
        authscale_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: build_commit().unwrap_or_else(git_commit),
        git_dirty: git_dirty(),
        cpu_model: cpu_model(),
        rustc: env!("AUTHSCALE_RUSTC").to_owned(),
        caps: String::new(),
        caps_detail: String::new(),
        redis_version: String::new(),
        store: String::new(),
        redis_persistence: String::new(),
    }
}

/// `OUT/<UTC time>-<experiment>/`, created for this run alone: a second
/// sweep of the experiment started in the same second gets `-2` (`-3`, ...)
/// instead of writing into the first one's folder.
pub(crate) fn results_dir(out_dir: &Path, plan: &Plan, started: u64) -> anyhow::Result<PathBuf> {
    let stamp = utc(started).replace([':', '-'], "");
    let base = format!("{stamp}-{}", plan.experiment.name);
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    for n in 1..=1000 {
        let dir = match n {
            1 => out_dir.join(&base),
            n => out_dir.join(format!("{base}-{n}")),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    anyhow::bail!(
        "cannot create a results folder {base}-N in {}: 1000 are taken",
        out_dir.display()
    )
}

/// Records how the sweep ended: complete, interrupted, or failed (why).
pub(crate) fn finish(run: &mut Run, outcome: anyhow::Result<bool>) {
    run.finished_at = Some(utc(unix_now()));
    match outcome {
        Ok(true) => run.status = RunStatus::Complete,
        Ok(false) => run.status = RunStatus::Interrupted,
        Err(e) => {
            run.status = RunStatus::Failed;
            run.error = Some(format!("{e:#}"));
        }
    }
}

/// The short commit of the checkout the lab runs in, or `unknown`.
pub(crate) fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

/// The commit of the checkout this binary was built in, when it was
/// built in one.
fn build_commit() -> Option<String> {
    Some(env!("AUTHSCALE_BUILD_COMMIT").to_owned()).filter(|c| !c.is_empty())
}

/// A warning when the binary was built at another commit than the
/// checkout the run starts in: the run records the binary's commit, but
/// reads the checkout's files (experiments, the store's binary path).
pub(crate) fn provenance_warning() -> Option<String> {
    let built = build_commit()?;
    let here = git_commit();
    (here != "unknown" && here != built).then(|| {
        format!(
            "this authscale was built at commit {built}, but the checkout is at {here}: the run records {built}; rebuild (cargo build --release) to measure the checkout's code"
        )
    })
}

/// Whether the checkout has uncommitted changes to tracked files; None
/// outside a git checkout.
pub(crate) fn git_dirty() -> Option<bool> {
    std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| !o.stdout.is_empty())
}

/// The first processor's model name, or `unknown`.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whole seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The running kernel's release.
pub(crate) fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
