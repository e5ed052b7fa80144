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
use authscale_testkit::{RedisServer, Reply, fixtures_dir, request};
#[allow(unused_imports)] // each test uses what it needs
pub use authscale_testkit::{bearer, session_cookie};
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
        authscale_testkit::login(self.addr, &format!("user{user}"), &password).await
    }

    pub async fn me_with(&self, headers: &[(&str, &str)]) -> Reply {
        request(self.addr, "GET", "/api/me", headers, b"").await
    }

    /// The status of `/api/me` with `headers`.
    pub async fn me_status(&self, headers: &[(&str, &str)]) -> u16 {
        self.me_with(headers).await.status
    }

    /// `POST /logout` with `headers`.
    pub async fn logout_with(&self, headers: &[(&str, &str)]) -> Reply {
        request(self.addr, "POST", "/logout", headers, b"").await
    }
}

/// A session node whose store is `redis`, its store calls timed out after
/// 100 ms.
pub async fn session_node(redis: &RedisServer) -> TestNode {
    TestNode::start(session_config(&redis.url(), Duration::from_millis(100))).await
}

/// Asserts that three protected requests with `cookie` while the store is
/// down are each answered 503 with `Retry-After: 1`, within a generous
/// 10 s (a loaded machine is slower, not wrong): never a hang.
pub async fn assert_503s_while_the_store_is_down(node: &TestNode, cookie: &str) {
    for _ in 0..3 {
        let reply =
            tokio::time::timeout(Duration::from_secs(10), node.me_with(&[("cookie", cookie)]))
                .await
                .expect("answered while the store is down, not hung");
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
}

/// Logs `user` in on the session `node` and asserts that its session is
/// accepted; the session cookie.
pub async fn logged_in(node: &TestNode, user: u64) -> String {
    let cookie = session_cookie(&node.login(user).await);
    assert_eq!(node.me_status(&[("cookie", &cookie)]).await, 200);
    cookie
}

/// A store, a session node on it (see [`session_node`]) and `user`'s
/// accepted session there (see [`logged_in`]): the store, the node and the
/// session cookie.
pub async fn session_setup(user: u64) -> (RedisServer, TestNode, String) {
    let redis = RedisServer::start();
    let node = session_node(&redis).await;
    let cookie = logged_in(&node, user).await;
    (redis, node, cookie)
}

/// Asserts that `/api/me` with `headers` is answered 200 for `user`, then
/// logs out with them and asserts 204; the logout's reply.
pub async fn me_then_logout(node: &TestNode, headers: &[(&str, &str)], user: &str) -> Reply {
    let me = node.me_with(headers).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user"], user);
    let logout = node.logout_with(headers).await;
    assert_eq!(logout.status, 204);
    logout
}

/// Asserts that `n` protected requests with `headers` are each answered
/// 200.
pub async fn assert_me_n_times(node: &TestNode, headers: &[(&str, &str)], n: u64) {
    for _ in 0..n {
        assert_eq!(node.me_status(headers).await, 200);
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
