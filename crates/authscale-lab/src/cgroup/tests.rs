//! The cgroup code over fake v1 and v2 trees in a temporary folder (no root
//! needed), and once against the machine's real cgroups.

use std::time::{Duration, Instant};

use super::{Caps, CpuGroup, remove_parent};
use crate::fake_tree::{Tree, read, write};
use authscale_schema::Throttling;

/// A cgroup v2 root as the kernel shows it (the controllers on offer).
fn v2(name: &str) -> (Tree, Caps) {
    let tree = Tree::new("cgroup", name);
    write(
        &tree.0.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    );
    write(&tree.0.join("cgroup.subtree_control"), "");
    let caps = Caps::V2 {
        root: tree.0.clone(),
    };
    (tree, caps)
}

/// A cgroup v1 tree with the cpu hierarchy mounted at `cpu/`.
fn v1(name: &str) -> (Tree, Caps) {
    let tree = Tree::new("cgroup", name);
    let cpu = tree.0.join("cpu");
    std::fs::create_dir(&cpu).expect("cpu");
    for (file, text) in [
        ("cpu.cfs_quota_us", "-1\n"),
        ("cpu.cfs_period_us", "100000\n"),
        ("tasks", ""),
        ("cgroup.procs", ""),
        (
            "cpu.stat",
            "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
        ),
    ] {
        write(&cpu.join(file), text);
    }
    let caps = Caps::detect_at(&tree.0);
    (tree, caps)
}

/// `CpuGroup::create` with the period in milliseconds.
fn create(
    caps: &Caps,
    parent: &str,
    name: &str,
    fraction: f64,
    period_ms: u64,
) -> anyhow::Result<Option<CpuGroup>> {
    CpuGroup::create(
        caps,
        parent,
        name,
        fraction,
        Duration::from_millis(period_ms),
    )
}

/// A group that must be created, capped.
fn group(caps: &Caps, parent: &str, name: &str, fraction: f64, period_ms: u64) -> CpuGroup {
    create(caps, parent, name, fraction, period_ms)
        .expect("create")
        .expect("capped")
}

/// Moves pid 4242 into `group`, whose folder is `dir`, and asserts that its
/// `cgroup.procs` (every thread of the process; `tasks` would move one)
/// lists it.
fn assert_moves_a_process(group: &CpuGroup, dir: &std::path::Path) {
    group.add(4242).expect("add");
    assert_eq!(read(&dir.join("cgroup.procs")), "4242");
}

/// Asserts the CFS period and quota (µs) a cgroup v1 group folder `dir`
/// holds.
fn assert_cfs(dir: &std::path::Path, period_us: &str, quota_us: &str) {
    assert_eq!(read(&dir.join("cpu.cfs_period_us")), period_us);
    assert_eq!(read(&dir.join("cpu.cfs_quota_us")), quota_us);
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

#[test]
fn v2_writes_the_quota_and_period_to_cpu_max_and_moves_the_process() {
    let (tree, caps) = v2("v2-quota");
    let node = group(&caps, "authscale-7", "token-node1", 0.5, 100);
    assert_eq!(node.period, Duration::from_millis(100));
    let parent = tree.0.join("authscale-7");
    assert_eq!(read(&parent.join("cgroup.subtree_control")), "+cpu");
    assert_eq!(read(&parent.join("token-node1/cpu.max")), "50000 100000");
    assert_moves_a_process(&node, &parent.join("token-node1"));
}

#[test]
fn v1_writes_the_cfs_quota_and_period() {
    let (tree, caps) = v1("v1-quota");
    assert_eq!(
        caps,
        Caps::V1 {
            root: tree.0.join("cpu")
        }
    );
    let store = group(&caps, "authscale-7", "store", 0.25, 100);
    let dir = tree.0.join("cpu/authscale-7/store");
    assert_cfs(&dir, "100000", "25000");
    assert_moves_a_process(&store, &dir);
}

#[test]
fn a_quota_under_one_millisecond_raises_the_period() {
    let (v2_tree, v2) = v2("v2-period");
    let small = group(&v2, "authscale-7", "node", 0.05, 10);
    assert_eq!(small.period, Duration::from_millis(20));
    assert_eq!(
        read(&v2_tree.0.join("authscale-7/node/cpu.max")),
        "1000 20000"
    );

    let (v1_tree, v1) = v1("v1-period");
    let small = group(&v1, "authscale-7", "node", 0.05, 10);
    assert_eq!(small.period, Duration::from_millis(20));
    assert_cfs(&v1_tree.0.join("cpu/authscale-7/node"), "20000", "1000");

    // The period stops at one second: a smaller budget cannot be enforced.
    let error =
        create(&v1, "authscale-7", "tiny", 0.0005, 10).expect_err("under the kernel's minimum");
    assert!(
        error.to_string().contains("under what the kernel enforces"),
        "{error}"
    );
    assert!(create(&v1, "authscale-7", "zero", 0.0, 10).is_err());
}

#[test]
fn uncapped_creates_nothing() {
    let caps = Caps::None {
        reason: "test".into(),
    };
    let group = create(&caps, "authscale-7", "node", 0.5, 100);
    assert!(group.expect("no error").is_none());
}

#[test]
fn throttling_counters_are_parsed_in_both_layouts() {
    let (v2_tree, v2) = v2("v2-stat");
    let node = group(&v2, "authscale-7", "node", 0.5, 100);
    write(
        &v2_tree.0.join("authscale-7/node/cpu.stat"),
        "usage_usec 912345\nuser_usec 800000\nsystem_usec 112345\n\
         nr_periods 40\nnr_throttled 7\nthrottled_usec 350000\nnr_bursts 0\nburst_usec 0\n",
    );
    assert_eq!(
        node.throttling(),
        Throttling {
            periods: 40,
            throttled_periods: 7,
            throttled_seconds: 0.35
        }
    );

    let (v1_tree, v1) = v1("v1-stat");
    let node = group(&v1, "authscale-7", "node", 0.5, 100);
    // A fresh group has no cpu.stat in the fake tree: nothing throttled yet.
    assert_eq!(node.throttling(), Throttling::default());
    write(
        &v1_tree.0.join("cpu/authscale-7/node/cpu.stat"),
        "nr_periods 40\nnr_throttled 7\nthrottled_time 350000000\nnr_bursts 0\nburst_time 0\n",
    );
    let later = node.throttling();
    assert_eq!(
        later,
        Throttling {
            periods: 40,
            throttled_periods: 7,
            throttled_seconds: 0.35
        }
    );
    assert_eq!(later.since(later), Throttling::default());
}

#[test]
fn groups_are_removed_on_drop_and_their_parent_with_the_last() {
    for (tree, caps) in [v2("v2-drop"), v1("v1-drop")] {
        let root = caps.root().expect("capped").to_owned();
        let a = group(&caps, "authscale-7", "session-node1", 0.5, 100);
        let b = group(&caps, "authscale-7", "session-node2", 0.5, 100);
        a.add(4242).expect("add");
        drop(a);
        assert!(!root.join("authscale-7/session-node1").exists());
        assert!(root.join("authscale-7/session-node2").exists());
        drop(b);
        assert!(!root.join("authscale-7").exists(), "{}", tree.0.display());
    }
}

#[test]
fn leftovers_of_crashed_runs_are_removed_and_live_runs_kept() {
    for (tree, caps) in [v2("v2-leftover"), v1("v1-leftover")] {
        let root = caps.root().expect("capped").to_owned();
        let dead = dead_pid();
        let own = format!("authscale-{}", std::process::id());
        // A crashed run: its parent and groups with their control files.
        for name in ["store", "token-node1"] {
            std::mem::forget(group(&caps, &format!("authscale-{dead}"), name, 0.5, 100));
        }
        std::fs::create_dir(root.join(format!("authscale-probe-{dead}"))).expect("probe");
        // A sweep still running (pid 1 is alive in every pid namespace),
        // and a group nobody in authscale named.
        std::mem::forget(group(&caps, "authscale-1", "store", 0.5, 100));
        std::fs::create_dir(root.join("system.slice")).expect("unrelated");
        std::mem::forget(group(&caps, &own, "store", 0.5, 100));

        remove_parent(&caps, &own);

        assert!(!root.join(&own).exists());
        assert!(
            !root.join(format!("authscale-{dead}")).exists(),
            "{}",
            tree.0.display()
        );
        assert!(!root.join(format!("authscale-probe-{dead}")).exists());
        assert!(
            root.join("authscale-1/store").exists(),
            "a live run's group is kept"
        );
        assert!(root.join("system.slice").exists());
    }
}

#[test]
fn detection_finds_v1_and_says_why_when_there_is_nothing() {
    let (tree, caps) = v1("v1-detect");
    assert_eq!(caps.label(), "cgroup-v1");
    let probes: Vec<_> = std::fs::read_dir(tree.0.join("cpu"))
        .expect("cpu")
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(probes.is_empty(), "the probe group is removed: {probes:?}");

    let empty = Tree::new("cgroup", "none");
    match Caps::detect_at(&empty.0) {
        Caps::None { reason } => {
            assert!(reason.contains(&*empty.0.to_string_lossy()), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// Against the machine's cgroups: a busy process in a group capped at a
/// tenth of a core gets throttled, and its group goes when dropped. Needs
/// root; where it cannot run it says so, and fails when
/// `AUTHSCALE_REQUIRE_CGROUPS=1` (CI) so CPU caps cannot go untested.
#[test]
fn a_real_cgroup_throttles_a_busy_process() {
    let caps = Caps::detect();
    if let Caps::None { reason } = &caps {
        let reason = format!("CPU caps cannot be tested in the real cgroup test: {reason}");
        authscale_testkit::skip_unless_required("AUTHSCALE_REQUIRE_CGROUPS", &reason);
        return;
    }
    let parent = format!("authscale-{}", std::process::id());
    let busy = group(&caps, &parent, "busy-test", 0.1, 100);
    // The shell itself spins (`:` is a builtin), so moving its pid moves
    // the loop; the guard kills it however the test ends.
    let child = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("start a busy loop");
    let child = Killed(child);
    let pid = child.0.id();
    let moved = busy.add(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut throttled = busy.throttling();
    while moved.is_ok() && throttled.throttled_periods == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        throttled = busy.throttling();
    }
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup"));
    drop(child);
    moved.expect("move the process into its group");
    let membership = membership.expect("/proc/PID/cgroup");
    assert!(
        membership.contains(&format!("/{parent}/busy-test")),
        "{membership}"
    );
    assert!(
        throttled.periods > 0 && throttled.throttled_periods > 0,
        "{throttled:?}"
    );
    let path = caps.root().expect("capped").join(&parent);
    drop(busy);
    assert!(!path.exists(), "{} left behind", path.display());
}

/// A child process killed and reaped when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
