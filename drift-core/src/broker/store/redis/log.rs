//! One topic incarnation kept in Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::client::{AppendOutcome, ReadOutcome, Redis, TopicState};
use super::watcher::Command;
use crate::broker::config::TopicConfig;
use crate::broker::store::{Appended, Selection, StoreCall, TopicLog};
use crate::error::{Error, ErrorKind};
use crate::model::{Message, MessageId};

/// A topic incarnation in Redis. What it knows of the log (newest seq,
/// what is retained) is what Redis last answered it, so it is as current
/// as this node's last call.
#[derive(Debug)]
pub(super) struct RedisLog {
    name: Arc<str>,
    epoch: u64,
    config: TopicConfig,
    redis: Redis,
    watcher: mpsc::UnboundedSender<Command>,
    /// The newest seq this node has seen of the incarnation: evidence, when
    /// Redis later holds fewer, that it lost data.
    last_seq: Arc<AtomicU64>,
    retained: Arc<AtomicU64>,
    retained_bytes: Arc<AtomicU64>,
}

impl RedisLog {
    pub(super) fn new(
        name: &str,
        state: &TopicState,
        redis: Redis,
        watcher: mpsc::UnboundedSender<Command>,
    ) -> RedisLog {
        RedisLog {
            name: Arc::from(name),
            epoch: state.epoch,
            config: state.config,
            redis,
            watcher,
            last_seq: Arc::new(AtomicU64::new(state.last_seq)),
            retained: Arc::new(AtomicU64::new(state.retained)),
            retained_bytes: Arc::new(AtomicU64::new(state.retained_bytes)),
        }
    }

    fn gone(name: &str) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("topic {name:?} was deleted (or lost by the Redis store)"),
        )
    }
}

impl TopicLog for RedisLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn config(&self) -> &TopicConfig {
        &self.config
    }

    fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    fn retained(&self) -> usize {
        usize::try_from(self.retained.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    fn retained_bytes(&self) -> u64 {
        self.retained_bytes.load(Ordering::Relaxed)
    }

    fn append(&self, payloads: &[Bytes]) -> StoreCall<Appended> {
        let (redis, name, epoch) = (self.redis.clone(), self.name.clone(), self.epoch);
        let (last_seq, retained, retained_bytes) = (
            self.last_seq.clone(),
            self.retained.clone(),
            self.retained_bytes.clone(),
        );
        let payloads = payloads.to_vec();
        StoreCall::later(async move {
            let seen = last_seq.load(Ordering::Acquire);
            match redis.append(&name, epoch, seen, &payloads).await? {
                AppendOutcome::Appended {
                    appended,
                    retained: count,
                    retained_bytes: bytes,
                } => {
                    let last = appended.first_seq + payloads.len() as u64 - 1;
                    last_seq.fetch_max(last, Ordering::AcqRel);
                    retained.store(count, Ordering::Relaxed);
                    retained_bytes.store(bytes, Ordering::Relaxed);
                    Ok(appended)
                }
                AppendOutcome::Gone | AppendOutcome::Replaced => Err(RedisLog::gone(&name)),
                AppendOutcome::Behind => {
                    // Redis came back with older data than it had handed
                    // out: never number new messages with seqs already
                    // used. The topic starts again under a new epoch (every
                    // node is told); this publish is refused, the next
                    // goes to the new incarnation.
                    redis.reset(&name, epoch, seen).await?;
                    Err(Error::new(
                        ErrorKind::Storage,
                        format!(
                            "the Redis store lost messages of topic {name:?} (it came back with \
                             older data); the topic starts again under a new epoch: publish again"
                        ),
                    ))
                }
            }
        })
    }

    fn read(&self, selection: &Selection) -> StoreCall<Vec<Arc<Message>>> {
        let (redis, name, epoch, sel) = (
            self.redis.clone(),
            self.name.clone(),
            self.epoch,
            *selection,
        );
        let last_seq = self.last_seq.clone();
        StoreCall::later(async move {
            match redis.read(&name, epoch, &sel).await? {
                ReadOutcome::Read {
                    last_seq: last,
                    messages,
                } => {
                    last_seq.fetch_max(last, Ordering::AcqRel);
                    Ok(messages
                        .into_iter()
                        .map(|(seq, time, payload)| {
                            Arc::new(Message::new(MessageId { epoch, seq }, time, payload))
                        })
                        .collect())
                }
                ReadOutcome::Gone | ReadOutcome::Replaced => Err(RedisLog::gone(&name)),
            }
        })
    }

    fn watch(&self) -> StoreCall<Option<u64>> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Watch {
            name: self.name.clone(),
            epoch: self.epoch,
            seen: self.last_seq(),
            history: self.config.history,
            reply,
        };
        let address = self.redis.address.clone();
        let sent = self.watcher.send(command).is_ok();
        let last_seq = self.last_seq.clone();
        StoreCall::later(async move {
            let stopped = || {
                Error::new(
                    ErrorKind::Storage,
                    format!("the Redis store at {address} is closed"),
                )
            };
            if !sent {
                return Err(stopped());
            }
            let last = answer.await.map_err(|_| stopped())??;
            last_seq.fetch_max(last, Ordering::AcqRel);
            Ok(Some(last))
        })
    }

    fn unwatch(&self) {
        let _ = self.watcher.send(Command::Unwatch {
            name: self.name.clone(),
            epoch: self.epoch,
        });
    }
}
