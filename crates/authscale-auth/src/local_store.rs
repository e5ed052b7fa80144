//! Node-local stores: [`MemoryStore`] keeps sessions in the node's own
//! memory (the `sticky` mode: no shared store, sessions die with their
//! node) and [`CachedStore`] puts a bounded, short-lived cache in front of
//! another store (the `session-cached` mode: fewer store calls, revocation
//! takes effect within the cache TTL on the other nodes).
//!
//! Both are bounded: a full map first drops expired entries, then refuses
//! (memory) or stops caching (cache) rather than growing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{SessionStore, StoreError};

/// A TTL map behind a std mutex: every operation is a short, non-async
/// critical section, so a blocking lock is the cheap choice.
#[derive(Debug)]
struct TtlMap {
    entries: Mutex<HashMap<String, (String, Instant)>>,
    capacity: usize,
}

impl TtlMap {
    fn new(capacity: usize) -> TtlMap {
        TtlMap {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn get(&self, key: &str, refresh: Option<Duration>) -> Option<String> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match map.get_mut(key) {
            Some((value, expires)) if *expires > now => {
                if let Some(ttl) = refresh {
                    *expires = now + ttl;
                }
                Some(value.clone())
            }
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Inserts unless full of live entries; false when refused.
    fn put(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.capacity && !map.contains_key(key) {
            let now = Instant::now();
            map.retain(|_, (_, expires)| *expires > now);
            if map.len() >= self.capacity {
                return false;
            }
        }
        map.insert(key.to_owned(), (value.to_owned(), Instant::now() + ttl));
        true
    }

    fn remove(&self, key: &str) -> bool {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key)
            .is_some_and(|(_, expires)| expires > Instant::now())
    }
}

/// Sessions in the node's own memory.
#[derive(Debug)]
pub struct MemoryStore {
    map: TtlMap,
}

impl MemoryStore {
    /// At most `capacity` live sessions.
    pub fn new(capacity: usize) -> MemoryStore {
        MemoryStore {
            map: TtlMap::new(capacity),
        }
    }
}

impl SessionStore for MemoryStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        if self.map.put(key, value, ttl) {
            Ok(())
        } else {
            Err(StoreError::Backend(
                "the node's session memory is full".into(),
            ))
        }
    }

    async fn get(
        &self,
        key: &str,
        refresh: Option<Duration>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.map.get(key, refresh))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.map.remove(key))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A short-lived cache of positive lookups in front of `inner`.
#[derive(Debug)]
pub struct CachedStore<S> {
    inner: S,
    cache: TtlMap,
    ttl: Duration,
}

impl<S> CachedStore<S> {
    /// Caches up to `capacity` entries for `ttl` each.
    pub fn new(inner: S, ttl: Duration, capacity: usize) -> CachedStore<S> {
        CachedStore {
            inner,
            cache: TtlMap::new(capacity),
            ttl,
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: SessionStore> SessionStore for CachedStore<S> {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.inner.put(key, value, ttl).await?;
        self.cache.put(key, value, self.ttl.min(ttl));
        Ok(())
    }

    /// A cached entry answers without a store call (and without refreshing
    /// the store's idle timer: sliding refresh happens on cache misses).
    async fn get(
        &self,
        key: &str,
        refresh: Option<Duration>,
    ) -> Result<Option<String>, StoreError> {
        if let Some(value) = self.cache.get(key, None) {
            return Ok(Some(value));
        }
        let value = self.inner.get(key, refresh).await?;
        if let Some(value) = &value {
            self.cache.put(key, value, self.ttl);
        }
        Ok(value)
    }

    /// Revokes here at once and in the store; other nodes' caches keep the
    /// entry until their TTL runs out.
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.cache.remove(key);
        self.inner.delete(key).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_expires_and_stays_bounded() {
        let store = MemoryStore::new(2);
        store
            .put("a", "1", Duration::from_secs(60))
            .await
            .expect("put");
        store
            .put("b", "2", Duration::from_millis(1))
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.get("b", None).await.expect("get"), None);
        // The expired entry makes room; then the map is full of live ones.
        store
            .put("c", "3", Duration::from_secs(60))
            .await
            .expect("room after expiry");
        assert!(
            store.put("d", "4", Duration::from_secs(60)).await.is_err(),
            "full"
        );
        assert_eq!(
            store.get("a", None).await.expect("get").as_deref(),
            Some("1")
        );
        assert!(store.delete("a").await.expect("delete"));
        assert_eq!(store.get("a", None).await.expect("get"), None);
    }

    #[tokio::test]
    async fn cache_answers_within_its_ttl_and_forgets_after() {
        let inner = MemoryStore::new(10);
        inner
            .put("k", "v", Duration::from_secs(60))
            .await
            .expect("put");
        let cached = CachedStore::new(inner, Duration::from_millis(30), 10);
        assert_eq!(
            cached.get("k", None).await.expect("get").as_deref(),
            Some("v")
        );
        // Revoked behind the cache's back (as another node would): still
        // cached until the TTL runs out, then gone.
        cached.inner().delete("k").await.expect("delete");
        assert_eq!(
            cached.get("k", None).await.expect("get").as_deref(),
            Some("v")
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(cached.get("k", None).await.expect("get"), None);
    }
}
