//! Starting a node: its settings as a typed [`NodeLaunch`] in an owner-only
//! TOML file, read by `authscale node --config FILE` (followed by a side's
//! own flags in `ab`, which win over the file), with the node's option
//! variables kept out of its environment. The sweep, its fault runs and
//! `ab` all start nodes here: no other code builds a node's command line.
//! The proxy they share starts here too, and owner-only files are written
//! here (a launch file, the lab's token key).

use std::path::{Path, PathBuf};

use authscale_schema::{NODE_ENV, NodeLaunch};

use crate::cgroup::CpuGroup;
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

/// The sweep's proxy: one thread, pinning users by the `uid` cookie when a
/// mode asks for it, its admin endpoint on a second loopback port.
pub(crate) async fn start_proxy(bin: &Path) -> anyhow::Result<Managed> {
    let args = "proxy --cookie-name uid --listen 127.0.0.1:0 --admin 127.0.0.1:0 --threads 1";
    let args: Vec<String> = args.split(' ').map(String::from).collect();
    let proxy = Managed::start("proxy", bin, &args, None, true).await?;
    anyhow::ensure!(
        proxy.addrs.len() == 2,
        "the proxy did not report its admin address"
    );
    Ok(proxy)
}

/// A new random token key (48 bytes, for HS256) in a file only its owner
/// can read, named for `who` and this process; the nodes read it through
/// their configuration file.
pub(crate) fn new_token_key(who: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("authscale-{who}-{}.secret", std::process::id()));
    let mut key = vec![0u8; 48];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no OS randomness for the token key: {e}"))?;
    write_private(&path, &key)?;
    Ok(path)
}

/// Writes `bytes` to a new file only its owner can read (a key).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
