//! CPU budgets: one cgroup per capped process, cgroup v2 (`cpu.max`) or v1
//! (`cpu.cfs_quota_us` / `cpu.cfs_period_us`), with throttling counters.
//! Where neither is writable the lab runs uncapped and says so.
//!
//! Everything works under a root folder (`/sys/fs/cgroup` by default), so
//! the tests run it over a fake tree in a temporary folder without root.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The suffix of the cpuset group (after `authscale-PID`) of the system
/// under test: capped processes join it too when the lab pins (`cpuset`).
pub(crate) const SUT: &str = "-sut";

use authscale_schema::Throttling;

/// Where the cgroup file systems are mounted unless told otherwise.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Every folder the lab creates under a cgroup root starts with this, then
/// the pid of the sweep that created it (`authscale-1234`), so a later run
/// can tell which ones a crashed run left behind.
const PREFIX: &str = "authscale-";

/// Which cgroup interface the lab uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Caps {
    V2 { root: PathBuf },
    V1 { root: PathBuf },
    None { reason: String },
}

impl Caps {
    /// Finds a writable CPU controller under `AUTHSCALE_CGROUP_ROOT`, or
    /// under [`DEFAULT_ROOT`] when that is not set.
    pub fn detect() -> Caps {
        let base = std::env::var_os("AUTHSCALE_CGROUP_ROOT")
            .map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from);
        Caps::detect_at(&base)
    }

    /// Finds a writable CPU controller: v2 at `base`, else v1 at `base/cpu`.
    pub fn detect_at(base: &Path) -> Caps {
        let controllers =
            std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "cpu") {
            // The cpu controller must be enabled for the children we create.
            let _ = std::fs::write(base.join("cgroup.subtree_control"), "+cpu");
            let root = base.join(format!("{PREFIX}probe-{}", std::process::id()));
            if std::fs::create_dir(&root).is_ok() {
                // The kernel fills a new group with the controller's files.
                let writable = root.join("cpu.max").exists();
                let _ = remove_group(&root);
                if writable {
                    return Caps::V2 {
                        root: base.to_owned(),
                    };
                }
            }
        }
        let v1 = base.join("cpu");
        if v1.join("cpu.cfs_quota_us").exists() {
            let probe = v1.join(format!("{PREFIX}probe-{}", std::process::id()));
            if std::fs::create_dir(&probe).is_ok() {
                let _ = remove_group(&probe);
                return Caps::V1 { root: v1 };
            }
            return Caps::None {
                reason: format!("{} is not writable (run as root?)", v1.display()),
            };
        }
        Caps::None {
            reason: format!(
                "no writable cgroup CPU controller under {} (neither v2 cpu.max nor v1 cpu.cfs_quota_us)",
                base.display()
            ),
        }
    }

    /// The folder groups are created in, when there is one.
    pub fn root(&self) -> Option<&Path> {
        match self {
            Caps::V2 { root } | Caps::V1 { root } => Some(root),
            Caps::None { .. } => None,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Caps::V2 { .. } => "cgroup-v2",
            Caps::V1 { .. } => "cgroup-v1",
            Caps::None { .. } => "none",
        }
    }
}

/// The smallest quota the kernel accepts (v1: 1 ms).
const MIN_QUOTA: Duration = Duration::from_millis(1);

/// The quota period a group of `fraction` of a core gets: `period`,
/// raised where the quota would fall under the kernel's 1 ms minimum, at
/// most 1 s.
pub fn effective_period(fraction: f64, period: Duration) -> Duration {
    period
        .max(Duration::from_secs_f64(MIN_QUOTA.as_secs_f64() / fraction))
        .min(Duration::from_secs(1))
}

/// One capped group, removed on drop.
#[derive(Debug)]
pub struct CpuGroup {
    path: PathBuf,
    v2: bool,
    /// v1 with isolation: the cpuset group the process also joins (the
    /// cpuset hierarchy is separate from cpu's; in v2 the group inherits
    /// its parent's `cpuset.cpus`).
    cpuset: Option<PathBuf>,
    pub period: Duration,
}

impl CpuGroup {
    /// Creates `parent/name` limited to `fraction` of one core. The period
    /// is `period`, raised when the quota would fall under the kernel's
    /// 1 ms minimum (the raised period is what gets recorded).
    pub fn create(
        caps: &Caps,
        parent: &str,
        name: &str,
        fraction: f64,
        period: Duration,
    ) -> anyhow::Result<Option<CpuGroup>> {
        let (root, v2) = match caps {
            Caps::V2 { root } => (root, true),
            Caps::V1 { root } => (root, false),
            Caps::None { .. } => return Ok(None),
        };
        anyhow::ensure!(fraction > 0.0, "a CPU budget must be greater than zero");
        let period = effective_period(fraction, period);
        let quota = Duration::from_secs_f64(period.as_secs_f64() * fraction);
        anyhow::ensure!(
            quota >= MIN_QUOTA,
            "a CPU budget of {fraction} cores is under what the kernel enforces ({} ms per second)",
            MIN_QUOTA.as_millis()
        );
        let parent_path = root.join(parent);
        if !parent_path.exists() {
            std::fs::create_dir(&parent_path)?;
        }
        if v2 {
            // Also when the isolation made the parent (for its cpuset).
            std::fs::write(parent_path.join("cgroup.subtree_control"), "+cpu")?;
        }
        let path = parent_path.join(name);
        std::fs::create_dir(&path)?;
        let cpuset = root
            .parent()
            .filter(|_| !v2)
            .map(|base| base.join("cpuset").join(format!("{parent}{}", SUT)))
            .filter(|p| p.is_dir());
        let group = CpuGroup {
            path,
            v2,
            period,
            cpuset,
        };
        if v2 {
            std::fs::write(
                group.path.join("cpu.max"),
                format!("{} {}", quota.as_micros(), period.as_micros()),
            )?;
        } else {
            std::fs::write(
                group.path.join("cpu.cfs_period_us"),
                period.as_micros().to_string(),
            )?;
            std::fs::write(
                group.path.join("cpu.cfs_quota_us"),
                quota.as_micros().to_string(),
            )?;
        }
        Ok(Some(group))
    }

    /// Moves process `pid` (all its threads) into the group.
    pub fn add(&self, pid: u32) -> anyhow::Result<()> {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string())?;
        if let Some(cpuset) = &self.cpuset {
            std::fs::write(cpuset.join("cgroup.procs"), pid.to_string())?;
        }
        Ok(())
    }

    pub fn throttling(&self) -> Throttling {
        let text = std::fs::read_to_string(self.path.join("cpu.stat")).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|v| v.trim().parse::<u64>().ok())
                })
                .unwrap_or(0)
        };
        let throttled_seconds = if self.v2 {
            field("throttled_usec ") as f64 / 1e6
        } else {
            field("throttled_time ") as f64 / 1e9
        };
        Throttling {
            periods: field("nr_periods "),
            throttled_periods: field("nr_throttled "),
            throttled_seconds,
        }
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A group can only be removed once empty: its process is stopped
        // first, but the kernel may take a moment to let it go.
        for _ in 0..50 {
            if remove_group(&self.path).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(parent) = self.path.parent() {
            let _ = remove_group(parent); // fails while siblings remain
        }
    }
}

/// Removes one group folder. The kernel lets `rmdir` take a cgroup with its
/// control files, and refuses one still in use with `EBUSY`; a tree of
/// plain folders (a fake tree, or `AUTHSCALE_CGROUP_ROOT` pointed at one)
/// answers "not empty" instead, and its files have to go first.
pub(crate) fn remove_group(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir(path) {
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
            for entry in std::fs::read_dir(path)?.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::remove_file(entry.path())?;
                }
            }
            std::fs::remove_dir(path)
        }
        other => other,
    }
}

/// Removes the groups under `parent` and `parent` itself, and with them
/// what crashed earlier runs left behind: every `authscale-PID` folder
/// whose sweep (PID) is no longer alive. Folders of sweeps still running,
/// and anything not named by the lab, are left alone. A group that still
/// holds a process (a survivor of a crashed run) cannot be removed and
/// stays; that is logged.
pub fn remove_parent(caps: &Caps, parent: &str) {
    let Some(root) = caps.root() else { return };
    let mut doomed = vec![root.join(parent)];
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(sweep_pid) else {
                continue;
            };
            if name != parent && !alive(pid) && entry.path().is_dir() {
                doomed.push(entry.path());
            }
        }
    }
    for path in doomed {
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir())
                    && let Err(e) = remove_group(&entry.path())
                {
                    tracing::warn!(group = %entry.path().display(), "cannot remove a left-over cgroup: {e}");
                }
            }
        }
        let _ = remove_group(&path);
    }
}

/// The pid in a folder name the lab gives (`authscale-PID`, or the probe's
/// `authscale-probe-PID`).
fn sweep_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits = rest.strip_prefix("probe-").unwrap_or(rest);
    digits.parse().ok()
}

/// Whether process `pid` exists (a zombie counts as gone).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[cfg(test)]
mod tests;
