//! Client-side balancing as a user runs it: `load --spread` sends to every
//! target it is given, and `sweep --balance client` measures the nodes
//! with no proxy in the path, says so in the run and the report, and
//! leaves nothing behind.

mod support;

use authscale_testkit::ChildProcess;
use support::sweep::{nothing_left, out_dir, swept, tiny_sweep};
use support::{auth_node, run, succeeded};

/// Requests the node at `addr` has answered on its protected route.
fn served(addr: std::net::SocketAddr) -> u64 {
    support::requests_served(addr, "/api/me")
}

#[test]
fn load_spreads_its_connections_over_every_target() {
    let nodes: Vec<ChildProcess> = (0..3).map(|_| auth_node("none", &[])).collect();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("http://{}", n.addr()))
        .collect();
    let load = [
        "load", "--target", &urls[0], "--spread", &urls[1], "--spread", &urls[2],
    ];
    let flags = ["-c", "6", "--max-requests", "600", "--duration", "5s"];
    succeeded(&run(load.iter().chain(&flags)));
    let counts: Vec<u64> = nodes.iter().map(|n| served(n.addr())).collect();
    // Two connections each, in a closed loop: every node served, and none
    // more than about twice another (the loop is fair, not exact).
    assert!(counts.iter().all(|&c| c >= 50), "{counts:?}");
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*max <= 3 * *min, "{counts:?}");

    // Fewer connections than targets: one would get none. Refused.
    let fewer = run(load[..5].iter().chain(&["-c", "1", "--duration", "1s"]));
    assert_eq!(fewer.status.code(), Some(2), "{fewer:?}");
    let stderr = String::from_utf8_lossy(&fewer.stderr);
    assert!(stderr.contains("connection per target"), "{stderr}");
}

#[test]
fn a_sweep_balanced_by_the_client_has_no_proxy_in_its_steps_and_says_so() {
    let out = out_dir("balance-client");
    let client = ["--revocation-window", "0s", "--balance", "client", "-q"];
    let (sweep_pid, dir, run) = swept(&tiny_sweep(&client), &out);
    assert_eq!(run["status"], "complete");
    assert_eq!(run["plan"]["experiment"]["balance"], "client");
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    for step in steps {
        let components = step["components"].as_object().expect("components");
        assert!(!components.contains_key("proxy"), "{step}");
        assert!(components.contains_key("nodes") && components.contains_key("load"));
        assert!(
            step["throughput"].as_f64().is_some_and(|x| x > 0.0),
            "{step}"
        );
    }
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(report.contains("Balancing: client-side"), "{report}");
    assert!(!report.contains("proxy 0%"), "{report}");
    nothing_left(&run, sweep_pid);
    let _ = std::fs::remove_dir_all(&out);
}
