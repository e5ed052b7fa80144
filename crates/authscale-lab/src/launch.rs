//! Starting a node: its settings as a typed [`NodeLaunch`] in an owner-only
//! TOML file, read by `authscale node --config FILE` (followed by a side's
//! own flags in `ab`, which win over the file), with the node's option
//! variables kept out of its environment. The sweep, its fault runs and
//! `ab` all start nodes here: no other code builds a node's command line.

use std::path::Path;

use authscale_schema::{NODE_ENV, NodeLaunch};

use crate::cgroup::CpuGroup;
use crate::lab::write_private;
use crate::process::Managed;

/// Starts `bin node --config FILE [extra …]` with `launch` in FILE, in
/// `group`, and waits for its address. The file holds the store's URL
/// and key paths: it is removed as soon as the node has read it.
pub(crate) async fn start_node(
    bin: &Path,
    launch: &NodeLaunch,
    extra: &[String],
    group: Option<CpuGroup>,
) -> anyhow::Result<Managed> {
    let file = std::env::temp_dir().join(format!(
        "authscale-{}-{}.toml",
        std::process::id(),
        launch.node_id
    ));
    write_private(&file, launch.to_toml().as_bytes())?;
    let mut args = vec![
        "node".to_owned(),
        "--config".to_owned(),
        file.display().to_string(),
    ];
    args.extend(extra.iter().cloned());
    let started =
        Managed::start_without_env(&launch.node_id, bin, &args, NODE_ENV, group, true).await;
    let _ = std::fs::remove_file(&file);
    started
}
