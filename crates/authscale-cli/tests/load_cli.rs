//! `authscale load` as a user runs it: a login scenario against a real
//! node, the loopback-only rule, and Ctrl-C keeping the partial result.

mod support;

use support::{auth_node, authscale, bin, exited, run, succeeded, test_key, utf8, words};

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use authscale_testkit::ChildProcess;

/// `authscale merge INPUTS EXTRA`, run to its end.
fn merge(inputs: &[&Path], extra: &[&str]) -> Output {
    let mut command = authscale(["merge"]);
    command.args(inputs).args(extra);
    command.output().expect("merge")
}

fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("authscale-{}-{name}", std::process::id()))
}

#[test]
fn a_token_scenario_runs_and_writes_its_json() {
    let node = auth_node("token", &["--jwt-secret", &test_key()]);
    let json = temp_file("token.json");
    let target = format!("http://{}", node.addr());
    let scenario = words("--auth token -c 4 --users 8 -k 5 --duration 1s");
    let json_out = ["--json", utf8(&json)];
    let output = run([&["load", "--target", &target][..], &scenario, &json_out].concat());
    let stdout = succeeded(&output);
    for needle in [
        "throughput",
        "p99",
        "login",
        "api",
        "logout",
        "errors      0",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid JSON");
    assert!(result["requests"].as_u64().is_some_and(|n| n > 0));
    assert!(
        result["by_step"]["login"]["2xx"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(result["interrupted"], false);
    let _ = std::fs::remove_file(&json);
}

#[test]
fn remote_targets_are_refused_without_allow_remote() {
    let stderr = exited(
        &run(words("load --target http://192.0.2.10:80 --duration 1s")),
        2,
    );
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--allow-remote"),
        "{stderr}"
    );
}

/// Whether the node at `addr` has answered any request (its /metrics).
fn served_requests(addr: std::net::SocketAddr) -> bool {
    support::requests_served(addr, "") > 0
}

#[test]
fn ctrl_c_stops_the_run_and_keeps_the_partial_result() {
    let node = ChildProcess::spawn_server(bin(), &["node", "--listen", "127.0.0.1:0"]);
    let json = temp_file("partial.json");
    let target = format!("http://{}", node.addr());
    let load = authscale(["load", "--target", &target, "-c", "4", "--duration", "60s"])
        .args(["--json", utf8(&json)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start load");
    // Interrupt once the run is under way (the node has answered it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !served_requests(node.addr()) {
        assert!(
            Instant::now() < deadline,
            "the load sent nothing within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &load.id().to_string()])
        .status();
    // Exit 130 with a partial result: stopped by Ctrl-C, not by its 60 s.
    let output = load.wait_with_output().expect("load exits");
    exited(&output, 130);
    assert!(String::from_utf8_lossy(&output.stdout).contains("INTERRUPTED"));
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid JSON");
    assert_eq!(result["interrupted"], true);
    assert!(result["requests"].as_u64().is_some_and(|n| n > 0));
    let _ = std::fs::remove_file(&json);
}

#[test]
fn segments_run_by_two_generators_merge_into_one_result() {
    let node = ChildProcess::spawn_server(bin(), &["node", "--listen", "127.0.0.1:0"]);
    let target = format!("http://{}", node.addr());
    let files: Vec<std::path::PathBuf> = (1..=2)
        .map(|i| temp_file(&format!("segment-{i}.json")))
        .collect();
    let generators: Vec<std::process::Child> = (1..=2)
        .map(|i| {
            authscale(["load", "--target", &target, "-c", "4"])
                .args(words("--max-requests 600 --duration 30s -q"))
                .args(["--segment", &format!("{i}/2"), "--json"])
                .arg(&files[i - 1])
                .stdout(Stdio::null())
                .spawn()
                .expect("start segment")
        })
        .collect();
    for generator in generators {
        assert!(
            generator
                .wait_with_output()
                .expect("segment ends")
                .status
                .success()
        );
    }
    let merged = temp_file("merged.json");
    succeeded(&merge(&[&files[0], &files[1]], &["--json", utf8(&merged)]));
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).expect("json")).expect("valid JSON");
    assert_eq!(result["requests"], 600, "300 + 300");
    assert_eq!(result["config"]["connections"], 4);
    // `--json -`: the same JSON on standard output instead of the summary.
    let printed = merge(&[&files[0], &files[1]], &["--json", "-"]);
    let printed: serde_json::Value =
        serde_json::from_slice(&printed.stdout).expect("standard output is the JSON");
    assert_eq!(printed, result);
    let missing = merge(&[Path::new("/nonexistent.json")], &[]);
    assert_eq!(missing.status.code(), Some(2));
    // Not segments of one load: a segment twice (its users counted twice),
    // and a segment from another hour.
    let refused = |inputs: &[&Path], reason: &str| {
        let stderr = exited(&merge(inputs, &[]), 2);
        assert!(stderr.contains(reason), "{stderr}");
    };
    refused(&[&files[0], &files[0]], "drive the same users");
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).expect("json")).expect("json")
    };
    let (first, second) = (read(&files[0]), read(&files[1]));
    let started = |json: &serde_json::Value| json["started_at"].as_u64().expect("started_at");
    let mut earlier = second.clone();
    earlier["started_at"] = (started(&second) - 3600).into();
    let moved = temp_file("segment-an-hour-earlier.json");
    std::fs::write(&moved, earlier.to_string()).expect("write");
    // The two segments started together, but in whole seconds a second's
    // boundary may fall between them (a CI run read 3599 s).
    let apart = started(&first).abs_diff(started(&earlier));
    assert!((3599..=3601).contains(&apart), "{apart}");
    refused(&[&files[0], &moved], &format!("started {apart} s apart"));
    let _ = std::fs::remove_file(&moved);
    // A segment of a load with another duration.
    let mut longer = second;
    longer["config"]["duration"] = 31.0.into();
    let longer_path = temp_file("segment-longer.json");
    std::fs::write(&longer_path, longer.to_string()).expect("write");
    refused(&[&files[0], &longer_path], "are not segments of one load");
    let _ = std::fs::remove_file(&longer_path);
    for file in files.iter().chain([&merged]) {
        let _ = std::fs::remove_file(file);
    }
}

#[test]
fn a_load_where_every_request_fails_exits_1_with_the_reason() {
    // A closed port on loopback: every connection is refused.
    let port = authscale_testkit::free_port();
    let target = format!("http://127.0.0.1:{port}");
    let flags = words("-c 1 --duration 300ms --max-requests 50 -q");
    let stderr = exited(&run(["load", "--target", &target].iter().chain(&flags)), 1);
    assert!(stderr.contains("no request succeeded"), "{stderr}");
}

/// An https:// target as a user meets it: refused with the fix named
/// while its CA is unknown, measured once `--ca-file` names it, and
/// `--insecure` said loudly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_needs_its_ca_and_says_so() {
    let server = authscale_testkit::TlsServer::start().await;
    let target = format!("https://localhost:{}", server.addr().port());
    let load = |extra: Vec<String>| {
        let target = target.clone();
        tokio::task::spawn_blocking(move || {
            authscale(["load", "--target", &target, "-c", "2", "--duration", "1s"])
                .args(["--max-requests", "200", "-q"])
                .args(extra)
                .output()
                .expect("run load")
        })
    };
    let untrusted = load(vec![]).await.expect("join");
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(2), "{said}");
    assert!(
        said.contains("not trusted") && said.contains("--ca-file FILE"),
        "{said}"
    );

    let ca = server.ca_file().display().to_string();
    let trusted = load(vec!["--ca-file".into(), ca.clone(), "--http2".into()])
        .await
        .expect("join");
    let said = String::from_utf8_lossy(&trusted.stderr);
    assert!(trusted.status.success(), "{said}");
    assert!(
        server
            .seen()
            .http2
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );

    let insecure = load(vec!["--insecure".into()]).await.expect("join");
    let said = String::from_utf8_lossy(&insecure.stderr);
    assert!(insecure.status.success(), "{said}");
    assert!(said.contains("WARNING: --insecure"), "{said}");

    let contradictory = load(vec!["--insecure".into(), "--ca-file".into(), ca])
        .await
        .expect("join");
    assert_eq!(contradictory.status.code(), Some(2));

    let plain = run(words("load --target http://127.0.0.1:9 --http2 -d 1s"));
    let said = exited(&plain, 2);
    assert!(said.contains("--http2 applies to https://"), "{said}");
}
