//! The token scheme: JWT access tokens, verified locally on every node
//! (RFC 8725, OWASP JWT cheat sheet).
//!
//! - the algorithm is pinned by configuration; the token's `alg` header must
//!   equal it, so `none` and HS/RS confusion are refused before any crypto;
//! - `kid` selects among configured keys (rotation: an old key still
//!   verifies, the new one signs); keys are never taken from the token
//!   (`jwk`, `jku`, `x5u` are ignored) and an unknown `kid` is refused;
//! - `typ` must be `at+jwt` (RFC 9068), so other JWTs cannot pass as
//!   access tokens;
//! - `exp`, `iss`, `aud`, `sub` are required, `nbf` is validated, the leeway
//!   is explicit and small; `exp`, `nbf` and `iat` are compared with the
//!   clock to the nanosecond (a token is refused from exp + leeway on, not
//!   a second later);
//! - `iat` may not lie in the future (beyond the leeway) and `exp − iat` may
//!   not exceed a configured maximum, so a leaked key cannot mint tokens
//!   that live for years;
//! - HMAC keys shorter than the hash output, with little variety, or equal
//!   to a published placeholder are refused at startup.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::token_keys::{
    TokenKeyConfig, check_kid, check_supported, invalid, load_key, pick_signer,
};
use crate::{AuthError, ConfigError, User, crypto, unix_now};

pub use jsonwebtoken::Algorithm;

/// The `typ` header of an access token (RFC 9068 §2.1).
const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// How tokens are issued and verified.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The one algorithm tokens may use.
    pub algorithm: Algorithm,
    pub keys: Vec<TokenKeyConfig>,
    /// The key that signs new tokens; defaults to the only signing key.
    pub signing_kid: Option<String>,
    pub issuer: String,
    pub audience: String,
    /// Lifetime of an issued token.
    pub ttl: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The longest lifetime (`exp − iat`) a token may claim; at least `ttl`.
    pub max_lifetime: Duration,
}

impl TokenConfig {
    /// Defaults for everything but the algorithm and keys.
    pub fn new(algorithm: Algorithm, keys: Vec<TokenKeyConfig>) -> TokenConfig {
        TokenConfig {
            algorithm,
            keys,
            signing_kid: None,
            issuer: "authscale".into(),
            audience: "authscale-api".into(),
            ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(2),
            max_lifetime: TokenConfig::DEFAULT_MAX_LIFETIME,
        }
    }

    /// Four times the default token lifetime: room for a longer `--token-ttl`
    /// without accepting tokens that outlive a working day.
    pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);
}

/// The claims of an access token. Strictly typed: `exp` as a string or a
/// claim given twice fails deserialization and the token is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub iat: u64,
    pub jti: String,
}

impl Claims {
    /// The store key that revokes this token: (iss, jti), never the token
    /// itself, so the denylist holds no credential.
    pub fn denylist_key(&self) -> String {
        use base64::Engine;
        let iss = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.iss.as_bytes());
        format!("authscale:deny:{iss}:{}", self.jti)
    }
}

/// A freshly signed token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
    pub claims: Claims,
}

/// Issues and verifies access tokens.
pub struct TokenScheme {
    algorithm: Algorithm,
    leeway: Duration,
    max_lifetime: Duration,
    verifying: HashMap<String, DecodingKey>,
    signing_kid: String,
    signing_key: EncodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl std::fmt::Debug for TokenScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenScheme")
            .field("algorithm", &self.algorithm)
            .field("kids", &self.verifying.keys().collect::<Vec<_>>())
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

impl TokenScheme {
    /// Validates the configuration, loads the keys, and proves them with one
    /// sign-and-verify round trip, so a broken key or crypto backend stops
    /// the node at startup rather than failing its first request.
    pub fn new(config: TokenConfig) -> Result<TokenScheme, ConfigError> {
        crypto::ensure_provider();
        let algorithm = config.algorithm;
        check_supported(algorithm)?;
        if config.keys.is_empty() {
            return Err(invalid("token mode needs at least one key"));
        }
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err(invalid("the token issuer and audience must not be empty"));
        }
        if config.ttl.is_zero() {
            return Err(invalid("the token lifetime must be greater than zero"));
        }
        if config.ttl > config.max_lifetime {
            return Err(invalid(format!(
                "the token lifetime {:?} exceeds the longest accepted lifetime {:?}: \
                 shorten --token-ttl or raise --jwt-max-lifetime",
                config.ttl, config.max_lifetime
            )));
        }
        let mut verifying = HashMap::new();
        let mut signers = Vec::new();
        for key in &config.keys {
            check_kid(&key.kid)?;
            let (decoding, encoding) = load_key(algorithm, key)?;
            if verifying.insert(key.kid.clone(), decoding).is_some() {
                return Err(invalid(format!("key id {:?} is configured twice", key.kid)));
            }
            if let Some(encoding) = encoding {
                signers.push((key.kid.clone(), encoding));
            }
        }
        let (signing_kid, signing_key) = pick_signer(signers, config.signing_kid.as_deref())?;

        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.validate_aud = true;
        // jsonwebtoken compares exp and nbf with the clock in whole seconds
        // (and a whole-second leeway): a token stayed valid up to a second
        // past exp + leeway. `check_times` compares them to the clock to the
        // nanosecond instead.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.reject_tokens_expiring_in_less_than = 0;

        let scheme = TokenScheme {
            algorithm,
            leeway: config.leeway,
            max_lifetime: config.max_lifetime,
            verifying,
            signing_kid,
            signing_key,
            validation,
            issuer: config.issuer,
            audience: config.audience,
            ttl: config.ttl,
        };
        scheme.self_test()?;
        Ok(scheme)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How long a revocation of `claims` must be remembered: until the
    /// token could no longer pass verification anyway.
    pub fn remaining_lifetime(&self, claims: &Claims) -> Duration {
        let until = claims.exp + self.leeway.as_secs() + 1;
        Duration::from_secs(until.saturating_sub(crate::unix_now()).max(1))
    }

    /// The crypto backend jsonwebtoken runs on.
    pub fn backend(&self) -> &'static str {
        crypto::BACKEND
    }

    /// Issues an access token for `user`.
    pub fn issue(&self, user: &User) -> Result<IssuedToken, ConfigError> {
        let now = unix_now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.name.clone(),
            aud: self.audience.clone(),
            exp: now + self.ttl.as_secs(),
            nbf: Some(now),
            iat: now,
            jti: crate::SessionId::generate().as_str().to_owned(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.signing_kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing_key).map_err(|e| {
            invalid(format!(
                "signing with key {:?} failed: {e}",
                self.signing_kid
            ))
        })?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl.as_secs(),
            claims,
        })
    }

    /// Verifies an access token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.split('.').count() != 3 {
            return Err(AuthError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != self.algorithm {
            return Err(AuthError::BadAlgorithm);
        }
        if !header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(AuthError::WrongType);
        }
        // No extension is understood, so any critical one must be refused
        // (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(AuthError::UnknownKey)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(map_error)?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.jti.is_empty() {
            return Err(AuthError::BadClaims("sub and jti must not be empty"));
        }
        check_times(&claims, unix_time(), self.leeway)?;
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime.as_secs() {
            return Err(AuthError::LifetimeTooLong);
        }
        Ok(claims)
    }

    fn self_test(&self) -> Result<(), ConfigError> {
        let probe = User {
            index: 0,
            name: "self-test".into(),
        };
        let issued = self.issue(&probe)?;
        self.verify(&issued.token).map(drop).map_err(|e| {
            invalid(format!(
                "the signing key {:?} does not verify its own token ({e}); \
                 does its public key match its private key?",
                self.signing_kid
            ))
        })
    }
}

/// The clock since the Unix epoch, to the nanosecond.
fn unix_time() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The token's times against the clock `now`, each within `leeway`: expired
/// from `exp` + leeway on (RFC 7519 §4.1.4: valid only before exp), not yet
/// valid before `nbf` − leeway, and not issued after now + leeway.
fn check_times(claims: &Claims, now: Duration, leeway: Duration) -> Result<(), AuthError> {
    let at = Duration::from_secs;
    if now >= at(claims.exp).saturating_add(leeway) {
        return Err(AuthError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| at(nbf) > now + leeway) {
        return Err(AuthError::NotYetValid);
    }
    if at(claims.iat) > now + leeway {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(())
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1).
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    let token68 = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    if token.is_empty() || !token.bytes().all(token68) {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

fn map_error(e: jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::BadClaims("iss"),
        ErrorKind::InvalidAudience => AuthError::BadClaims("aud"),
        ErrorKind::InvalidSubject => AuthError::BadClaims("sub"),
        ErrorKind::MissingRequiredClaim(_) => AuthError::BadClaims("a required claim is missing"),
        ErrorKind::InvalidClaimFormat(_) => AuthError::BadClaims("a claim has the wrong type"),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::BadAlgorithm,
        // Valid JSON that does not fit the claims (a missing, mistyped or
        // repeated claim) versus a payload that is not JSON at all.
        ErrorKind::Json(e) if e.is_data() => {
            AuthError::BadClaims("the claims do not have the required names and types")
        }
        _ => AuthError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: u64, nbf: Option<u64>, exp: u64) -> Claims {
        Claims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp,
            nbf,
            iat,
            jti: "j".into(),
        }
    }

    #[test]
    fn exp_is_compared_with_the_clock_below_the_second() {
        let c = claims(1_000, Some(1_000), 1_060);
        let leeway = Duration::from_secs(2);
        let at = |s: u64, ms: u64| Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(check_times(&c, at(1_061, 999), leeway), Ok(()));
        // 1 ms, then 300 ms, past exp + leeway: whole seconds said 1062 and
        // let both through.
        assert_eq!(
            check_times(&c, at(1_062, 0), leeway),
            Err(AuthError::Expired)
        );
        assert_eq!(
            check_times(&c, at(1_062, 300), leeway),
            Err(AuthError::Expired)
        );
        let half = Duration::from_millis(500);
        assert_eq!(check_times(&c, at(1_060, 499), half), Ok(()));
        assert_eq!(
            check_times(&c, at(1_060, 500), half),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn nbf_and_iat_allow_the_leeway_and_no_more() {
        let c = claims(1_000, Some(1_000), 1_060);
        let leeway = Duration::from_millis(500);
        let at = |ms: u64| Duration::from_millis(ms);
        assert_eq!(check_times(&c, at(999_500), leeway), Ok(()));
        assert_eq!(
            check_times(&c, at(999_499), leeway),
            Err(AuthError::NotYetValid)
        );
        let no_nbf = claims(1_000, None, 1_060);
        assert_eq!(
            check_times(&no_nbf, at(999_499), leeway),
            Err(AuthError::IssuedInFuture)
        );
    }
}
