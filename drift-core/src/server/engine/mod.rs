//! The connection-thread engine: how accepted connections are run, how a
//! publish wakes the subscriptions it feeds, and how their frames reach the
//! socket. `drift serve` always runs it; `ServerConfig::inline_connections`
//! turns it off for a program that serves on its own runtime.
//!
//! ```text
//!  accept (server runtime, listener.rs)
//!     │  socket leaves the accepting reactor            threads.rs
//!     ▼
//!  connection thread N  (current-thread runtime, round robin)
//!     │  TLS / h2c sniff → hyper h2 or HTTP/1.1 connection
//!     │  each connection is one wake group               wake_relay.rs
//!     ▼
//!  POST → route → broker.publish (each poll inside a WakeBatch)
//!     │  topic lock: seq, history, live ring; wakes every subscriber:
//!     │  the wake-up goes to the subscriber's connection group on its
//!     │  thread; the first of a batch rouses that thread's relay, once
//!     ▼
//!  relay task of each thread: wakes one connection's streams at a time,
//!     │  yields between connections
//!     ▼
//!  subscription bodies (body.rs): one shared Bytes per message and
//!     │  framing, coalesced per subscriber into ≤ 16 KiB DATA chunks;
//!     │  idle ones are woken by the heartbeat clock      heartbeat.rs
//!     ▼
//!  the connection's writes, batched per task poll    coalesced.rs
//!     │  (large frames: one write per poll instead of one per frame)
//!     ▼
//!  socket
//! ```
//!
//! Why each piece exists, with the measurements that justified it:
//! BENCHMARKS.md, "Hot-path work", and docs/ARCHITECTURE.md.
//!
//! [`EngineStats`] counts what the engine did, per server, so that tests can
//! assert which path they ran.

mod coalesced;
mod heartbeat;
mod threads;
mod wake_relay;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) use coalesced::{Coalesced, PollCount};
pub(crate) use heartbeat::{HeartbeatSlot, Heartbeats};
pub(crate) use threads::Connections;
pub(crate) use wake_relay::{BodyWaker, batched, relayed};

/// What the engine of one server has done so far: see
/// `Server::engine_stats`. Counts only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Connection threads started (0 when connections run inline).
    pub connection_threads: usize,
    /// Connections handed to a connection thread.
    pub connections_on_threads: u64,
    /// Connections served as tasks of the server's own runtime.
    pub connections_inline: u64,
    /// Passes of the connection threads' relay tasks, each waking the
    /// streams that publishes handed over since the last pass.
    pub relay_passes: u64,
    /// Flushes put off to the connection task's next poll, so that several
    /// large frames go out in one write.
    pub deferred_flushes: u64,
}

/// The counters behind [`EngineStats`]. Those of the fan-out path (relay
/// passes, deferred flushes) are kept per connection thread, each on a cache
/// line of its own, so that counting never makes two threads write the same
/// line; the accepting thread alone writes the others.
#[derive(Debug, Default)]
pub(crate) struct EngineCounters {
    connection_threads: AtomicU64,
    connections_on_threads: AtomicU64,
    connections_inline: AtomicU64,
    /// One per connection thread.
    threads: Mutex<Vec<Arc<ThreadCounters>>>,
    /// The inline connections'.
    inline: Arc<ThreadCounters>,
}

/// The fan-out counts of one connection thread (or of the inline
/// connections).
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct ThreadCounters {
    relay_passes: AtomicU64,
    deferred_flushes: AtomicU64,
}

thread_local! {
    /// The counts of the connection thread this is, if it is one.
    static THREAD_COUNTERS: RefCell<Option<Arc<ThreadCounters>>> = const { RefCell::new(None) };
}

impl EngineCounters {
    pub(crate) fn snapshot(&self) -> EngineStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let threads = crate::lock::lock(&self.threads);
        let all = || threads.iter().chain(std::iter::once(&self.inline));
        let sum = |f: fn(&ThreadCounters) -> &AtomicU64| all().map(|t| get(f(t))).sum();
        EngineStats {
            connection_threads: get(&self.connection_threads) as usize,
            connections_on_threads: get(&self.connections_on_threads),
            connections_inline: get(&self.connections_inline),
            relay_passes: sum(|t| &t.relay_passes),
            deferred_flushes: sum(|t| &t.deferred_flushes),
        }
    }

    /// New counts for one more connection thread.
    fn add_thread(&self) -> Arc<ThreadCounters> {
        let counters = Arc::new(ThreadCounters::default());
        crate::lock::lock(&self.threads).push(counters.clone());
        counters
    }

    /// The counts of the calling connection thread; on any other thread
    /// (inline connections), the inline set. Called once per connection.
    pub(crate) fn current(&self) -> Arc<ThreadCounters> {
        THREAD_COUNTERS
            .with(|c| c.borrow().clone())
            .unwrap_or_else(|| self.inline.clone())
    }

    /// Makes `counters` the calling thread's (a connection thread, at its
    /// start).
    fn install(counters: &Arc<ThreadCounters>) {
        THREAD_COUNTERS.with(|c| *c.borrow_mut() = Some(counters.clone()));
    }

    fn count(counter: &AtomicU64) {
        // Relaxed: the counts order nothing; a reader sees them eventually.
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
