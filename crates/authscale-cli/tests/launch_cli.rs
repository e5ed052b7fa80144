//! No secret on a command line: every process a sweep or an `ab` run
//! starts is read from /proc while it runs. None carries the store's URL
//! or a key file on its command line, and every node is started from a
//! launch file (`authscale node --config FILE`).

mod support;

use std::collections::BTreeMap;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::sweep::tiny_sweep;
use support::{bin, utf8};

/// The command lines of `pid`'s children, from /proc.
fn children(pid: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // The parent's pid is the second field after the name's ')'.
            let after = &stat[stat.rfind(')')? + 1..];
            let parent: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            (parent == pid).then_some(())?;
            let raw = std::fs::read(format!("/proc/{child}/cmdline")).ok()?;
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            Some((child, line.trim().to_owned()))
        })
        .collect()
}

/// Runs `authscale ARGS` to its end (at most 120 s), reading its children's
/// command lines every 20 ms; its exit status, stderr and every child seen.
fn watched(args: &[&str]) -> (ExitStatus, String, BTreeMap<u32, String>) {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start authscale");
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        // A child that has exited (a zombie until reaped) reads an empty
        // command line: it must not overwrite the line it was seen with.
        for (pid, line) in children(child.id()) {
            let entry = seen.entry(pid).or_insert_with(String::new);
            if !line.is_empty() {
                *entry = line;
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "authscale {args:?} did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status, stderr, seen)
}

fn assert_no_secret_on_a_command_line(seen: &BTreeMap<u32, String>) {
    let nodes: Vec<&String> = seen
        .values()
        .filter(|line| line.split_whitespace().nth(1) == Some("node"))
        .collect();
    assert!(nodes.len() >= 2, "nodes seen: {seen:#?}");
    for line in seen.values() {
        for secret in [
            "redis://",
            "rediss://",
            ".secret",
            "--jwt-secret",
            "--redis-url",
        ] {
            assert!(!line.contains(secret), "{secret} on a command line: {line}");
        }
    }
    for line in nodes {
        assert!(line.contains(" node --config "), "{line}");
    }
}

#[test]
fn a_sweep_puts_no_store_url_or_key_on_any_command_line() {
    let out = std::env::temp_dir().join(format!("authscale-launch-{}", std::process::id()));
    let sweep = tiny_sweep(&["--revocation-window", "1s", "-q", "--out", utf8(&out)]);
    let (status, stderr, seen) = watched(&[&["sweep"][..], &sweep].concat());
    let _ = std::fs::remove_dir_all(&out);
    assert!(status.success(), "{stderr}");
    // The store is a child too; redis-server rewrites its own process
    // title, so its line may read empty: no line carries a secret.
    assert_no_secret_on_a_command_line(&seen);
}

#[test]
fn an_ab_run_puts_no_store_url_or_key_on_any_command_line() {
    for mode in ["session", "token"] {
        let (status, stderr, seen) = watched(&[
            "ab", "--mode", mode, "--rounds", "2", "--block", "1", "--slice", "200ms", "--warmup",
            "100ms", "--nodes", "1", "--quiet",
        ]);
        assert!(status.success(), "{mode}: {stderr}");
        assert_no_secret_on_a_command_line(&seen);
    }
}
