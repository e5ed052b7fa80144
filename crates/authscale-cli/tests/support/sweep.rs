//! What the sweep tests share: starting `authscale sweep`, waiting for it,
//! reading its run.json, and checking that nothing it started survives.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The tiny sweep most tests run: both modes, N = 1 and 2, two rounds of
/// 300 ms slices.
pub const TINY: [&str; 8] = [
    "--modes",
    "session,token",
    "--nodes",
    "1,2",
    "--rounds",
    "2",
    "--slice",
    "300ms",
];

/// The arguments of the tiny sweep, then `extra`.
pub fn tiny_sweep<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&TINY[..], extra].concat()
}

/// A fresh results folder for the sweep test `name`, under the temporary
/// directory.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("authscale-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts `authscale sweep ARGS --out OUT` with its output captured.
pub fn start_sweep(args: &[&str], out: &Path) -> std::process::Child {
    Command::new(super::bin())
        .arg("sweep")
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sweep")
}

/// Waits for a sweep that must succeed; its pid, results folder and run.json.
pub fn finished(child: std::process::Child, out: &Path) -> (u32, PathBuf, serde_json::Value) {
    let pid = child.id();
    let output = child.wait_with_output().expect("sweep ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = run_dir(out).expect("a results folder");
    let run = read_run(&dir);
    (pid, dir, run)
}

/// Runs `sweep ARGS --out OUT` to a successful end: its pid, results folder
/// and run.json.
pub fn swept(args: &[&str], out: &Path) -> (u32, PathBuf, serde_json::Value) {
    finished(start_sweep(args, out), out)
}

/// Runs `sweep -q --config CONFIG --out OUT` to a successful end: its pid,
/// results folder and run.json.
pub fn swept_from(config: &Path, out: &Path) -> (u32, PathBuf, serde_json::Value) {
    swept(&["-q", "--config", super::utf8(config)], out)
}

/// Writes the experiment file `text` beside the results folder `out`; its
/// path.
pub fn experiment_beside(out: &Path, text: &str) -> PathBuf {
    let config = out.with_extension("toml");
    std::fs::write(&config, text).expect("experiment");
    config
}

/// The entries of the temporary directory whose names start with `prefix`.
pub fn temp_entries(prefix: &str) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(std::env::temp_dir()).expect("temp dir");
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// The single run folder under `out`.
pub fn run_dir(out: &Path) -> Option<PathBuf> {
    let mut dirs = std::fs::read_dir(out).ok()?.flatten().map(|e| e.path());
    dirs.find(|p| p.join("run.json").exists())
}

/// The run.json of the run folder `dir`, parsed.
pub fn read_run(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("run.json")).expect("run.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Whether the process `pid` runs (not gone, not a zombie).
pub fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// No process the lab started survives, and its cgroup folder is gone.
pub fn nothing_left(run: &serde_json::Value, sweep_pid: u32) {
    let pids: Vec<u64> = run["pids"]
        .as_array()
        .expect("pids")
        .iter()
        .filter_map(|p| p.as_u64())
        .collect();
    assert!(
        pids.len() >= 3,
        "store, proxy and nodes are recorded: {pids:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    match run["host"]["caps"].as_str() {
        Some("cgroup-v1") | Some("cgroup-v2") => {
            let root = PathBuf::from(run["host"]["caps_detail"].as_str().expect("cgroup root"));
            let group = root.join(format!("authscale-{sweep_pid}"));
            assert!(!group.exists(), "cgroup left behind: {}", group.display());
        }
        other => {
            // CI runs as root and sets AUTHSCALE_REQUIRE_CGROUPS=1: there an
            // uncapped sweep is a failure, not a note nobody reads.
            let detail = &run["host"]["caps_detail"];
            let reason = format!("the sweep ran uncapped (no cgroup checks): {other:?} ({detail})");
            authscale_testkit::skip_unless_required("AUTHSCALE_REQUIRE_CGROUPS", &reason);
        }
    }
}
