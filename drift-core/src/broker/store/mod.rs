//! The log: where each topic's epoch, configuration, sequence numbers and
//! retained messages live.
//!
//! The store, not the broker, assigns seq and publish time and owns each
//! topic's epoch, because a shared store (Redis) must assign them atomically
//! for every node and a durable store must have written a message before it
//! is acknowledged. The broker only caches what a store hands it and fans
//! out, in seq order, what the store has accepted.
//!
//! Every call answers a [`StoreCall`]: `Ready` when the answer is known at
//! once (the memory store never waits, so the single-node path stays
//! synchronous), `Later` with a future otherwise. Errors are real errors
//! (the store is unavailable, the disk is full, a file is corrupt) and
//! reach the caller: [`crate::ErrorKind::Storage`] or
//! [`crate::ErrorKind::StorageFull`].

mod budget;
mod call;
#[cfg(feature = "disk")]
mod disk;
mod fsync;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod redis_address;
#[cfg(any(test, feature = "test-stores"))]
pub mod testing;
mod timed;

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_core::Stream;

pub use budget::MemoryUse;
pub(crate) use budget::{Budget, Evict, evict_oldest};
pub use call::{StoreCall, StoreFuture};
#[cfg(feature = "disk")]
pub use disk::{DiskOptions, DiskStore};
pub use fsync::Fsync;
pub use memory::MemoryStore;
#[cfg(test)]
pub(crate) use memory::Numbering;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub(crate) use redis_address::redis_address;
pub(crate) use timed::TimedStore;

use super::config::TopicConfig;
use crate::model::Message;

/// Holds every topic's log. One store serves one broker (a shared store
/// serves one broker per node).
pub trait TopicStore: Send + Sync + Debug + 'static {
    /// Every topic the store holds, for the broker to load when it starts.
    /// A shared store may answer only what it cheaply can: the broker opens
    /// any other topic by name on first use.
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>>;

    /// The topic named `name`. When it does not exist: `None`, or with
    /// `create`, a new topic with that configuration and a new epoch (never
    /// one used before for this name). An existing topic is returned as it
    /// is, whatever `create` says; the broker compares configurations.
    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>>;

    /// Deletes the incarnation `epoch` of `name` and everything it retains.
    /// `false` when there is no such incarnation (already deleted, or
    /// re-created since with another epoch).
    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool>;

    /// Deletes the incarnation `epoch` of `name` if nothing was ever
    /// appended to it (a topic subscribers made by asking for it, then
    /// left), atomically with appends: an append that comes after finds
    /// the log deleted. `true` when it did. The broker calls it under its
    /// locks, so it answers at once; a store that keeps such topics (in a
    /// file or a shared server, not in this process's memory) answers
    /// `false`, the default.
    fn forget_unused(&self, name: &str, epoch: u64) -> bool {
        let _ = (name, epoch);
        false
    }

    /// Messages published and topics deleted elsewhere (by other nodes
    /// sharing this store), for the broker to fan out or close locally.
    /// `None` for a store that only this process writes. Called once.
    fn notices(&self) -> Option<Notices> {
        None
    }

    /// Keep what the store holds of history in this process's memory
    /// (payload and overhead of each message) within `bytes` over all
    /// topics, evicting the oldest messages of the topics holding the most
    /// when an append goes over (see `BrokerConfig::history_memory`; the
    /// broker calls it when it starts). A store that holds history
    /// elsewhere (Redis) ignores it, the default.
    fn limit_memory(&self, bytes: u64) {
        let _ = bytes;
    }

    /// What the store holds in memory against that limit; `None` for a
    /// store that holds history elsewhere (the default).
    fn memory(&self) -> Option<MemoryUse> {
        None
    }

    /// What kind of store this is, for `/metrics` (`memory`, `disk`,
    /// `redis`; a store outside drift-core may leave it `custom`).
    fn kind(&self) -> &'static str {
        "custom"
    }

    /// How a store that commits appends in groups has committed and synced
    /// them so far, for `/metrics`; `None` (the default) for a store that
    /// does not (memory) or whose server does (Redis).
    fn commits(&self) -> Option<Commits> {
        None
    }
}

/// A group-committing store's work since it opened: appended messages over
/// commits (and over syncs) is how many share one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Commits {
    /// Transactions committed.
    pub commits: u64,
    /// Syncs to stable storage (fdatasync).
    pub syncs: u64,
    /// Messages appended.
    pub messages: u64,
}

/// One topic incarnation's log.
pub trait TopicLog: Send + Sync + Debug + 'static {
    /// The topic's name.
    fn name(&self) -> &str;

    /// The incarnation: a number the store never hands out twice for this
    /// name, below 2^53 (exact in JSON and JavaScript).
    fn epoch(&self) -> u64;

    /// The configuration the topic was created with.
    fn config(&self) -> &TopicConfig;

    /// The newest seq the store has accepted (0 for none). Seqs are
    /// consecutive from the first one the store assigns (not necessarily 1).
    fn last_seq(&self) -> u64;

    /// Messages retained now (for inspection; may be approximate for a
    /// shared store).
    fn retained(&self) -> usize;

    /// Payload bytes of the messages retained now (as approximate as
    /// [`TopicLog::retained`]).
    fn retained_bytes(&self) -> u64;

    /// Appends `payloads`, in order, as one batch: the store assigns them
    /// consecutive seqs and one publish time, never earlier than the
    /// topic's previous one. With a durable store the batch is on stable
    /// storage (or, by configuration, at least handed to the OS) before the
    /// call completes; concurrent batches may share one commit. A batch is
    /// either wholly appended or not at all: a failed append assigns no seq.
    /// [`crate::ErrorKind::NotFound`] when this incarnation was deleted.
    fn append(&self, payloads: &[Bytes]) -> StoreCall<Appended>;

    /// The retained messages matching `selection`, oldest first, each
    /// carrying this incarnation's epoch.
    fn read(&self, selection: &Selection) -> StoreCall<Vec<Arc<Message>>>;

    /// A local subscriber joined: from now on [`TopicStore::notices`]
    /// carries this topic's batches published elsewhere, until as many
    /// [`TopicLog::unwatch`] calls have followed. A shared store answers the
    /// newest seq it holds once notices flow (what lies before it is
    /// history, not live); a store only this process writes answers `None`
    /// at once (the broker itself fans out everything it accepts).
    fn watch(&self) -> StoreCall<Option<u64>> {
        StoreCall::ok(None)
    }

    /// A local subscriber left (see [`TopicLog::watch`]).
    fn unwatch(&self) {}

    /// Nothing was ever appended, and [`TopicStore::forget_unused`] may
    /// delete it: a cheap check before the broker takes its locks for
    /// that. `false` (the default) for a store that keeps such topics.
    fn is_unused(&self) -> bool {
        false
    }

    /// Deleted (by [`TopicStore::delete`] or
    /// [`TopicStore::forget_unused`]) since [`TopicStore::open`] handed it
    /// out, so that the broker does not hold a topic over a log no append
    /// can reach. `false` (the default) for a store whose appends say so.
    fn is_deleted(&self) -> bool {
        false
    }
}

/// A topic [`TopicStore::open`] found or made.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The topic's log.
    pub log: Arc<dyn TopicLog>,
    /// This call created it.
    pub created: bool,
}

/// Where an appended batch went: its messages have seqs `first_seq`,
/// `first_seq + 1`, … and all were published at `time_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Seq of the batch's first message.
    pub first_seq: u64,
    /// Publish time of the batch, µs since the Unix epoch.
    pub time_us: u64,
}

/// What a subscriber asks to see from history, already resolved against the
/// topic: only messages with `seq > after_seq` and `time_us > since_us`, then
/// the newest `last` of those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Exclusive lower bound on seq.
    pub after_seq: u64,
    /// Exclusive lower bound on publish time.
    pub since_us: Option<u64>,
    /// Keep only the newest N.
    pub last: Option<u64>,
}

/// A change made elsewhere, from [`TopicStore::notices`]. A shared store
/// hands out, for every topic it watches ([`TopicLog::watch`]), every
/// batch with no seq left out: a notice it lost on the way is read back
/// from the log, and what cannot be read back any more is a
/// [`Notice::Missed`], which subscribers see as a gap.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Notice {
    /// A batch published by another node (or by this one: the broker skips
    /// what it fanned out already).
    Published {
        /// The topic's name.
        topic: Arc<str>,
        /// The incarnation it was published to.
        epoch: u64,
        /// Its seqs and publish time.
        appended: Appended,
        /// The payloads, in seq order.
        payloads: Vec<Bytes>,
    },
    /// Seqs `from..=to` were published but can no longer be had (the topic
    /// keeps no history, or they left it while this node was cut off).
    Missed {
        /// The topic's name.
        topic: Arc<str>,
        /// The incarnation.
        epoch: u64,
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
    /// A topic incarnation deleted by another node.
    Deleted {
        /// The topic's name.
        topic: Arc<str>,
        /// The incarnation deleted.
        epoch: u64,
    },
    /// The store lost this incarnation (it restarted empty, or came back
    /// with older data than it had handed out): it ends, and the topic
    /// goes on under a new epoch.
    Reset {
        /// The topic's name.
        topic: Arc<str>,
        /// The incarnation lost.
        epoch: u64,
    },
    /// Notices may have been lost for topics not watched (the store's
    /// connection was cut): the broker forgets what it holds of them and
    /// opens them again on next use.
    Resync,
}

/// The stream of [`Notice`]s of a shared store.
pub type Notices = Pin<Box<dyn Stream<Item = Notice> + Send + 'static>>;
