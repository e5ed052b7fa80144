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

/// Declares [`Reason`] from one list of `Variant => "label"`: the enum,
/// `ALL` and `as_str` cannot disagree, and the metrics' array is sized
/// from it.
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $label:literal,)*) => {
        /// Why a node refused a request's credential or login: the closed
        /// set of labels in 401/429 bodies and in
        /// `authscale_auth_failures_total`. A new reason is one line in the
        /// list below; the compiler then asks every `match` for it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, in the order of its metric series.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The short stable label.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $label,)*
                }
            }
        }
    };
}

reasons! {
    Missing => "missing",
    Malformed => "malformed",
    BadSignature => "bad_signature",
    BadAlgorithm => "bad_algorithm",
    UnknownKey => "unknown_key",
    WrongType => "wrong_type",
    Expired => "expired",
    NotYetValid => "not_yet_valid",
    BadClaims => "bad_claims",
    UnknownSession => "unknown_session",
    Revoked => "revoked",
    StoreUnavailable => "store_unavailable",
    IssuedInFuture => "issued_in_future",
    LifetimeTooLong => "lifetime_too_long",
    /// Logins locked after too many wrong passwords (429, not 401).
    TooManyFailures => "too_many_failures",
}

impl Reason {
    /// Its place in [`Reason::ALL`] (the declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl AuthError {
    /// Why, as one of the closed set of reasons.
    pub fn kind(&self) -> Reason {
        match self {
            AuthError::Missing => Reason::Missing,
            AuthError::Malformed => Reason::Malformed,
            AuthError::BadSignature => Reason::BadSignature,
            AuthError::BadAlgorithm => Reason::BadAlgorithm,
            AuthError::UnknownKey => Reason::UnknownKey,
            AuthError::WrongType => Reason::WrongType,
            AuthError::Expired => Reason::Expired,
            AuthError::NotYetValid => Reason::NotYetValid,
            AuthError::BadClaims(_) => Reason::BadClaims,
            AuthError::UnknownSession => Reason::UnknownSession,
            AuthError::Revoked => Reason::Revoked,
            AuthError::Store(_) => Reason::StoreUnavailable,
            AuthError::IssuedInFuture => Reason::IssuedInFuture,
            AuthError::LifetimeTooLong => Reason::LifetimeTooLong,
        }
    }

    /// A short stable label, used in metrics and in 401 bodies.
    pub fn reason(&self) -> &'static str {
        self.kind().as_str()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_one_label_and_its_own_place() {
        let labels: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), Reason::ALL.len());
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let store = AuthError::Store(StoreError::Timeout(Duration::from_millis(1)));
        assert_eq!(store.reason(), "store_unavailable");
        assert_eq!(AuthError::BadClaims("aud").kind(), Reason::BadClaims);
    }
}
