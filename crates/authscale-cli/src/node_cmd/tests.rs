use super::*;
use authscale_schema::duration::Dur;
use authscale_schema::{NODE_ENV, NodeLaunch};
use clap::CommandFactory;

/// Every key a launcher writes is one the node reads: a full launch
/// file parses as the node's config file.
#[test]
fn a_launch_file_is_a_node_config_file() {
    let mut launch = NodeLaunch::new(AuthMode::SessionCached, "n1");
    launch.threads = Some(1);
    launch.redis_url = Some("redis://127.0.0.1:1/".into());
    launch.store_timeout = Some(Dur::parse("200ms").expect("dur"));
    launch.store_rtt = Some(Dur::parse("250us").expect("dur"));
    launch.store_client = Some(StoreClient::Deadpool);
    launch.session_cache_ttl = Some(Dur::parse("1s").expect("dur"));
    launch.jwt_secret = vec!["lab=/dev/null".into()];
    let text = launch.to_toml();
    let config: NodeFileConfig = toml::from_str(&text).expect(&text);
    assert_eq!(config.auth, AuthMode::SessionCached);
    assert_eq!(config.store_rtt, "250us");
    assert_eq!(config.threads, Some(1));
}

/// The variables a launcher clears are exactly the node's.
#[test]
fn the_launchers_list_of_node_variables_is_the_nodes() {
    let command = crate::Cli::command();
    let node = command.find_subcommand("node").expect("node");
    let mut read: Vec<String> = node
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    read.sort();
    let mut cleared: Vec<String> = NODE_ENV.iter().map(|v| (*v).to_owned()).collect();
    cleared.sort();
    assert_eq!(read, cleared);
}
