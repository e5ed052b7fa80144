//! `authscale gate-instructions` with stand-ins for the measured program
//! and valgrind: what it does to the folder and files it is given.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::{exited, run, utf8};

/// A folder of its own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authscale-icount-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A scratch folder `name` with a program that describes itself and a
/// valgrind that knows its version but fails the measurement: the folder,
/// the program, the valgrind.
fn stand_ins(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch(name);
    let bin = dir.join("icount");
    script(
        &bin,
        r#"echo 'rustc = "rustc 1.0"'; echo 'target = "x86_64"'; echo 'valgrind_args = ["--tool=callgrind"]'"#,
    );
    let valgrind = dir.join("valgrind");
    script(
        &valgrind,
        r#"if [ "$1" = "--version" ]; then echo valgrind-3.0; exit 0; fi; exit 1"#,
    );
    (dir, bin, valgrind)
}

/// `gate-instructions ARGS --bin BIN --valgrind VALGRIND`, refused with
/// exit 2; its stderr.
fn refused(args: &[&str], bin: &Path, valgrind: &Path) -> String {
    let tools = ["--bin", utf8(bin), "--valgrind", utf8(valgrind)];
    exited(&run([&["gate-instructions"][..], args, &tools].concat()), 2)
}

#[test]
fn the_work_dir_keeps_everything_but_earlier_dumps() {
    let (dir, bin, valgrind) = stand_ins("work-dir");
    let work = dir.join("work");
    std::fs::create_dir_all(work.join("sub")).expect("work folder");
    std::fs::write(work.join("notes.txt"), "keep me").expect("notes");
    std::fs::write(work.join("sub/y"), "keep me too").expect("nested");
    std::fs::write(work.join("callgrind.out.7"), "an earlier dump").expect("dump");
    std::os::unix::fs::symlink(dir.join("elsewhere"), work.join("callgrind.out.1")).expect("link");
    std::fs::create_dir_all(work.join("callgrind.out.d")).expect("a folder so named");
    let baseline = dir.join("baseline.toml");
    let args = [
        "--write-baseline",
        "--baseline",
        utf8(&baseline),
        "--work-dir",
        utf8(&work),
    ];
    let stderr = refused(&args, &bin, &valgrind);
    assert!(stderr.contains("callgrind failed"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(work.join("notes.txt"))
            .ok()
            .as_deref(),
        Some("keep me")
    );
    assert!(work.join("sub/y").is_file(), "a nested file was removed");
    assert!(
        !work.join("callgrind.out.7").exists(),
        "an earlier dump was kept"
    );
    assert!(
        std::fs::symlink_metadata(work.join("callgrind.out.1")).is_err(),
        "a dangling link callgrind would write through was kept"
    );
    assert!(
        work.join("callgrind.out.d").is_dir(),
        "a folder was removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_baseline_is_refused_before_measuring() {
    let (dir, bin, _) = stand_ins("baseline");
    // A valgrind that would leave a trace if it were run at all.
    let valgrind = dir.join("valgrind");
    let trace = dir.join("ran");
    script(&valgrind, &format!("touch {}; exit 1", trace.display()));
    let missing = dir.join("no-such-baseline.toml");
    let stderr = refused(&["--baseline", utf8(&missing)], &bin, &valgrind);
    assert!(stderr.contains("cannot read the baseline"), "{stderr}");
    assert!(!trace.exists(), "valgrind ran before the baseline was read");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_or_wrong_program_is_named_as_such() {
    let (dir, _, valgrind) = stand_ins("program");
    // Writing a baseline reads none: the program is the first thing used.
    let baseline = dir.join("counts.toml");
    let args = ["--write-baseline", "--baseline", utf8(&baseline)];
    let stderr = refused(&args, &dir.join("not-built"), &valgrind);
    assert!(stderr.contains("cargo build --release"), "{stderr}");
    // A program that is there but is not the measuring one.
    let other = dir.join("other");
    script(&other, "echo usage: other >&2; exit 1");
    let stderr = refused(&args, &other, &valgrind);
    assert!(stderr.contains("icount program"), "{stderr}");
    assert!(stderr.contains("usage: other"), "{stderr}");
    assert!(!baseline.exists(), "a baseline was written");
    let _ = std::fs::remove_dir_all(&dir);
}
