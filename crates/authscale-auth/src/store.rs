//! The session store interface. The auth crate reaches the network only
//! through this trait; the Redis implementation lives in `redis_store`.

use std::future::Future;
use std::time::Duration;

use crate::StoreError;

/// A key-value store with per-key expiry, as a session scheme needs it.
/// Every method is one round trip to the store.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `value` under `key`, expiring after `ttl`.
    fn put(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads `key`; with `refresh` set, also resets its expiry (one call).
    fn get(
        &self,
        key: &str,
        refresh: Option<Duration>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Deletes `key`; true when it existed.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Checks the store answers and accepts writes (readiness); never on
    /// the path of a protected request.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    // The per-account session index (login and logout only, never the
    // protected path). See `session.rs`.

    /// Reads and deletes `key` in one call.
    fn take(&self, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Adds `member` to the sorted index `index` with `score` (its creation
    /// time), keeps the index for `ttl`, and removes and returns the members
    /// beyond the newest `keep`, oldest first. One round trip when nothing
    /// is evicted.
    fn index_add(
        &self,
        entry: IndexEntry<'_>,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Removes `member` from `index`.
    fn index_remove(
        &self,
        index: &str,
        member: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A member to add to a per-account index ([`SessionStore::index_add`]).
#[derive(Debug, Clone, Copy)]
pub struct IndexEntry<'a> {
    /// The index's key.
    pub index: &'a str,
    /// The member: a session's store key.
    pub member: &'a str,
    /// Its order among the members: the session's creation time.
    pub score: u64,
    /// How many of the newest members stay.
    pub keep: usize,
    /// How long the index is kept after this addition.
    pub ttl: Duration,
}
