//! The JWT attack table (RFC 8725, OWASP JWT cheat sheet): tokens forged
//! against the rotated configuration, each with the reason a node gives
//! for refusing it.

use authscale_auth::{Algorithm, KeySource, TokenConfig, TokenKeyConfig, unix_now};
use authscale_node::{AuthMode, NodeConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

use crate::common::{base_config, key_file, rs256_pair};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token from arbitrary header and payload bytes, signed as told.
pub fn assemble(header: &[u8], payload: &[u8], sign: &Signer) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = match sign {
        Signer::Key(key, alg) => {
            jsonwebtoken::crypto::sign(message.as_bytes(), key, *alg).expect("sign")
        }
        Signer::Empty => String::new(),
    };
    format!("{message}.{signature}")
}

pub fn forge(header: &Value, claims: &Value, sign: &Signer) -> String {
    assemble(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        sign,
    )
}

pub enum Signer {
    Key(EncodingKey, Algorithm),
    Empty,
}

pub fn rsa(stem: &str) -> Signer {
    let pem = key_file(&format!("{stem}.key"));
    Signer::Key(
        EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
        Algorithm::RS256,
    )
}

/// The rotated configuration: `rs-new` signs, `rs-old` still verifies.
pub fn rotated_config() -> NodeConfig {
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

pub fn valid_header() -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": "rs-new"})
}

pub fn valid_claims() -> Value {
    let now = unix_now();
    json!({
        "iss": "authscale", "aud": "authscale-api", "sub": "user1",
        "exp": now + 600, "nbf": now, "iat": now, "jti": "jti-1",
    })
}

pub fn with(mut value: Value, key: &str, field: Value) -> Value {
    value[key] = field;
    value
}

pub fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().expect("object").remove(key);
    value
}

/// Every attack on `valid`, a token that `good` (the signing key of
/// `rotated_config`) signed: (name, the refusal's reason, the forged token).
pub fn table(valid: &str, good: &Signer) -> Vec<(&'static str, &'static str, String)> {
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

    vec![
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
                good,
            ),
        ),
        (
            "exp in the year 9999",
            "lifetime_too_long",
            forge(
                &valid_header(),
                &with(valid_claims(), "exp", json!(253_402_300_799u64)),
                good,
            ),
        ),
        ("lifetime just over the maximum", "lifetime_too_long", {
            // exp is set from this token's own iat: a clock second passing
            // between two reads of the time must not shorten the lifetime.
            let claims = valid_claims();
            let iat = claims["iat"].as_u64().expect("iat");
            let exp = iat + TokenConfig::DEFAULT_MAX_LIFETIME.as_secs() + 1;
            forge(&valid_header(), &with(claims, "exp", json!(exp)), good)
        }),
        (
            "iat in the future beyond the leeway",
            "issued_in_future",
            forge(
                &valid_header(),
                &with(valid_claims(), "iat", json!(now + 300)),
                good,
            ),
        ),
        (
            "exp missing",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "exp"), good),
        ),
        (
            "exp as a string",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "exp", json!((now + 600).to_string())),
                good,
            ),
        ),
        (
            "nbf as a string",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "nbf", json!(now.to_string())),
                good,
            ),
        ),
        (
            "nbf in the future",
            "not_yet_valid",
            forge(
                &valid_header(),
                &with(valid_claims(), "nbf", json!(now + 600)),
                good,
            ),
        ),
        (
            "wrong iss",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "iss", json!("evil")),
                good,
            ),
        ),
        (
            "missing iss",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "iss"), good),
        ),
        (
            "wrong aud",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "aud", json!("other-api")),
                good,
            ),
        ),
        (
            "missing aud",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "aud"), good),
        ),
        (
            "missing sub",
            "bad_claims",
            forge(&valid_header(), &without(valid_claims(), "sub"), good),
        ),
        (
            "empty sub",
            "bad_claims",
            forge(
                &valid_header(),
                &with(valid_claims(), "sub", json!("")),
                good,
            ),
        ),
        (
            "typ JWT instead of at+jwt",
            "wrong_type",
            forge(
                &with(valid_header(), "typ", json!("JWT")),
                &valid_claims(),
                good,
            ),
        ),
        (
            "typ of a refresh token",
            "wrong_type",
            forge(
                &with(valid_header(), "typ", json!("refresh+jwt")),
                &valid_claims(),
                good,
            ),
        ),
        (
            "typ missing",
            "wrong_type",
            forge(&without(valid_header(), "typ"), &valid_claims(), good),
        ),
        (
            "unknown kid",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("nope")),
                &valid_claims(),
                good,
            ),
        ),
        (
            "kid missing",
            "unknown_key",
            forge(&without(valid_header(), "kid"), &valid_claims(), good),
        ),
        (
            "kid path traversal",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("../../../../dev/null")),
                &valid_claims(),
                good,
            ),
        ),
        (
            "kid SQL injection",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("rs-new' OR '1'='1")),
                &valid_claims(),
                good,
            ),
        ),
        (
            "kid with NUL",
            "unknown_key",
            forge(
                &with(valid_header(), "kid", json!("rs-new\u{0}")),
                &valid_claims(),
                good,
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
                good,
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
                good,
            ),
        ),
        (
            "non-JSON header",
            "malformed",
            assemble(b"{alg: RS256", valid_claims().to_string().as_bytes(), good),
        ),
        (
            "duplicate claims",
            "bad_claims",
            assemble(
                valid_header().to_string().as_bytes(),
                duplicate_claims.as_bytes(),
                good,
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
    ]
}
