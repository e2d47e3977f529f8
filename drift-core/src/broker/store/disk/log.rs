//! One topic incarnation on disk: what the broker holds, the committed
//! state the writer keeps up to date, and the cache of its newest messages
//! that answers most reads without touching the disk.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::Core;
use super::err;
use super::reader::{ReadRequest, ReaderMsg};
use super::retention::{Span, Stored};
use super::writer::Request;
use crate::broker::config::TopicConfig;
use crate::broker::store::{Appended, Budget, Evict, Selection, StoreCall, TopicLog, evict_oldest};
use crate::error::{Error, ErrorKind};
use crate::lock::lock;
use crate::model::Message;

/// A topic incarnation of a [`super::DiskStore`].
pub(super) struct DiskLog {
    pub(super) shared: Arc<LogShared>,
    pub(super) core: Arc<Core>,
}

/// What the writer and the readers share of one topic.
pub(super) struct LogShared {
    pub(super) name: Arc<str>,
    pub(super) epoch: u64,
    pub(super) config: TopicConfig,
    /// `state.last_seq`, readable without the lock.
    pub(super) last_seq: AtomicU64,
    /// What reads see: the topic as durably committed.
    pub(super) state: Mutex<LogState>,
    /// The topic as committed, possibly not yet durable: the writer's
    /// alone, ahead of `state` while a commit syncs.
    pub(super) written: Mutex<Written>,
    /// `state.cache_bytes` as last told to the store's budget, kept with
    /// `state` (and readable without its lock).
    cached: AtomicU64,
}

/// The writer's bookkeeping of a topic: where its next append goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Written {
    pub(super) span: Span,
    pub(super) last_time_us: u64,
    pub(super) deleted: bool,
}

impl LogShared {
    /// `stored`: what is on disk of it (more than `state` retains when
    /// retention dropped messages not yet deleted).
    pub(super) fn new(
        name: Arc<str>,
        epoch: u64,
        config: TopicConfig,
        state: LogState,
        stored: Stored,
    ) -> Self {
        let written = Written {
            span: Span {
                epoch,
                first_seq: state.first_seq,
                first_time_us: state.first_time_us,
                last_seq: state.last_seq,
                bytes: state.bytes,
                stored,
            },
            last_time_us: state.last_time_us,
            deleted: false,
        };
        LogShared {
            name,
            epoch,
            config,
            last_seq: AtomicU64::new(state.last_seq),
            state: Mutex::new(state),
            written: Mutex::new(written),
            cached: AtomicU64::new(0),
        }
    }

    /// What the cache costs, as last told to the budget.
    pub(super) fn cached(&self) -> u64 {
        self.cached.load(Ordering::Relaxed)
    }

    /// Records what the cache costs now (under the state's lock) and
    /// answers what it cost before, for the caller to tell the budget.
    pub(super) fn recount(&self, state: &LogState) -> u64 {
        self.cached.swap(state.cache_bytes, Ordering::Relaxed)
    }
}

impl Evict for Arc<LogShared> {
    fn charged(&self) -> u64 {
        self.cached()
    }

    fn evict(&self, budget: &Budget, level: u64, need: u64) -> u64 {
        let mut state = lock(&self.state);
        let charged = |s: &LogState| s.cache_bytes;
        let evicted = evict_oldest(&mut *state, level, need, charged, |s| {
            let Some(front) = s.cache.pop_front() else {
                return false;
            };
            s.cache_bytes -= front.charged_bytes();
            true
        });
        let old = self.recount(&state);
        budget.change(old, state.cache_bytes);
        evicted
    }
}

/// The topic as last durably committed. Only [`super::publish`] changes
/// it, once a commit is durable.
#[derive(Debug)]
pub(super) struct LogState {
    pub(super) last_seq: u64,
    pub(super) last_time_us: u64,
    /// Oldest retained seq; `last_seq + 1` when none is retained.
    pub(super) first_seq: u64,
    /// Publish time of `first_seq` (when retained).
    pub(super) first_time_us: u64,
    /// Payload bytes retained.
    pub(super) bytes: u64,
    /// The newest retained messages: consecutive seqs ending at `last_seq`
    /// (or empty), at most the store's `cache_messages` and `cache_bytes`.
    pub(super) cache: VecDeque<Arc<Message>>,
    /// What the cache costs: payloads and each message's overhead
    /// ([`Message::charged_bytes`]).
    pub(super) cache_bytes: u64,
    pub(super) deleted: bool,
}

impl fmt::Debug for DiskLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskLog")
            .field("name", &self.shared.name)
            .field("epoch", &self.shared.epoch)
            .field("last_seq", &self.last_seq())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LogShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogShared")
            .field("name", &self.name)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl LogState {
    /// A state with nothing cached.
    pub(super) fn new(
        last_seq: u64,
        last_time_us: u64,
        first_seq: u64,
        first_time_us: u64,
        bytes: u64,
    ) -> LogState {
        LogState {
            last_seq,
            last_time_us,
            first_seq,
            first_time_us,
            bytes,
            cache: VecDeque::new(),
            cache_bytes: 0,
            deleted: false,
        }
    }

    /// Adds messages just committed (consecutive, after the cache's) and
    /// drops what left retention or does not fit the cache.
    pub(super) fn cache_push(
        &mut self,
        new: Vec<Arc<Message>>,
        max_messages: usize,
        max_bytes: u64,
    ) {
        for m in new {
            self.cache_bytes += m.charged_bytes();
            self.cache.push_back(m);
        }
        while let Some(front) = self.cache.front() {
            let over = self.cache.len() > max_messages || self.cache_bytes > max_bytes;
            if front.seq >= self.first_seq && !over {
                break;
            }
            self.cache_bytes -= front.charged_bytes();
            self.cache.pop_front();
        }
    }

    /// Drops everything (the incarnation was deleted).
    pub(super) fn clear(&mut self) {
        self.deleted = true;
        self.cache = VecDeque::new();
        self.cache_bytes = 0;
        self.first_seq = self.last_seq + 1;
        self.bytes = 0;
    }
}

impl TopicLog for DiskLog {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn epoch(&self) -> u64 {
        self.shared.epoch
    }

    fn config(&self) -> &TopicConfig {
        &self.shared.config
    }

    fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    fn retained(&self) -> usize {
        let state = lock(&self.shared.state);
        (state.last_seq + 1).saturating_sub(state.first_seq) as usize
    }

    fn retained_bytes(&self) -> u64 {
        lock(&self.shared.state).bytes
    }

    fn append(&self, payloads: &[Bytes]) -> StoreCall<Appended> {
        if lock(&self.shared.state).deleted {
            return StoreCall::Ready(Err(deleted(&self.shared.name)));
        }
        let (reply, answer) = oneshot::channel();
        let request = Request::Append {
            log: self.shared.clone(),
            payloads: payloads.to_vec(),
            reply,
        };
        if self.core.writer.send(request).is_err() {
            return StoreCall::Ready(Err(err::closed()));
        }
        StoreCall::later(async move { answer.await.unwrap_or_else(|_| Err(err::closed())) })
    }

    fn read(&self, sel: &Selection) -> StoreCall<Vec<Arc<Message>>> {
        let state = lock(&self.shared.state);
        if state.deleted {
            return StoreCall::ok(Vec::new());
        }
        let last = state.last_seq;
        let now = (self.core.clock)().max(state.last_time_us);
        let cutoff = self
            .shared
            .config
            .retention
            .max_age
            .map(|a| now.saturating_sub(a.as_micros() as u64));
        // Publish times only grow with seq, so what matches is a suffix of
        // what is retained: seqs `lo..=last` less a prefix of too-old ones.
        let mut lo = state.first_seq.max(sel.after_seq.saturating_add(1));
        if let Some(n) = sel.last {
            lo = lo.max((last + 1).saturating_sub(n));
        }
        if lo > last {
            return StoreCall::ok(Vec::new());
        }
        let time_ok = |t: u64| sel.since_us.is_none_or(|s| t > s) && cutoff.is_none_or(|c| t >= c);
        let cache_first = state.cache.front().map_or(last + 1, |m| m.seq);
        let front_too_old = state.cache.front().is_some_and(|m| !time_ok(m.time_us));
        if lo >= cache_first || front_too_old {
            let start = state
                .cache
                .partition_point(|m| m.seq < lo || !time_ok(m.time_us));
            return StoreCall::ok(state.cache.range(start..).cloned().collect());
        }
        // Seqs lo..cache_first are on disk only; the cache has the rest.
        let (reply, answer) = oneshot::channel();
        let request = ReadRequest {
            epoch: self.shared.epoch,
            lo,
            hi: cache_first - 1,
            // time_us > since and time_us >= cutoff, as one exclusive bound.
            after_time_us: match (sel.since_us, cutoff) {
                (None, None) => None,
                (s, c) => Some(
                    s.map_or(-1, |s| s as i64)
                        .max(c.map_or(-1, |c| c as i64 - 1)),
                ),
            },
            tail: state.cache.iter().cloned().collect(),
            reply,
        };
        drop(state);
        if self.core.readers.send(ReaderMsg::Read(request)).is_err() {
            return StoreCall::Ready(Err(err::closed()));
        }
        StoreCall::later(async move { answer.await.unwrap_or_else(|_| Err(err::closed())) })
    }
}

/// The answer to a call on a deleted incarnation.
pub(super) fn deleted(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("topic {name:?} was deleted"))
}
