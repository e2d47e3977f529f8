//! What the server counts for `GET /metrics` (the exposition is
//! `server::metrics`). Below the broker and the server, above the model and
//! protocol: both count into one [`Metrics`] that the broker holds.
//!
//! Counting is cheap by construction: every counter is sharded by thread
//! ([`cells`]), so an add is an uncontended atomic add on a line no other
//! core writes; deliveries are added once per poll of a subscription's
//! body, not once per message; publishes once per batch. Gauges that the
//! broker already knows (topics, retained history, subscriptions) are read
//! at scrape time and cost nothing in between.

mod cells;
mod histogram;

use cells::Cells;
pub(crate) use histogram::{Histogram, Snapshot};

use crate::model::{EndReason, GapReason};
use crate::protocol::Framing;

/// The HTTP version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    H1,
    H2,
}

impl Protocol {
    pub(crate) const ALL: [Protocol; 2] = [Protocol::H1, Protocol::H2];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::H1 => "h1",
            Protocol::H2 => "h2",
        }
    }
}

/// What a store call did, for its latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOp {
    Open,
    Append,
    Read,
    Delete,
    List,
}

impl StoreOp {
    pub(crate) const ALL: [StoreOp; 5] = [
        StoreOp::Open,
        StoreOp::Append,
        StoreOp::Read,
        StoreOp::Delete,
        StoreOp::List,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StoreOp::Open => "open",
            StoreOp::Append => "append",
            StoreOp::Read => "read",
            StoreOp::Delete => "delete",
            StoreOp::List => "list",
        }
    }
}

/// Every framing, in label order.
pub(crate) const FRAMINGS: [Framing; 3] = [Framing::Raw, Framing::Sse, Framing::Frames];

/// A framing's label: `drift` for `application/vnd.drift.frames`.
pub(crate) fn framing_label(f: Framing) -> &'static str {
    match f {
        Framing::Raw => "raw",
        Framing::Sse => "sse",
        Framing::Frames => "drift",
    }
}

fn framing_index(f: Framing) -> usize {
    match f {
        Framing::Raw => 0,
        Framing::Sse => 1,
        Framing::Frames => 2,
    }
}

/// Why subscriptions ended, in label order: the end reasons, then
/// `closed` (the client went away or cancelled its stream first), then
/// `other` (a reason this version does not name).
pub(crate) const END_LABELS: [&str; 7] = [
    "slow_consumer",
    "deleted",
    "shutdown",
    "unauthorized",
    "reset",
    "closed",
    "other",
];
const END_CLOSED: usize = 5;

fn end_index(reason: &EndReason) -> usize {
    match reason {
        EndReason::SlowConsumer => 0,
        EndReason::Deleted => 1,
        EndReason::Shutdown => 2,
        EndReason::Unauthorized => 3,
        EndReason::Reset => 4,
        _ => 6,
    }
}

/// Gap reasons, in label order.
pub(crate) const GAP_REASONS: [GapReason; 3] =
    [GapReason::Expired, GapReason::Epoch, GapReason::Dropped];

fn gap_index(reason: GapReason) -> usize {
    match reason {
        GapReason::Expired => 0,
        GapReason::Epoch => 1,
        GapReason::Dropped => 2,
    }
}

/// Store latency buckets, in nanoseconds: 1 µs to 10 s.
const LATENCY_NS: &[u64] = &[
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// Subscriber lag buckets, in messages.
const LAG_MESSAGES: &[u64] = &[
    0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536,
];

// Counter indices in the one set of cells.
const CONN_OPENED: usize = 0; // 4: protocol × tls
const CONN_CLOSED: usize = CONN_OPENED + 4;
const SUB_OPENED: usize = CONN_CLOSED + 4; // 3: framing
const SUB_CLOSED: usize = SUB_OPENED + 3;
const DELIVERED: usize = SUB_CLOSED + 3; // 3: framing
const DELIVERED_BYTES: usize = DELIVERED + 3;
const PUBLISHED: usize = DELIVERED_BYTES + 3;
const PUBLISHED_BYTES: usize = PUBLISHED + 1;
const ENDED: usize = PUBLISHED_BYTES + 1; // 7: END_LABELS
const GAPS: usize = ENDED + END_LABELS.len(); // 3: GAP_REASONS
const REFUSED: usize = GAPS + 3; // 200: statuses 400..=599
const COUNTERS: usize = REFUSED + 200;

/// Everything counted, for one broker and the HTTP service over it.
pub(crate) struct Metrics {
    cells: Cells<COUNTERS>,
    store_latency: [Histogram; StoreOp::ALL.len()],
    lag: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn conn_index(p: Protocol, tls: bool) -> usize {
    (p as usize) * 2 + usize::from(tls)
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics {
            cells: Cells::new(),
            store_latency: std::array::from_fn(|_| Histogram::new(LATENCY_NS)),
            lag: Histogram::new(LAG_MESSAGES),
        }
    }

    // ----- counting -----

    pub(crate) fn connection_opened(&self, p: Protocol, tls: bool) {
        self.cells.add(CONN_OPENED + conn_index(p, tls), 1);
    }

    pub(crate) fn connection_closed(&self, p: Protocol, tls: bool) {
        self.cells.add(CONN_CLOSED + conn_index(p, tls), 1);
    }

    pub(crate) fn subscription_opened(&self, f: Framing) {
        self.cells.add(SUB_OPENED + framing_index(f), 1);
    }

    pub(crate) fn subscription_closed(&self, f: Framing) {
        self.cells.add(SUB_CLOSED + framing_index(f), 1);
    }

    /// `messages` messages of `bytes` payload bytes written to subscribers
    /// of framing `f` (once per poll).
    #[inline]
    pub(crate) fn delivered(&self, f: Framing, messages: u64, bytes: u64) {
        self.cells.add(DELIVERED + framing_index(f), messages);
        self.cells.add(DELIVERED_BYTES + framing_index(f), bytes);
    }

    /// A batch of `messages` messages of `bytes` payload bytes accepted.
    pub(crate) fn published(&self, messages: u64, bytes: u64) {
        self.cells.add(PUBLISHED, messages);
        self.cells.add(PUBLISHED_BYTES, bytes);
    }

    pub(crate) fn ended(&self, reason: &EndReason) {
        self.cells.add(ENDED + end_index(reason), 1);
    }

    /// A subscription's stream went away before its end event.
    pub(crate) fn ended_by_client(&self) {
        self.cells.add(ENDED + END_CLOSED, 1);
    }

    pub(crate) fn gaps(&self, reason: GapReason, n: u64) {
        self.cells.add(GAPS + gap_index(reason), n);
    }

    /// An answer with this status; only 4xx and 5xx are counted.
    pub(crate) fn answered(&self, status: u16) {
        if (400..600).contains(&status) {
            self.cells.add(REFUSED + usize::from(status - 400), 1);
        }
    }

    pub(crate) fn store_call(&self, op: StoreOp, nanos: u64) {
        self.store_latency[op as usize].observe(nanos);
    }

    /// How far behind the topic's newest message a subscriber was when it
    /// was handed a batch.
    pub(crate) fn lag(&self, messages: u64) {
        self.lag.observe(messages);
    }

    // ----- reading (a scrape) -----

    pub(crate) fn connections_opened(&self, p: Protocol, tls: bool) -> u64 {
        self.cells.sum(CONN_OPENED + conn_index(p, tls))
    }

    pub(crate) fn connections_open(&self, p: Protocol, tls: bool) -> u64 {
        let closed = self.cells.sum(CONN_CLOSED + conn_index(p, tls));
        self.connections_opened(p, tls).saturating_sub(closed)
    }

    pub(crate) fn subscriptions_open(&self, f: Framing) -> u64 {
        let closed = self.cells.sum(SUB_CLOSED + framing_index(f));
        self.subscriptions_opened(f).saturating_sub(closed)
    }

    pub(crate) fn subscriptions_opened(&self, f: Framing) -> u64 {
        self.cells.sum(SUB_OPENED + framing_index(f))
    }

    pub(crate) fn deliveries(&self, f: Framing) -> (u64, u64) {
        (
            self.cells.sum(DELIVERED + framing_index(f)),
            self.cells.sum(DELIVERED_BYTES + framing_index(f)),
        )
    }

    pub(crate) fn publishes(&self) -> (u64, u64) {
        (self.cells.sum(PUBLISHED), self.cells.sum(PUBLISHED_BYTES))
    }

    /// Ends per label of [`END_LABELS`].
    pub(crate) fn ends(&self) -> [u64; END_LABELS.len()] {
        std::array::from_fn(|i| self.cells.sum(ENDED + i))
    }

    pub(crate) fn gap_count(&self, reason: GapReason) -> u64 {
        self.cells.sum(GAPS + gap_index(reason))
    }

    /// `(status, count)` for every 4xx and 5xx answered at least once.
    pub(crate) fn refused(&self) -> Vec<(u16, u64)> {
        (0..200u16)
            .map(|i| (400 + i, self.cells.sum(REFUSED + usize::from(i))))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    pub(crate) fn store_latency(&self, op: StoreOp) -> Snapshot {
        self.store_latency[op as usize].snapshot()
    }

    pub(crate) fn lag_snapshot(&self) -> Snapshot {
        self.lag.snapshot()
    }
}
