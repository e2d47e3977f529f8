//! The writer thread: it alone holds the write connection. Appends,
//! creates and deletes from every caller queue up while it commits; it then
//! takes everything queued as one batch, applies it in one transaction
//! (with retention) and commits once. The committed batch then goes to
//! [`publish`]: with [`Fsync::Always`] through the sync thread, whose one
//! fdatasync covers every commit before it, so the writer is already on
//! the next batch while the last one syncs. Only then are the topics in
//! memory updated and the callers answered. The writer also syncs the log
//! every interval with [`Fsync::Interval`], checkpoints the write-ahead
//! log, expires messages by age and vacuums.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::log::{DiskLog, LogShared, LogState, Written, deleted};
use super::publish::{self, Answer, Change, Job, answer, publish};
use super::retention::{self, Span, Stored};
use super::schema::encode_config;
use super::{Core, err};
use crate::broker::config::TopicConfig;
use crate::broker::store::Fsync;
use crate::broker::store::{Appended, Opened};
use crate::error::Result;
use crate::lock::lock;
use crate::model::{Message, MessageId};

/// A retained message's row.
const INSERT_MESSAGE: &str =
    "INSERT INTO messages (epoch, seq, time_us, payload) VALUES (?1, ?2, ?3, ?4)";

/// Requests a batch holds at most.
const MAX_BATCH: usize = 8192;
/// Payload bytes a batch holds at most (one request may exceed it alone).
const MAX_BATCH_BYTES: usize = 64 << 20;
/// How often age expiry and vacuuming run.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// What callers ask of the writer.
pub(super) enum Request {
    Append {
        log: Arc<LogShared>,
        payloads: Vec<Bytes>,
        reply: oneshot::Sender<Result<Appended>>,
    },
    Create {
        name: Arc<str>,
        config: TopicConfig,
        reply: oneshot::Sender<Result<Opened>>,
    },
    Delete {
        name: Arc<str>,
        epoch: u64,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// Tests: the writer waits until this sender is dropped.
    #[cfg(test)]
    Hold(Receiver<()>),
    Shutdown,
}

impl Request {
    /// Payload bytes the request appends.
    fn bytes(&self) -> usize {
        match self {
            Request::Append { payloads, .. } => payloads.iter().map(Bytes::len).sum(),
            _ => 0,
        }
    }

    /// A request that ends the batch before it.
    fn is_control(&self) -> bool {
        #[cfg(test)]
        if matches!(self, Request::Hold(_)) {
            return true;
        }
        matches!(self, Request::Shutdown)
    }
}

/// The writer's own state.
pub(super) struct Writer {
    pub(super) core: Arc<Core>,
    pub(super) conn: Connection,
    pub(super) last_epoch: u64,
    /// Checkpoint the WAL (tests turn it off to leave a WAL behind).
    pub(super) checkpoint: bool,
    /// The WAL is checkpointed whenever its file is longer than this (it
    /// is cut back to it when it restarts after a complete checkpoint).
    pub(super) wal_limit: u64,
    /// The write-ahead log, to sync and to measure.
    pub(super) wal: File,
    /// Every topic as committed: ahead of `core.topics`, which has what is
    /// durable (and visible).
    pub(super) live: HashMap<Arc<str>, Arc<DiskLog>>,
    /// Held until the writer ends.
    pub(super) lock: File,
}

/// One topic's changes in the batch being built.
struct Pending {
    log: Arc<LogShared>,
    span: Span,
    last_time_us: u64,
    new: Vec<Arc<Message>>,
    appended: bool,
    deleted: bool,
}

#[derive(Default)]
struct Batch {
    pending: HashMap<u64, Pending>,
    /// Epochs in the order first touched.
    order: Vec<u64>,
    created: Vec<Arc<DiskLog>>,
    answers: Vec<Answer>,
    messages: u64,
}

impl Writer {
    /// Runs until [`Request::Shutdown`] (or every sender is gone).
    pub(super) fn run(mut self, queue: Receiver<Request>) {
        let interval = match self.core.options.fsync {
            Fsync::Always => None,
            Fsync::Interval(d) => Some(d),
        };
        let (mut jobs, syncer) = self.start_syncer();
        let tick = interval.map_or(HOUSEKEEPING, |d| d.min(HOUSEKEEPING));
        let mut next_sync = Instant::now() + interval.unwrap_or(HOUSEKEEPING);
        let mut next_housekeeping = Instant::now() + HOUSEKEEPING;
        let mut unsynced = false;
        let mut requests = Vec::new();
        // Requests taken from the queue after a hold, for the next batch.
        let mut backlog: Vec<Request> = Vec::new();
        'run: loop {
            // With Fsync::Always there is no periodic sync to wake for (the
            // sync thread syncs each commit): waiting for a `next_sync`
            // long past would spin on the queue.
            let due = match interval {
                Some(_) => next_sync.min(next_housekeeping),
                None => next_housekeeping,
            };
            let wait = due.saturating_duration_since(Instant::now()).min(tick);
            requests.append(&mut backlog);
            if requests.is_empty() {
                match queue.recv_timeout(wait) {
                    Ok(r) => requests.push(r),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break 'run,
                }
            }
            let mut bytes: usize = requests.iter().map(Request::bytes).sum();
            while requests.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match queue.try_recv() {
                    Ok(r) => {
                        bytes += r.bytes();
                        requests.push(r);
                    }
                    Err(_) => break,
                }
            }
            let mut control = None;
            if let Some(i) = requests.iter().position(Request::is_control) {
                let mut rest = requests.split_off(i).into_iter();
                control = rest.next();
                backlog.extend(rest);
            }
            if !requests.is_empty() {
                // Drained, not taken: the vector keeps its capacity for
                // the next batch instead of growing again from empty.
                let committed = self.commit_batch(requests.drain(..), &mut jobs);
                unsynced |= committed;
                if committed && self.checkpoint && self.wal_len() > self.wal_limit {
                    self.checkpoint("PASSIVE");
                }
            }
            match control {
                Some(Request::Shutdown) => break 'run,
                #[cfg(test)]
                Some(Request::Hold(release)) => {
                    let _ = release.recv();
                }
                _ => {}
            }
            let now = Instant::now();
            if interval.is_some() && now >= next_sync {
                if unsynced {
                    self.sync();
                    unsynced = false;
                }
                next_sync = now + interval.unwrap_or(HOUSEKEEPING);
            }
            if now >= next_housekeeping {
                unsynced |= self.expire(&mut jobs);
                if self.checkpoint
                    && let Err(e) = retention::vacuum(&self.conn)
                {
                    self.log_failure("vacuum", e);
                }
                next_housekeeping = now + HOUSEKEEPING;
            }
        }
        // The sync thread answers what it has, then ends.
        drop(jobs);
        if let Some(t) = syncer {
            let _ = t.join();
        }
        if self.checkpoint {
            // Leaves a small file and a short (or no) WAL for the next start.
            if let Err(e) = retention::vacuum(&self.conn) {
                self.log_failure("vacuum", e);
            }
            self.checkpoint("TRUNCATE");
        }
        let Writer { conn, lock, .. } = self;
        drop(conn);
        drop(lock);
    }

    /// With [`Fsync::Always`], the sync thread (`None` with
    /// [`Fsync::Interval`], or when it cannot start: the writer then syncs
    /// each commit itself).
    fn start_syncer(&self) -> (Sink, Option<std::thread::JoinHandle<()>>) {
        if !matches!(self.core.options.fsync, Fsync::Always) {
            return (Sink::Inline, None);
        }
        let started = self.wal.try_clone().and_then(|wal| {
            let (tx, rx) = mpsc::channel();
            let core = self.core.clone();
            std::thread::Builder::new()
                .name("drift-disk-sync".into())
                .spawn(move || publish::sync_thread(&core, &wal, &rx))
                .map(|t| (tx, t))
        });
        match started {
            Ok((tx, t)) => (Sink::AfterSync(tx), Some(t)),
            Err(e) => {
                tracing::warn!(
                    "data directory {}: no sync thread ({e}); the writer syncs each commit",
                    self.core.dir.display()
                );
                (Sink::SyncInline, None)
            }
        }
    }

    /// Hands a committed batch on to be made durable, visible and answered.
    fn deliver(&self, sink: &mut Sink, job: Job) {
        let job = match sink {
            Sink::Inline => return publish(&self.core, job),
            Sink::AfterSync(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => {
                    *sink = Sink::SyncInline;
                    job
                }
            },
            Sink::SyncInline => job,
        };
        self.core.stats.syncs.fetch_add(1, Ordering::Relaxed);
        match self.wal.sync_data() {
            Ok(()) => publish(&self.core, job),
            Err(e) => {
                self.core.poisoned.store(true, Ordering::Release);
                let e = err::io(&self.core.dir, "fsync failed in data directory", e);
                tracing::error!("{e}; the store accepts no more writes");
                answer(job.answers, Some(&e));
            }
        }
    }

    /// Makes everything committed so far durable ([`Fsync::Interval`]):
    /// an fdatasync of the WAL (checkpoints sync the database themselves).
    fn sync(&self) {
        self.core.stats.syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.wal.sync_data() {
            // As in `publish::sync_thread`: later fsyncs cannot be trusted.
            self.core.poisoned.store(true, Ordering::Release);
            let e = err::io(&self.core.dir, "fsync failed in data directory", e);
            tracing::error!("{e}; the store accepts no more writes");
        }
    }

    fn wal_len(&self) -> u64 {
        self.wal.metadata().map_or(0, |m| m.len())
    }

    fn checkpoint(&self, mode: &str) {
        let sql = format!("PRAGMA wal_checkpoint({mode})");
        if let Err(e) = self.conn.query_row(&sql, [], |_| Ok(())) {
            self.log_failure("checkpoint", e);
        }
    }

    fn log_failure(&self, what: &str, e: rusqlite::Error) {
        let e = err::sqlite(&self.core.dir, what, e, err::errno(&self.conn));
        tracing::warn!("{e}");
    }

    /// Applies, commits and hands on `requests`; returns whether it
    /// committed.
    fn commit_batch(
        &mut self,
        requests: impl ExactSizeIterator<Item = Request>,
        sink: &mut Sink,
    ) -> bool {
        let mut batch = Batch {
            answers: Vec::with_capacity(requests.len()),
            ..Batch::default()
        };
        if self.core.poisoned.load(Ordering::Acquire) {
            refuse(requests, &publish::poisoned(&self.core));
            return false;
        }
        let last_epoch = self.last_epoch;
        let result = self
            .build(&mut batch, requests)
            .and_then(|()| self.conn.execute_batch("COMMIT"));
        let result = result.map_err(|e| {
            let errno = err::errno(&self.conn);
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            err::sqlite(&self.core.dir, "cannot write", e, errno)
        });
        match result {
            Ok(()) => {
                self.core.stats.commits.fetch_add(1, Ordering::Relaxed);
                let job = self.committed(batch);
                self.deliver(sink, job);
                true
            }
            Err(e) => {
                self.last_epoch = last_epoch;
                answer(batch.answers, Some(&e));
                false
            }
        }
    }

    /// Everything in `requests`, inside one open transaction (left open).
    fn build(
        &mut self,
        batch: &mut Batch,
        requests: impl Iterator<Item = Request>,
    ) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let clock = self.core.clock;
        let mut requests = requests.peekable();
        while let Some(request) = requests.next() {
            match request {
                run @ Request::Append { .. } => {
                    // One statement for the whole run of appends (nearly
                    // every batch is one): taking it from rusqlite's cache
                    // and handing it back per append was about a tenth of
                    // the writer's work.
                    let mut insert = self.conn.prepare_cached(INSERT_MESSAGE)?;
                    let mut next = Some(run);
                    while let Some(Request::Append {
                        log,
                        payloads,
                        reply,
                    }) = next
                    {
                        let outcome = append(&mut insert, batch, log, &payloads, clock())?;
                        batch.answers.push(Answer::Append(reply, outcome));
                        next = requests.next_if(|r| matches!(r, Request::Append { .. }));
                    }
                }
                Request::Create {
                    name,
                    config,
                    reply,
                } => {
                    let (outcome, in_batch) = self.create(batch, name, config, clock())?;
                    batch.answers.push(Answer::Open(reply, outcome, in_batch));
                }
                Request::Delete { name, epoch, reply } => {
                    let outcome = self.delete(batch, &name, epoch)?;
                    batch.answers.push(Answer::Delete(reply, outcome));
                }
                #[cfg(test)]
                Request::Hold(_) => {}
                Request::Shutdown => {}
            }
        }
        let now = clock();
        for epoch in &batch.order {
            let Some(p) = batch.pending.get_mut(epoch) else {
                continue;
            };
            if p.deleted || !p.appended {
                continue;
            }
            let now = now.max(p.last_time_us);
            retention::trim(&self.conn, &mut p.span, &p.log.config, now)?;
            self.conn
                .prepare_cached(
                    "UPDATE topics SET last_seq = ?2, last_time_us = ?3, bytes = ?4 WHERE epoch = ?1",
                )?
                .execute((
                    p.span.epoch as i64,
                    p.span.last_seq as i64,
                    p.last_time_us as i64,
                    p.span.stored.bytes as i64,
                ))?;
        }
        if !batch.created.is_empty() {
            self.conn
                .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'last_epoch'")?
                .execute([self.last_epoch as i64])?;
        }
        Ok(())
    }

    fn pending<'b>(batch: &'b mut Batch, log: &Arc<LogShared>) -> &'b mut Pending {
        batch.pending.entry(log.epoch).or_insert_with(|| {
            batch.order.push(log.epoch);
            let written = lock(&log.written);
            Pending {
                log: log.clone(),
                span: written.span,
                last_time_us: written.last_time_us,
                new: Vec::new(),
                appended: false,
                deleted: written.deleted,
            }
        })
    }

    fn create(
        &mut self,
        batch: &mut Batch,
        name: Arc<str>,
        config: TopicConfig,
        clock_us: u64,
    ) -> rusqlite::Result<(Result<Opened>, bool)> {
        if let Some(log) = self.live.get(&name) {
            let log = log.clone();
            return Ok((
                Ok(Opened {
                    log,
                    created: false,
                }),
                false,
            ));
        }
        if let Some(log) = batch.created.iter().find(|l| l.shared.name == name) {
            let log = log.clone();
            return Ok((
                Ok(Opened {
                    log,
                    created: false,
                }),
                true,
            ));
        }
        let (history, max_messages, max_bytes, max_age) = match encode_config(&config) {
            Ok(c) => c,
            Err(e) => return Ok((Err(e), false)),
        };
        // From the clock (so that epochs differ from any a memory store
        // handed out before), never below one handed out before, and below
        // 2^53 for centuries.
        let epoch = clock_us.max(self.last_epoch + 1);
        self.conn
            .prepare_cached(
                "INSERT INTO topics (epoch, name, history, max_messages, max_bytes, max_age_ns, \
                                     last_seq, last_time_us, bytes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0)",
            )?
            .execute((
                epoch as i64,
                &*name,
                history,
                max_messages,
                max_bytes,
                max_age,
            ))?;
        self.last_epoch = epoch;
        let log = Arc::new(DiskLog {
            shared: Arc::new(LogShared::new(
                name,
                epoch,
                config,
                LogState::new(0, 0, 1, 0, 0),
                Stored {
                    first_seq: 1,
                    bytes: 0,
                },
            )),
            core: self.core.clone(),
        });
        batch.created.push(log.clone());
        Ok((Ok(Opened { log, created: true }), true))
    }

    fn delete(&mut self, batch: &mut Batch, name: &str, epoch: u64) -> rusqlite::Result<bool> {
        let found = self
            .live
            .get(name)
            .or_else(|| batch.created.iter().find(|l| &*l.shared.name == name))
            .map(|l| l.shared.clone());
        let Some(log) = found.filter(|l| l.epoch == epoch) else {
            return Ok(false);
        };
        let p = Self::pending(batch, &log);
        if p.deleted {
            return Ok(false);
        }
        p.deleted = true;
        self.conn
            .prepare_cached("DELETE FROM messages WHERE epoch = ?1")?
            .execute([epoch as i64])?;
        self.conn
            .prepare_cached("DELETE FROM topics WHERE epoch = ?1")?
            .execute([epoch as i64])?;
        Ok(true)
    }

    /// After the commit: the writer's own view as committed, and the job
    /// that makes the batch visible.
    fn committed(&mut self, mut batch: Batch) -> Job {
        for log in &batch.created {
            self.live.insert(log.shared.name.clone(), log.clone());
        }
        let mut changes = Vec::with_capacity(batch.order.len());
        for epoch in &batch.order {
            let Some(p) = batch.pending.remove(epoch) else {
                continue;
            };
            let mut written = lock(&p.log.written);
            if p.deleted {
                written.deleted = true;
                drop(written);
                if self
                    .live
                    .get(&p.log.name)
                    .is_some_and(|l| l.shared.epoch == p.log.epoch)
                {
                    self.live.remove(&p.log.name);
                }
                changes.push(Change::Deleted(p.log));
                continue;
            }
            if !p.appended {
                continue;
            }
            written.span = p.span;
            written.last_time_us = p.last_time_us;
            drop(written);
            changes.push(Change::Updated {
                log: p.log,
                span: p.span,
                last_time_us: p.last_time_us,
                new: p.new,
            });
        }
        Job {
            created: batch.created,
            changes,
            answers: batch.answers,
            messages: batch.messages,
        }
    }

    /// Deletes expired messages of every topic with an age bound; returns
    /// whether it committed anything.
    fn expire(&mut self, sink: &mut Sink) -> bool {
        let now = (self.core.clock)();
        let due: Vec<(Arc<LogShared>, Written)> = self
            .live
            .values()
            .filter(|l| l.shared.config.retention.max_age.is_some())
            .filter_map(|l| {
                let w = *lock(&l.shared.written);
                let over = w.span.over(&l.shared.config, now.max(w.last_time_us));
                over.then(|| (l.shared.clone(), w))
            })
            .collect();
        if due.is_empty() || self.core.poisoned.load(Ordering::Acquire) {
            return false;
        }
        let mut changes = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            for (log, w) in &due {
                let mut span = w.span;
                if retention::trim(&self.conn, &mut span, &log.config, now.max(w.last_time_us))? {
                    self.conn
                        .prepare_cached("UPDATE topics SET bytes = ?2 WHERE epoch = ?1")?
                        .execute((span.epoch as i64, span.stored.bytes as i64))?;
                    changes.push(Change::Updated {
                        log: log.clone(),
                        span,
                        last_time_us: w.last_time_us,
                        new: Vec::new(),
                    });
                }
            }
            self.conn.execute_batch("COMMIT")
        })();
        if let Err(e) = result {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            self.log_failure("expire messages", e);
            return false;
        }
        for change in &changes {
            if let Change::Updated { log, span, .. } = change {
                lock(&log.written).span = *span;
            }
        }
        let trimmed = !changes.is_empty();
        self.deliver(
            sink,
            Job {
                changes,
                ..Job::default()
            },
        );
        trimmed
    }
}

/// Inserts `payloads` into `log` with `insert` ([`INSERT_MESSAGE`]), inside
/// the batch's open transaction.
fn append(
    insert: &mut rusqlite::Statement<'_>,
    batch: &mut Batch,
    log: Arc<LogShared>,
    payloads: &[Bytes],
    clock_us: u64,
) -> rusqlite::Result<Result<Appended>> {
    let p = Writer::pending(batch, &log);
    if p.deleted {
        return Ok(Err(deleted(&log.name)));
    }
    let time_us = clock_us.max(p.last_time_us);
    let first_seq = p.span.last_seq + 1;
    let keep = log.config.retention.max_messages;
    // Only the newest `keep` of a large batch could survive the trim.
    let skip = payloads.len().saturating_sub(keep);
    let mut bytes = 0;
    for (i, payload) in payloads.iter().enumerate().skip(skip) {
        let seq = first_seq + i as u64;
        insert.execute((log.epoch as i64, seq as i64, time_us as i64, &payload[..]))?;
        bytes += payload.len() as u64;
        let id = MessageId {
            epoch: log.epoch,
            seq,
        };
        p.new
            .push(Arc::new(Message::new(id, time_us, payload.clone())));
    }
    if p.span.first_seq > p.span.last_seq {
        // Nothing was retained: the first kept message is the oldest.
        p.span.first_seq = first_seq + skip as u64;
        p.span.first_time_us = time_us;
    }
    if p.span.stored.first_seq > p.span.last_seq {
        p.span.stored.first_seq = first_seq + skip as u64;
    }
    p.span.last_seq += payloads.len() as u64;
    p.span.bytes += bytes;
    p.span.stored.bytes += bytes;
    p.last_time_us = time_us;
    p.appended = true;
    batch.messages += payloads.len() as u64;
    Ok(Ok(Appended { first_seq, time_us }))
}

/// Where committed batches go.
enum Sink {
    /// Made visible at once ([`Fsync::Interval`]).
    Inline,
    /// To the sync thread ([`Fsync::Always`]).
    AfterSync(Sender<Job>),
    /// Synced by the writer itself ([`Fsync::Always`] without a sync
    /// thread).
    SyncInline,
}

/// Answers every request with `e`.
fn refuse(requests: impl Iterator<Item = Request>, e: &crate::Error) {
    let answers = requests
        .filter_map(|r| match r {
            Request::Append { reply, .. } => Some(Answer::Append(
                reply,
                Ok(Appended {
                    first_seq: 0,
                    time_us: 0,
                }),
            )),
            Request::Create { reply, .. } => Some(Answer::Open(
                reply,
                Err(crate::Error::new(e.kind(), e.to_string())),
                false,
            )),
            Request::Delete { reply, .. } => Some(Answer::Delete(reply, true)),
            _ => None,
        })
        .collect();
    answer(answers, Some(e));
}
