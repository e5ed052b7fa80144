//! Pieces every long-running subcommand shares: the runtime, the shutdown
//! signal, duration options.

use std::time::Duration;

use anyhow::anyhow;

use authscale_schema::duration;

use crate::Failure;

/// A runtime with `threads` workers (default: one per CPU). One thread
/// means a current-thread runtime: no work-stealing machinery, and
/// measurably faster for a process capped to one core.
pub fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = match threads {
        Some(0) => return Err(Failure::usage(anyhow!("--threads must be at least 1"))),
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build().map_err(Failure::runtime)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Parses a duration option, naming the option in the error.
pub fn dur(name: &str, raw: &str) -> anyhow::Result<Duration> {
    duration::parse(raw).map_err(|e| anyhow!("--{name}: {e}"))
}

/// Checks, before any work, that `path` can be written where it points: its
/// folder exists and it is not itself a folder. (Whether the file can be
/// created is only known when it is; this catches the usual slip.)
pub fn writable(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        anyhow::bail!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    if path.is_dir() {
        anyhow::bail!("{flag} {} is a folder; give a file name", path.display());
    }
    Ok(())
}
