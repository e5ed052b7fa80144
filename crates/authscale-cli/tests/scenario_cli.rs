//! Scenario files: the load generator drives a service that is not
//! authscale's node from a file alone, the node's own files drive it as the
//! built-in path does, and a scenario that cannot log in stops with what
//! its login got.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use support::{root, run, utf8, words};

/// The login of the node's own scenarios: its JSON body with the user's
/// name and password.
const NODE_LOGIN: &str = "[login]\nmethod = \"POST\"\npath = \"/login\"\n\
                          body = { json = { user = \"{user}\", password = \"{password}\" } }\n";

/// `authscale load … --json -`: the result, or the failure's stderr.
fn load(target: &str, args: &[&str]) -> Result<serde_json::Value, (Option<i32>, String)> {
    let out = run([&["load", "--target", target, "-q", "--json", "-"][..], args].concat());
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

/// `load` of the scenario file `file`, then `flags` (split at spaces).
fn with_scenario(
    target: &str,
    file: &Path,
    flags: &str,
) -> Result<serde_json::Value, (Option<i32>, String)> {
    load(
        target,
        &[&["--scenario", utf8(file)][..], &words(flags)].concat(),
    )
}

#[test]
fn a_scenario_file_alone_drives_a_service_shaped_unlike_the_node() {
    let Some(service) = shaped_service() else {
        eprintln!("SKIPPED: python3 is needed for examples/shaped-service");
        return;
    };
    let scenario = root().join("examples/shaped-service/scenario.toml");
    let flags = "-c 4 --users 8 -k 4 --max-requests 300 -d 20s";
    let result = with_scenario(&service.1, &scenario, flags).unwrap_or_else(|e| panic!("{e:?}"));
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
    let common = "-c 2 --users 4 -k 5 --max-requests 240 -d 20s";
    let file = root().join("experiments/scenarios/node-token.toml");
    let by_file = with_scenario(&target, &file, common).unwrap_or_else(|e| panic!("{e:?}"));
    let built_in = load(&target, &words(&format!("--auth token {common}")))
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
    let target = format!("http://{}", node.addr());
    let dir = std::env::temp_dir().join(format!("authscale-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    // The token is at /access_token; this scenario looks for a cookie.
    let credential = "[credential]\ncookie = \"session\"\n[[request]]\npath = \"/api/me\"\n";
    let wrong = file("wrong.toml", &[NODE_LOGIN, credential].concat());
    let started = std::time::Instant::now();
    let (code, said) =
        with_scenario(&target, &wrong, "-c 2 -d 30s").expect_err("no credential, no run");
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
    let credential = "[credential]\njson-pointer = \"/token\"\n[[request]]\npath = \"/api/me\"\n";
    let pointer = file("pointer.toml", &[NODE_LOGIN, credential].concat());
    let (code, said) =
        with_scenario(&target, &pointer, "-c 2 -d 30s").expect_err("no credential, no run");
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
        let bad = file("bad.toml", text);
        let (code, said) = with_scenario("http://127.0.0.1:9", &bad, "").expect_err("refused");
        assert_eq!(code, Some(2), "{said}");
        assert!(said.contains(why) && said.contains("bad.toml"), "{said}");
    }
    // A CSV value that would break a request line or a header.
    file("users.csv", "user,password\nann\rX-Injected: yes,pw\n");
    let with_csv = file(
        "csv.toml",
        "[login]\npath = \"/login\"\nmethod = \"POST\"\nheaders = { X-User = \"{user}\" }\n[credential]\ncookie = \"sid\"\n[[request]]\npath = \"/api/me\"\n[users]\ncsv = \"users.csv\"\n",
    );
    let (code, said) = with_scenario("http://127.0.0.1:9", &with_csv, "").expect_err("refused");
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("users.csv:2") && said.contains("control character"),
        "{said}"
    );
    // Logins that work and protected requests that never do: exit 1, said.
    let credential = "[credential]\njson-pointer = \"/access_token\"\n\
                      send = \"header:X-Not-Authorization\"\n[[request]]\npath = \"/api/me\"\n";
    let unsent = file("unsent.toml", &[NODE_LOGIN, credential].concat());
    let (code, said) = with_scenario(&target, &unsent, "-c 2 --max-requests 60 -d 10s")
        .expect_err("every protected request failed");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("no protected request succeeded") && said.contains("401"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
