//! Every run.json committed under results/ still loads: the typed
//! vocabulary reads exactly the strings older runs wrote, and writes them
//! back unchanged.

use std::path::{Path, PathBuf};

use authscale_schema::Run;

fn run_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable results folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            run_files(&path, found);
        } else if path.file_name().is_some_and(|n| n == "run.json") {
            found.push(path);
        }
    }
}

#[test]
fn every_committed_run_loads_and_round_trips() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
    let mut files = Vec::new();
    run_files(&results, &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("examples/default/run.json")),
        "the example runs are missing from {}",
        results.display()
    );
    for file in &files {
        let run = Run::read(file).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(!run.steps.is_empty(), "{}: no steps", file.display());
        // Typed and written again, a run says what the file said.
        let original: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("text")).expect("json");
        let again = serde_json::to_value(&run).expect("json");
        for (i, step) in again["steps"].as_array().expect("steps").iter().enumerate() {
            let before = &original["steps"][i];
            assert_eq!(step["mode"], before["mode"], "{}", file.display());
            assert_eq!(
                step["components"],
                before["components"],
                "{}",
                file.display()
            );
        }
        assert_eq!(again["status"], original["status"], "{}", file.display());
    }
}
