//! The node's token keys and algorithm: `--jwt-alg` as a closed set, the
//! key files behind `--jwt-secret`/`--jwt-key` (bounded in size, a
//! trailing newline dropped), and the token configuration they make.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use authscale_auth::{Algorithm, KeySource, TokenConfig, TokenKeyConfig};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::NodeFileConfig;
use crate::common::dur;

/// The JWT algorithms the node supports (`--jwt-alg`; in a config file as
/// on the command line, the upper-case name or the lower-case one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[value(rename_all = "verbatim")]
#[allow(clippy::upper_case_acronyms)]
pub enum JwtAlg {
    #[serde(alias = "hs256")]
    HS256,
    #[serde(alias = "hs384")]
    HS384,
    #[serde(alias = "hs512")]
    HS512,
    #[serde(alias = "rs256")]
    RS256,
    #[serde(alias = "rs384")]
    RS384,
    #[serde(alias = "rs512")]
    RS512,
    #[serde(alias = "ps256")]
    PS256,
    #[serde(alias = "ps384")]
    PS384,
    #[serde(alias = "ps512")]
    PS512,
    #[serde(alias = "es256")]
    ES256,
    #[serde(alias = "es384")]
    ES384,
    #[serde(alias = "eddsa")]
    EdDSA,
}

impl JwtAlg {
    fn algorithm(self) -> Algorithm {
        match self {
            JwtAlg::HS256 => Algorithm::HS256,
            JwtAlg::HS384 => Algorithm::HS384,
            JwtAlg::HS512 => Algorithm::HS512,
            JwtAlg::RS256 => Algorithm::RS256,
            JwtAlg::RS384 => Algorithm::RS384,
            JwtAlg::RS512 => Algorithm::RS512,
            JwtAlg::PS256 => Algorithm::PS256,
            JwtAlg::PS384 => Algorithm::PS384,
            JwtAlg::PS512 => Algorithm::PS512,
            JwtAlg::ES256 => Algorithm::ES256,
            JwtAlg::ES384 => Algorithm::ES384,
            JwtAlg::EdDSA => Algorithm::EdDSA,
        }
    }

    fn is_hmac(self) -> bool {
        matches!(self, JwtAlg::HS256 | JwtAlg::HS384 | JwtAlg::HS512)
    }
}

pub(super) fn token_config(o: &NodeFileConfig) -> anyhow::Result<TokenConfig> {
    let mut keys = Vec::new();
    for spec in &o.jwt_secret {
        let (kid, path) = split_kid(spec, "--jwt-secret")?;
        keys.push(TokenKeyConfig {
            kid,
            source: KeySource::Secret(read_key(Path::new(path))?),
        });
    }
    for spec in &o.jwt_key {
        let (kid, paths) = split_kid(spec, "--jwt-key")?;
        let (private, public) = paths
            .split_once(',')
            .ok_or_else(|| anyhow!("--jwt-key {spec:?}: expected KID=PRIVATE.pem,PUBLIC.pem"))?;
        keys.push(TokenKeyConfig {
            kid,
            source: KeySource::Pair {
                private_pem: read_key(Path::new(private))?,
                public_pem: read_key(Path::new(public))?,
            },
        });
    }
    for spec in &o.jwt_public_key {
        let (kid, path) = split_kid(spec, "--jwt-public-key")?;
        keys.push(TokenKeyConfig {
            kid,
            source: KeySource::Public(read_key(Path::new(path))?),
        });
    }
    if keys.is_empty() {
        if !o.jwt_alg.is_hmac() {
            bail!(
                "{:?} needs a key: --jwt-key KID=PRIVATE.pem,PUBLIC.pem",
                o.jwt_alg
            );
        }
        // A node on its own can sign and verify with a throwaway key; nodes
        // behind one proxy must share a key, given with --jwt-secret.
        tracing::warn!("no --jwt-secret given: using a random key that only this node knows");
        let mut secret = vec![0u8; 64];
        getrandom::fill(&mut secret).map_err(|e| anyhow!("no OS randomness: {e}"))?;
        keys.push(TokenKeyConfig {
            kid: "ephemeral".into(),
            source: KeySource::Secret(secret),
        });
    }
    // Its range (at most 5s) is checked with the node's other durations.
    let leeway = dur("jwt-leeway", &o.jwt_leeway)?;
    let mut config = TokenConfig::new(o.jwt_alg.algorithm(), keys);
    config.signing_kid = o.jwt_signing_kid.clone();
    config.issuer = o.jwt_issuer.clone();
    config.audience = o.jwt_audience.clone();
    config.ttl = dur("token-ttl", &o.token_ttl)?;
    config.leeway = leeway;
    config.max_lifetime = dur("jwt-max-lifetime", &o.jwt_max_lifetime)?;
    Ok(config)
}

fn split_kid<'a>(spec: &'a str, flag: &str) -> anyhow::Result<(String, &'a str)> {
    let (kid, rest) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("{flag} {spec:?}: expected KID=FILE"))?;
    Ok((kid.to_owned(), rest))
}

/// Reads key material. A secret file's trailing newline (as left by
/// `echo` or an editor) is not part of the key.
fn read_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    // A PEM key is a few KiB; a larger file is a wrong path (/dev/zero, a
    // log), refused before it is read into memory.
    const MAX_KEY_FILE: u64 = 64 * 1024;
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_KEY_FILE,
        "key file {} is larger than {} KiB: not a key",
        path.display(),
        MAX_KEY_FILE / 1024
    );
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_takes_the_algorithm_in_either_case() {
        for (text, alg) in [
            ("jwt-alg = \"HS384\"", JwtAlg::HS384),
            ("jwt-alg = \"hs384\"", JwtAlg::HS384),
            ("jwt-alg = \"eddsa\"", JwtAlg::EdDSA),
        ] {
            let config: NodeFileConfig = toml::from_str(text).expect(text);
            assert_eq!(config.jwt_alg, alg, "{text}");
        }
        assert!(toml::from_str::<NodeFileConfig>("jwt-alg = \"hs999\"").is_err());
    }
}
