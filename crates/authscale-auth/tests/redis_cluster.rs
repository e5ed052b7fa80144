//! Sessions on a real local Redis Cluster (three masters formed by
//! `redis-cli --cluster create`): keys spread over the slots, and the
//! session flow works through the cluster client.

use std::time::Duration;

use authscale_auth::{Directory, RedisStore, RedisStoreConfig, SessionConfig, SessionScheme};
use authscale_testkit::RedisCluster;

#[tokio::test]
async fn sessions_spread_over_a_three_master_cluster() {
    let cluster = RedisCluster::start(3);
    let store = RedisStore::new(&RedisStoreConfig {
        url: cluster.url(),
        timeout: Duration::from_secs(1),
        rtt: Duration::ZERO,
        client: Default::default(),
        ca_pem: None,
    })
    .expect("cluster store");
    let scheme = SessionScheme::new(store, SessionConfig::default());
    let directory = Directory::new(1, 1000);
    let mut cookies = Vec::new();
    for i in 0..60 {
        let user = directory
            .authenticate(&Directory::name(i), &directory.password(i))
            .expect("user");
        let (id, _) = scheme
            .login(&user, None)
            .await
            .expect("login through the cluster");
        cookies.push(format!("sid={}", id.as_str()));
    }
    for (i, cookie) in cookies.iter().enumerate() {
        let record = scheme
            .authenticate(Some(cookie))
            .await
            .expect("lookup through the cluster");
        assert_eq!(record.user, Directory::name(i as u64));
    }
    // Every master holds a share of the 60 sessions and of their 60
    // per-account indexes (one user each here).
    let sizes: Vec<u64> = cluster
        .servers
        .iter()
        .map(|s| s.command(&["DBSIZE"]).parse().expect("count"))
        .collect();
    assert_eq!(sizes.iter().sum::<u64>(), 120, "{sizes:?}");
    assert!(
        sizes.iter().all(|n| *n > 0),
        "keys did not spread over the masters: {sizes:?}"
    );
    scheme.logout(Some(&cookies[0])).await.expect("logout");
    assert!(scheme.authenticate(Some(&cookies[0])).await.is_err());
}
