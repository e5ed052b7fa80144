//! Node-local stores: [`MemoryStore`] keeps sessions in the node's own
//! memory (the `sticky` mode: no shared store, sessions die with their
//! node) and [`CachedStore`] puts a bounded, short-lived cache in front of
//! another store (the `session-cached` mode: fewer store calls, revocation
//! takes effect within the cache TTL on the other nodes).
//!
//! Both are bounded: a full map evicts its least recently used entry, so a
//! full node keeps accepting logins (the oldest idle session goes) rather
//! than refusing them until the idle timeout frees room.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{IndexEntry, SessionStore, StoreError};

/// A TTL map with least-recently-used eviction behind a std mutex: every
/// operation is a short, non-async critical section, so a blocking lock is
/// the cheap choice.
#[derive(Debug)]
struct TtlMap {
    inner: Mutex<Lru>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<Arc<str>, Entry>,
    /// Use order: the smallest tick is the least recently used entry.
    order: BTreeMap<u64, Arc<str>>,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    value: String,
    expires: Instant,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((key, entry)) = self.entries.get_key_value(key) {
            let key = key.clone();
            self.order.remove(&entry.tick);
            self.order.insert(tick, key);
        }
        if let Some(entry) = self.entries.get_mut(key) {
            entry.tick = tick;
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.order.remove(&entry.tick);
        Some(entry)
    }
}

impl TtlMap {
    fn new(capacity: usize) -> TtlMap {
        TtlMap {
            inner: Mutex::new(Lru::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str, refresh: Option<Duration>) -> Option<String> {
        let mut lru = self.lock();
        let now = Instant::now();
        let entry = lru.entries.get_mut(key)?;
        if entry.expires <= now {
            lru.remove(key);
            return None;
        }
        if let Some(ttl) = refresh {
            entry.expires = now + ttl;
        }
        let value = entry.value.clone();
        lru.touch(key);
        Some(value)
    }

    fn contains(&self, key: &str) -> bool {
        self.lock()
            .entries
            .get(key)
            .is_some_and(|e| e.expires > Instant::now())
    }

    /// Inserts, evicting the least recently used entry when full.
    fn put(&self, key: &str, value: &str, ttl: Duration) {
        let mut lru = self.lock();
        lru.remove(key);
        while lru.entries.len() >= self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            lru.entries.remove(&oldest);
        }
        lru.tick += 1;
        let tick = lru.tick;
        let key: Arc<str> = Arc::from(key);
        lru.order.insert(tick, key.clone());
        lru.entries.insert(
            key,
            Entry {
                value: value.to_owned(),
                expires: Instant::now() + ttl,
                tick,
            },
        );
    }

    fn remove(&self, key: &str) -> Option<String> {
        let entry = self.lock().remove(key)?;
        (entry.expires > Instant::now()).then_some(entry.value)
    }
}

/// Per-account indexes of a [`MemoryStore`]: members with their scores.
type Indexes = HashMap<String, Vec<(u64, String)>>;

/// Sessions in the node's own memory.
#[derive(Debug)]
pub struct MemoryStore {
    map: TtlMap,
    indexes: Mutex<Indexes>,
}

impl MemoryStore {
    /// At most `capacity` live sessions.
    pub fn new(capacity: usize) -> MemoryStore {
        MemoryStore {
            map: TtlMap::new(capacity),
            indexes: Mutex::new(HashMap::new()),
        }
    }
}

impl SessionStore for MemoryStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.map.put(key, value, ttl);
        Ok(())
    }

    async fn get(
        &self,
        key: &str,
        refresh: Option<Duration>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.map.get(key, refresh))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.map.remove(key).is_some())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.map.remove(key))
    }

    /// Members whose session is gone (expired, evicted as least recently
    /// used) are dropped first, so the index never outgrows the sessions.
    async fn index_add(&self, entry: IndexEntry<'_>) -> Result<Vec<String>, StoreError> {
        let mut indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        let members = indexes.entry(entry.index.to_owned()).or_default();
        members.retain(|(_, m)| m != entry.member && self.map.contains(m));
        members.push((entry.score, entry.member.to_owned()));
        members.sort_unstable();
        let excess = members.len().saturating_sub(entry.keep);
        Ok(members.drain(..excess).map(|(_, m)| m).collect())
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        let mut indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = indexes.get_mut(index) {
            members.retain(|(_, m)| m != member);
            if members.is_empty() {
                indexes.remove(index);
            }
        }
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

    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.cache.remove(key);
        self.inner.take(key).await
    }

    async fn index_add(&self, entry: IndexEntry<'_>) -> Result<Vec<String>, StoreError> {
        let evicted = self.inner.index_add(entry).await?;
        for key in &evicted {
            self.cache.remove(key);
        }
        Ok(evicted)
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        self.inner.index_remove(index, member).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_expires_and_evicts_the_least_recently_used() {
        let minute = Duration::from_secs(60);
        let store = MemoryStore::new(2);
        store.put("a", "1", minute).await.expect("put");
        store
            .put("b", "2", Duration::from_millis(1))
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.get("b", None).await.expect("get"), None);
        store.put("c", "3", minute).await.expect("put");
        // Full of live entries: "a" was used after "c" was written, so the
        // next login evicts "c".
        assert_eq!(
            store.get("a", None).await.expect("get").as_deref(),
            Some("1")
        );
        store
            .put("d", "4", minute)
            .await
            .expect("a full store still accepts");
        assert_eq!(store.get("c", None).await.expect("get"), None);
        assert_eq!(
            store.get("d", None).await.expect("get").as_deref(),
            Some("4")
        );
        assert!(store.delete("a").await.expect("delete"));
        assert_eq!(store.get("a", None).await.expect("get"), None);
    }

    #[tokio::test]
    async fn memory_index_keeps_the_newest_live_members() {
        let minute = Duration::from_secs(60);
        let entry = |member, score| IndexEntry {
            index: "u",
            member,
            score,
            keep: 2,
            ttl: minute,
        };
        let store = MemoryStore::new(100);
        for (score, key) in [(1, "s1"), (2, "s2"), (3, "s3")] {
            store.put(key, "r", minute).await.expect("put");
            let evicted = store.index_add(entry(key, score)).await.expect("index");
            let expected: &[&str] = if score == 3 { &["s1"] } else { &[] };
            assert_eq!(evicted, expected);
        }
        // A member whose session is gone does not count against the cap.
        store.delete("s2").await.expect("delete");
        store.put("s4", "r", minute).await.expect("put");
        let evicted = store.index_add(entry("s4", 4)).await;
        assert_eq!(evicted.expect("index"), Vec::<String>::new());
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
