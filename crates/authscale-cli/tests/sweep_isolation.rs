//! `authscale sweep` end to end with the knobs of the precision work: the
//! harness and the system under test pinned apart (where the machine
//! allows it, else the reason is recorded), the nodes reaching the store
//! through the deadpool pool, and the store distance they achieved.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("authscale-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_json(out: &Path) -> serde_json::Value {
    let dir = std::fs::read_dir(out)
        .expect("results folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("run.json").exists())
        .expect("a run folder");
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))
        .expect("valid JSON")
}

#[test]
fn a_pinned_deadpool_sweep_records_its_pinning_and_the_achieved_store_distance() {
    let out = out_dir("isolation");
    let child = Command::new(support::bin())
        .args([
            "sweep",
            "--modes",
            "session",
            "--nodes",
            "1",
            "--pairing",
            "blocks",
            "--duration",
            "1s",
            "--warmup",
            "300ms",
            "--revocation-window",
            "0s",
            "--store-rtt",
            "200us",
            "--store-client",
            "deadpool",
            "--isolate",
            "cpuset",
            "-q",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run sweep");
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let run = run_json(&out);
    assert_eq!(run["plan"]["experiment"]["store-client"], "deadpool");
    assert_eq!(run["plan"]["experiment"]["isolate"], "cpuset");
    let step = &run["steps"][0];
    // The pool's checkout adds UNWATCH and PING to every GET.
    let commands = step["store_commands_per_request"].as_f64().expect("number");
    assert!(commands > 1.5, "{commands} store commands per request");
    // Never less than requested, as the nodes saw it.
    let delay = &step["store_delay"];
    assert!(delay["calls"].as_u64().is_some_and(|c| c > 0), "{step}");
    assert!(
        delay["mean_us"].as_f64().is_some_and(|us| us >= 200.0),
        "{delay}"
    );
    let isolation = &run["isolation"];
    match isolation["kind"].as_str() {
        Some("cpuset") => {
            assert_ne!(
                isolation["harness_cpus"], isolation["sut_cpus"],
                "{isolation}"
            );
            // Nothing is left in the cpuset hierarchy once the sweep ends
            // (groups of sweeps still running, in parallel tests, are theirs).
            let leftovers: Vec<String> = ["/sys/fs/cgroup/cpuset", "/sys/fs/cgroup"]
                .iter()
                .filter_map(|root| std::fs::read_dir(root).ok())
                .flat_map(|entries| entries.flatten())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with("-harness") || name.ends_with("-sut"))
                .filter(|name| name.starts_with("authscale-"))
                .filter(|name| {
                    let pid = name
                        .trim_start_matches("authscale-")
                        .split('-')
                        .next()
                        .unwrap_or_default();
                    !std::path::Path::new("/proc").join(pid).exists()
                })
                .collect();
            assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        }
        Some("none") => {
            let reason = isolation["reason"].as_str().unwrap_or_default();
            assert!(!reason.is_empty(), "{isolation}");
            assert!(
                std::env::var("AUTHSCALE_REQUIRE_CGROUPS").as_deref() != Ok("1"),
                "AUTHSCALE_REQUIRE_CGROUPS=1 but the sweep ran unpinned: {reason}"
            );
            eprintln!("cpuset checks NOT run: {reason}");
        }
        other => panic!("isolation {other:?}: {isolation}"),
    }
    let _ = std::fs::remove_dir_all(&out);
}
