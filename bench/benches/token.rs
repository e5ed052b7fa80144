//! Token costs with the project's crypto backend: sign and verify per
//! algorithm, the whole "Authorization header to validated claims" path,
//! and the cost of refusing a forged signature (attackers pay nothing to
//! send those, the node pays a verification).

mod common;

use std::hint::black_box;

use authscale_auth::{Algorithm, bearer_token};
use criterion::{Criterion, criterion_group, criterion_main};

const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

fn sign_and_verify(c: &mut Criterion) {
    let mut sign = c.benchmark_group("token/sign");
    for alg in ALGORITHMS {
        let scheme = common::scheme(alg);
        let user = common::user();
        sign.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| black_box(scheme.issue(&user).expect("sign")))
        });
    }
    sign.finish();

    let mut verify = c.benchmark_group("token/verify");
    for alg in ALGORITHMS {
        let scheme = common::scheme(alg);
        let token = scheme.issue(&common::user()).expect("sign").token;
        verify.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| black_box(scheme.verify(black_box(&token)).expect("valid")))
        });
    }
    verify.finish();

    let mut path = c.benchmark_group("token/header_to_claims");
    for alg in ALGORITHMS {
        let scheme = common::scheme(alg);
        let header = format!(
            "Bearer {}",
            scheme.issue(&common::user()).expect("sign").token
        );
        path.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| {
                let token = bearer_token(Some(black_box(&header))).expect("bearer");
                black_box(scheme.verify(token).expect("valid"))
            })
        });
    }
    path.finish();

    let mut rejected = c.benchmark_group("token/reject_bad_signature");
    for alg in ALGORITHMS {
        let scheme = common::scheme(alg);
        let token = scheme.issue(&common::user()).expect("sign").token;
        // Flip the first signature character: still base64url, no longer valid.
        let (head, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{head}.{flipped}{}", &signature[1..]);
        rejected.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| black_box(scheme.verify(black_box(&forged)).is_err()))
        });
    }
    rejected.finish();
}

criterion_group!(benches, sign_and_verify);
criterion_main!(benches);
