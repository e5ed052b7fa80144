//! Pieces every long-running subcommand shares: the runtime, the shutdown
//! signal, duration options.

use std::time::Duration;

use anyhow::anyhow;

use crate::{Failure, duration};

/// A multi-thread runtime with `threads` workers (default: one per CPU).
pub fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = threads {
        if threads == 0 {
            return Err(Failure::usage(anyhow!("--threads must be at least 1")));
        }
        builder.worker_threads(threads);
    }
    builder.build().map_err(Failure::runtime)
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
pub fn dur(name: &str, raw: Option<&str>, default: &str) -> anyhow::Result<Duration> {
    duration::parse(raw.unwrap_or(default)).map_err(|e| anyhow!("--{name}: {e}"))
}
