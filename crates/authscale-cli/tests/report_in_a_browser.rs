//! report.html in a real browser: headless Chromium opens the report of a
//! committed example, rendered by this build, and finds no console message
//! (no script error, no blocked resource: the page loads nothing), the
//! verdict, every chart drawn inline with its values under the pointer, and
//! its script run. Its screenshot is kept in target/browser/ (CI keeps it).
//!
//! Chromium comes from `scripts/setup.sh chromium` (the test script runs
//! it); without it the test says it skipped, and fails when
//! AUTHSCALE_REQUIRE_BROWSER=1 (CI). AUTHSCALE_CHROMIUM names another binary.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{file_names, root, run, succeeded, utf8};

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AUTHSCALE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

#[test]
fn the_html_report_opens_in_chromium_with_its_verdict_and_every_chart() {
    let Some(browser) = chromium() else {
        authscale_testkit::skip_unless_required(
            "AUTHSCALE_REQUIRE_BROWSER",
            "no chromium on PATH (scripts/setup.sh chromium installs it; AUTHSCALE_CHROMIUM names one)",
        );
        return;
    };
    let example = root().join("results/examples/default");
    let dir = tempfile_dir();
    std::fs::copy(example.join("run.json"), dir.join("run.json")).expect("copy run.json");
    succeeded(&run(["report", utf8(&dir)]));
    let page = dir.join("report.html");
    let url = format!("file://{}", page.display());
    let shots = root().join("target/browser");
    std::fs::create_dir_all(&shots).expect("target/browser");
    let shot = shots.join("report-default.png");
    let _ = std::fs::remove_file(&shot);
    let run = |extra: &[&str]| {
        let out = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=2000",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "{browser:?} failed: {out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (dom, log) = run(&["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    // The script ran to its end, and the verdict comes before any chart.
    assert!(dom.contains(r#"<html lang="en" class="js">"#), "{dom}");
    let verdict = dom.find(r#"<h2 id="verdict">"#).expect("a verdict heading");
    let first_chart = dom.find(r#"class="chart""#).expect("a chart");
    assert!(verdict < first_chart, "the verdict comes first");
    // Every chart of the folder, inline, its markers carrying their values.
    let mut charts = 0;
    for name in file_names(&dir) {
        if let Some(stem) = name.strip_suffix(".svg") {
            let at = dom
                .find(&format!(r#"id="chart-{stem}""#))
                .unwrap_or_else(|| panic!("chart {stem} is not in the page"));
            assert!(
                dom[at..].trim_start_matches(|c| c != '>')[1..].starts_with("<svg"),
                "{stem}"
            );
            charts += 1;
        }
    }
    assert!(charts >= 4, "{charts} charts");
    assert!(
        !dom.contains("<img"),
        "every chart is inline: nothing to fetch"
    );
    assert!(
        dom.contains(r#"data-value="token measured, nodes (N) 8: throughput"#),
        "the throughput chart's markers say their values"
    );
    let (_, log) = run(&[
        "--window-size=1200,2000",
        &format!("--screenshot={}", shot.display()),
    ]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {log}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authscale-browser-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
