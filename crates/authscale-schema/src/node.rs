//! The contract between a launcher (the lab, `authscale ab`) and a node it
//! starts: [`NodeLaunch`], written as an owner-only TOML file that the node
//! reads with `authscale node --config FILE`. Nothing but that path goes on
//! the node's command line, so neither the store's URL (which may hold a
//! password) nor a key file's name shows in the process list.
//!
//! Its keys are the node's own option names (`work-us`, `store-timeout` …);
//! a test in the CLI parses a full `NodeLaunch` as the node's config file,
//! so a key the node does not know fails there, not in a sweep.

use serde::{Deserialize, Serialize};

use crate::duration::Dur;
use crate::{AuthMode, StoreClient};

/// What a launcher sets in a node; what is left out takes the node's
/// default. Flags given after `--config` (`ab --b-node-args`) win over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeLaunch {
    pub auth: AuthMode,
    /// `127.0.0.1:0` for a free port (the node prints the one it got).
    pub listen: String,
    pub node_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_rtt: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_client: Option<StoreClient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cache_ttl: Option<Dur>,
    /// `KID=FILE` HMAC keys (the lab's shared key file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_secret: Vec<String>,
}

impl NodeLaunch {
    /// A node of `auth` mode named `node_id` on a free loopback port, with
    /// the node's defaults for everything else.
    pub fn new(auth: AuthMode, node_id: &str) -> NodeLaunch {
        NodeLaunch {
            auth,
            listen: "127.0.0.1:0".into(),
            node_id: node_id.to_owned(),
            threads: None,
            work_us: None,
            seed: None,
            users: None,
            redis_url: None,
            store_timeout: None,
            store_rtt: None,
            store_client: None,
            session_cache_ttl: None,
            jwt_secret: Vec::new(),
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("plain data serializes")
    }
}

/// The environment variables `authscale node` reads its options from. A
/// launcher removes them from a node's environment: the launch file
/// decides, not whatever the caller's shell exported (a test ties this
/// list to the node's flags).
pub const NODE_ENV: &[&str] = &[
    "AUTHSCALE_CONFIG",
    "AUTHSCALE_AUTH",
    "AUTHSCALE_LISTEN",
    "AUTHSCALE_REDIS_URL",
    "AUTHSCALE_STORE_TIMEOUT",
    "AUTHSCALE_STORE_RTT",
    "AUTHSCALE_STORE_CLIENT",
    "AUTHSCALE_WORK_US",
    "AUTHSCALE_USERS",
    "AUTHSCALE_SEED",
    "AUTHSCALE_JWT_ALG",
    "AUTHSCALE_REDIS_CA_FILE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_reads_back_what_it_writes_and_leaves_out_what_is_unset() {
        let mut launch = NodeLaunch::new(AuthMode::Session, "node1");
        launch.redis_url = Some("redis://127.0.0.1:1/".into());
        launch.store_timeout = Some(Dur::parse("200ms").expect("dur"));
        let text = launch.to_toml();
        assert!(text.contains("store-timeout = \"200ms\""), "{text}");
        assert!(
            !text.contains("jwt-secret") && !text.contains("threads"),
            "{text}"
        );
        assert_eq!(toml::from_str::<NodeLaunch>(&text).expect("parses"), launch);
    }
}
