//! Token mode: the flow, expiry, key rotation, and a table of JWT attacks
//! (RFC 8725, OWASP JWT cheat sheet, the table in `jwt_attacks`), each
//! answered 401 and never 5xx.

mod common;
mod jwt_attacks;

use std::time::Duration;

use authscale_auth::{Algorithm, KeySource, TokenConfig, TokenKeyConfig};
use authscale_node::AuthMode;
use common::{TestNode, base_config, bearer, hs256_config, key_file, me_then_logout, rs256_pair};
use jwt_attacks::{forge, rotated_config, rsa, valid_claims, valid_header};

#[tokio::test]
async fn jwt_attack_table_is_refused_and_the_valid_token_still_passes() {
    authscale_auth::install_crypto_provider();
    let node = TestNode::start(rotated_config()).await;
    let good = rsa("rs256-b");
    let valid = forge(&valid_header(), &valid_claims(), &good);
    assert_eq!(
        node.me_with(&[("authorization", &format!("Bearer {valid}"))])
            .await
            .status,
        200
    );
    let table = jwt_attacks::table(&valid, &good);
    assert!(table.len() >= 25);
    for (name, reason, token) in &table {
        let reply = node
            .me_with(&[("authorization", &format!("Bearer {token}"))])
            .await;
        assert_eq!(reply.status, 401, "{name}: {} {}", reply.status, reply.body);
        assert_eq!(reply.json()["reason"], *reason, "{name}");
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(challenge.contains("invalid_token"), "{name}: {challenge}");
    }

    // Malformed Authorization headers.
    for header in [
        "Bearer",
        "Bearer ",
        "Bearer  x.y.z",
        "Basic dXNlcjpwdw==",
        "Bearer a b",
        "bearer\tx",
    ] {
        let reply = node.me_with(&[("authorization", header)]).await;
        assert_eq!(reply.status, 401, "{header:?}");
    }

    // An oversized token never reaches the verifier: the head limit answers 431.
    let oversized = format!("Bearer {}", "A".repeat(9 * 1024));
    let reply = node.me_with(&[("authorization", &oversized)]).await;
    assert_eq!(reply.status, 431);

    // After all of that, the valid token still passes.
    let replay = node
        .me_with(&[("authorization", &format!("Bearer {valid}"))])
        .await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.json()["user"], "user1");
}

#[tokio::test]
async fn login_me_logout_and_the_limits_of_token_revocation() {
    let node = TestNode::start(hs256_config()).await;
    let login = node.login(9).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let body = login.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let auth = bearer(&login);

    me_then_logout(&node, &[("authorization", &auth)], "user9").await;
    // The client discards its token; without one the route refuses.
    let after = node.me_with(&[]).await;
    assert_eq!(after.status, 401);
    assert_eq!(
        after.header("www-authenticate"),
        Some(r#"Bearer realm="authscale""#)
    );
    // The token itself stays valid until exp: no shared state, no revocation.
    assert_eq!(node.me_with(&[("authorization", &auth)]).await.status, 200);
    // Logout without a valid token is refused.
    let bad = node.logout_with(&[("authorization", "Bearer x.y.z")]).await;
    assert_eq!(bad.status, 401);
}

#[tokio::test]
async fn tokens_expire() {
    let mut config = hs256_config();
    if let Some(token) = config.token.as_mut() {
        token.ttl = Duration::from_secs(1);
        token.leeway = Duration::ZERO;
    }
    let node = TestNode::start(config).await;
    let auth = bearer(&node.login(1).await);
    assert_eq!(node.me_with(&[("authorization", &auth)]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let reply = node.me_with(&[("authorization", &auth)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "expired");
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_until_the_old_key_is_removed() {
    // Before: rs-old signs.
    let mut before = base_config(AuthMode::Token);
    before.token = Some(TokenConfig::new(
        Algorithm::RS256,
        vec![rs256_pair("rs-old", "rs256-a")],
    ));
    let before = TestNode::start(before).await;
    let old_token = bearer(&before.login(1).await);

    // During: rs-new signs, rs-old still verifies.
    let during = TestNode::start(rotated_config()).await;
    assert_eq!(
        during.me_status(&[("authorization", &old_token)]).await,
        200
    );
    let new_token = bearer(&during.login(2).await);
    assert_eq!(
        during.me_status(&[("authorization", &new_token)]).await,
        200
    );
    let header =
        jsonwebtoken::decode_header(new_token.trim_start_matches("Bearer ")).expect("header");
    assert_eq!(header.kid.as_deref(), Some("rs-new"));
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    // After: rs-old is gone, its tokens are refused.
    let mut after = base_config(AuthMode::Token);
    after.token = Some(TokenConfig::new(
        Algorithm::RS256,
        vec![rs256_pair("rs-new", "rs256-b")],
    ));
    let after = TestNode::start(after).await;
    let reply = after.me_with(&[("authorization", &old_token)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["reason"], "unknown_key");
    assert_eq!(
        after.me_with(&[("authorization", &new_token)]).await.status,
        200
    );
}

#[tokio::test]
async fn es256_and_eddsa_keys_sign_and_verify() {
    for (alg, stem) in [(Algorithm::ES256, "es256"), (Algorithm::EdDSA, "eddsa")] {
        let mut config = base_config(AuthMode::Token);
        config.token = Some(TokenConfig::new(
            alg,
            vec![TokenKeyConfig {
                kid: "k".into(),
                source: KeySource::Pair {
                    private_pem: key_file(&format!("{stem}.key")),
                    public_pem: key_file(&format!("{stem}.pub")),
                },
            }],
        ));
        let node = TestNode::start(config).await;
        let auth = bearer(&node.login(3).await);
        assert_eq!(
            node.me_with(&[("authorization", &auth)]).await.status,
            200,
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn a_node_refuses_to_start_with_a_placeholder_or_low_variety_key() {
    let placeholder = b"REPLACE-ME-WITH-A-RANDOM-48-BYTE-KEY-AUTHSCALE-DEMO-KEY".to_vec();
    let cases = [
        (
            "the deploy/kubernetes placeholder",
            placeholder,
            "placeholder",
        ),
        ("36 x 'a'", vec![b'a'; 36], "sequence repeated"),
    ];
    for (name, secret, expected) in cases {
        let mut config = base_config(AuthMode::Token);
        config.token = Some(TokenConfig::new(
            Algorithm::HS256,
            vec![TokenKeyConfig {
                kid: "k1".into(),
                source: KeySource::Secret(secret),
            }],
        ));
        let error = authscale_node::Node::new(config)
            .map(drop)
            .expect_err(name)
            .to_string();
        assert!(error.contains(expected), "{name}: {error}");
    }
}

#[tokio::test]
async fn the_nodes_own_tokens_fit_the_lifetime_bound() {
    // The fixture keys pass the key checks, and a token at the longest
    // accepted lifetime is issued and verified.
    let mut config = hs256_config();
    if let Some(token) = config.token.as_mut() {
        token.ttl = token.max_lifetime;
    }
    let node = TestNode::start(config).await;
    let auth = bearer(&node.login(2).await);
    assert_eq!(node.me_with(&[("authorization", &auth)]).await.status, 200);

    // A lifetime above the maximum is a configuration error, not a 401 later.
    let mut config = hs256_config();
    if let Some(token) = config.token.as_mut() {
        token.ttl = token.max_lifetime + Duration::from_secs(1);
    }
    let error = authscale_node::Node::new(config)
        .map(drop)
        .expect_err("ttl above the maximum")
        .to_string();
    assert!(error.contains("--jwt-max-lifetime"), "{error}");
}
