//! Stores that prove the broker assumes nothing a real store would not
//! promise: [`yielding`] answers every call later (as a disk or network
//! store does), [`renumbered`] starts seqs at 1000 and counts its own epochs
//! (as a store shared by several nodes may). Enabled by the `test-stores`
//! feature, for tests only.

use std::sync::Arc;

use bytes::Bytes;

use super::memory::Numbering;
use super::{
    Appended, Commits, MemoryStore, MemoryUse, Opened, Selection, StoreCall, TopicLog, TopicStore,
};
use crate::broker::config::TopicConfig;
use crate::model::Message;

/// A memory store whose seqs start at 1000 and whose epochs are 42, 43, …
/// rather than clock readings.
pub fn renumbered() -> MemoryStore {
    MemoryStore::with_numbering(Numbering {
        first_seq: 1000,
        epoch_counter: Some(41),
        ..Numbering::default()
    })
}

/// `inner`, but every call yields to the scheduler once before it is made,
/// so no answer is ever ready at once.
pub fn yielding(inner: impl TopicStore) -> YieldingStore {
    YieldingStore {
        inner: Arc::new(inner),
    }
}

/// See [`yielding`].
#[derive(Debug, Clone)]
pub struct YieldingStore {
    inner: Arc<dyn TopicStore>,
}

#[derive(Debug)]
struct YieldingLog {
    inner: Arc<dyn TopicLog>,
}

fn wrap(log: Arc<dyn TopicLog>) -> Arc<dyn TopicLog> {
    Arc::new(YieldingLog { inner: log })
}

impl TopicStore for YieldingStore {
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        let inner = self.inner.clone();
        StoreCall::later(async move {
            tokio::task::yield_now().await;
            Ok(inner.list().await?.into_iter().map(wrap).collect())
        })
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        let (inner, name, create) = (self.inner.clone(), name.to_owned(), create.copied());
        StoreCall::later(async move {
            tokio::task::yield_now().await;
            Ok(inner.open(&name, create.as_ref()).await?.map(|o| Opened {
                log: wrap(o.log),
                created: o.created,
            }))
        })
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        let (inner, name) = (self.inner.clone(), name.to_owned());
        StoreCall::later(async move {
            tokio::task::yield_now().await;
            inner.delete(&name, epoch).await
        })
    }
    fn limit_memory(&self, bytes: u64) {
        self.inner.limit_memory(bytes);
    }

    fn memory(&self) -> Option<MemoryUse> {
        self.inner.memory()
    }

    fn commits(&self) -> Option<Commits> {
        self.inner.commits()
    }
}

impl TopicLog for YieldingLog {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    fn config(&self) -> &TopicConfig {
        self.inner.config()
    }

    fn last_seq(&self) -> u64 {
        self.inner.last_seq()
    }

    fn retained(&self) -> usize {
        self.inner.retained()
    }

    fn retained_bytes(&self) -> u64 {
        self.inner.retained_bytes()
    }

    fn append(&self, payloads: &[Bytes]) -> StoreCall<Appended> {
        let (inner, payloads) = (self.inner.clone(), payloads.to_vec());
        StoreCall::later(async move {
            tokio::task::yield_now().await;
            inner.append(&payloads).await
        })
    }

    fn read(&self, selection: &Selection) -> StoreCall<Vec<Arc<Message>>> {
        let (inner, selection) = (self.inner.clone(), *selection);
        StoreCall::later(async move {
            tokio::task::yield_now().await;
            inner.read(&selection).await
        })
    }
}

/// A disk store in a new directory of its own under the system's temporary
/// directory, removed when the store is dropped.
#[cfg(feature = "disk")]
pub fn on_disk() -> TempDiskStore {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("drift-test-store-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = match super::DiskStore::open(&dir, super::DiskOptions::default()) {
        Ok(store) => store,
        Err(e) => panic!("opening a disk store in {}: {e}", dir.display()),
    };
    TempDiskStore { store, dir }
}

/// See [`on_disk`].
#[cfg(feature = "disk")]
#[derive(Debug)]
pub struct TempDiskStore {
    store: super::DiskStore,
    dir: std::path::PathBuf,
}

#[cfg(feature = "disk")]
impl TopicStore for TempDiskStore {
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        self.store.list()
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        self.store.open(name, create)
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        self.store.delete(name, epoch)
    }
    fn limit_memory(&self, bytes: u64) {
        self.store.limit_memory(bytes);
    }

    fn memory(&self) -> Option<MemoryUse> {
        self.store.memory()
    }

    fn commits(&self) -> Option<Commits> {
        self.store.commits()
    }
}

#[cfg(feature = "disk")]
impl Drop for TempDiskStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
