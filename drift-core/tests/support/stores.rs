//! The stores the history, resume and handoff tests run against, so that
//! none of them depends on the memory store answering at once, counting seqs
//! from 1 or taking epochs from the clock.

use std::sync::Arc;

use drift_core::broker::store::{Notices, Opened, RedisStore, StoreCall, TopicLog, testing};
use drift_core::broker::{MemoryStore, TopicConfig, TopicStore};
use drift_core::server::ServerConfig;

#[derive(Debug, Clone, Copy)]
pub enum Store {
    Memory,
    /// Answers every call later, as a disk or network store does.
    Yielding,
    /// Seqs from 1000, epochs 42, 43, …, as a shared store may hand out.
    Renumbered,
    /// SQLite in a directory of its own, removed when the server goes.
    Disk,
    /// A Redis server of its own (Debian's redis-server), stopped when the
    /// server goes.
    Redis,
}

impl Store {
    pub fn make(self) -> Arc<dyn TopicStore> {
        match self {
            Store::Memory => Arc::new(MemoryStore::new()),
            Store::Yielding => Arc::new(testing::yielding(MemoryStore::new())),
            Store::Renumbered => Arc::new(testing::renumbered()),
            Store::Disk => Arc::new(testing::on_disk()),
            Store::Redis => Arc::new(InRedis::start()),
        }
    }

    /// Makes `config`'s broker use a new store of this kind.
    pub fn apply(self, config: &mut ServerConfig) {
        config.broker.store = self.make();
    }
}

/// `every_store!(name)` (after `async fn name(store: Store)`) makes a module
/// `name` with one test per store; `every_store!(name, flavor = …)` passes
/// the arguments on to `#[tokio::test]`.
#[macro_export]
macro_rules! every_store {
    ($name:ident $(, $($arg:tt)*)?) => {
        mod $name {
            use super::*;

            #[tokio::test$(($($arg)*))?]
            async fn memory() {
                super::$name(Store::Memory).await
            }

            #[tokio::test$(($($arg)*))?]
            async fn yielding() {
                super::$name(Store::Yielding).await
            }

            #[tokio::test$(($($arg)*))?]
            async fn renumbered() {
                super::$name(Store::Renumbered).await
            }

            #[tokio::test$(($($arg)*))?]
            async fn disk() {
                super::$name(Store::Disk).await
            }

            #[tokio::test$(($($arg)*))?]
            async fn redis() {
                super::$name(Store::Redis).await
            }
        }
    };
}

/// The Redis store over a Redis server of its own.
#[derive(Debug)]
pub struct InRedis {
    store: RedisStore,
    _server: super::RedisServer,
}

impl InRedis {
    /// Needs a tokio runtime (the store's connections run on it).
    pub fn start() -> InRedis {
        let server = super::RedisServer::start();
        let store = RedisStore::open(&server.url()).expect("a Redis store");
        InRedis {
            store,
            _server: server,
        }
    }
}

impl TopicStore for InRedis {
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        self.store.list()
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        self.store.open(name, create)
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        self.store.delete(name, epoch)
    }

    fn notices(&self) -> Option<Notices> {
        self.store.notices()
    }
}
