//! What the CLI tests share: `authscale` run to its end and how it ended
//! (`run`), real `authscale` node and proxy processes on free ports, raw
//! socket exchanges, and reading a process's state from /proc.

#![allow(dead_code)]

pub mod run;
pub mod sweep;

#[allow(unused_imports)] // each test uses a few of them
pub use run::{
    authscale, exited, file_names, gate_of, read_json, refused, refused_args, refuses, run,
    run_in_crate, succeeded, utf8, words,
};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authscale_testkit::ChildProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_authscale"))
}

/// The repository's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The run the report crate's tests read (`quick-run.json`).
pub fn quick_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../authscale-report/tests/fixtures/quick-run.json")
}

/// Requests the node at `addr` has answered, by its `/metrics` (through
/// curl, a client authscale did not write); `route` filters by route label
/// (`""`: every route).
pub fn requests_served(addr: SocketAddr, route: &str) -> u64 {
    let metrics = std::process::Command::new("curl")
        .args(["-sf", &format!("http://{addr}/metrics")])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&metrics.stdout)
        .lines()
        .filter(|l| l.starts_with("authscale_requests_total{") && l.contains(route))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `authscale node` on a free port, auth none, one thread, plus `extra`.
pub fn node(id: &str, extra: &[&str]) -> ChildProcess {
    let mut args = vec![
        "node",
        "--listen",
        "127.0.0.1:0",
        "--node-id",
        id,
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    ChildProcess::spawn_server(bin(), &args)
}

/// `k=FILE` of the test HS256 key, as `--jwt-secret` takes it.
pub fn test_key() -> String {
    let secret = authscale_testkit::fixtures_dir().join("keys/hs256-a.secret");
    format!("k={}", secret.display())
}

/// `authscale node --auth token` on a free port, signing with the test
/// HS256 key.
pub fn token_node() -> ChildProcess {
    node("token", &["--auth", "token", "--jwt-secret", &test_key()])
}

/// The arguments of `authscale node --auth AUTH` on a free port, then `extra`.
pub fn node_args<'a>(auth: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["node", "--auth", auth, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    args
}

/// `authscale node --auth AUTH` on a free port, plus `extra`.
pub fn auth_node(auth: &str, extra: &[&str]) -> ChildProcess {
    ChildProcess::spawn_server(bin(), &node_args(auth, extra))
}

/// The arguments of a session node on a free port whose store is at
/// `redis_url`, then `extra`.
pub fn session_node_args<'a>(redis_url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    node_args(
        "session",
        &[&["--redis-url", redis_url][..], extra].concat(),
    )
}

/// `authscale node --auth session` on a free port, its store at
/// `redis_url`, plus `extra`.
pub fn session_node(redis_url: &str, extra: &[&str]) -> ChildProcess {
    ChildProcess::spawn_server(bin(), &session_node_args(redis_url, extra))
}

/// `authscale proxy` on free ports (clients, then admin) in front of
/// `upstreams`, plus `extra`.
pub fn proxy(upstreams: &[SocketAddr], extra: &[&str]) -> ChildProcess {
    let mut args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--threads",
        "2",
    ]
    .map(String::from)
    .to_vec();
    for upstream in upstreams {
        args.push("--upstream".into());
        args.push(upstream.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ChildProcess::spawn_server(bin(), &args)
}

/// How a raw exchange ended.
#[derive(Debug)]
pub struct Exchange {
    /// Everything the server sent.
    pub bytes: Vec<u8>,
    /// The server closed the connection (else the deadline passed).
    pub closed: bool,
}

impl Exchange {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status codes of every response in the stream, in order.
    pub fn statuses(&self) -> Vec<u16> {
        let text = self.text();
        text.match_indices("HTTP/1.")
            .filter_map(|(i, _)| {
                let rest = text.get(i + "HTTP/1.x ".len()..)?;
                let code = rest.get(..3)?;
                (rest.as_bytes().get(3) == Some(&b' ')).then_some(code)?;
                code.parse().ok()
            })
            .collect()
    }
}

/// How the client ends its side after writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Half-close: the server sees end of input, can still answer.
    HalfClose,
    /// Keep the connection open and silent.
    Stall,
    /// Abort with a reset (SO_LINGER 0), reading nothing.
    Reset,
}

/// Writes `bytes`, ends as told, and reads until the server closes or
/// `within` passes.
pub async fn exchange(
    addr: SocketAddr,
    bytes: &[u8],
    ending: Ending,
    within: Duration,
) -> Exchange {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(bytes).await;
    match ending {
        Ending::HalfClose => {
            let _ = stream.shutdown().await;
        }
        Ending::Stall => {}
        Ending::Reset => {
            // SO_LINGER 0 makes close send a reset. Deprecated because a
            // non-zero linger blocks the thread on drop; zero never does.
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
            return Exchange {
                bytes: Vec::new(),
                closed: true,
            };
        }
    }
    let mut out = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    Exchange { bytes: out, closed }
}

/// A field of /proc/PID/status, such as `VmRSS` (kB) or `State`.
pub fn proc_status(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim().to_owned())
    })
}

/// Resident memory of `pid`, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for process {pid}"))
}

/// Whether `pid` is running (not gone, not a zombie).
pub fn alive(pid: u32) -> bool {
    proc_status(pid, "State").is_some_and(|s| !s.starts_with('Z'))
}

/// One admin request the way the lab sends it: Host of the admin address,
/// `Connection: close`, optional extra headers.
pub async fn admin_call(
    admin: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !has_host {
        head.push_str(&format!("Host: {admin}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let answer = exchange(
        admin,
        head.as_bytes(),
        Ending::Stall,
        Duration::from_secs(10),
    )
    .await;
    let text = answer.text();
    let status = answer.statuses().first().copied().unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// The proxy's view of its upstreams: (address, healthy, total failures).
pub async fn upstream_health(admin: SocketAddr) -> Vec<(String, bool, u64)> {
    let (status, body) = admin_call(admin, "GET", "/upstreams", &[], "").await;
    assert_eq!(status, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|row| {
            let failures = row["failures"]
                .as_object()
                .map(|f| f.values().filter_map(|v| v.as_u64()).sum())
                .unwrap_or(u64::MAX);
            (
                row["addr"].as_str().unwrap_or("?").to_owned(),
                row["healthy"] == true,
                failures,
            )
        })
        .collect()
}

/// Asserts that every upstream is healthy and has never failed.
pub async fn assert_upstreams_untouched(admin: SocketAddr, context: &str) {
    for (addr, healthy, failures) in upstream_health(admin).await {
        assert!(healthy, "{context}: upstream {addr} was marked down");
        assert_eq!(failures, 0, "{context}: failures counted against {addr}");
    }
}

/// A metric's value from Prometheus text (0 when absent).
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Requests in flight per upstream, from a proxy's admin endpoint.
pub async fn in_flight(admin: SocketAddr) -> Vec<u64> {
    let listed = authscale_testkit::get(admin, "/upstreams").await.json();
    listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| u["in_flight"].as_u64().expect("in_flight"))
        .collect()
}
