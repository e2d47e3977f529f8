//! Making committed batches visible and answering their callers: at once
//! with [`Fsync::Interval`](super::Fsync::Interval), or with
//! [`Fsync::Always`](super::Fsync::Always) on the sync thread, after its
//! `fdatasync` of the write-ahead log has put the commit on stable storage.
//!
//! The writer commits with `synchronous = NORMAL` (the commit is written to
//! the OS, not synced) and hands the batch here; while the sync thread
//! syncs, the writer already builds and commits the next batch, and one
//! sync covers every commit written before it. Nothing is answered, and no
//! reader sees a message (neither in the cache nor on disk through the
//! topic's bounds), before its commit is durable. This is what
//! `synchronous = FULL` would give, with the fsync taken out of the
//! writer's critical path.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use tokio::sync::oneshot;

use super::log::{DiskLog, LogShared};
use super::retention::Span;
use super::{Core, err};
use crate::broker::store::{Appended, Opened};
use crate::error::{Error, ErrorKind, Result};
use crate::lock::lock;
use crate::model::Message;

/// What to answer, once the batch's fate is known.
pub(super) enum Answer {
    Append(oneshot::Sender<Result<Appended>>, Result<Appended>),
    /// The flag: the answer is a topic this batch creates.
    Open(oneshot::Sender<Result<Opened>>, Result<Opened>, bool),
    Delete(oneshot::Sender<Result<bool>>, bool),
}

/// A topic's state after a commit.
pub(super) enum Change {
    Updated {
        log: Arc<LogShared>,
        span: Span,
        last_time_us: u64,
        new: Vec<Arc<Message>>,
    },
    Deleted(Arc<LogShared>),
}

/// A committed batch, to be made visible and answered.
#[derive(Default)]
pub(super) struct Job {
    pub(super) created: Vec<Arc<DiskLog>>,
    pub(super) changes: Vec<Change>,
    pub(super) answers: Vec<Answer>,
    pub(super) messages: u64,
}

/// Makes `job` visible: the topics in memory as committed, then the
/// answers.
pub(super) fn publish(core: &Core, job: Job) {
    let options = &core.options;
    // What the caches cost before and after, told to the budget once.
    let (mut before, mut after) = (0, 0);
    {
        let mut topics = lock(&core.topics);
        for log in job.created {
            topics.insert(log.shared.name.clone(), log);
        }
        for change in job.changes {
            match change {
                Change::Deleted(log) => {
                    let mut state = lock(&log.state);
                    state.clear();
                    before += log.recount(&state);
                    drop(state);
                    if topics
                        .get(&log.name)
                        .is_some_and(|l| l.shared.epoch == log.epoch)
                    {
                        topics.remove(&log.name);
                    }
                }
                Change::Updated {
                    log,
                    span,
                    last_time_us,
                    new,
                } => {
                    let mut state = lock(&log.state);
                    state.first_seq = span.first_seq;
                    state.first_time_us = span.first_time_us;
                    state.last_seq = span.last_seq;
                    state.bytes = span.bytes;
                    state.last_time_us = last_time_us;
                    state.cache_push(new, options.cache_messages, options.cache_bytes);
                    before += log.recount(&state);
                    after += state.cache_bytes;
                    log.last_seq.store(span.last_seq, Ordering::Release);
                }
            }
        }
    }
    if before != after && core.budget.change(before, after) {
        core.settle();
    }
    core.stats
        .messages
        .fetch_add(job.messages, Ordering::Relaxed);
    answer(job.answers, None);
}

/// The sync thread: syncs the WAL once for every run of queued jobs, then
/// publishes them in order. Ends when the writer drops its sender.
pub(super) fn sync_thread(core: &Core, wal: &File, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut run = vec![first];
        run.extend(jobs.try_iter());
        core.stats.syncs.fetch_add(1, Ordering::Relaxed);
        match wal.sync_data() {
            Ok(()) => {
                for job in run {
                    publish(core, job);
                }
            }
            Err(e) => {
                // After a failed fsync the OS may have dropped the dirty
                // pages, and a later fsync may succeed without them: no
                // later commit can be trusted, so none is made.
                core.poisoned.store(true, Ordering::Release);
                let e = err::io(&core.dir, "fsync failed in data directory", e);
                tracing::error!("{e}; the store accepts no more writes");
                for job in run {
                    answer(job.answers, Some(&e));
                }
            }
        }
    }
}

/// The answer to every write once an fsync has failed.
pub(super) fn poisoned(core: &Core) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!(
            "data directory {}: an fsync failed earlier; restart the server",
            core.dir.display()
        ),
    )
}

/// Answers every caller: with its outcome, or with `failed` when the
/// batch did not commit (a failed append assigns no seq).
pub(super) fn answer(answers: Vec<Answer>, failed: Option<&Error>) {
    let fail = |e: &Error| Error::new(e.kind(), e.to_string());
    for a in answers {
        // A caller that went away is no error.
        match (a, failed) {
            (Answer::Append(reply, outcome), None) => {
                let _ = reply.send(outcome);
            }
            (Answer::Append(reply, outcome), Some(e)) => {
                let _ = reply.send(outcome.and_then(|_| Err(fail(e))));
            }
            (Answer::Open(reply, outcome, _), None) => {
                let _ = reply.send(outcome);
            }
            (Answer::Open(reply, outcome, in_batch), Some(e)) => {
                let _ =
                    reply.send(outcome.and_then(|o| if in_batch { Err(fail(e)) } else { Ok(o) }));
            }
            (Answer::Delete(reply, outcome), None) => {
                let _ = reply.send(Ok(outcome));
            }
            (Answer::Delete(reply, outcome), Some(e)) => {
                let _ = reply.send(if outcome { Err(fail(e)) } else { Ok(false) });
            }
        }
    }
}
