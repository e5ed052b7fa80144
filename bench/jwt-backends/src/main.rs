//! Which crypto backend should jsonwebtoken use? Measures verify (and sign)
//! per algorithm with aws-lc-rs and with RustCrypto, each in its own
//! process (a process can install only one provider).
//!
//! Run: `cargo run --release -p authscale-jwt-backends`
//!
//! A package of its own: it needs jsonwebtoken's `rust_crypto` feature,
//! which anywhere else would change how the instruction counts' program
//! (`authscale-bench`'s `icount`) and the CLI are built.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

fn key(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/authscale-testkit/fixtures/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Median microseconds per call over 7 batches sized to ~50 ms each.
fn micros_per_op(mut op: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut calibration = 0u32;
    while started.elapsed().as_millis() < 20 {
        op();
        calibration += 1;
    }
    let batch = (calibration as f64 * 2.5).max(10.0) as u32;
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                op();
            }
            t.elapsed().as_secs_f64() * 1e6 / batch as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[3]
}

fn measure(backend: &str) {
    let provider: &'static CryptoProvider = match backend {
        "aws_lc_rs" => &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        "rust_crypto" => &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        other => panic!("unknown backend {other}"),
    };
    provider
        .install_default()
        .expect("first provider of this process");
    let cases = [
        (
            Algorithm::HS256,
            EncodingKey::from_secret(&key("hs256-a.secret")),
            DecodingKey::from_secret(&key("hs256-a.secret")),
        ),
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&key("rs256-a.key")).expect("rsa"),
            DecodingKey::from_rsa_pem(&key("rs256-a.pub")).expect("rsa"),
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&key("es256.key")).expect("ec"),
            DecodingKey::from_ec_pem(&key("es256.pub")).expect("ec"),
        ),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&key("eddsa.key")).expect("ed"),
            DecodingKey::from_ed_pem(&key("eddsa.pub")).expect("ed"),
        ),
    ];
    let claims = claims();
    for (alg, encoding, decoding) in cases {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &encoding).expect("sign");
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let verify = micros_per_op(|| {
            black_box(
                jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).expect("verify"),
            );
        });
        let sign = micros_per_op(|| {
            black_box(jsonwebtoken::encode(&Header::new(alg), &claims, &encoding).expect("sign"));
        });
        println!(
            "{backend:<12} {:<6} {verify:>10.1} {sign:>10.1}",
            format!("{alg:?}")
        );
    }
}

/// Minimal claims: the measurement is of the signature, not the payload.
type Claims = std::collections::BTreeMap<String, u64>;

fn claims() -> Claims {
    Claims::from([
        ("exp".to_owned(), 4_000_000_000u64),
        ("iat".to_owned(), 1_700_000_000),
    ])
}

fn main() {
    if let Some(backend) = std::env::args().nth(1) {
        measure(&backend);
        return;
    }
    println!(
        "{:<12} {:<6} {:>10} {:>10}",
        "backend", "alg", "verify µs", "sign µs"
    );
    let me = std::env::current_exe().expect("own path");
    for backend in ["aws_lc_rs", "rust_crypto"] {
        let status = Command::new(&me)
            .arg(backend)
            .status()
            .expect("run measurement");
        assert!(status.success(), "{backend} measurement failed");
    }
}
