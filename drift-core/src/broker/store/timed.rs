//! A store that times every call of the store it wraps, for `/metrics`'s
//! store latency histogram. The broker wraps its store in one when it
//! counts; a call that answers at once (the memory store) costs two clock
//! reads, one that answers later is timed until its answer.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{
    Appended, Commits, MemoryUse, Notices, Opened, Selection, StoreCall, TopicLog, TopicStore,
};
use crate::broker::config::TopicConfig;
use crate::metrics::{Metrics, StoreOp};
use crate::model::Message;

/// Times the calls of `inner` (and of the logs it hands out).
#[derive(Debug)]
pub(crate) struct TimedStore {
    inner: Arc<dyn TopicStore>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub(crate) fn new(inner: Arc<dyn TopicStore>, metrics: Arc<Metrics>) -> TimedStore {
        TimedStore { inner, metrics }
    }

    fn log(&self, log: Arc<dyn TopicLog>) -> Arc<dyn TopicLog> {
        Arc::new(TimedLog {
            inner: log,
            metrics: self.metrics.clone(),
        })
    }
}

/// Observes `call`'s latency from `start` as `op`, at once or when it
/// answers.
fn timed<T: Send + 'static>(
    metrics: &Arc<Metrics>,
    op: StoreOp,
    start: Instant,
    call: StoreCall<T>,
) -> StoreCall<T> {
    match call {
        StoreCall::Ready(r) => {
            metrics.store_call(op, nanos(start));
            StoreCall::Ready(r)
        }
        StoreCall::Later(f) => {
            let metrics = metrics.clone();
            StoreCall::later(async move {
                let r = f.await;
                metrics.store_call(op, nanos(start));
                r
            })
        }
    }
}

fn nanos(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl TopicStore for TimedStore {
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        let start = Instant::now();
        let call = match self.inner.list() {
            StoreCall::Ready(r) => StoreCall::Ready(
                r.map(|logs| logs.into_iter().map(|l| self.log(l)).collect::<Vec<_>>()),
            ),
            StoreCall::Later(f) => {
                let metrics = self.metrics.clone();
                StoreCall::later(async move {
                    let logs = f.await?;
                    Ok(logs
                        .into_iter()
                        .map(|inner| {
                            Arc::new(TimedLog {
                                inner,
                                metrics: metrics.clone(),
                            }) as Arc<dyn TopicLog>
                        })
                        .collect())
                })
            }
        };
        timed(&self.metrics, StoreOp::List, start, call)
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        let start = Instant::now();
        let wrap = |metrics: &Arc<Metrics>, opened: Option<Opened>| {
            opened.map(|Opened { log, created }| Opened {
                log: Arc::new(TimedLog {
                    inner: log,
                    metrics: metrics.clone(),
                }),
                created,
            })
        };
        let call = match self.inner.open(name, create) {
            StoreCall::Ready(r) => StoreCall::Ready(r.map(|o| wrap(&self.metrics, o))),
            StoreCall::Later(f) => {
                let metrics = self.metrics.clone();
                StoreCall::later(async move { Ok(wrap(&metrics, f.await?)) })
            }
        };
        timed(&self.metrics, StoreOp::Open, start, call)
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        let start = Instant::now();
        timed(
            &self.metrics,
            StoreOp::Delete,
            start,
            self.inner.delete(name, epoch),
        )
    }

    fn forget_unused(&self, name: &str, epoch: u64) -> bool {
        self.inner.forget_unused(name, epoch)
    }

    fn notices(&self) -> Option<Notices> {
        self.inner.notices()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
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

/// Times the calls of one topic's log.
#[derive(Debug)]
struct TimedLog {
    inner: Arc<dyn TopicLog>,
    metrics: Arc<Metrics>,
}

impl TopicLog for TimedLog {
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
        let start = Instant::now();
        timed(
            &self.metrics,
            StoreOp::Append,
            start,
            self.inner.append(payloads),
        )
    }

    fn read(&self, selection: &Selection) -> StoreCall<Vec<Arc<Message>>> {
        let start = Instant::now();
        timed(
            &self.metrics,
            StoreOp::Read,
            start,
            self.inner.read(selection),
        )
    }

    fn watch(&self) -> StoreCall<Option<u64>> {
        self.inner.watch()
    }

    fn unwatch(&self) {
        self.inner.unwatch()
    }

    fn is_unused(&self) -> bool {
        self.inner.is_unused()
    }

    fn is_deleted(&self) -> bool {
        self.inner.is_deleted()
    }
}
