//! The durable store: every topic's epoch, configuration, seqs and retained
//! messages in one directory, kept across restarts and crashes.
//!
//! # Why SQLite
//!
//! The store is SQLite (bundled through `rusqlite`) in WAL mode, with one
//! writer thread that group-commits. Of the embedded stores considered:
//! - SQLite's crash and power-loss safety is the most tested of any
//!   embedded store (its WAL recovers to the last complete commit after a
//!   torn write, which a test here checks), its file format is stable and
//!   its tools (`sqlite3`) can inspect a data directory;
//! - redb is pure Rust, but a commit is only crash-safe with
//!   `Durability::Immediate` (about 1 ms each in its own benchmark), and its
//!   cheaper non-durable commits are lost on a crash, not only on a power
//!   loss, so `--fsync INTERVAL` could not promise that `kill -9` loses
//!   nothing acknowledged;
//! - fjall flushes to the OS but not to disk by default and has open
//!   reports of silent loss.
//!
//! With group commit SQLite is fast enough: concurrent appends share one
//! transaction and one fsync, so the rate grows with concurrency instead of
//! being one fsync per message. `appends_per_second` in the tests (100
//! concurrent appenders of 64 bytes, 2 cores) measured about 170k appends/s
//! with [`Fsync::Always`] and 280k with [`Fsync::Interval`] (100 ms), where
//! a serial write and fdatasync took 0.1-0.2 ms.
//!
//! # Durability
//!
//! An append is answered only after the transaction holding it committed,
//! and in both modes the commit has been written to the OS first, so
//! killing the process (`kill -9`) loses nothing acknowledged. The
//! connection runs with `synchronous = NORMAL` (SQLite syncs the WAL
//! before each checkpoint and the database after it).
//! - [`Fsync::Always`]: a sync thread `fdatasync`s the WAL after each
//!   commit, and only then are its appends answered and its messages
//!   visible to readers: the commit is on stable storage, as with
//!   `synchronous = FULL`, but the writer builds and commits the next batch
//!   while the previous one syncs, and one sync covers every commit before
//!   it. (Measured against `FULL` in the writer, 100 concurrent appenders:
//!   about 170k against 140k appends/s with a 0.1-0.2 ms fsync.) A failed
//!   fsync stops all further writes: after one, the OS may have dropped the
//!   pages, and a later fsync would not say so.
//! - [`Fsync::Interval`]: appends are answered and visible once committed;
//!   the writer fdatasyncs the WAL every interval (when something was
//!   committed), so a power loss loses at most that much. A failed fsync
//!   stops all further writes here too.
//!
//! # Memory
//!
//! Topics' metadata stays in memory, and the newest
//! [`DiskOptions::cache_messages`] (at most [`DiskOptions::cache_bytes`]) of
//! each topic, which answer a subscriber joining live without a disk read;
//! older history is read from disk on read connections of their own. The
//! caches of all topics together stay within the history memory budget
//! ([`TopicStore::limit_memory`]): past it, the oldest cached messages of
//! the topics caching the most leave the cache (not the disk).
//!
//! # Files
//!
//! `drift.db` (and its `-wal`, `-shm`) and `drift.lock`, which this process
//! holds locked: a second server on the same directory is refused.

mod error;
mod log;
mod options;
mod publish;
mod reader;
mod retention;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use self::error as err;
use self::log::{DiskLog, LogShared, LogState};
use self::reader::ReaderMsg;
use self::writer::{Request, Writer};
use super::{Budget, Commits, MemoryUse, Opened, StoreCall, TopicLog, TopicStore};
use crate::broker::config::TopicConfig;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::model::now_us;

#[cfg(any(test, doc))]
use super::Fsync;
pub use options::DiskOptions;

/// Topics on disk, in one data directory. Cheap to clone; clones share the
/// store, which closes (finishing queued writes, checkpointing and
/// releasing the directory) when the last clone is dropped. Logs still held
/// then answer [`crate::ErrorKind::Unavailable`].
#[derive(Clone)]
pub struct DiskStore {
    handle: Arc<Handle>,
}

/// What the store's threads and its logs share.
pub(super) struct Core {
    dir: PathBuf,
    options: DiskOptions,
    clock: fn() -> u64,
    writer: Sender<Request>,
    readers: Sender<ReaderMsg>,
    /// Every topic as durably committed (what readers and `open` see).
    topics: Mutex<HashMap<Arc<str>, Arc<DiskLog>>>,
    stats: Stats,
    /// An fsync failed: no more writes (see [`publish`]).
    poisoned: AtomicBool,
    /// What the topics' caches cost together, kept within the history
    /// memory budget (the data stays on disk).
    budget: Budget,
}

#[derive(Default)]
struct Stats {
    commits: AtomicU64,
    syncs: AtomicU64,
    messages: AtomicU64,
}

/// The store's threads, ended when the last [`DiskStore`] clone goes.
struct Handle {
    core: Arc<Core>,
    writer: Option<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
}

/// How tests open a store differently.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Testing {
    /// The wall clock, µs since the Unix epoch.
    pub(crate) clock: fn() -> u64,
    /// Checkpoint the WAL (off: leave every commit in the WAL, as a crash
    /// would).
    pub(crate) checkpoint: bool,
}

impl Default for Testing {
    fn default() -> Self {
        Testing {
            clock: now_us,
            checkpoint: true,
        }
    }
}

impl DiskStore {
    /// Opens the store in `dir`, creating the directory and the database if
    /// needed, and loads every topic a previous run left.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::Storage`] with a message naming the path when the
    /// directory cannot be created or read, is in use by another server, or
    /// holds a database that is not Drift's or was written by a newer
    /// Drift; [`crate::ErrorKind::InvalidInput`] for bad `options`.
    pub fn open(dir: &Path, options: DiskOptions) -> Result<DiskStore> {
        DiskStore::open_with(dir, options, Testing::default())
    }

    pub(crate) fn open_with(
        dir: &Path,
        options: DiskOptions,
        testing: Testing,
    ) -> Result<DiskStore> {
        if options.readers == 0 {
            return Err(Error::invalid("the disk store needs at least one reader"));
        }
        let data = schema::lock_dir(dir)?;
        let opened = schema::open_writer(&data, testing.checkpoint)?;
        let readers = (0..options.readers)
            .map(|_| schema::open_reader(&data, testing.checkpoint))
            .collect::<Result<Vec<_>>>()?;
        let (writer_tx, writer_rx) = mpsc::channel();
        let (readers_tx, readers_rx) = mpsc::channel();
        let core = Arc::new(Core {
            dir: data.dir.clone(),
            options,
            clock: testing.clock,
            writer: writer_tx,
            readers: readers_tx,
            topics: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            poisoned: AtomicBool::new(false),
            budget: Budget::default(),
        });
        {
            let mut topics = lock(&core.topics);
            for t in opened.topics {
                let name: Arc<str> = Arc::from(t.name);
                let state = LogState::new(
                    t.last_seq,
                    t.last_time_us,
                    t.first_seq,
                    t.first_time_us,
                    t.bytes,
                );
                let log = Arc::new(DiskLog {
                    shared: Arc::new(LogShared::new(
                        name.clone(),
                        t.epoch,
                        t.config,
                        state,
                        t.stored,
                    )),
                    core: core.clone(),
                });
                topics.insert(name, log);
            }
        }
        let live = lock(&core.topics).clone();
        let spawn_failed = |e| err::io(&data.dir, "cannot start the disk store's threads for", e);
        let reader_threads =
            reader::spawn(data.dir.clone(), readers, readers_rx).map_err(spawn_failed)?;
        let writer = Writer {
            core: core.clone(),
            conn: opened.conn,
            last_epoch: opened.last_epoch,
            checkpoint: testing.checkpoint,
            wal_limit: opened.wal_limit,
            wal: opened.wal,
            live,
            lock: data.lock,
        };
        let writer_thread = std::thread::Builder::new()
            .name("drift-disk-writer".into())
            .spawn(move || writer.run(writer_rx));
        let handle = Handle {
            core,
            writer: None,
            readers: reader_threads,
        };
        // On failure, dropping `handle` ends the readers.
        let writer_thread = writer_thread.map_err(spawn_failed)?;
        let mut handle = handle;
        handle.writer = Some(writer_thread);
        Ok(DiskStore {
            handle: Arc::new(handle),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.handle.core.dir
    }

    /// What the store has done since it was opened: its commits, and the
    /// fdatasyncs of its write-ahead log (with [`Fsync::Always`] one covers
    /// every commit written before it).
    pub fn stats(&self) -> Commits {
        let s = &self.handle.core.stats;
        Commits {
            commits: s.commits.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            messages: s.messages.load(Ordering::Relaxed),
        }
    }

    /// Tests: the writer stops taking requests until the returned sender is
    /// dropped, so that everything sent meanwhile forms one batch.
    #[cfg(test)]
    fn hold_writer(&self) -> Sender<()> {
        let (release, wait) = mpsc::channel();
        let _ = self.handle.core.writer.send(Request::Hold(wait));
        release
    }
}

impl Core {
    /// Over the budget: evicts from the caches holding the most.
    fn settle(&self) {
        self.budget.settle(|| {
            lock(&self.topics)
                .values()
                .filter(|t| t.shared.cached() > 0)
                .map(|t| t.shared.clone())
                .collect::<Vec<_>>()
        });
    }
}

impl fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskStore")
            .field("dir", &self.handle.core.dir)
            .field("options", &self.handle.core.options)
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        reader::shutdown(&self.core.readers, self.readers.len());
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        let _ = self.core.writer.send(Request::Shutdown);
        if let Some(t) = self.writer.take() {
            let _ = t.join();
        }
        // The logs hold the core: let it go with the last one held elsewhere.
        lock(&self.core.topics).clear();
    }
}

impl TopicStore for DiskStore {
    fn kind(&self) -> &'static str {
        "disk"
    }

    fn limit_memory(&self, bytes: u64) {
        let core = &self.handle.core;
        if core.budget.set_limit(bytes) {
            core.settle();
        }
    }

    fn memory(&self) -> Option<MemoryUse> {
        Some(self.handle.core.budget.usage())
    }

    fn commits(&self) -> Option<Commits> {
        Some(self.stats())
    }

    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        let topics = lock(&self.handle.core.topics);
        StoreCall::ok(
            topics
                .values()
                .map(|t| t.clone() as Arc<dyn TopicLog>)
                .collect(),
        )
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        let core = &self.handle.core;
        if let Some(log) = lock(&core.topics).get(name) {
            return StoreCall::ok(Some(Opened {
                log: log.clone(),
                created: false,
            }));
        }
        let Some(config) = create else {
            return StoreCall::ok(None);
        };
        let (reply, answer) = oneshot::channel();
        let request = Request::Create {
            name: Arc::from(name),
            config: *config,
            reply,
        };
        if core.writer.send(request).is_err() {
            return StoreCall::Ready(Err(err::closed()));
        }
        StoreCall::later(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(err::closed()))
                .map(Some)
        })
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        let core = &self.handle.core;
        let known = lock(&core.topics)
            .get(name)
            .is_some_and(|l| l.shared.epoch == epoch);
        if !known {
            return StoreCall::ok(false);
        }
        let (reply, answer) = oneshot::channel();
        let request = Request::Delete {
            name: Arc::from(name),
            epoch,
            reply,
        };
        if core.writer.send(request).is_err() {
            return StoreCall::Ready(Err(err::closed()));
        }
        StoreCall::later(async move { answer.await.unwrap_or_else(|_| Err(err::closed())) })
    }
}
