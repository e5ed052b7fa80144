//! CPU budgets: one cgroup per capped process, cgroup v2 (`cpu.max`) or v1
//! (`cpu.cfs_quota_us` / `cpu.cfs_period_us`), with throttling counters.
//! Where neither is writable the lab runs uncapped and says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which cgroup interface the lab uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Caps {
    V2 { root: PathBuf },
    V1 { root: PathBuf },
    None { reason: String },
}

impl Caps {
    /// Finds a writable CPU controller: v2 at /sys/fs/cgroup, else v1 at
    /// /sys/fs/cgroup/cpu. `AUTHSCALE_CGROUP_ROOT` overrides the place.
    pub fn detect() -> Caps {
        let base = std::env::var_os("AUTHSCALE_CGROUP_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/sys/fs/cgroup".into());
        let controllers =
            std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "cpu") {
            // The cpu controller must be enabled for the children we create.
            let _ = std::fs::write(base.join("cgroup.subtree_control"), "+cpu");
            let root = base.join(format!("authscale-probe-{}", std::process::id()));
            if std::fs::create_dir(&root).is_ok() {
                let writable = root.join("cpu.max").exists();
                let _ = std::fs::remove_dir(&root);
                if writable {
                    return Caps::V2 { root: base };
                }
            }
        }
        let v1 = base.join("cpu");
        if v1.join("cpu.cfs_quota_us").exists() {
            let probe = v1.join(format!("authscale-probe-{}", std::process::id()));
            if std::fs::create_dir(&probe).is_ok() {
                let _ = std::fs::remove_dir(&probe);
                return Caps::V1 { root: v1 };
            }
            return Caps::None {
                reason: format!("{} is not writable (run as root?)", v1.display()),
            };
        }
        Caps::None {
            reason:
                "no writable cgroup CPU controller (neither v2 cpu.max nor v1 cpu.cfs_quota_us)"
                    .into(),
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

/// One capped group, removed on drop.
#[derive(Debug)]
pub struct CpuGroup {
    path: PathBuf,
    v2: bool,
    pub period: Duration,
}

/// Throttling counters of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_seconds: f64,
}

impl Throttling {
    pub fn since(self, earlier: Throttling) -> Throttling {
        Throttling {
            periods: self.periods.saturating_sub(earlier.periods),
            throttled_periods: self
                .throttled_periods
                .saturating_sub(earlier.throttled_periods),
            throttled_seconds: (self.throttled_seconds - earlier.throttled_seconds).max(0.0),
        }
    }

    pub fn plus(self, other: Throttling) -> Throttling {
        Throttling {
            periods: self.periods + other.periods,
            throttled_periods: self.throttled_periods + other.throttled_periods,
            throttled_seconds: self.throttled_seconds + other.throttled_seconds,
        }
    }
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
        let period = period
            .max(Duration::from_secs_f64(MIN_QUOTA.as_secs_f64() / fraction))
            .min(Duration::from_secs(1));
        let quota = Duration::from_secs_f64(period.as_secs_f64() * fraction);
        let parent_path = root.join(parent);
        if !parent_path.exists() {
            std::fs::create_dir(&parent_path)?;
            if v2 {
                std::fs::write(parent_path.join("cgroup.subtree_control"), "+cpu")?;
            }
        }
        let path = parent_path.join(name);
        std::fs::create_dir(&path)?;
        let group = CpuGroup { path, v2, period };
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
        // A group can only be removed once empty: its process is stopped first.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::remove_dir(parent); // fails while siblings remain
        }
    }
}

/// Removes what `parent` still holds (after a crash of an earlier run).
pub fn remove_parent(caps: &Caps, parent: &str) {
    let root: &Path = match caps {
        Caps::V2 { root } | Caps::V1 { root } => root,
        Caps::None { .. } => return,
    };
    let path = root.join(parent);
    if let Ok(entries) = std::fs::read_dir(&path) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(&path);
}
