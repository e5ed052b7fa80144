//! `authscale sweep` end to end with the knobs of the precision work: the
//! harness and the system under test pinned apart (where the machine
//! allows it, else the reason is recorded), the nodes reaching the store
//! through the deadpool pool, and the store distance they achieved.

mod support;

use support::sweep::{out_dir, swept};
use support::words;

#[test]
fn a_pinned_deadpool_sweep_records_its_pinning_and_the_achieved_store_distance() {
    let out = out_dir("isolation");
    let args = words(
        "--modes session --nodes 1 --pairing blocks --duration 1s --warmup 300ms \
         --revocation-window 0s --store-rtt 200us --store-client deadpool --isolate cpuset -q",
    );
    let (_, _, run) = swept(&args, &out);
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
            let reason = format!("the sweep ran unpinned (no cpuset checks): {reason}");
            authscale_testkit::skip_unless_required("AUTHSCALE_REQUIRE_CGROUPS", &reason);
        }
        other => panic!("isolation {other:?}: {isolation}"),
    }
    let _ = std::fs::remove_dir_all(&out);
}
