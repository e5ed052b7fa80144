//! Token configurations that must be refused at startup, with a message
//! that says what to do, and the ones that must work.

use authscale_auth::{
    Algorithm, ConfigError, Directory, KeySource, TokenConfig, TokenKeyConfig, TokenScheme,
};
use authscale_testkit::fixtures_dir;

fn key(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join("keys").join(name)).expect("fixture key")
}

fn secret(kid: &str, bytes: Vec<u8>) -> TokenKeyConfig {
    TokenKeyConfig {
        kid: kid.into(),
        source: KeySource::Secret(bytes),
    }
}

fn pair(kid: &str, private: &str, public: &str) -> TokenKeyConfig {
    TokenKeyConfig {
        kid: kid.into(),
        source: KeySource::Pair {
            private_pem: key(private),
            public_pem: key(public),
        },
    }
}

fn refused(config: TokenConfig) -> String {
    match TokenScheme::new(config) {
        Err(ConfigError::Invalid(message)) => message,
        Ok(_) => panic!("configuration was accepted"),
    }
}

#[test]
fn short_and_empty_hmac_keys_are_refused() {
    let message = refused(TokenConfig::new(
        Algorithm::HS256,
        vec![secret("k", key("hs256-short.secret"))],
    ));
    assert!(
        message.contains("16 bytes") && message.contains("at least 32"),
        "{message}"
    );
    let message = refused(TokenConfig::new(
        Algorithm::HS256,
        vec![secret("k", Vec::new())],
    ));
    assert!(message.contains("0 bytes"), "{message}");
    // HS512 wants 64 bytes; the 48-byte test secret is too short for it.
    let message = refused(TokenConfig::new(
        Algorithm::HS512,
        vec![secret("k", key("hs256-a.secret"))],
    ));
    assert!(message.contains("at least 64"), "{message}");
}

#[test]
fn key_kinds_must_match_the_algorithm() {
    let message = refused(TokenConfig::new(
        Algorithm::RS256,
        vec![secret("k", key("hs256-a.secret"))],
    ));
    assert!(message.contains("PEM"), "{message}");
    let message = refused(TokenConfig::new(
        Algorithm::HS256,
        vec![pair("k", "rs256-a.key", "rs256-a.pub")],
    ));
    assert!(message.contains("HMAC"), "{message}");
    let message = refused(TokenConfig::new(
        Algorithm::ES256,
        vec![pair("k", "rs256-a.key", "rs256-a.pub")],
    ));
    assert!(message.contains("not a valid ES256"), "{message}");
}

#[test]
fn a_pair_whose_halves_do_not_match_fails_the_startup_self_test() {
    let message = refused(TokenConfig::new(
        Algorithm::RS256,
        vec![pair("k", "rs256-a.key", "rs256-b.pub")],
    ));
    assert!(
        message.contains("does not verify its own token"),
        "{message}"
    );
}

#[test]
fn key_ids_and_signers_must_be_unambiguous() {
    let twice = vec![
        secret("k", key("hs256-a.secret")),
        secret("k", key("hs256-b.secret")),
    ];
    assert!(refused(TokenConfig::new(Algorithm::HS256, twice)).contains("configured twice"));
    let two = vec![
        secret("a", key("hs256-a.secret")),
        secret("b", key("hs256-b.secret")),
    ];
    assert!(refused(TokenConfig::new(Algorithm::HS256, two.clone())).contains("--jwt-signing-kid"));
    let mut named = TokenConfig::new(Algorithm::HS256, two);
    named.signing_kid = Some("b".into());
    assert!(TokenScheme::new(named).is_ok());
    let verify_only = vec![TokenKeyConfig {
        kid: "p".into(),
        source: KeySource::Public(key("rs256-a.pub")),
    }];
    assert!(
        refused(TokenConfig::new(Algorithm::RS256, verify_only))
            .contains("no configured key can sign")
    );
    assert!(refused(TokenConfig::new(Algorithm::HS256, Vec::new())).contains("at least one key"));
    let bad_kid = vec![secret("../etc", key("hs256-a.secret"))];
    assert!(refused(TokenConfig::new(Algorithm::HS256, bad_kid)).contains("key id"));
}

#[test]
fn issued_tokens_carry_the_required_claims_and_verify() {
    let scheme = TokenScheme::new(TokenConfig::new(
        Algorithm::HS256,
        vec![secret("k", key("hs256-a.secret"))],
    ))
    .expect("valid configuration");
    let directory = Directory::new(1, 10);
    let user = directory
        .authenticate("user4", &directory.password(4))
        .expect("user");
    let issued = scheme.issue(&user).expect("issue");
    let claims = scheme.verify(&issued.token).expect("verify");
    assert_eq!(claims.sub, "user4");
    assert_eq!(claims.iss, "authscale");
    assert_eq!(claims.aud, "authscale-api");
    assert!(claims.exp > claims.iat && claims.nbf == Some(claims.iat));
    assert_eq!(claims.jti.len(), 22);
    let other = scheme.issue(&user).expect("issue");
    assert_ne!(other.claims.jti, claims.jti, "every token gets its own jti");
}

/// `openssl rand -hex 32`, as a user makes a key: its trailing newline is
/// dropped on reading, as `authscale node` does. None without openssl.
fn openssl_hex_key() -> Option<Vec<u8>> {
    let output = std::process::Command::new("openssl")
        .args(["rand", "-hex", "32"])
        .output()
        .ok()?;
    assert!(output.status.success(), "openssl rand failed: {output:?}");
    let mut key = output.stdout;
    assert_eq!(key.pop(), Some(b'\n'));
    Some(key)
}

/// Issue 23, item 6.2: a floor of 16 distinct byte values refused about one
/// key in four from `openssl rand -hex 32` (64 characters drawn from 16).
#[test]
fn keys_from_openssl_rand_hex_32_start_a_token_scheme() {
    if openssl_hex_key().is_none() {
        // CI has openssl: there its absence is a failure, not a note.
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl not found, and CI is set"
        );
        eprintln!(
            "NOT RUN: openssl not found; the OS-random hex keys of hmac_key's tests stand in"
        );
        return;
    }
    for round in 0..100 {
        let key = openssl_hex_key().expect("openssl ran before");
        assert_eq!(key.len(), 64);
        let scheme = TokenScheme::new(TokenConfig::new(Algorithm::HS256, vec![secret("k", key)]));
        assert!(scheme.is_ok(), "key {round}: {scheme:?}");
    }
}

#[test]
fn repeated_and_low_variety_keys_are_refused_saying_why() {
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("32 x a", vec![b'a'; 32], "1-character sequence repeated"),
        (
            "abcdefghijklmnop twice",
            b"abcdefghijklmnop".repeat(2),
            "16-character sequence repeated",
        ),
        (
            "two hex digits",
            (0u32..64)
                .map(|i| b'0' + (i.count_ones() % 2) as u8)
                .collect(),
            "only 2 distinct hex characters",
        ),
        (
            "the once-shipped manifest key",
            b"REPLACE-ME-WITH-A-RANDOM-48-BYTE-KEY-AUTHSCALE-DEMO-KEY".to_vec(),
            "published placeholder",
        ),
    ];
    for (name, key, says) in cases {
        let message = refused(TokenConfig::new(Algorithm::HS256, vec![secret("k", key)]));
        assert!(message.contains(says), "{name}: {message}");
        assert!(
            message.contains("openssl rand -hex 32"),
            "{name}: {message}"
        );
    }
}
