//! Isolation of the harness from the system under test: the lab's own
//! process (the load generator runs on its threads) and the proxy on one
//! set of CPUs, the nodes and the store on the others, through the cpuset
//! controller (cgroup v1 `cpuset/`, or `cpuset.cpus` in the v2 unified
//! hierarchy). Where the host has one CPU, or no writable cpuset, the run
//! goes on unpinned and records why.
//!
//! The lab moves itself into a `authscale-PID-harness` group before it
//! starts the proxy, which inherits it. The system under test is pinned
//! through its CPU groups: in v2 they live under `authscale-PID`, whose
//! `cpuset.cpus` this module sets; in v1 the cpuset hierarchy is separate,
//! and a CPU group also moves its process into `authscale-PID-sut` (see
//! [`crate::cgroup::CpuGroup`]). No unsafe code: no `sched_setaffinity`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::Caps;

pub use authscale_schema::{Isolate, Pinning};

/// The suffixes of the two groups after `authscale-PID`.
const HARNESS: &str = "-harness";
pub(crate) use crate::cgroup::SUT;

/// Where a writable cpuset controller is, and the CPUs it offers.
#[derive(Debug, Clone, PartialEq)]
enum Layout {
    V1 { root: PathBuf },
    V2 { root: PathBuf },
}

/// The pinning of one sweep, undone when dropped (the lab moves back to
/// the group it came from, and the groups are removed).
#[derive(Debug)]
pub struct Isolation {
    pinning: Pinning,
    /// Groups to remove on drop, harness first.
    groups: Vec<PathBuf>,
    /// The `cgroup.procs` the lab process returns to.
    home: Option<PathBuf>,
}

impl Isolation {
    /// Pins as `isolate` asks, under `AUTHSCALE_CGROUP_ROOT` or
    /// `/sys/fs/cgroup`. `parent` is the sweep's `authscale-PID`.
    pub fn set_up(isolate: Isolate, caps: &Caps, parent: &str) -> Isolation {
        let base = std::env::var_os("AUTHSCALE_CGROUP_ROOT")
            .map_or_else(|| PathBuf::from(crate::cgroup::DEFAULT_ROOT), PathBuf::from);
        Isolation::set_up_at(&base, isolate, caps, parent)
    }

    pub fn set_up_at(base: &Path, isolate: Isolate, caps: &Caps, parent: &str) -> Isolation {
        let unpinned = |reason: String| Isolation {
            pinning: Pinning::None { reason },
            groups: Vec::new(),
            home: None,
        };
        if isolate == Isolate::None {
            return unpinned("isolate = none".into());
        }
        if let Caps::None { reason } = caps {
            return unpinned(format!(
                "the nodes and the store are pinned through their CPU groups, and there are none ({reason})"
            ));
        }
        let (layout, cpus) = match detect(base) {
            Ok(found) => found,
            Err(reason) => return unpinned(reason),
        };
        if cpus.len() < 2 {
            return unpinned(format!(
                "{} CPU available: nothing to pin apart",
                cpus.len()
            ));
        }
        // The harness is one load thread and one proxy thread: half the
        // CPUs (at least one), the system under test the rest.
        let (harness_cpus, sut_cpus) = cpus.split_at((cpus.len() / 2).max(1));
        let (harness_cpus, sut_cpus) = (cpu_list(harness_cpus), cpu_list(sut_cpus));
        let mut isolation = Isolation {
            pinning: Pinning::None {
                reason: String::new(),
            },
            groups: Vec::new(),
            home: None,
        };
        match isolation.pin(&layout, parent, &harness_cpus, &sut_cpus) {
            Ok(()) => {
                isolation.pinning = Pinning::Cpuset {
                    layout: match layout {
                        Layout::V1 { .. } => "cgroup-v1",
                        Layout::V2 { .. } => "cgroup-v2",
                    }
                    .into(),
                    harness_cpus,
                    sut_cpus,
                    harness: vec!["lab (load generator)".into(), "proxy".into()],
                    sut: vec!["nodes".into(), "store (when the lab started it)".into()],
                };
                isolation
            }
            Err(e) => {
                drop(isolation);
                unpinned(format!("cannot pin with the cpuset controller: {e:#}"))
            }
        }
    }

    fn pin(
        &mut self,
        layout: &Layout,
        parent: &str,
        harness_cpus: &str,
        sut_cpus: &str,
    ) -> anyhow::Result<()> {
        let (root, sut) = match layout {
            Layout::V1 { root } => (root, root.join(format!("{parent}{SUT}"))),
            // v2: the CPU groups' parent, so every capped process inherits.
            Layout::V2 { root } => (root, root.join(parent)),
        };
        remove_leftovers(root);
        let harness = root.join(format!("{parent}{HARNESS}"));
        for (group, cpus) in [(&sut, sut_cpus), (&harness, harness_cpus)] {
            if !group.is_dir() {
                std::fs::create_dir(group)?;
            }
            self.groups.push(group.clone());
            if let Layout::V1 { root } = layout {
                // v1 takes no task before its memory nodes are set.
                let mems = std::fs::read_to_string(root.join("cpuset.mems"))?;
                std::fs::write(group.join("cpuset.mems"), mems.trim())?;
            }
            std::fs::write(group.join("cpuset.cpus"), cpus)?;
        }
        self.groups.reverse();
        self.home = Some(home(layout));
        // Every thread of the lab moves, and every child started from now
        // on (the proxy first) starts in the harness group.
        std::fs::write(harness.join("cgroup.procs"), std::process::id().to_string())?;
        Ok(())
    }

    pub fn pinning(&self) -> &Pinning {
        &self.pinning
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        if let Some(home) = &self.home {
            let _ = std::fs::write(home, std::process::id().to_string());
        }
        for group in &self.groups {
            // Emptied when its processes are stopped, which may take the
            // kernel a moment; the v2 parent is the CPU groups' own, which
            // they remove once empty.
            for _ in 0..50 {
                if !group.exists() || crate::cgroup::remove_group(group).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Removes the harness and v1 system-under-test groups of sweeps that are
/// no longer running (a crashed run's); one still holding a process stays.
fn remove_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("authscale-")
            .and_then(|rest| {
                rest.strip_suffix(HARNESS)
                    .or_else(|| rest.strip_suffix(SUT))
            })
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !crate::cgroup::alive(pid)
            && let Err(e) = crate::cgroup::remove_group(&entry.path())
        {
            tracing::warn!(group = %entry.path().display(), "cannot remove a left-over cpuset group: {e}");
        }
    }
}

/// A writable cpuset controller under `base` (v2 first), and its CPUs.
fn detect(base: &Path) -> Result<(Layout, Vec<u32>), String> {
    let probe_name = format!("authscale-probe-cpuset-{}", std::process::id());
    let controllers = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    if controllers.split_whitespace().any(|c| c == "cpuset") {
        let _ = std::fs::write(base.join("cgroup.subtree_control"), "+cpuset");
        let enabled = std::fs::read_to_string(base.join("cgroup.subtree_control"))
            .is_ok_and(|s| s.contains("cpuset"));
        let probe = base.join(&probe_name);
        if enabled && std::fs::create_dir(&probe).is_ok() {
            let _ = crate::cgroup::remove_group(&probe);
            {
                let cpus = cpus_of(&base.join("cpuset.cpus.effective"))?;
                return Ok((
                    Layout::V2 {
                        root: base.to_owned(),
                    },
                    cpus,
                ));
            }
        }
    }
    let v1 = base.join("cpuset");
    if v1.join("cpuset.cpus").exists() {
        let probe = v1.join(&probe_name);
        if std::fs::create_dir(&probe).is_ok() {
            let _ = crate::cgroup::remove_group(&probe);
            let cpus = cpus_of(&v1.join("cpuset.cpus"))?;
            return Ok((Layout::V1 { root: v1 }, cpus));
        }
        return Err(format!("{} is not writable (run as root?)", v1.display()));
    }
    Err(format!(
        "no writable cpuset controller under {} (neither v2 cpuset.cpus nor v1 cpuset/)",
        base.display()
    ))
}

fn cpus_of(path: &Path) -> Result<Vec<u32>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_cpu_list(&text).ok_or_else(|| format!("{}: not a CPU list: {text:?}", path.display()))
}

/// `0-2,5` → [0, 1, 2, 5].
fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// [0, 1, 2, 5] → `0,1,2,5` (the kernel accepts a plain list).
fn cpu_list(cpus: &[u32]) -> String {
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The `cgroup.procs` of the group the lab process is in now, for the
/// controller of `layout` (read from `/proc/self/cgroup`).
fn home(layout: &Layout) -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let (root, path) = match layout {
        Layout::V1 { root } => (
            root,
            text.lines().find_map(|l| {
                let (_, rest) = l.split_once(':')?;
                let (controllers, path) = rest.split_once(':')?;
                controllers
                    .split(',')
                    .any(|c| c == "cpuset")
                    .then_some(path)
            }),
        ),
        // The path is from the unified hierarchy's mount point, which a
        // configured root (a delegated subtree) may lie under.
        Layout::V2 { root } if root.starts_with(crate::cgroup::DEFAULT_ROOT) => (
            &PathBuf::from(crate::cgroup::DEFAULT_ROOT),
            text.lines().find_map(|l| l.strip_prefix("0::")),
        ),
        Layout::V2 { root } => (root, text.lines().find_map(|l| l.strip_prefix("0::"))),
    };
    root.join(path.unwrap_or("/").trim_start_matches('/'))
        .join("cgroup.procs")
}

#[cfg(test)]
mod tests;
