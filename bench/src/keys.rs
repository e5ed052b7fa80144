//! The project's test keys, as the benchmarks and the instruction counts
//! load them.

use authscale_auth::{Algorithm, KeySource};

/// The test keys of `alg` as a key source, each file (by its name under
/// `keys/`) read by `key`.
pub fn key_source(alg: Algorithm, key: impl Fn(&str) -> Vec<u8>) -> KeySource {
    match alg {
        Algorithm::HS256 => KeySource::Secret(key("hs256-a.secret")),
        Algorithm::RS256 => KeySource::Pair {
            private_pem: key("rs256-a.key"),
            public_pem: key("rs256-a.pub"),
        },
        Algorithm::ES256 => KeySource::Pair {
            private_pem: key("es256.key"),
            public_pem: key("es256.pub"),
        },
        Algorithm::EdDSA => KeySource::Pair {
            private_pem: key("eddsa.key"),
            public_pem: key("eddsa.pub"),
        },
        other => panic!("no test key for {other:?}"),
    }
}
