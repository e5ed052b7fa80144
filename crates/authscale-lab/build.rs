//! Records what the lab is built from, so that a run says what produced its
//! figures: the compiler (run.json `host.rustc`) and the commit of the
//! checkout the binary was built in (`host.git_commit`; a run warns when
//! it starts in a checkout at another commit).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = |cmd: &mut Command| {
        cmd.output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|v| v.trim().to_owned())
    };
    let version = output(Command::new(&rustc).arg("-V")).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AUTHSCALE_RUSTC={version}");
    let commit = output(Command::new("git").args(["rev-parse", "--short=12", "HEAD"]));
    println!(
        "cargo:rustc-env=AUTHSCALE_BUILD_COMMIT={}",
        commit.unwrap_or_default()
    );
    // Built again when the checkout moves to another commit: HEAD, and the
    // branches (loose under refs/heads, or packed). Only paths that exist
    // are named: cargo counts a missing one as changed on every build, which
    // rebuilt the lab and the CLI each time.
    let git = |args: &[&str]| output(Command::new("git").arg("rev-parse").args(args));
    if let Some(git_dir) = git(&["--absolute-git-dir"]) {
        // A worktree keeps HEAD in its own folder and the refs in the common one.
        let common =
            git(&["--path-format=absolute", "--git-common-dir"]).unwrap_or(git_dir.clone());
        let common = std::path::Path::new(&common);
        let watched = [
            std::path::Path::new(&git_dir).join("HEAD"),
            common.join("refs").join("heads"),
            common.join("packed-refs"),
        ];
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
