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
    // Built again when the checkout moves to another commit: HEAD, the
    // branch it names, and the packed refs.
    if let Some(git_dir) = output(Command::new("git").args(["rev-parse", "--absolute-git-dir"])) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/packed-refs");
        if let Some(branch) = output(Command::new("git").args(["symbolic-ref", "-q", "HEAD"])) {
            println!("cargo:rerun-if-changed={git_dir}/{branch}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
