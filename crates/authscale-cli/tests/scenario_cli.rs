//! Scenario files: the load generator drives a service that is not
//! authscale's node from a file alone, the node's own files drive it as the
//! built-in path does, and a scenario that cannot log in stops with what
//! its login got.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::bin;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `authscale load … --json -`: the result, or the failure's stderr.
fn load(target: &str, args: &[&str]) -> Result<serde_json::Value, (Option<i32>, String)> {
    let out = Command::new(bin())
        .args(["load", "--target", target, "-q", "--json", "-"])
        .args(args)
        .output()
        .expect("load runs");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("the result as JSON"))
    } else {
        Err((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

fn ok(result: &serde_json::Value, step: &str) -> u64 {
    result["by_step"][step]["2xx"].as_u64().unwrap_or(0)
}

/// The example service (Python's standard library) on a free port.
struct Service(Child, String);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shaped_service() -> Option<Service> {
    let mut child = Command::new("python3")
        .arg(root().join("examples/shaped-service/service.py"))
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let addr = line.trim().strip_prefix("listening on ")?.to_owned();
    Some(Service(child, format!("http://{addr}")))
}

#[test]
fn a_scenario_file_alone_drives_a_service_shaped_unlike_the_node() {
    let Some(service) = shaped_service() else {
        eprintln!("SKIPPED: python3 is needed for examples/shaped-service");
        return;
    };
    let scenario = root().join("examples/shaped-service/scenario.toml");
    let result = load(
        &service.1,
        &[
            "--scenario",
            scenario.to_str().expect("utf-8"),
            "-c",
            "4",
            "--users",
            "8",
            "-k",
            "4",
            "--max-requests",
            "300",
            "-d",
            "20s",
        ],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    // Form login, token from a response header sent in another header,
    // two weighted routes, a DELETE to log out: all answered as success.
    assert_eq!(result["errors"], 0, "{result}");
    assert!(
        ok(&result, "login") > 0 && ok(&result, "logout") > 0,
        "{result}"
    );
    assert!(ok(&result, "api") >= 3 * ok(&result, "login"), "{result}");
}

#[test]
fn the_node_files_drive_the_node_as_the_built_in_path_does() {
    let node = support::token_node();
    let target = format!("http://{}", node.addr());
    let common = [
        "-c",
        "2",
        "--users",
        "4",
        "-k",
        "5",
        "--max-requests",
        "240",
        "-d",
        "20s",
    ];
    let file = root().join("experiments/scenarios/node-token.toml");
    let by_file = load(
        &target,
        &[
            &["--scenario", file.to_str().expect("utf-8")][..],
            &common[..],
        ]
        .concat(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let built_in = load(&target, &[&["--auth", "token"][..], &common[..]].concat())
        .unwrap_or_else(|e| panic!("{e:?}"));
    // The same visits: 1 login, 5 requests, 1 logout, every one a success
    // (the request cap may cut each connection's last visit short).
    for result in [&by_file, &built_in] {
        assert_eq!(result["errors"], 0, "{result}");
        let (logins, api) = (ok(result, "login"), ok(result, "api"));
        assert!(api <= 5 * logins && api + 10 >= 5 * logins, "{result}");
        assert!(ok(result, "logout") + 2 >= logins, "{result}");
    }
}

#[test]
fn a_login_that_never_gives_the_credential_stops_with_its_answer() {
    let node = support::token_node();
    let dir = std::env::temp_dir().join(format!("authscale-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The token is at /access_token; this scenario looks for a cookie.
    let wrong = dir.join("wrong.toml");
    std::fs::write(
        &wrong,
        "[login]\nmethod = \"POST\"\npath = \"/login\"\nbody = { json = { user = \"{user}\", password = \"{password}\" } }\n\
         [credential]\ncookie = \"session\"\n[[request]]\npath = \"/api/me\"\n",
    )
    .expect("write");
    let started = std::time::Instant::now();
    let (code, said) = load(
        &format!("http://{}", node.addr()),
        &[
            "--scenario",
            wrong.to_str().expect("utf-8"),
            "-c",
            "2",
            "-d",
            "30s",
        ],
    )
    .expect_err("no credential, no run");
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("none gave the credential")
            && said.contains("status 200")
            && said.contains("access_token")
            && said.contains("wrong.toml:6:"),
        "the file and the line that names the credential: {said}"
    );
    assert!(started.elapsed().as_secs() < 20, "it stopped early");
    // A JSON pointer that matches nothing in the login's answer.
    let pointer = dir.join("pointer.toml");
    std::fs::write(
        &pointer,
        "[login]\nmethod = \"POST\"\npath = \"/login\"\nbody = { json = { user = \"{user}\", password = \"{password}\" } }\n\
         [credential]\njson-pointer = \"/token\"\n[[request]]\npath = \"/api/me\"\n",
    )
    .expect("write");
    let (code, said) = load(
        &format!("http://{}", node.addr()),
        &[
            "--scenario",
            pointer.to_str().expect("utf-8"),
            "-c",
            "2",
            "-d",
            "30s",
        ],
    )
    .expect_err("no credential, no run");
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("pointer.toml:6:") && said.contains("access_token"),
        "{said}"
    );
    // A placeholder that does not exist, and a field that does not: refused
    // with the file named, before any request.
    for (text, why) in [
        (
            "# users\n[[request]]\npath = \"/api/{usr}\"\n",
            "bad.toml:3: request[0]: unknown placeholder {usr}",
        ),
        (
            "[[request]]\npath = \"/api/me\"\nmethd = \"GET\"\n",
            "bad.toml:3: unknown field `methd`",
        ),
        (
            "[[request]]\npath = \"/api/me\"\n\n[[request]]\npath = \"api/x\"\n",
            "bad.toml:5: request[1].path",
        ),
    ] {
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, text).expect("write");
        let (code, said) = load(
            "http://127.0.0.1:9",
            &["--scenario", bad.to_str().expect("utf-8")],
        )
        .expect_err("refused");
        assert_eq!(code, Some(2), "{said}");
        assert!(said.contains(why) && said.contains("bad.toml"), "{said}");
    }
    // A CSV value that would break a request line or a header.
    let csv = dir.join("users.csv");
    std::fs::write(&csv, "user,password\nann\rX-Injected: yes,pw\n").expect("write");
    let with_csv = dir.join("csv.toml");
    std::fs::write(
        &with_csv,
        "[login]\npath = \"/login\"\nmethod = \"POST\"\nheaders = { X-User = \"{user}\" }\n[credential]\ncookie = \"sid\"\n[[request]]\npath = \"/api/me\"\n[users]\ncsv = \"users.csv\"\n",
    )
    .expect("write");
    let (code, said) = load(
        "http://127.0.0.1:9",
        &["--scenario", with_csv.to_str().expect("utf-8")],
    )
    .expect_err("refused");
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("users.csv:2") && said.contains("control character"),
        "{said}"
    );
    // Logins that work and protected requests that never do: exit 1, said.
    let unsent = dir.join("unsent.toml");
    std::fs::write(
        &unsent,
        "[login]\nmethod = \"POST\"\npath = \"/login\"\nbody = { json = { user = \"{user}\", password = \"{password}\" } }\n\
         [credential]\njson-pointer = \"/access_token\"\nsend = \"header:X-Not-Authorization\"\n[[request]]\npath = \"/api/me\"\n",
    )
    .expect("write");
    let (code, said) = load(
        &format!("http://{}", node.addr()),
        &[
            "--scenario",
            unsent.to_str().expect("utf-8"),
            "-c",
            "2",
            "--max-requests",
            "60",
            "-d",
            "10s",
        ],
    )
    .expect_err("every protected request failed");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("no protected request succeeded") && said.contains("401"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
