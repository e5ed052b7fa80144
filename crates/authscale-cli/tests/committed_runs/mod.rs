//! What the tests on committed runs share (`spread`, `compare`): the
//! binary, the runs of results/precision/, and edited copies of them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub use crate::support::refused;

/// `authscale COMMAND ARGS...`, run to the end.
pub fn authscale(command: &str, args: &[&str]) -> Output {
    crate::support::run([command].iter().chain(args))
}

/// The run.json files of results/precision/FOLDER, sorted.
pub fn precision_runs(folder: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/precision")
        .join(folder);
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("results/precision")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    runs.sort();
    runs.iter().map(|p| p.display().to_string()).collect()
}

/// A copy of a committed run, changed by `edit`, in a temporary file.
pub fn edited(run: &str, name: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run).expect("run")).expect("json");
    // Another run, as far as its record says: `spread` and `compare`
    // refuse two copies of one run.
    value["started_at"] = format!("edited {name}").into();
    edit(&mut value);
    let path = std::env::temp_dir().join(format!(
        "authscale-committed-{}-{name}.json",
        std::process::id()
    ));
    std::fs::write(&path, value.to_string()).expect("write");
    path
}

/// Multiplies a step's throughput, and every slice's, by `factor`.
pub fn scale_throughput(step: &mut serde_json::Value, factor: f64) {
    let scaled = |x: &serde_json::Value| (x.as_f64().expect("throughput") * factor).into();
    step["throughput"] = scaled(&step["throughput"]);
    for slice in step["slices"].as_array_mut().expect("slices") {
        slice["throughput"] = scaled(&slice["throughput"]);
    }
}

/// Every step of a run.
pub fn steps(run: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    run["steps"].as_array_mut().expect("steps")
}
