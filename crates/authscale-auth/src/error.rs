//! Errors of the auth crate: why a credential was refused, why the store
//! failed, and why a configuration was rejected at startup.

use std::time::Duration;

/// Why a request's credential was not accepted. Every variant except
/// [`AuthError::Store`] is the client's fault and maps to 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credential was presented")]
    Missing,
    #[error("the credential is malformed")]
    Malformed,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token algorithm is not allowed")]
    BadAlgorithm,
    #[error("the token key id is unknown")]
    UnknownKey,
    #[error("the token type is not an access token")]
    WrongType,
    #[error("the credential has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("a required claim is missing or wrong: {0}")]
    BadClaims(&'static str),
    #[error("the session does not exist or has ended")]
    UnknownSession,
    #[error("the token was revoked")]
    Revoked,
    #[error("the session store is unavailable: {0}")]
    Store(StoreError),
    #[error("the token claims to be issued in the future")]
    IssuedInFuture,
    #[error("the token's lifetime (exp - iat) exceeds the accepted maximum")]
    LifetimeTooLong,
}

impl AuthError {
    /// A short stable label, used in metrics and in 401 bodies.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::BadSignature => "bad_signature",
            AuthError::BadAlgorithm => "bad_algorithm",
            AuthError::UnknownKey => "unknown_key",
            AuthError::WrongType => "wrong_type",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::BadClaims(_) => "bad_claims",
            AuthError::UnknownSession => "unknown_session",
            AuthError::Revoked => "revoked",
            AuthError::Store(_) => "store_unavailable",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::LifetimeTooLong => "lifetime_too_long",
        }
    }
}

/// A store call that did not complete. Always the server's problem, never
/// the client's: it maps to 503 with `Retry-After`. The texts never hold a
/// store password (see [`crate::redact_urls`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The store could not be reached or the connection broke.
    #[error("{0}")]
    Backend(String),
    /// The store answered with an error: out of memory with `noeviction`,
    /// a read-only replica, failed persistence with `stop-writes-on-…`.
    #[error("the store refused the command: {0}")]
    Refused(String),
}

impl StoreError {
    /// A short stable label, for readiness answers and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::Timeout(_) => "store_timeout",
            StoreError::Backend(_) => "store_unreachable",
            StoreError::Refused(_) => "store_refused",
        }
    }
}

/// A configuration refused at startup, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}
