//! The lab's child processes: started with the arguments of a step, moved
//! into their CPU group, stopped (and their group removed) when dropped, so
//! nothing outlives the lab on a normal exit, an error, a panic or Ctrl-C.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use authscale_load::process_cpu_seconds;

use crate::cgroup::CpuGroup;
use authscale_schema::Throttling;

/// A running child of the lab.
#[derive(Debug)]
pub struct Managed {
    child: Option<Child>,
    /// The name it was started under (a node's also names its CPU group).
    pub name: String,
    pub pid: u32,
    /// Addresses the process announced on stdout (`http://ADDR`).
    pub addrs: Vec<std::net::SocketAddr>,
    group: Option<CpuGroup>,
}

impl Managed {
    /// Starts `program args` and, if `group` is given, caps it. When
    /// `announces` is set, waits (10 s at most) for the `http://ADDR` line.
    pub async fn start(
        name: &str,
        program: &Path,
        args: &[String],
        group: Option<CpuGroup>,
        announces: bool,
    ) -> anyhow::Result<Managed> {
        Managed::start_without_env(name, program, args, &[], group, announces).await
    }

    /// [`Managed::start`] without the environment variables `unset`: a
    /// node started from a launch file must not take its settings from
    /// whatever the caller's shell exported.
    pub async fn start_without_env(
        name: &str,
        program: &Path,
        args: &[String],
        unset: &[&str],
        group: Option<CpuGroup>,
        announces: bool,
    ) -> anyhow::Result<Managed> {
        let mut command = Command::new(program);
        for var in unset {
            command.env_remove(var);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(if announces {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            // Piped while it announces, so a start-up error can be shown.
            .stderr(if announces {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        let pid = child.id().context("child has no pid")?;
        if let Some(group) = &group {
            group
                .add(pid)
                .with_context(|| format!("cannot move {name} into its CPU group"))?;
        }
        let mut managed = Managed {
            child: None,
            name: name.to_owned(),
            pid,
            addrs: Vec::new(),
            group,
        };
        if announces {
            let stdout = child.stdout.take().context("piped stdout")?;
            let mut stderr = child.stderr.take().context("piped stderr")?;
            let mut lines = BufReader::new(stdout).lines();
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .with_context(|| format!("{name} did not report its address within 10 s"))??;
            let Some(line) = line else {
                // It exited: its own error is the last line it wrote that
                // says error (or else its last line).
                let mut said = String::new();
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut said),
                )
                .await;
                let why = said
                    .lines()
                    .rev()
                    .find(|l| l.contains("error"))
                    .or_else(|| said.lines().rev().find(|l| !l.trim().is_empty()))
                    .unwrap_or("")
                    .trim_start_matches("authscale: error: ")
                    .trim_start_matches("error: ");
                bail!("{name} exited before it listened: {why} (its flags: {args:?})")
            };
            // Drained, so the child never blocks on a full pipe.
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            });
            managed.addrs = line
                .split("http://")
                .skip(1)
                .filter_map(|rest| {
                    rest.split(|c: char| c.is_whitespace() || c == ')')
                        .next()?
                        .parse()
                        .ok()
                })
                .collect();
            // Keep reading so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        }
        managed.child = Some(child);
        Ok(managed)
    }

    /// Puts an already running process under `group`.
    pub fn with_group(mut self, group: CpuGroup) -> Managed {
        self.group = Some(group);
        self
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addrs[0]
    }

    /// CPU seconds (user + system) the process has used.
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.pid)
    }

    /// Times the process's threads were put on a CPU.
    pub fn runs(&self) -> Option<u64> {
        authscale_schema::process_runs(self.pid)
    }

    /// Runs counted between two reads of [`Managed::runs`] (a thread that
    /// ended takes its count with it: never below zero).
    pub fn runs_between(start: Option<u64>, end: Option<u64>) -> Option<u64> {
        end.zip(start).map(|(e, s)| e.saturating_sub(s))
    }

    pub fn throttling(&self) -> Option<Throttling> {
        self.group.as_ref().map(CpuGroup::throttling)
    }

    /// The quota period the process's group really uses.
    pub fn cpu_period(&self) -> Option<Duration> {
        self.group.as_ref().map(|g| g.period)
    }

    /// Kills the process without blocking the runtime (a fault injected
    /// while the load generator runs), then lets its group go.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        self.group = None;
    }

    /// Kills the process and waits for it, so its CPU group can go.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            for _ in 0..100 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.group = None;
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.stop();
    }
}
