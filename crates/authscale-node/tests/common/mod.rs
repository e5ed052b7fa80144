//! Shared set-up for the node's integration tests: an in-process node on
//! 127.0.0.1:0 running the same `serve` function as the binary.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authscale_auth::{
    Algorithm, Directory, KeySource, RedisStoreConfig, TokenConfig, TokenKeyConfig,
};
use authscale_node::{AuthMode, Node, NodeConfig};
use authscale_testkit::{Reply, fixtures_dir, request};
use tokio::sync::oneshot;

pub const SEED: u64 = 1;

/// A node serving in this process; stopped when dropped.
pub struct TestNode {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestNode {
    pub async fn start(config: NodeConfig) -> TestNode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let drain = config.drain_timeout;
        let node = Arc::new(Node::new(config).expect("valid node config"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(authscale_node::serve(
            listener,
            node.clone(),
            async move {
                let _ = stopped.await;
            },
            drain,
        ));
        TestNode {
            addr,
            node,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("serve task").expect("serve result");
        }
    }

    pub async fn login(&self, user: u64) -> Reply {
        let password = Directory::new(SEED, 1000).password(user);
        let body = format!(r#"{{"user":"user{user}","password":"{password}"}}"#);
        request(
            self.addr,
            "POST",
            "/login",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    pub async fn me_with(&self, headers: &[(&str, &str)]) -> Reply {
        request(self.addr, "GET", "/api/me", headers, b"").await
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn base_config(mode: AuthMode) -> NodeConfig {
    let mut config = NodeConfig::new(mode);
    config.directory_seed = SEED;
    config.users = 1000;
    config.drain_timeout = Duration::from_secs(2);
    config
}

pub fn session_config(redis_url: &str, timeout: Duration) -> NodeConfig {
    let mut config = base_config(AuthMode::Session);
    config.store = Some(RedisStoreConfig {
        url: redis_url.to_owned(),
        timeout,
        rtt: Duration::ZERO,
        client: Default::default(),
        ca_pem: None,
    });
    config
}

pub fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join("keys").join(name)).expect("fixture key")
}

pub fn hs256_config() -> NodeConfig {
    let mut config = base_config(AuthMode::Token);
    config.token = Some(TokenConfig::new(
        Algorithm::HS256,
        vec![TokenKeyConfig {
            kid: "hs-a".into(),
            source: KeySource::Secret(key_file("hs256-a.secret")),
        }],
    ));
    config
}

pub fn rs256_pair(kid: &str, stem: &str) -> TokenKeyConfig {
    TokenKeyConfig {
        kid: kid.into(),
        source: KeySource::Pair {
            private_pem: key_file(&format!("{stem}.key")),
            public_pem: key_file(&format!("{stem}.pub")),
        },
    }
}

/// The `sid=…` pair of a login reply's Set-Cookie, ready for a Cookie header.
pub fn session_cookie(reply: &Reply) -> String {
    let set_cookie = reply.header("set-cookie").expect("a Set-Cookie header");
    set_cookie
        .split(';')
        .next()
        .expect("a cookie pair")
        .to_owned()
}

pub fn bearer(reply: &Reply) -> String {
    let token = reply.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    format!("Bearer {token}")
}
