//! Tests only: a temporary folder standing in for a cgroup hierarchy (no
//! root needed), removed when dropped, and the file helpers the fake trees
//! of `cgroup` and `cpuset` are written and read with.

use std::path::{Path, PathBuf};

/// A temporary folder, removed when dropped.
pub(crate) struct Tree(pub PathBuf);

impl Tree {
    /// `authscale-<kind>-test-<pid>-<name>` under the temporary folder,
    /// emptied first.
    pub fn new(kind: &str, name: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "authscale-{kind}-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// A file's text, trimmed; panics naming the file when it is missing.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}
