//! Where a node keeps its sessions, by mode: the shared store, the shared
//! store behind a node-local cache, or the node's own memory.

use authscale_auth::{CachedStore, IndexEntry, MemoryStore, RedisStore, SessionStore, StoreError};

/// Where a node keeps its sessions, by mode.
pub(crate) enum Sessions {
    /// session: the shared store, every lookup.
    Shared(RedisStore),
    /// session-cached: the shared store behind a short node-local cache.
    Cached(CachedStore<RedisStore>),
    /// sticky: the node's own memory.
    Local(MemoryStore),
}

impl SessionStore for Sessions {
    async fn put(
        &self,
        key: &str,
        value: &str,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        match self {
            Sessions::Shared(s) => s.put(key, value, ttl).await,
            Sessions::Cached(s) => s.put(key, value, ttl).await,
            Sessions::Local(s) => s.put(key, value, ttl).await,
        }
    }

    async fn get(
        &self,
        key: &str,
        refresh: Option<std::time::Duration>,
    ) -> Result<Option<String>, StoreError> {
        match self {
            Sessions::Shared(s) => s.get(key, refresh).await,
            Sessions::Cached(s) => s.get(key, refresh).await,
            Sessions::Local(s) => s.get(key, refresh).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            Sessions::Shared(s) => s.delete(key).await,
            Sessions::Cached(s) => s.delete(key).await,
            Sessions::Local(s) => s.delete(key).await,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Sessions::Shared(s) => s.ping().await,
            Sessions::Cached(s) => s.ping().await,
            Sessions::Local(s) => s.ping().await,
        }
    }

    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            Sessions::Shared(s) => s.take(key).await,
            Sessions::Cached(s) => s.take(key).await,
            Sessions::Local(s) => s.take(key).await,
        }
    }

    async fn index_add(&self, entry: IndexEntry<'_>) -> Result<Vec<String>, StoreError> {
        match self {
            Sessions::Shared(s) => s.index_add(entry).await,
            Sessions::Cached(s) => s.index_add(entry).await,
            Sessions::Local(s) => s.index_add(entry).await,
        }
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        match self {
            Sessions::Shared(s) => s.index_remove(index, member).await,
            Sessions::Cached(s) => s.index_remove(index, member).await,
            Sessions::Local(s) => s.index_remove(index, member).await,
        }
    }
}
