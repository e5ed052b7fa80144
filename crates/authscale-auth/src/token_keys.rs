//! The token scheme's keys: what a `kid` names (an HMAC secret, a key pair
//! or a public key), the algorithms accepted, and loading a configured key
//! for its algorithm, refusing short or mismatched keys at startup.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::ConfigError;

/// Key material for one `kid`.
#[derive(Clone)]
pub enum KeySource {
    /// An HMAC secret: signs and verifies.
    Secret(Vec<u8>),
    /// A private and a public PEM key: signs and verifies.
    Pair {
        private_pem: Vec<u8>,
        public_pem: Vec<u8>,
    },
    /// A public PEM key: verifies only (a rotated-out or foreign signer).
    Public(Vec<u8>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            KeySource::Secret(_) => "Secret(..)",
            KeySource::Pair { .. } => "Pair(..)",
            KeySource::Public(_) => "Public(..)",
        })
    }
}

/// One configured key.
#[derive(Debug, Clone)]
pub struct TokenKeyConfig {
    pub kid: String,
    pub source: KeySource,
}

pub(crate) fn check_supported(algorithm: Algorithm) -> Result<(), ConfigError> {
    use Algorithm::*;
    match algorithm {
        HS256 | HS384 | HS512 | RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384
        | EdDSA => Ok(()),
        #[allow(unreachable_patterns)]
        other => Err(invalid(format!("algorithm {other:?} is not supported"))),
    }
}

pub(crate) fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

/// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
pub(crate) fn min_hmac_bytes(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

pub(crate) fn check_kid(kid: &str) -> Result<(), ConfigError> {
    let ok = !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "key id {kid:?} must be 1-64 characters of A-Z a-z 0-9 - _ ."
        )))
    }
}

pub(crate) fn load_key(
    algorithm: Algorithm,
    key: &TokenKeyConfig,
) -> Result<(DecodingKey, Option<EncodingKey>), ConfigError> {
    let kid = &key.kid;
    let bad = |what: &str, e: jsonwebtoken::errors::Error| {
        invalid(format!(
            "key {kid:?}: the {what} is not a valid {algorithm:?} PEM key: {e}"
        ))
    };
    match (&key.source, is_hmac(algorithm)) {
        (KeySource::Secret(secret), true) => {
            let min = min_hmac_bytes(algorithm);
            if secret.len() < min {
                return Err(invalid(format!(
                    "HMAC key {kid:?} is {} bytes; {algorithm:?} needs at least {min} \
                     (generate one with: head -c {min} /dev/urandom > key.secret, \
                     or openssl rand -hex {min} > key.secret)",
                    secret.len()
                )));
            }
            if let Some(why) = crate::hmac_key::weakness(secret) {
                return Err(invalid(format!(
                    "HMAC key {kid:?} {why}; generate one with: \
                     head -c {min} /dev/urandom > key.secret, \
                     or openssl rand -hex {min} > key.secret"
                )));
            }
            Ok((
                DecodingKey::from_secret(secret),
                Some(EncodingKey::from_secret(secret)),
            ))
        }
        (
            KeySource::Pair {
                private_pem,
                public_pem,
            },
            false,
        ) => {
            let encoding =
                encoding_from_pem(algorithm, private_pem).map_err(|e| bad("private key", e))?;
            let decoding =
                decoding_from_pem(algorithm, public_pem).map_err(|e| bad("public key", e))?;
            Ok((decoding, Some(encoding)))
        }
        (KeySource::Public(public_pem), false) => {
            let decoding =
                decoding_from_pem(algorithm, public_pem).map_err(|e| bad("public key", e))?;
            Ok((decoding, None))
        }
        (_, true) => Err(invalid(format!(
            "key {kid:?}: {algorithm:?} takes an HMAC secret, not a PEM key"
        ))),
        (KeySource::Secret(_), false) => Err(invalid(format!(
            "key {kid:?}: {algorithm:?} takes PEM keys, not an HMAC secret"
        ))),
    }
}

pub(crate) fn encoding_from_pem(
    algorithm: Algorithm,
    pem: &[u8],
) -> jsonwebtoken::errors::Result<EncodingKey> {
    match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
}

pub(crate) fn decoding_from_pem(
    algorithm: Algorithm,
    pem: &[u8],
) -> jsonwebtoken::errors::Result<DecodingKey> {
    match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    }
}

pub(crate) fn pick_signer(
    signers: Vec<(String, EncodingKey)>,
    wanted: Option<&str>,
) -> Result<(String, EncodingKey), ConfigError> {
    match wanted {
        Some(kid) => signers.into_iter().find(|(k, _)| k == kid).ok_or_else(|| {
            invalid(format!(
                "the signing key {kid:?} is not configured with a secret or private key"
            ))
        }),
        None => {
            let count = signers.len();
            let mut signers = signers.into_iter();
            match (signers.next(), count) {
                (Some(only), 1) => Ok(only),
                (None, _) => Err(invalid(
                    "no configured key can sign: give a secret or a private key",
                )),
                _ => Err(invalid(
                    "several keys can sign: name the signing one with --jwt-signing-kid",
                )),
            }
        }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}
