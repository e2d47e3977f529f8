//! Delivery accounting on the subscriber side: what one connection
//! measured, and the sink that counts each message of a subscription's
//! stream (latency, first deliveries against a bitmap, duplicates).

use hdrhistogram::Histogram;

use super::super::latency_log::{Delivery, Route};
use super::super::payload::{self, Sink};
use super::super::report;
use super::shared::WARMUP_PUBLISHER;

/// What one subscriber connection measured.
pub(crate) struct ConnStats {
    pub hist: Histogram<u64>,
    pub unique: u64,
    pub dups: u64,
    pub bytes: u64,
    pub other: u64,
    pub bad: u64,
    /// Streams that ended (in-band end, END_STREAM or reset) while measuring.
    pub ended: u64,
    /// With `--resume`: streams opened again on another server.
    pub resumed: u64,
    /// Per subscription: (expected, unique received).
    pub per_sub: Vec<(u64, u64)>,
    pub(super) bitmaps: Vec<Vec<u64>>,
    pub(super) warm: Vec<bool>,
    /// With `--latency-log`: every delivery.
    pub(super) log: Option<Vec<Delivery>>,
}

impl ConnStats {
    pub(crate) fn new() -> ConnStats {
        ConnStats {
            hist: report::histogram(),
            unique: 0,
            dups: 0,
            bytes: 0,
            other: 0,
            bad: 0,
            ended: 0,
            resumed: 0,
            per_sub: Vec::new(),
            bitmaps: Vec::new(),
            warm: Vec::new(),
            log: None,
        }
    }

    /// Adds `o`'s counts, and moves its per-subscription figures and its
    /// deliveries in (a `--latency-log` run holds millions of them: they are
    /// not copied on their way from each connection to the summary).
    pub(crate) fn merge(&mut self, mut o: ConnStats) {
        let _ = self.hist.add(&o.hist);
        self.unique += o.unique;
        self.dups += o.dups;
        self.bytes += o.bytes;
        self.other += o.other;
        self.bad += o.bad;
        self.ended += o.ended;
        self.resumed += o.resumed;
        self.per_sub.append(&mut o.per_sub);
        if let Some(mut theirs) = o.log {
            self.log.get_or_insert_with(Vec::new).append(&mut theirs);
        }
    }
}

/// Counts what one chunk of subscription `local`'s stream delivered.
pub(super) struct SubSink<'a> {
    pub st: &'a mut ConnStats,
    pub local: usize,
    /// For `--latency-log`.
    pub route: Route,
    pub offsets: &'a [u64],
    pub now: u64,
    pub new: u64,
    pub warmed: u64,
    pub ended: bool,
}

impl Sink for SubSink<'_> {
    fn message(&mut self, p: &[u8]) {
        let Some(h) = payload::decode(p) else {
            self.st.bad += 1;
            return;
        };
        if h.publisher == WARMUP_PUBLISHER {
            if !std::mem::replace(&mut self.st.warm[self.local], true) {
                self.warmed += 1;
            }
            return;
        }
        self.st.bytes += h.len as u64;
        self.st
            .hist
            .saturating_record(self.now.saturating_sub(h.ts_us).max(1));
        if let Some(log) = &mut self.st.log {
            log.push(Delivery {
                published_us: h.ts_us,
                received_us: self.now,
                seq: h.seq,
                publisher: h.publisher,
                route: self.route,
            });
        }
        let Some(&base) = self.offsets.get(h.publisher as usize) else {
            self.st.bad += 1;
            return;
        };
        let idx = base + h.seq;
        let bitmap = &mut self.st.bitmaps[self.local];
        let (word, bit) = ((idx / 64) as usize, 1u64 << (idx % 64));
        match bitmap.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                self.st.unique += 1;
                self.st.per_sub[self.local].1 += 1;
                self.new += 1;
            }
            Some(_) => self.st.dups += 1,
            None => self.st.bad += 1,
        }
    }

    fn other(&mut self) {
        self.st.other += 1;
    }

    fn end(&mut self) {
        self.ended = true;
    }
}
