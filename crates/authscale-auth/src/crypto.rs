//! The one place that decides which crypto backend jsonwebtoken uses.
//!
//! jsonwebtoken 11 infers its provider from its two backend features; with
//! neither or both it falls back to a provider that panics on first use.
//! Cargo features are additive, so another crate in the graph enabling
//! `rust_crypto` would silently produce the "both" case. Installing the
//! provider explicitly makes the choice independent of feature unification.

use std::sync::Once;

/// The backend authscale is built and measured with: aws-lc-rs.
/// RS256 verification costs ~30 µs with it versus ~300 µs with rust_crypto.
pub(crate) const BACKEND: &str = "aws_lc_rs";

/// Installs the aws-lc-rs provider as the process default, once.
pub fn ensure_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An Err means a provider was already installed by the embedding
        // program; its choice stands.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}
