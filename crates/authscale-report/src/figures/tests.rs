use super::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_generated_block_and_value_are_checked_and_rewritten() {
    let dir = std::env::temp_dir().join(format!("authscale-figures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("times.tsv"), "experiment\tseconds\ndefault\t107\n").expect("write");
    let fresh = "a\n<!-- figures: times times.tsv -->\n| experiment | seconds |\n|---|---|\n| default | 107 |\n<!-- /figures -->\nb\n";
    assert_eq!(
        refresh(fresh, &dir, Path::new("")),
        (fresh.to_owned(), vec![], 1)
    );
    let edited = fresh.replace("| 107 |", "| 90 |");
    let (again, stale, _) = refresh(&edited, &dir, Path::new(""));
    assert_eq!(again, fresh);
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0].line, stale[0].marker.as_str()),
        (2, "times times.tsv")
    );
    std::fs::write(dir.join("times.tsv"), "experiment\tseconds\ndefault\t110\n").expect("write");
    assert_eq!(
        refresh(fresh, &dir, Path::new("")).1.len(),
        1,
        "a changed result makes the prose stale"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_inline_value_comes_from_the_run() {
    let line = "E(8) is <!-- figure: results/examples/default session.efficiency@8 2 -->0.99<!-- /figure --> here\n";
    let (fixed, stale, _) = refresh(line, &root(), Path::new(""));
    assert_eq!(stale.len(), 1);
    let value = stale[0].generated.clone().expect("a value");
    assert_eq!(fixed, line.replace(">0.99<", &format!(">{value}<")));
    assert_eq!(refresh(&fixed, &root(), Path::new("")).1, vec![]);
}

/// Why the only generated part of `text` cannot be generated.
fn error_of(text: &str) -> String {
    let (_, stale, _) = refresh(text, &root(), Path::new(""));
    stale[0].generated.clone().expect_err("cannot be generated")
}

#[test]
fn what_cannot_be_generated_is_named() {
    let missing = error_of("<!-- figures: headline results/nowhere -->\nx\n<!-- /figures -->\n");
    assert!(missing.contains("cannot read"), "{missing}");
    let unknown = error_of("<!-- figures: table x -->\nx\n<!-- /figures -->\n");
    assert!(unknown.contains("unknown figures block"), "{unknown}");
    let open = error_of("<!-- figures: file README.md -->\nx\n");
    assert!(open.contains("no <!-- /figures -->"), "{open}");
    // Nothing a marker names leaves the checkout, or reads a device.
    for path in ["/etc/passwd", "../../etc/passwd", "results/../../x"] {
        let outside = error_of(&format!(
            "<!-- figures: file {path} -->\n<!-- /figures -->\n"
        ));
        assert!(outside.contains("relative and without .."), "{outside}");
    }
    let device = within(Path::new("/"), "dev/zero").expect_err("a device");
    assert!(device.contains("not a regular file"), "{device}");
    let quote = error_of(
        "<!-- figures: section results/examples/default \"Verdict -->\n<!-- /figures -->\n",
    );
    assert!(quote.contains("quote is not closed"), "{quote}");
    let decimals = error_of(
        "<!-- figure: results/examples/default session.efficiency@8 999999 -->x<!-- /figure -->\n",
    );
    assert!(decimals.contains("0 to 9"), "{decimals}");
}

#[test]
fn a_marker_that_cannot_be_read_is_never_skipped() {
    // Opened again before it closed: --update must not swallow the text between.
    let text = "<!-- figures: file README.md -->\nkeep\n<!-- figures: file README.md -->\nT\n<!-- /figures -->\n";
    let (again, stale, parts) = refresh(text, &root(), Path::new(""));
    assert_eq!(parts, 2);
    assert!(again.contains("keep\n"), "{again}");
    let why = stale[0].generated.clone().expect_err("unreadable");
    assert!(why.contains("another block opens at line 3"), "{why}");
    // Not alone on its line, or an inline figure without its close.
    let inline =
        error_of("- <!-- figures: headline results/examples/default -->\nx\n<!-- /figures -->\n");
    assert!(inline.contains("stand alone on its line"), "{inline}");
    let (_, stale, parts) = refresh(
        "A <!-- figure: results/examples/default session.efficiency@8 2 -->0.99 oops\n",
        &root(),
        Path::new(""),
    );
    assert_eq!(parts, 1);
    assert!(
        stale[0]
            .generated
            .as_ref()
            .is_err_and(|e| e.contains("no <!-- /figure -->"))
    );
}

#[test]
fn a_sections_chart_links_point_at_its_run_from_the_document() {
    let body = "![a](fault-x.svg) [b](https://x.org/y) [c](#top) ![d](../z.svg)";
    assert_eq!(
        relink(body, "../results/examples/faults/"),
        "![a](../results/examples/faults/fault-x.svg) [b](https://x.org/y) [c](#top) ![d](../z.svg)"
    );
}

#[test]
fn thousands_are_separated() {
    assert_eq!(thousands(2_161_779.4), "2,161,779");
    assert_eq!(thousands(999.6), "1,000");
    assert_eq!(thousands(12.0), "12");
}
