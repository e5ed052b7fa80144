//! `authscale sweep` end to end through the real binary: a tiny sweep
//! writes complete results and leaves no process and no cgroup behind; an
//! interrupted sweep keeps the steps it finished. Fault runs:
//! `sweep_faults_cli.rs`.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::sweep::{
    nothing_left, out_dir, read_run, run_dir, start_sweep, swept, swept_from, temp_entries,
    tiny_sweep,
};
use support::{bin, exited, refused_args, session_node, words};

#[test]
fn a_tiny_sweep_writes_complete_results_and_leaves_nothing_behind() {
    let out = out_dir("tiny");
    // --duration is ignored by an interleaved sweep, which says so.
    let (sweep_pid, dir, run) = swept(
        &tiny_sweep(&["--duration", "1s", "--revocation-window", "1s", "-q"]),
        &out,
    );
    assert_eq!(run["schema"], "authscale-run/1");
    assert_eq!(run["status"], "complete");
    assert!(run["finished_at"].is_string());
    assert!(run["host"]["cores"].as_u64().is_some_and(|c| c >= 1));
    // What reproducing the run needs: the machine, the build, the store.
    for fact in ["redis_version", "cpu_model", "rustc", "git_commit"] {
        assert!(
            run["host"][fact].as_str().is_some_and(|v| !v.is_empty()),
            "host.{fact}: {}",
            run["host"]
        );
    }
    assert!(
        run["host"]["redis_persistence"]
            .as_str()
            .is_some_and(|v| v.contains("save ''") && v.contains("appendonly no")),
        "{}",
        run["host"]
    );
    // --duration and --warmup do not shape an interleaved sweep: said so.
    assert!(
        run["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w
                .as_str()
                .is_some_and(|w| w.starts_with("duration is set but ignored")))),
        "{}",
        run["warnings"]
    );
    assert_eq!(
        run["plan"]["experiment"]["nodes"],
        serde_json::json!([1, 2])
    );
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    let cells = [("session", 1), ("session", 2), ("token", 1), ("token", 2)];
    for (step, (mode, n)) in steps.iter().zip(cells) {
        assert_eq!(step["mode"], mode);
        assert_eq!(step["nodes"], n);
        assert!(
            step["throughput"].as_f64().is_some_and(|x| x > 0.0),
            "{step}"
        );
        assert!(step["latency_ms"]["p99"].as_f64().is_some_and(|x| x > 0.0));
        for component in ["nodes", "store", "proxy", "load"] {
            assert!(
                step["components"][component]["cpu_us_per_request"].is_number(),
                "{component}"
            );
        }
        // The nodes, the store and the proxy wait on their sockets between requests:
        // they were put on a CPU at least once, and not more than a few
        // times per request (each request wakes each process at most
        // about twice: its arrival and its upstream's answer).
        for component in ["nodes", "store", "proxy"] {
            let runs = step["components"][component]["runs"].as_u64();
            assert!(runs.is_some_and(|r| r > 0), "{component}: {step}");
            for slice in step["slices"].as_array().expect("slices") {
                let per_request = slice["runs_per_request"][component].as_f64();
                assert!(
                    per_request.is_some_and(|r| r > 0.0 && r < 5.0),
                    "{component}: {slice}"
                );
            }
        }
        assert!(step["littles_law"]["ratio"].is_number());
        assert!(
            step["load"]["histograms"]["corrected"]
                .as_str()
                .is_some_and(|h| !h.is_empty())
        );
    }
    // The report gives those counts beside the CPU they explain.
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(
        report.contains("| runs/req: nodes | store | proxy |"),
        "{report}"
    );
    // Each round starts the node sets one node further along: N = 1
    // measured both of its mode's nodes.
    for step in [&steps[0], &steps[2]] {
        let slices = step["slices"].as_array().expect("slices");
        let firsts: std::collections::BTreeSet<_> =
            slices.iter().map(|x| x["first_node"].as_u64()).collect();
        assert_eq!(firsts.len(), 2, "{firsts:?}");
    }
    // Session mode reads the store once per protected request; token mode
    // never. The store's counters are read when the warm-up ends, by a
    // query that waits its turn at a capped store: on a busy machine that
    // read lands a few tens of milliseconds late, which in a 300 ms slice
    // moves the ratio by up to ~15% (0.89 seen in CI). Once (not 0, not 2)
    // is what this checks.
    let reads = steps[1]["store_reads_per_protected_request"]
        .as_f64()
        .expect("reads");
    assert!((0.75..=1.25).contains(&reads), "{reads}");
    assert_eq!(steps[3]["store_commands_per_request"].as_f64(), Some(0.0));
    // Revocation, probed on every node after a logout: immediate for
    // sessions, not within the window for plain tokens (valid until exp).
    let revocations = run["revocations"].as_array().expect("revocations");
    assert_eq!(revocations.len(), 2);
    assert_eq!(revocations[0]["mode"], "session");
    // The probe's credential worked on both nodes before the logout, and
    // every node refused it within the probe window.
    assert_eq!(revocations[0]["accepted_before"], 2, "{}", revocations[0]);
    assert!(
        revocations[0]["per_node_ms"]
            .as_array()
            .is_some_and(|ms| ms.len() == 2 && ms.iter().all(|m| m.is_number())),
        "{}",
        revocations[0]
    );
    assert!(
        revocations[0]["latency_ms"].is_number(),
        "{}",
        revocations[0]
    );
    assert_eq!(revocations[1]["mode"], "token");
    assert!(revocations[1]["latency_ms"].is_null(), "{}", revocations[1]);
    assert!(
        revocations[1]["token_expires_in_s"]
            .as_u64()
            .is_some_and(|s| s > 60)
    );
    let csv = std::fs::read_to_string(dir.join("summary.csv")).expect("summary.csv");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // Every row has every column: the step's figures, then their intervals.
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    assert!(header.contains(&"throughput_rps_lo") && header.contains(&"efficiency_hi"));
    assert!(
        csv.lines().all(|l| l.split(',').count() == header.len()),
        "{csv}"
    );
    nothing_left(&run, sweep_pid);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_interrupted_sweep_keeps_the_steps_it_finished() {
    let out = out_dir("interrupted");
    let child = start_sweep(
        &words("--modes token --nodes 1,2,3 --pairing blocks --duration 1s --warmup 500ms -q"),
        &out,
    );
    let sweep_pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(dir) = run_dir(&out)
            && read_run(&dir)["steps"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "no step finished within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-INT", &sweep_pid.to_string()])
        .status();
    exited(&child.wait_with_output().expect("sweep ends"), 130);
    let run = read_run(&run_dir(&out).expect("folder"));
    assert_eq!(run["status"], "interrupted");
    let steps = run["steps"].as_array().expect("steps");
    assert!(
        !steps.is_empty() && steps.len() < 3,
        "{} steps",
        steps.len()
    );
    nothing_left(&run, sweep_pid);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_external_deployment_is_scaled_by_command_and_measured_from_outside() {
    // A "cluster" started by hand: a store, two nodes and a proxy.
    let redis = authscale_testkit::RedisServer::start();
    let url = redis.url();
    let (a, b) = (
        session_node(&url, &["--node-id", "a"]),
        session_node(&url, &["--node-id", "b"]),
    );
    let proxy = authscale_testkit::ChildProcess::spawn_server(
        bin(),
        &["proxy", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
    );
    let out = out_dir("external");
    std::fs::create_dir_all(&out).expect("out");
    // The scale command: point the proxy at the first N nodes.
    let script = out.join("scale.sh");
    std::fs::write(
        &script,
        format!(
            "case \"$1\" in 1) body='[\"{a}\"]';; 2) body='[\"{a}\",\"{b}\"]';; *) exit 1;; esac\n\
             curl -sf -X PUT http://{admin}/upstreams -d \"$body\" > /dev/null\n",
            a = a.addr(),
            b = b.addr(),
            admin = proxy.addrs()[1]
        ),
    )
    .expect("script");
    let config = out.join("external.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"external-test\"\nmodes = [\"session\"]\nnodes = [1, 2]\nduration = \"1s\"\nwarmup = \"500ms\"\n\
             [external]\ntarget = \"http://{}\"\nscale-command = \"sh {} {{n}}\"\nstore-url = \"{}\"\n\
             node-metrics = [\"http://{}/metrics\", \"http://{}/metrics\"]\n\
             node-cpu-limit = 0.01\nbalancer-metrics = \"http://{}/metrics\"\n",
            proxy.addr(),
            script.display(),
            redis.url(),
            a.addr(),
            b.addr(),
            proxy.addrs()[1]
        ),
    )
    .expect("experiment");
    let results = out.join("results");
    let (_, dir, run) = swept_from(&config, &results);
    assert_eq!(run["status"], "complete");
    assert_eq!(run["host"]["caps"], "external");
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    for step in steps {
        assert!(
            step["throughput"].as_f64().is_some_and(|x| x > 0.0),
            "{step}"
        );
        assert!(step["components"]["load"].is_object() && step["components"]["store"].is_object());
        // The instances' and the balancer's CPU, from their /metrics: the
        // first N instances of the list at each step.
        for component in ["nodes", "proxy"] {
            assert!(
                step["components"][component]["cpu_seconds"]
                    .as_f64()
                    .is_some_and(|cpu| cpu > 0.0),
                "{component}: {step}"
            );
        }
        assert_eq!(
            step["components"]["nodes"]["limit_cores"].as_f64(),
            Some(0.01 * step["nodes"].as_f64().expect("N")),
            "each instance's declared limit"
        );
        let reads = step["store_reads_per_protected_request"]
            .as_f64()
            .expect("reads");
        // Once per protected request, within the warm-up read's lateness
        // on a busy machine (see the tiny sweep above).
        assert!((0.75..=1.25).contains(&reads), "{reads}");
    }
    // Both nodes served the N=2 step: the scale command really scaled.
    let served = |addr: std::net::SocketAddr| {
        let metrics = std::process::Command::new("curl")
            .arg("-s")
            .arg(format!("http://{addr}/metrics"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&metrics.stdout)
            .contains(r#"authscale_requests_total{route="/api/me",status="200"}"#)
    };
    assert!(served(a.addr()) && served(b.addr()));
    // Measured from outside, the verdict names the bottleneck as for a
    // local run: instances declared at 0.01 core each are saturated.
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(
        report.contains("Bottleneck: the nodes themselves, at")
            && !report.contains("Bottleneck: not measured"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_sweep_that_cannot_start_leaves_no_results_folder() {
    // Refused before anything starts: a bad store URL, a mode named twice.
    for (args, why) in [
        (&["--redis-url", "garbage"][..], "not a Redis URL"),
        (&["--modes", "session,session"][..], "named twice"),
    ] {
        let out = out_dir("refused");
        let output = start_sweep(args, &out)
            .wait_with_output()
            .expect("sweep ends");
        refused_args(args, &output, why);
        assert!(run_dir(&out).is_none(), "{args:?} left a results folder");
        let _ = std::fs::remove_dir_all(&out);
    }
    // Started, but its store does not answer: no run folder either.
    let closed = authscale_testkit::free_port();
    let out = out_dir("no-store");
    let url = format!("redis://127.0.0.1:{closed}");
    let output = start_sweep(&["--redis-url", &url], &out)
        .wait_with_output()
        .expect("sweep ends");
    let stderr = exited(&output, 1);
    assert!(stderr.contains("does not answer"), "{stderr}");
    let folders = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        folders,
        0,
        "an empty run folder was left in {}",
        out.display()
    );
    let _ = std::fs::remove_dir_all(&out);

    // Its store server cannot start: the error says what to do, and the
    // store's working folder goes with it.
    let out = out_dir("no-server");
    let child = Command::new(bin())
        .args(["sweep", "--nodes", "1", "--out"])
        .arg(&out)
        .env("AUTHSCALE_REDIS_SERVER", "/nonexistent/redis-server")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sweep");
    let pid = child.id();
    let output = child.wait_with_output().expect("sweep ends");
    let stderr = exited(&output, 1);
    assert!(stderr.contains("scripts/setup.sh"), "{stderr}");
    let prefix = format!("authscale-lab-{pid}-store-");
    let left = temp_entries(&prefix);
    assert!(left.is_empty(), "the store's folder was left: {left:?}");
    assert!(run_dir(&out).is_none(), "a results folder was left");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_store_password_stays_out_of_the_records_and_the_output() {
    let redis = authscale_testkit::RedisServer::start();
    let secret = "pw-never-written-7f3a";
    redis.command(&["CONFIG", "SET", "requirepass", secret]);
    let url = format!("redis://default:{secret}@127.0.0.1:{}/0", redis.port());
    let out = out_dir("password");
    let plan = "--modes session --nodes 1 --rounds 2 --slice 200ms --slice-warmup 100ms";
    let args = [
        &words(plan)[..],
        &["--revocation-window", "0s", "--redis-url", &url],
    ]
    .concat();
    let child = start_sweep(&args, &out);
    let output = child.wait_with_output().expect("sweep ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(!said.contains(secret), "the password was printed: {said}");
    let dir = run_dir(&out).expect("a results folder");
    for file in std::fs::read_dir(&dir).expect("results").flatten() {
        let text = std::fs::read_to_string(file.path()).unwrap_or_default();
        assert!(
            !text.contains(secret),
            "the password is in {}",
            file.path().display()
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
