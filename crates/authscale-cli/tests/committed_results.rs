//! What ships is what was measured: the committed examples, baseline and
//! A/A runs are complete runs of the shipped experiment files from one
//! clean commit, every report beside them is what this build renders from
//! its run.json, every figure README.md and docs/ quote matches the file it
//! comes from (a changed result and a changed figure both fail), and the
//! README stays short with every path it names present.

mod support;

use std::path::{Path, PathBuf};

use authscale_schema::{Experiment, Run};
use support::{file_names, gate_of, root, run, succeeded, utf8};

fn figures(root: &Path, extra: &[&str]) -> std::process::Output {
    run([&["figures", "--root", utf8(root)][..], extra].concat())
}

/// Every committed run folder and the experiment file it must be a run of.
fn committed_runs() -> Vec<(PathBuf, PathBuf)> {
    let root = root();
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(root.join("results/examples")).expect("results/examples") {
        let dir = entry.expect("entry").path();
        if dir.is_dir() {
            let name = dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            // A sweep of a service authscale did not write keeps its
            // experiment beside the service (examples/NAME/sweep.toml).
            let experiment = root.join(format!("experiments/{name}.toml"));
            let beside = root.join(format!("examples/{name}/sweep.toml"));
            runs.push((
                dir,
                if experiment.exists() {
                    experiment
                } else {
                    beside
                },
            ));
        }
    }
    runs.push((
        root.join("results/baseline"),
        root.join("experiments/quick.toml"),
    ));
    for entry in std::fs::read_dir(root.join("results/aa")).expect("results/aa") {
        let dir = entry.expect("entry").path();
        if dir.is_dir() {
            runs.push((dir, root.join("experiments/quick.toml")));
        }
    }
    runs.sort();
    runs
}

#[test]
fn the_committed_runs_are_complete_runs_of_the_shipped_experiments_from_one_clean_commit() {
    let runs = committed_runs();
    assert!(runs.len() >= 7 + 5, "{runs:?}");
    let mut commits = std::collections::BTreeSet::new();
    for (dir, experiment) in &runs {
        let run = Run::read(dir).unwrap_or_else(|e| panic!("{e:#}"));
        let shown = dir.display();
        assert_eq!(
            run.status.to_string(),
            "complete",
            "{shown}: {:?}",
            run.error
        );
        assert_eq!(
            run.host.git_dirty,
            Some(false),
            "{shown}: measured on a dirty checkout"
        );
        commits.insert(run.host.git_commit.clone());
        // Measured with the file as it ships: no flag changed it.
        let shipped = Experiment::from_file(experiment).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            serde_json::to_value(&run.plan.experiment).expect("json"),
            serde_json::to_value(&shipped).expect("json"),
            "{shown} is not a run of {} as it ships: regenerate it with scripts/examples.sh",
            experiment.display()
        );
    }
    assert_eq!(
        commits.len(),
        1,
        "the committed runs come from several commits: {commits:?}"
    );
}

#[test]
fn every_committed_report_is_what_this_build_renders_from_its_run() {
    for (dir, _) in committed_runs() {
        let run = Run::read(&dir).unwrap_or_else(|e| panic!("{e:#}"));
        let rendered = authscale_report::render(&run);
        let names: std::collections::BTreeSet<String> =
            rendered.iter().map(|(name, _)| name.clone()).collect();
        // report.html is not committed (.gitignore): the browser test
        // renders and opens it.
        for (name, contents) in rendered.iter().filter(|(n, _)| n != "report.html") {
            let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                committed == *contents,
                "{}/{name} is not what this build renders from its run.json: run `authscale report {}`",
                dir.display(),
                dir.display()
            );
        }
        // And no chart or page is left over from an earlier renderer.
        for name in file_names(&dir) {
            if name.ends_with(".svg") || name == "report.md" || name == "summary.csv" {
                assert!(
                    names.contains(&name),
                    "{}/{name} is not rendered any more",
                    dir.display()
                );
            }
        }
    }
}

#[test]
fn every_aa_run_passes_the_gate_against_the_baseline() {
    let mut judged = 0;
    for (dir, _) in committed_runs() {
        if !dir.starts_with(root().join("results/aa")) {
            continue;
        }
        judged += 1;
        let out = gate_of(&root().join("results/baseline"), &dir, &[]);
        assert!(
            out.status.success(),
            "{}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(judged, 5, "results/aa holds five A/A runs");
}

#[test]
fn every_figure_in_readme_and_docs_matches_its_results() {
    let said = succeeded(&figures(&root(), &[]));
    assert!(said.contains("match their results"), "{said}");
}

#[test]
fn a_changed_result_or_a_changed_figure_fails_the_check() {
    let tree = std::env::temp_dir().join(format!("authscale-figures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tree);
    let run_dir = tree.join("results/examples/default");
    std::fs::create_dir_all(&run_dir).expect("tree");
    let run_json = run_dir.join("run.json");
    std::fs::copy(root().join("results/examples/default/run.json"), &run_json).expect("copy");
    let readme = tree.join("README.md");
    std::fs::write(
        &readme,
        "# x\n\n<!-- figures: headline results/examples/default -->\n<!-- /figures -->\n\n\
         E(8) = <!-- figure: results/examples/default session.efficiency@8 2 --><!-- /figure -->\n",
    )
    .expect("readme");
    assert!(figures(&tree, &["--update"]).status.success());
    let fresh = std::fs::read_to_string(&readme).expect("readme");
    assert!(
        fresh.contains("- session: ") && !fresh.contains("--><!-- /figure"),
        "{fresh}"
    );
    assert!(figures(&tree, &[]).status.success(), "fresh figures pass");

    // The prose changed, the result did not.
    let value = fresh
        .split("2 -->")
        .nth(1)
        .and_then(|r| r.split("<!--").next())
        .expect("value");
    std::fs::write(&readme, fresh.replace(&format!("-->{value}<"), "-->0.99<")).expect("edit");
    let out = figures(&tree, &[]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("session.efficiency@8 2 — the text does not match its results")
            && said.contains("written:   0.99"),
        "{out:?}"
    );
    std::fs::write(&readme, &fresh).expect("restore");

    // The result changed, the prose did not: every session step 10% faster.
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).expect("run")).expect("json");
    for step in run["steps"].as_array_mut().expect("steps") {
        if step["mode"] == "session" {
            let x = step["throughput"].as_f64().expect("throughput");
            step["throughput"] = serde_json::json!(x * 1.1);
        }
    }
    std::fs::write(&run_json, serde_json::to_string(&run).expect("json")).expect("write");
    let out = figures(&tree, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("headline results/examples/default — the text does not match its results"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&tree);
}

#[test]
fn the_readme_is_short_and_every_path_it_names_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; keep it to 250 and move reference to docs/"
    );
    let mut named = 0;
    for word in readme.split(|c: char| c.is_whitespace() || "`()[]<>,;\"'".contains(c)) {
        let word = word.trim_end_matches(['.', ':']);
        let top = [
            "results/",
            "docs/",
            "scripts/",
            "experiments/",
            "crates/",
            "bench/",
            "deploy/",
            ".ci/",
        ];
        let file = [
            "ARCHITECTURE.md",
            "LICENSE-MIT",
            "LICENSE-APACHE",
            "Cargo.toml",
        ];
        if !(top.iter().any(|t| word.starts_with(t)) || file.contains(&word)) {
            continue;
        }
        // A pattern, not a path: results/<run>, results/<UTC time>-default/.
        if word.contains('*') || word.ends_with('-') || word.ends_with("/<run") {
            continue;
        }
        named += 1;
        assert!(
            root().join(word).exists(),
            "README.md names {word}, which does not exist"
        );
    }
    assert!(
        named >= 20,
        "only {named} paths found: is the check still reading the README?"
    );
    for term in [
        "E(N)",
        "Knee",
        "USL",
        "quota period",
        "Slice, round",
        "Noise floor",
        "A/A",
    ] {
        assert!(readme.contains(term), "the glossary lost {term:?}");
    }
}
