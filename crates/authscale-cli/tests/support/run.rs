//! Running `authscale` to its end and judging how it ended.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// `authscale ARGS`, not started yet.
pub fn authscale(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Command {
    let mut command = Command::new(super::bin());
    command.args(args);
    command
}

/// `authscale ARGS`, run to its end with its output captured.
pub fn run(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Output {
    authscale(args).output().expect("run authscale")
}

/// `authscale ARGS`, run to its end from this crate's folder (inside the
/// repository, so git revisions resolve), with its output captured.
pub fn run_in_crate(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Output {
    let mut command = authscale(args);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command.output().expect("run authscale")
}

/// `authscale gate --baseline BASELINE --run RUN EXTRA`, run to its end.
pub fn gate_of(baseline: &Path, run: &Path, extra: &[&str]) -> Output {
    let mut command = authscale(["gate", "--baseline"]);
    command.arg(baseline).arg("--run").arg(run).args(extra);
    command.output().expect("run gate")
}

/// Asserts that the run succeeded, showing what it printed; its stdout.
pub fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts that the run exited with `code`, showing its stderr; its stderr.
pub fn exited(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    stderr
}

/// Asserts a usage error (exit 2) whose message says `says`; its stderr.
pub fn refused(output: &Output, says: &str) -> String {
    let stderr = exited(output, 2);
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    stderr
}

/// Asserts that `output`, of `authscale ARGS`, is a usage error (exit 2)
/// saying `says`, naming ARGS in its failure messages; its stderr.
pub fn refused_args<S: std::fmt::Debug>(args: &[S], output: &Output, says: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    stderr
}

/// Runs `authscale ARGS` and asserts a usage error saying `says`; its stderr.
pub fn refuses(args: &[&str], says: &str) -> String {
    refused_args(args, &run(args), says)
}

/// The words of a command line without quoting (`"-c 2 -d 1s"`), as
/// arguments.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// A path as an argument (the tests' temporary paths are UTF-8).
pub fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The names of the entries of the folder `dir`.
pub fn file_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("a folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// A JSON file, parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}
