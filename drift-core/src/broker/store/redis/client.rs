//! The store's operations as calls to Redis: one script each (see
//! `scripts.rs`), on one reconnecting multiplexed connection shared by
//! every topic, with their answers read back into the store's types.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::{RedisError, Value};

use super::keys::{DELETIONS, Keys};
use super::scripts;
use crate::broker::config::{Retention, TopicConfig};
use crate::broker::store::{Appended, Selection};
use crate::error::{Error, ErrorKind, Result};

/// A connection to the Redis server and its address for messages (never
/// its password).
#[derive(Clone)]
pub(super) struct Redis {
    pub(super) conn: ConnectionManager,
    pub(super) address: Arc<str>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("address", &self.address)
            .finish()
    }
}

/// A topic incarnation as Redis holds it.
#[derive(Debug, Clone)]
pub(super) struct TopicState {
    pub(super) epoch: u64,
    pub(super) config: TopicConfig,
    pub(super) last_seq: u64,
    pub(super) retained: u64,
    pub(super) retained_bytes: u64,
    pub(super) created: bool,
}

/// What an append found.
#[derive(Debug)]
pub(super) enum AppendOutcome {
    Appended {
        appended: Appended,
        retained: u64,
        retained_bytes: u64,
    },
    /// No such topic (deleted, or lost by the store).
    Gone,
    /// The topic is another incarnation now.
    Replaced,
    /// The caller has seen seqs the store no longer has.
    Behind,
}

/// What a read found: the log's newest seq and the messages selected.
#[derive(Debug)]
pub(super) enum ReadOutcome {
    Read {
        last_seq: u64,
        messages: Vec<(u64, u64, Bytes)>,
    },
    Gone,
    Replaced,
}

impl Redis {
    /// The topic `name`, created with `create` when it is missing.
    pub(super) async fn open(
        &self,
        name: &str,
        create: Option<&TopicConfig>,
    ) -> Result<Option<TopicState>> {
        let keys = Keys::of(name);
        let mut call = scripts::OPEN.key(&keys.meta);
        call.key(&keys.log);
        match create {
            Some(c) => {
                let r = &c.retention;
                call.arg("1")
                    .arg(if c.history { "1" } else { "0" })
                    .arg(r.max_messages)
                    .arg(r.max_bytes.map(|b| b.to_string()).unwrap_or_default())
                    .arg(
                        r.max_age
                            .map(|a| a.as_micros().to_string())
                            .unwrap_or_default(),
                    );
            }
            None => {
                call.arg("0");
            }
        }
        let answer: Vec<Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error(e))?;
        if int(answer.first()) == Some(2) {
            return Ok(None);
        }
        self.topic_state(&answer).map(Some)
    }

    fn topic_state(&self, a: &[Value]) -> Result<TopicState> {
        let bad = || self.malformed("open");
        let number = |i: usize| int(a.get(i)).and_then(|n| u64::try_from(n).ok());
        let optional = |i: usize| -> Result<Option<u64>> {
            match text(a.get(i)).ok_or_else(bad)?.as_str() {
                "" => Ok(None),
                t => t.parse().map(Some).map_err(|_| bad()),
            }
        };
        let keep: usize = text(a.get(3))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)?;
        Ok(TopicState {
            created: number(0).ok_or_else(bad)? == 1,
            epoch: number(1).ok_or_else(bad)?,
            config: TopicConfig {
                history: text(a.get(2)).ok_or_else(bad)? == "1",
                retention: Retention {
                    max_messages: keep,
                    max_bytes: optional(4)?,
                    max_age: optional(5)?.map(Duration::from_micros),
                },
            },
            last_seq: number(6).ok_or_else(bad)?,
            retained: number(7).ok_or_else(bad)?,
            retained_bytes: number(8).ok_or_else(bad)?,
        })
    }

    /// Appends `payloads` to incarnation `epoch` of `name`, whose newest
    /// seq the caller has seen is `seen`.
    pub(super) async fn append(
        &self,
        name: &str,
        epoch: u64,
        seen: u64,
        payloads: &[Bytes],
    ) -> Result<AppendOutcome> {
        let keys = Keys::of(name);
        let mut call = scripts::APPEND.key(&keys.meta);
        call.key(&keys.log).arg(epoch).arg(seen).arg(&keys.channel);
        for p in payloads {
            call.arg(&p[..]);
        }
        let answer: Vec<Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error(e))?;
        let number = |i: usize| int(answer.get(i)).and_then(|n| u64::try_from(n).ok());
        Ok(match number(0) {
            Some(0) => {
                let bad = || self.malformed("append");
                AppendOutcome::Appended {
                    appended: Appended {
                        first_seq: number(1).ok_or_else(bad)?,
                        time_us: number(2).ok_or_else(bad)?,
                    },
                    retained: number(3).ok_or_else(bad)?,
                    retained_bytes: number(4).ok_or_else(bad)?,
                }
            }
            Some(1) => AppendOutcome::Gone,
            Some(2) => AppendOutcome::Replaced,
            Some(3) => AppendOutcome::Behind,
            _ => return Err(self.malformed("append")),
        })
    }

    /// The retained messages of incarnation `epoch` of `name` that `sel`
    /// selects, as (seq, time, payload).
    pub(super) async fn read(
        &self,
        name: &str,
        epoch: u64,
        sel: &Selection,
    ) -> Result<ReadOutcome> {
        let keys = Keys::of(name);
        let mut call = scripts::READ.key(&keys.meta);
        call.key(&keys.log)
            .arg(epoch)
            .arg(sel.after_seq)
            .arg(sel.since_us.map(|t| t.to_string()).unwrap_or_default())
            .arg(sel.last.map(|n| n.to_string()).unwrap_or_default());
        let answer: Vec<Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error(e))?;
        let bad = || self.malformed("read");
        let number = |v: Option<&Value>| int(v).and_then(|n| u64::try_from(n).ok());
        match number(answer.first()) {
            Some(0) => {}
            Some(1) => return Ok(ReadOutcome::Gone),
            Some(2) => return Ok(ReadOutcome::Replaced),
            _ => return Err(bad()),
        }
        let last_seq = number(answer.get(1)).ok_or_else(bad)?;
        let mut messages = Vec::with_capacity(answer.len().saturating_sub(2) / 3);
        let mut rest = answer.into_iter().skip(2);
        while let Some(seq) = rest.next() {
            let seq = number(Some(&seq)).ok_or_else(bad)?;
            let time = number(rest.next().as_ref()).ok_or_else(bad)?;
            let payload = match rest.next() {
                Some(Value::BulkString(b)) => Bytes::from(b),
                _ => return Err(bad()),
            };
            messages.push((seq, time, payload));
        }
        Ok(ReadOutcome::Read { last_seq, messages })
    }

    /// Deletes incarnation `epoch` of `name`; `false` when it is not there.
    pub(super) async fn delete(&self, name: &str, epoch: u64) -> Result<bool> {
        let keys = Keys::of(name);
        let deleted: i64 = scripts::DELETE
            .key(&keys.meta)
            .key(&keys.log)
            .arg(epoch)
            .arg(DELETIONS)
            .arg(name)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error(e))?;
        Ok(deleted == 1)
    }

    /// Ends incarnation `epoch` of `name` when the store holds fewer seqs
    /// of it than `seen` (see `lua/reset.lua`).
    pub(super) async fn reset(&self, name: &str, epoch: u64, seen: u64) -> Result<bool> {
        let keys = Keys::of(name);
        let reset: i64 = scripts::RESET
            .key(&keys.meta)
            .key(&keys.log)
            .arg(epoch)
            .arg(seen)
            .arg(DELETIONS)
            .arg(name)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error(e))?;
        Ok(reset == 1)
    }

    /// The current epoch and newest seq of `name`, and the epoch of its
    /// tombstone: `(None, 0, Some(e))` just after incarnation `e` was
    /// deleted.
    pub(super) async fn head(&self, name: &str) -> Result<(Option<u64>, u64, Option<u64>)> {
        let keys = Keys::of(name);
        let fields: Vec<Option<u64>> = redis::cmd("HMGET")
            .arg(&keys.meta)
            .arg("epoch")
            .arg("last_seq")
            .arg("gone")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error(e))?;
        let field = |i: usize| fields.get(i).copied().flatten();
        Ok((field(0), field(1).unwrap_or(0), field(2)))
    }

    /// A failed call, as the store's error: 503 with the reason.
    pub(super) fn error(&self, e: RedisError) -> Error {
        let what = if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            "cannot be reached"
        } else {
            "failed"
        };
        Error::new(
            ErrorKind::Storage,
            format!("the Redis store at {} {what}: {e}", self.address),
        )
        .with_source(e)
    }

    fn malformed(&self, op: &str) -> Error {
        Error::new(
            ErrorKind::Storage,
            format!(
                "the Redis store at {} answered {op} in an unknown form (are two versions of Drift sharing it?)",
                self.address
            ),
        )
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::Nil => Some(String::new()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}
