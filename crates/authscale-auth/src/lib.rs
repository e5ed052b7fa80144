//! Authentication for authscale nodes: a session scheme backed by a shared
//! store, a JWT scheme verified locally, and the synthetic user directory
//! every node derives identically from a seed.
//!
//! The crate does no network I/O except through the [`SessionStore`] trait;
//! everything else is pure computation, so its cost can be benchmarked in
//! isolation.

mod crypto;
mod delay_line;
mod error;
mod hmac_key;
mod local_store;
mod redact;
mod redis_store;
mod session;
mod store;
mod store_log;
mod throttle;
mod token;
mod token_keys;

pub use authscale_schema::directory::{Directory, User};
pub use crypto::ensure_provider as install_crypto_provider;
pub use delay_line::achieved_delays as store_delays_achieved;
pub use error::{AuthError, ConfigError, Reason, StoreError};
pub use local_store::{CachedStore, MemoryStore};
pub use redact::{redact_urls, shown_url};
pub use redis_store::{RedisStore, RedisStoreConfig, StoreClient, check_store_url};
pub use session::{SessionConfig, SessionId, SessionRecord, SessionScheme, parse_cookie};
pub use store::{IndexEntry, SessionStore};
pub use throttle::{LoginThrottle, ThrottleConfig};
pub use token::{Algorithm, Claims, IssuedToken, TokenConfig, TokenScheme, bearer_token};
pub use token_keys::{KeySource, TokenKeyConfig};

pub use authscale_schema::unix_now;
