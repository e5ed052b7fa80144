//! The pinning over fake v1 and v2 trees in a temporary folder (no root
//! needed), and once against the machine's real cpuset controller.

use std::time::Duration;

use super::{Isolate, Isolation, Pinning, parse_cpu_list};
use crate::cgroup::{Caps, CpuGroup};
use crate::fake_tree::{Tree, read, write};

/// v1: `cpu/` and `cpuset/` hierarchies, `cpus` on offer.
fn v1(name: &str, cpus: &str) -> (Tree, Caps) {
    let tree = Tree::new("cpuset", name);
    let (cpu, cpuset) = (tree.0.join("cpu"), tree.0.join("cpuset"));
    std::fs::create_dir(&cpu).expect("cpu");
    std::fs::create_dir(&cpuset).expect("cpuset");
    write(&cpu.join("cpu.cfs_quota_us"), "-1\n");
    write(&cpuset.join("cpuset.cpus"), &format!("{cpus}\n"));
    write(&cpuset.join("cpuset.mems"), "0\n");
    write(&cpuset.join("cgroup.procs"), "");
    (tree, Caps::V1 { root: cpu })
}

/// v2: one unified hierarchy offering cpuset and cpu.
fn v2(name: &str, cpus: &str) -> (Tree, Caps) {
    let tree = Tree::new("cpuset", name);
    write(&tree.0.join("cgroup.controllers"), "cpuset cpu io memory\n");
    write(&tree.0.join("cgroup.subtree_control"), "");
    write(&tree.0.join("cpuset.cpus.effective"), &format!("{cpus}\n"));
    let caps = Caps::V2 {
        root: tree.0.clone(),
    };
    (tree, caps)
}

fn node_group(caps: &Caps, parent: &str) -> CpuGroup {
    CpuGroup::create(
        caps,
        parent,
        "session-node1",
        0.1,
        Duration::from_millis(10),
    )
    .expect("create")
    .expect("capped")
}

#[test]
fn v1_pins_the_lab_to_the_harness_half_and_capped_processes_to_the_rest() {
    let (tree, caps) = v1("v1", "0-3");
    let isolation = Isolation::set_up_at(&tree.0, Isolate::Cpuset, &caps, "authscale-7");
    let Pinning::Cpuset {
        layout,
        harness_cpus,
        sut_cpus,
        ..
    } = isolation.pinning().clone()
    else {
        panic!("{:?}", isolation.pinning())
    };
    assert_eq!(
        (layout.as_str(), harness_cpus.as_str(), sut_cpus.as_str()),
        ("cgroup-v1", "0,1", "2,3")
    );
    let (harness, sut) = (
        tree.0.join("cpuset/authscale-7-harness"),
        tree.0.join("cpuset/authscale-7-sut"),
    );
    assert_eq!(read(&harness.join("cpuset.cpus")), "0,1");
    assert_eq!(read(&harness.join("cpuset.mems")), "0");
    assert_eq!(read(&sut.join("cpuset.cpus")), "2,3");
    assert_eq!(read(&sut.join("cpuset.mems")), "0");
    assert_eq!(
        read(&harness.join("cgroup.procs")),
        std::process::id().to_string()
    );
    let node = node_group(&caps, "authscale-7");
    node.add(4242).expect("add");
    assert_eq!(read(&sut.join("cgroup.procs")), "4242");
    assert_eq!(
        read(&tree.0.join("cpu/authscale-7/session-node1/cgroup.procs")),
        "4242"
    );
    drop(node);
    drop(isolation);
    assert!(!harness.exists() && !sut.exists());
}

#[test]
fn groups_of_sweeps_no_longer_running_are_removed() {
    let (tree, caps) = v1("leftovers", "0-1");
    let cpuset = tree.0.join("cpuset");
    // A pid that cannot exist (above the kernel's maximum), and this one.
    let (dead, live) = (
        "authscale-4194305",
        format!("authscale-{}-other", std::process::id()),
    );
    for name in [
        format!("{dead}-harness"),
        format!("{dead}-sut"),
        live.clone(),
    ] {
        std::fs::create_dir(cpuset.join(&name)).expect("group");
        write(&cpuset.join(name).join("cpuset.cpus"), "0");
    }
    let isolation = Isolation::set_up_at(&tree.0, Isolate::Cpuset, &caps, "authscale-6");
    assert!(matches!(isolation.pinning(), Pinning::Cpuset { .. }));
    assert!(!cpuset.join(format!("{dead}-harness")).exists());
    assert!(!cpuset.join(format!("{dead}-sut")).exists());
    assert!(cpuset.join(live).exists(), "not the lab's name: kept");
}

#[test]
fn v2_pins_through_the_cpu_groups_parent() {
    let (tree, caps) = v2("v2", "0-1");
    let isolation = Isolation::set_up_at(&tree.0, Isolate::Cpuset, &caps, "authscale-8");
    assert!(
        matches!(isolation.pinning(), Pinning::Cpuset { layout, harness_cpus, sut_cpus, .. }
            if layout == "cgroup-v2" && harness_cpus == "0" && sut_cpus == "1"),
        "{:?}",
        isolation.pinning()
    );
    assert_eq!(read(&tree.0.join("cgroup.subtree_control")), "+cpuset");
    let parent = tree.0.join("authscale-8");
    assert_eq!(read(&parent.join("cpuset.cpus")), "1");
    assert_eq!(read(&tree.0.join("authscale-8-harness/cpuset.cpus")), "0");
    // A CPU group made afterwards sits under the pinned parent, with the
    // cpu controller enabled there.
    let node = node_group(&caps, "authscale-8");
    assert!(parent.join("session-node1").is_dir());
    assert_eq!(read(&parent.join("cgroup.subtree_control")), "+cpu");
    drop(node);
    drop(isolation);
    assert!(!tree.0.join("authscale-8-harness").exists());
    assert!(!parent.exists());
}

#[test]
fn without_two_cpus_or_cpu_groups_or_when_asked_nothing_is_pinned() {
    let (tree, caps) = v1("one-cpu", "0");
    let one = Isolation::set_up_at(&tree.0, Isolate::Cpuset, &caps, "authscale-9");
    assert!(
        matches!(one.pinning(), Pinning::None { reason } if reason.contains("1 CPU")),
        "{:?}",
        one.pinning()
    );
    assert!(!tree.0.join("cpuset/authscale-9-harness").exists());

    let (tree, caps) = v1("asked", "0-1");
    let asked = Isolation::set_up_at(&tree.0, Isolate::None, &caps, "authscale-9");
    assert_eq!(
        asked.pinning(),
        &Pinning::None {
            reason: "isolate = none".into()
        }
    );
    let uncapped = Caps::None {
        reason: "no cpu controller".into(),
    };
    let bare = Isolation::set_up_at(&tree.0, Isolate::Cpuset, &uncapped, "authscale-9");
    assert!(
        matches!(bare.pinning(), Pinning::None { reason } if reason.contains("no cpu controller"))
    );

    let empty = Tree::new("cpuset", "empty");
    let (_, caps) = v1("caps-only", "0-1");
    let nothing = Isolation::set_up_at(&empty.0, Isolate::Cpuset, &caps, "authscale-9");
    assert!(
        matches!(nothing.pinning(), Pinning::None { reason } if reason.contains("no writable cpuset"))
    );
}

#[test]
fn cpu_lists_parse_ranges_and_singles() {
    assert_eq!(parse_cpu_list("0-2,5\n"), Some(vec![0, 1, 2, 5]));
    assert_eq!(parse_cpu_list("3"), Some(vec![3]));
    assert_eq!(parse_cpu_list("x"), None);
}

/// Against the machine's cgroups: the lab's children land on the harness
/// CPUs, a capped process on the others. Needs root and two CPUs; where it
/// cannot run it says so, and fails when `AUTHSCALE_REQUIRE_CGROUPS=1`.
#[test]
fn a_real_cpuset_pins_the_harness_and_the_system_under_test_apart() {
    let caps = Caps::detect();
    let parent = format!("authscale-{}", std::process::id());
    let isolation = Isolation::set_up(Isolate::Cpuset, &caps, &parent);
    let Pinning::Cpuset {
        harness_cpus,
        sut_cpus,
        ..
    } = isolation.pinning().clone()
    else {
        let reason = format!(
            "cpuset isolation cannot be tested in the real cpuset test: {:?}",
            isolation.pinning()
        );
        authscale_testkit::skip_unless_required("AUTHSCALE_REQUIRE_CGROUPS", &reason);
        return;
    };
    let sleeper = || {
        Killed(
            std::process::Command::new("sleep")
                .arg("10")
                .spawn()
                .expect("sleep"),
        )
    };
    let harness_child = sleeper();
    let sut_child = sleeper();
    let node = node_group(&caps, &parent);
    let moved = node.add(sut_child.0.id());
    let allowed = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("Cpus_allowed_list:")
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let (of_harness, of_sut) = (allowed(harness_child.0.id()), allowed(sut_child.0.id()));
    drop((harness_child, sut_child));
    drop(node);
    drop(isolation);
    moved.expect("move into the node group");
    let expand = |list: &str| parse_cpu_list(list).unwrap_or_default();
    assert_eq!(expand(&of_harness), expand(&harness_cpus));
    assert_eq!(expand(&of_sut), expand(&sut_cpus));
    assert_ne!(expand(&harness_cpus), expand(&sut_cpus));
}

/// A child process killed and reaped when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
