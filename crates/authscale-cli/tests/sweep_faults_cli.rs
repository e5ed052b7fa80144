//! Fault runs through the real binary: what a store outage and a lost
//! node cost, and what a store restart forgets with and without
//! persistence.

mod support;

use support::sweep::{experiment_beside, nothing_left, out_dir, swept_from, temp_entries};

#[test]
fn a_fault_run_records_what_failed_and_what_was_forgotten() {
    let out = out_dir("faults");
    let config = experiment_beside(
        &out,
        // Two modes, both fault kinds, and an odd number of node-set
        // rotations (two rounds): the node lost is then not the first one
        // started, and must come back under its own name and CPU group
        // (it once failed with "File exists" after the first fault run).
        "name = \"faults-test\"\nmodes = [\"session\", \"token\"]\nnodes = [2]\nrounds = 2\nslice = \"300ms\"\n\
         slice-warmup = \"100ms\"\nrevocation-window = \"0s\"\n[faults]\nkinds = [\"store-outage\", \"node-loss\"]\n\
         nodes = 2\nduration = \"4s\"\nat = \"1s\"\nlength = \"1s\"\n",
    );
    let (sweep_pid, dir, run) = swept_from(&config, &out);
    assert_eq!(run["status"], "complete", "{}", run["error"]);
    let faults = run["faults"].as_array().expect("faults");
    let kinds: Vec<String> = faults
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["mode"].as_str().unwrap_or("?"),
                f["kind"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "session store-outage",
            "session node-loss",
            "token store-outage",
            "token node-loss"
        ]
    );
    let (session, token) = (&faults[0], &faults[2]);
    assert_eq!(session["mode"], "session");
    // Session auth needs the store: requests fail while it is down.
    assert!(
        session["failed_during_fault"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{session}"
    );
    // Token auth never asks the store.
    assert_eq!(token["mode"], "token");
    assert_eq!(token["failed"].as_u64(), Some(0), "{token}");
    assert!(session["timeline"].as_array().is_some_and(|t| t.len() >= 4));
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(
        report.contains("## Fault runs")
            && report.contains("fault-session-store-outage-success.svg")
    );
    assert!(dir.join("fault-token-store-outage-p99.svg").exists());
    nothing_left(&run, sweep_pid);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&config);
}

#[test]
fn a_store_restart_forgets_revocations_and_sessions_without_persistence_and_none_with_aof() {
    let out = out_dir("durability");
    let config = experiment_beside(
        &out,
        "name = \"durability-test\"\nmodes = [\"session\", \"token-denylist\"]\nnodes = [2]\n\
         duration = \"1s\"\nwarmup = \"200ms\"\nrevocation-window = \"0s\"\n\
         [faults]\nkinds = [\"store-outage\"]\npersistence = [\"none\", \"aof\"]\ndurability-users = 20\n\
         nodes = 2\nduration = \"3s\"\nat = \"1s\"\nlength = \"1s\"\n",
    );
    let (sweep_pid, dir, run) = swept_from(&config, &out);
    let faults = run["faults"].as_array().expect("faults");
    let runs: Vec<(&str, &str)> = faults
        .iter()
        .map(|f| {
            (
                f["mode"].as_str().expect("mode"),
                f["persistence"].as_str().expect("persistence"),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("session", "none"),
            ("session", "aof"),
            ("token-denylist", "none"),
            ("token-denylist", "aof")
        ]
    );
    let figure = |f: &serde_json::Value, name: &str| {
        f["durability"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} in {}", f["durability"]))
    };
    for f in faults {
        // Every user was checked before the fault, and every probe after
        // it got an answer.
        assert_eq!(figure(f, "logged_out"), 20, "{}", f["durability"]);
        assert_eq!(figure(f, "sessions_checked"), 20, "{}", f["durability"]);
        assert_eq!(figure(f, "revocations_checked"), 20, "{}", f["durability"]);
        assert_eq!(figure(f, "unanswered"), 0, "{}", f["durability"]);
    }
    let (session, session_aof, denylist, denylist_aof) =
        (&faults[0], &faults[1], &faults[2], &faults[3]);
    // Restarted empty: session users are logged out, and logged-out tokens
    // are accepted again.
    assert!(
        figure(session, "sessions_lost") > 0,
        "{}",
        session["durability"]
    );
    assert!(
        figure(denylist, "revocations_lost") > 0,
        "{}",
        denylist["durability"]
    );
    // Restarted from its append-only file: nothing is forgotten.
    for f in [session_aof, denylist_aof] {
        assert_eq!(figure(f, "sessions_lost"), 0, "{}", f["durability"]);
        assert_eq!(figure(f, "revocations_lost"), 0, "{}", f["durability"]);
    }
    // A deleted session stays deleted either way: only the denylist can
    // lose a revocation.
    assert_eq!(figure(session, "revocations_lost"), 0);
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(
        report.contains("### Auth state across the fault")
            && report.contains("| session | store-outage | aof | 0 / 20 | 0 / 20 |"),
        "{report}"
    );
    assert!(
        dir.join("fault-token-denylist-store-outage-aof-success.svg")
            .exists()
    );
    nothing_left(&run, sweep_pid);
    // The store's folder (its append-only file) went with the store.
    let left = temp_entries(&format!("authscale-lab-{sweep_pid}-store"));
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&config);
}
