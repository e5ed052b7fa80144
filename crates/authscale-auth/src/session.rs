//! The session scheme: opaque random ids in a cookie, records in the shared
//! store (OWASP session management cheat sheet).
//!
//! - ids are 128 bits from the OS CSPRNG, base64url, with no meaning inside;
//! - every login mints a fresh id, so a client-chosen id is never adopted
//!   (no fixation);
//! - the idle timeout is the store TTL (optionally refreshed on use), the
//!   absolute lifetime is stored in the record and checked on every use;
//! - logout deletes the record, so revocation is immediate; so does a login
//!   that presents a session cookie (the old session is replaced, not kept);
//! - the store key is a SHA-256 of the id, never the id, so a dump of the
//!   store lists no usable session;
//! - each account holds at most `max_per_account` sessions: a per-account
//!   index (creation time → store key) is updated at login and logout only,
//!   never on the protected path, and the oldest session beyond the cap is
//!   deleted. The index lives as long as the longest session in it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::{AuthError, IndexEntry, SessionStore, StoreError, User, unix_now};

const KEY_PREFIX: &str = "authscale:sess:";
const INDEX_PREFIX: &str = "authscale:user-sessions:";
const ID_BYTES: usize = 16;
/// base64url without padding of 16 bytes.
const ID_CHARS: usize = 22;

/// How sessions behave.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Idle timeout: the record's TTL in the store.
    pub idle_ttl: Duration,
    /// Absolute lifetime from login, whatever the activity.
    pub absolute_ttl: Duration,
    /// Reset the idle timeout on every authenticated request (GETEX instead
    /// of GET: still one store call).
    pub sliding: bool,
    /// Mark the cookie `Secure` and use the `__Host-` name prefix. Off by
    /// default because the experiment runs over plain-http loopback, where
    /// clients drop `Secure` cookies.
    pub secure_cookie: bool,
    /// Live sessions one account may hold; a login beyond it ends the
    /// account's oldest session. At least 1.
    pub max_per_account: usize,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            idle_ttl: Duration::from_secs(30 * 60),
            absolute_ttl: Duration::from_secs(8 * 3600),
            sliding: false,
            secure_cookie: false,
            max_per_account: SessionConfig::DEFAULT_MAX_PER_ACCOUNT,
        }
    }
}

impl SessionConfig {
    /// Far above what one person uses at once (a browser per device), and
    /// above the one session at a time a load-generator user holds.
    pub const DEFAULT_MAX_PER_ACCOUNT: usize = 16;

    /// How long a session can live from its creation: the TTL of the
    /// per-account index, refreshed at every login.
    fn longest_life(&self) -> Duration {
        if self.sliding {
            self.absolute_ttl
        } else {
            self.idle_ttl.min(self.absolute_ttl)
        }
    }
}

/// A well-formed session id (22 base64url characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> SessionId {
        let mut bytes = [0u8; ID_BYTES];
        // getrandom only fails when the OS has no entropy source at all, in
        // which case no secure session can be issued: stop loudly.
        getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
        SessionId(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only the exact shape `generate` produces, so garbage never
    /// reaches the store.
    pub fn parse(raw: &str) -> Option<SessionId> {
        let well_formed = raw.len() == ID_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| SessionId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store key: a SHA-256 of the id, so whoever reads the store (a
    /// dump, `KEYS *`, a replica) learns no usable session id.
    pub fn store_key(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(digest))
    }
}

/// What the store keeps for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    /// Login time, Unix seconds.
    pub created: u64,
    /// End of the absolute lifetime, Unix seconds.
    pub expires: u64,
}

impl SessionRecord {
    /// A compact tab-separated encoding: cheaper than JSON on the hot path
    /// and unambiguous because user names never contain tabs.
    pub fn encode(&self) -> String {
        format!("v1\t{}\t{}\t{}", self.user, self.created, self.expires)
    }

    pub fn decode(raw: &str) -> Option<SessionRecord> {
        let mut fields = raw.split('\t');
        if fields.next()? != "v1" {
            return None;
        }
        let user = fields.next()?.to_owned();
        let created = fields.next()?.parse().ok()?;
        let expires = fields.next()?.parse().ok()?;
        if fields.next().is_some() || user.is_empty() {
            return None;
        }
        Some(SessionRecord {
            user,
            created,
            expires,
        })
    }
}

/// The store key of `user`'s session index.
fn index_key(user: &str) -> String {
    format!("{INDEX_PREFIX}{}", URL_SAFE_NO_PAD.encode(user.as_bytes()))
}

/// Microseconds since the Unix epoch: orders logins within one second.
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn parse_cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.trim_matches('"'))
    })
}

/// Session authentication over a store.
#[derive(Debug)]
pub struct SessionScheme<S> {
    store: S,
    config: SessionConfig,
    cookie_name: &'static str,
}

impl<S: SessionStore> SessionScheme<S> {
    pub fn new(store: S, config: SessionConfig) -> SessionScheme<S> {
        let cookie_name = if config.secure_cookie {
            "__Host-sid"
        } else {
            "sid"
        };
        SessionScheme {
            store,
            config,
            cookie_name,
        }
    }

    pub fn cookie_name(&self) -> &'static str {
        self.cookie_name
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Starts a session for `user` under a fresh id; returns the id and the
    /// `Set-Cookie` header value. A session named by `cookie_header` (the
    /// client's previous one) is ended first. Store calls: the record and
    /// the account index together, plus the deletions this causes.
    pub async fn login(
        &self,
        user: &User,
        cookie_header: Option<&str>,
    ) -> Result<(SessionId, String), StoreError> {
        if let Ok(old) = self.session_id(cookie_header) {
            self.end(&old.store_key()).await?;
        }
        let id = SessionId::generate();
        let now = unix_now();
        let record = SessionRecord {
            user: user.name.clone(),
            created: now,
            expires: now + self.config.absolute_ttl.as_secs(),
        };
        let ttl = self.config.idle_ttl.min(self.config.absolute_ttl);
        let key = id.store_key();
        let encoded = record.encode();
        let index = index_key(&user.name);
        let (stored, evicted) = tokio::join!(
            self.store.put(&key, &encoded, ttl),
            self.store.index_add(IndexEntry {
                index: &index,
                member: &key,
                score: unix_micros(),
                keep: self.config.max_per_account.max(1),
                ttl: self.config.longest_life(),
            })
        );
        stored?;
        for old in evicted? {
            self.store.delete(&old).await?;
        }
        let cookie = self.set_cookie(&id, ttl);
        Ok((id, cookie))
    }

    /// Authenticates a request from its `Cookie` header: exactly one store
    /// call for a well-formed id, none for a malformed one.
    pub async fn authenticate(
        &self,
        cookie_header: Option<&str>,
    ) -> Result<SessionRecord, AuthError> {
        let id = self.session_id(cookie_header)?;
        let refresh = self.config.sliding.then_some(self.config.idle_ttl);
        let raw = self
            .store
            .get(&id.store_key(), refresh)
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::UnknownSession)?;
        let record = SessionRecord::decode(&raw).ok_or(AuthError::UnknownSession)?;
        if record.expires <= unix_now() {
            return Err(AuthError::Expired);
        }
        Ok(record)
    }

    /// Ends the session named by the `Cookie` header. Returns the header
    /// value that clears the cookie on the client.
    pub async fn logout(&self, cookie_header: Option<&str>) -> Result<String, AuthError> {
        let id = self.session_id(cookie_header)?;
        let existed = self.end(&id.store_key()).await.map_err(AuthError::Store)?;
        if !existed {
            return Err(AuthError::UnknownSession);
        }
        Ok(self.clear_cookie())
    }

    /// Deletes a session and its entry in its account's index; false when
    /// there was no such session.
    async fn end(&self, key: &str) -> Result<bool, StoreError> {
        let Some(raw) = self.store.take(key).await? else {
            return Ok(false);
        };
        if let Some(record) = SessionRecord::decode(&raw) {
            self.store
                .index_remove(&index_key(&record.user), key)
                .await?;
        }
        Ok(true)
    }

    fn session_id(&self, cookie_header: Option<&str>) -> Result<SessionId, AuthError> {
        let raw = cookie_header
            .and_then(|h| parse_cookie(h, self.cookie_name))
            .ok_or(AuthError::Missing)?;
        SessionId::parse(raw).ok_or(AuthError::Malformed)
    }

    fn set_cookie(&self, id: &SessionId, ttl: Duration) -> String {
        let secure = if self.config.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name,
            id.as_str(),
            ttl.as_secs()
        )
    }

    fn clear_cookie(&self) -> String {
        let secure = if self.config.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ID_CHARS);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn the_store_key_does_not_contain_the_id() {
        let id = SessionId::generate();
        let key = id.store_key();
        assert!(key.starts_with(KEY_PREFIX));
        assert!(!key.contains(id.as_str()), "{key}");
        assert_eq!(key, id.store_key(), "the key is a function of the id");
        assert_ne!(key, SessionId::generate().store_key());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [
            "",
            "short",
            "../../etc/passwd/aaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaa*",
            &"a".repeat(23),
        ] {
            assert_eq!(SessionId::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let r = SessionRecord {
            user: "user1".into(),
            created: 10,
            expires: 20,
        };
        assert_eq!(SessionRecord::decode(&r.encode()), Some(r));
        for raw in [
            "",
            "v2\tuser1\t1\t2",
            "v1\tuser1\t1",
            "v1\tuser1\tx\t2",
            "v1\t\t1\t2",
            "v1\tu\t1\t2\t3",
        ] {
            assert_eq!(SessionRecord::decode(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn cookie_parsing_finds_the_named_cookie_only() {
        assert_eq!(parse_cookie("a=1; sid=xyz; b=2", "sid"), Some("xyz"));
        assert_eq!(parse_cookie("sidx=1; xsid=2", "sid"), None);
        assert_eq!(parse_cookie("sid=\"q\"", "sid"), Some("q"));
        assert_eq!(parse_cookie("", "sid"), None);
    }
}
