//! Token mode: the flow, expiry, key rotation, and a table of JWT attacks
//! (RFC 8725, OWASP JWT cheat sheet), each answered 401 and never 5xx.

mod common;

use std::time::Duration;

use authscale_auth::{Algorithm, KeySource, TokenConfig, TokenKeyConfig, unix_now};
use authscale_node::{AuthMode, NodeConfig};
use authscale_testkit::request;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TestNode, base_config, bearer, hs256_config, key_file, rs256_pair};
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token from arbitrary header and payload bytes, signed as told.
fn assemble(header: &[u8], payload: &[u8], sign: &Signer) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = match sign {
        Signer::Key(key, alg) => {
            jsonwebtoken::crypto::sign(message.as_bytes(), key, *alg).expect("sign")
        }
        Signer::Empty => String::new(),
    };
    format!("{message}.{signature}")
}

fn forge(header: &Value, claims: &Value, sign: &Signer) -> String {
    assemble(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        sign,
    )
}

enum Signer {
    Key(EncodingKey, Algorithm),
    Empty,
}

fn rsa(stem: &str) -> Signer {
    let pem = key_file(&format!("{stem}.key"));
    Signer::Key(
        EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
        Algorithm::RS256,
    )
}

/// The rotated configuration: `rs-new` signs, `rs-old` still verifies.
fn rotated_config() -> NodeConfig {
    let mut config = base_config(AuthMode::Token);
    let mut token = TokenConfig::new(
        Algorithm::RS256,
        vec![
            rs256_pair("rs-new", "rs256-b"),
            TokenKeyConfig {
                kid: "rs-old".into(),
                source: KeySource::Public(key_file("rs256-a.pub")),
            },
        ],
    );
    token.signing_kid = Some("rs-new".into());
    config.token = Some(token);
    config
}

fn valid_header() -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": "rs-new"})
}

fn valid_claims() -> Value {
    let now = unix_now();
    json!({
        "iss": "authscale", "aud": "authscale-api", "sub": "user1",
        "exp": now + 600, "nbf": now, "iat": now, "jti": "jti-1",
    })
}

fn with(mut value: Value, key: &str, field: Value) -> Value {
    value[key] = field;
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().expect("object").remove(key);
    value
}

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

    let public_pem = key_file("rs256-b.pub");
    let hs_with_public = Signer::Key(EncodingKey::from_secret(&public_pem), Algorithm::HS256);
    let es_key = Signer::Key(
        EncodingKey::from_ec_pem(&key_file("es256.key")).expect("ec"),
        Algorithm::ES256,
    );
    let rs512 = Signer::Key(
        EncodingKey::from_rsa_pem(&key_file("rs256-b.key")).expect("rsa"),
        Algorithm::RS512,
    );
    let attacker = rsa("rs256-c");
    let now = unix_now();
    let mut tampered_parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    tampered_parts[1] = b64(with(valid_claims(), "sub", json!("admin"))
        .to_string()
        .as_bytes());
    let tampered = tampered_parts.join(".");
    let (head_payload, _) = valid.rsplit_once('.').expect("three parts");
    let duplicate_claims = format!(
        r#"{{"iss":"authscale","aud":"authscale-api","sub":"user1","exp":{},"nbf":{now},"iat":{now},"jti":"j","sub":"admin"}}"#,
        now + 600
    );
    let attacker_jwk = json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "rs-new"});

    let table: Vec<(&str, &str, String)> = vec![
        (
            "alg none",
            "malformed",
            forge(
                &with(valid_header(), "alg", json!("none")),
                &valid_claims(),
                &Signer::Empty,
            ),
        ),
        (
            "alg None",
            "malformed",
            forge(
                &with(valid_header(), "alg", json!("None")),
                &valid_claims(),
                &Signer::Empty,
            ),
        ),
        (
            "alg NONE",
            "malformed",
            forge(
                &with(valid_header(), "alg", json!("NONE")),
                &valid_claims(),
                &Signer::Empty,
            ),
        ),
        (
            "stripped signature",
            "bad_signature",
            format!("{head_payload}."),
        ),
        (
            "empty signature, alg kept",
            "bad_signature",
            forge(&valid_header(), &valid_claims(), &Signer::Empty),
        ),
        ("two parts", "malformed", head_payload.to_owned()),
        ("four parts", "malformed", format!("{valid}.AAAA")),
        ("tampered payload", "bad_signature", tampered),
        (
            "HS256 signed with the RSA public key",
            "bad_algorithm",
            forge(
                &with(valid_header(), "alg", json!("HS256")),
                &valid_claims(),
                &hs_with_public,
            ),
        ),
        (
            "RS512 outside the allow-list",
            "bad_algorithm",
            forge(
                &with(valid_header(), "alg", json!("RS512")),
                &valid_claims(),
                &rs512,
            ),
        ),
        (
            "ES256 outside the allow-list",
            "bad_algorithm",
            forge(
                &with(valid_header(), "alg", json!("ES256")),
                &valid_claims(),
                &es_key,
            ),
        ),
        (
            "expired beyond leeway",
            "expired",
            forge(
                &valid_header(),
                &with(valid_claims(), "exp", json!(now - 60)),
                &good,
            ),
        ),
        (
            "exp in the year 9999",
            "lifetime_too_long",
            forge(
                &valid_header(),
                &with(valid_claims(), "exp", json!(253_402_300_799u64)),
                &good,
            ),
        ),
        (
            "lifetime just over the maximum",
            "lifetime_too_long",
            forge(
                &valid_header(),
                &with(
                    valid_claims(),
                    "exp",
                    json!(now + TokenConfig::DEFAULT_MAX_LIFETIME.as_secs() + 1),
                ),
                &good,
            ),
        ),
        (
            "iat in the future beyond the leeway",
            "issued_in_future",
            forge(
                &valid_header(),
                &with(valid_claims(), "iat", json!(now + 300)),
                &good,
            ),
        ),
        (
            "exp missing",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "exp"), &good),
        ),
        (
            "exp as a string",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "exp", json!((now + 600).to_string())),
                &good,
            ),
        ),
        (
            "nbf as a string",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "nbf", json!(now.to_string())),
                &good,
            ),
        ),
        (
            "nbf in the future",
            "not_yet_valid",
            forge(
                &valid_header(),
                &with(valid_claims(), "nbf", json!(now + 600)),
                &good,
            ),
        ),
        (
            "wrong iss",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "iss", json!("evil")),
                &good,
            ),
        ),
        (
            "missing iss",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "iss"), &good),
        ),
        (
            "wrong aud",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "aud", json!("other-api")),
                &good,
            ),
        ),
        (
            "missing aud",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "aud"), &good),
        ),
        (
            "missing sub",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "sub"), &good),
        ),
        (
            "empty sub",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "sub", json!("")),
                &good,
            ),
        ),
        (
            "typ JWT instead of at+jwt",
            "wrong_type",
            forge(
                &with(valid_header(), "typ", json!("JWT")),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "typ of a refresh token",
            "wrong_type",
            forge(
                &with(valid_header(), "typ", json!("refresh+jwt")),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "typ missing",
            "wrong_type",
            forge(&without(valid_header(), "typ"), &valid_claims(), &good),
        ),
        (
            "unknown kid",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("nope")),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "kid missing",
            "unknown_key",
            forge(&without(valid_header(), "kid"), &valid_claims(), &good),
        ),
        (
            "kid path traversal",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("../../../../dev/null")),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "kid SQL injection",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("rs-new' OR '1'='1")),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "kid with NUL",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("rs-new\u{0}")),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "jwk header injection",
            "bad_signature",
            forge(
                &with(valid_header(), "jwk", attacker_jwk),
                &valid_claims(),
                &attacker,
            ),
        ),
        (
            "jku header injection",
            "bad_signature",
            forge(
                &with(valid_header(), "jku", json!("http://127.0.0.1:9/keys.json")),
                &valid_claims(),
                &attacker,
            ),
        ),
        (
            "x5u header injection",
            "bad_signature",
            forge(
                &with(valid_header(), "x5u", json!("http://127.0.0.1:9/cert.pem")),
                &valid_claims(),
                &attacker,
            ),
        ),
        (
            "crit header",
            "malformed",
            forge(
                &with(valid_header(), "crit", json!(["exp"])),
                &valid_claims(),
                &good,
            ),
        ),
        (
            "non-base64url segments",
            "malformed",
            "!!!.@@@.###".to_owned(),
        ),
        (
            "non-JSON payload",
            "malformed",
            assemble(
                valid_header().to_string().as_bytes(),
                b"not json at all",
                &good,
            ),
        ),
        (
            "non-JSON header",
            "malformed",
            assemble(b"{alg: RS256", valid_claims().to_string().as_bytes(), &good),
        ),
        (
            "duplicate claims",
            "bad_claims",
            assemble(
                valid_header().to_string().as_bytes(),
                duplicate_claims.as_bytes(),
                &good,
            ),
        ),
        (
            "rotated-out key",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("rs-retired")),
                &valid_claims(),
                &attacker,
            ),
        ),
        (
            "old key's signature under the new kid",
            "bad_signature",
            forge(&valid_header(), &valid_claims(), &rsa("rs256-a")),
        ),
        (
            "attacker's key under a trusted kid",
            "bad_signature",
            forge(&valid_header(), &valid_claims(), &attacker),
        ),
    ];
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

    let me = node.me_with(&[("authorization", &auth)]).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user"], "user9");

    let logout = request(
        node.addr,
        "POST",
        "/logout",
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(logout.status, 204);
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
    let bad = request(
        node.addr,
        "POST",
        "/logout",
        &[("authorization", "Bearer x.y.z")],
        b"",
    )
    .await;
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
        during
            .me_with(&[("authorization", &old_token)])
            .await
            .status,
        200
    );
    let new_token = bearer(&during.login(2).await);
    assert_eq!(
        during
            .me_with(&[("authorization", &new_token)])
            .await
            .status,
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
        ("36 x 'a'", vec![b'a'; 36], "distinct byte values"),
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
