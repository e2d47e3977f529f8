//! The shared store: topics, epochs, seqs and history in Redis, for
//! several Drift nodes that behave as one server.
//!
//! Every operation that must be atomic for all nodes is one server-side
//! script (`lua/`): a publish batch takes the next seqs, is added to the
//! topic's stream, trimmed by count, bytes and age, and announced on the
//! topic's channel, in one round trip. Each node listens (one pub/sub
//! connection) only to the channels of topics it has subscribers for, and
//! fans out what it hears through the broker's usual reorder buffer; see
//! `watcher.rs` for how lost notices and a Redis that lost data are told
//! apart from a quiet topic. `docs/ARCHITECTURE.md` ("The Redis store")
//! has the costs.

mod client;
mod keys;
mod log;
mod scripts;
mod watcher;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::redis_address::redis_address;
use super::{Notice, Notices, Opened, StoreCall, TopicLog, TopicStore};
use crate::broker::config::TopicConfig;
use crate::error::{Error, ErrorKind, Result};
use client::Redis;
use log::RedisLog;
use watcher::{Command, Watcher};

/// How long connecting to Redis may take, and an answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Topics kept in a Redis server that several nodes share (`drift serve
/// --redis URL`).
#[derive(Debug, Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    redis: Redis,
    watcher: mpsc::UnboundedSender<Command>,
    notices: Mutex<Option<mpsc::UnboundedReceiver<Notice>>>,
}

impl RedisStore {
    /// A store in the Redis server at `url`: `redis://[:PASSWORD@]HOST:PORT[/DB]`,
    /// or `rediss://…` for TLS. Connects in the background (a server whose
    /// Redis is down starts, and answers 503 until it is up); must be
    /// called inside a tokio runtime, which runs its connections.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a URL that is not one of these, and
    /// [`ErrorKind::Internal`] outside a tokio runtime.
    pub fn open(url: &str) -> Result<RedisStore> {
        let address = redis_address(url);
        let client = redis::Client::open(url).map_err(|e| {
            Error::invalid(format!(
                "cannot use the Redis URL for {address}: {e} (expected redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…)"
            ))
        })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Internal,
                "the Redis store must be opened inside a tokio runtime",
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| Error::invalid(format!("cannot use the Redis store at {address}: {e}")))?;
        let redis = Redis {
            conn,
            address: Arc::from(address),
        };
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (notices, notices_rx) = mpsc::unbounded_channel();
        runtime.spawn(Watcher::new(client, redis.clone(), commands_rx, notices).run());
        Ok(RedisStore {
            shared: Arc::new(Shared {
                redis,
                watcher: commands,
                notices: Mutex::new(Some(notices_rx)),
            }),
        })
    }

    /// Where the store is, for messages: `HOST:PORT` (never the password).
    pub fn address(&self) -> &str {
        &self.shared.redis.address
    }
}

impl TopicStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    /// Nothing: topics are opened by name on first use, so that a node
    /// does not load every topic of a shared store.
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        StoreCall::ok(Vec::new())
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        let shared = self.shared.clone();
        let (name, create) = (name.to_owned(), create.copied());
        StoreCall::later(async move {
            let Some(state) = shared.redis.open(&name, create.as_ref()).await? else {
                return Ok(None);
            };
            let log = RedisLog::new(&name, &state, shared.redis.clone(), shared.watcher.clone());
            Ok(Some(Opened {
                log: Arc::new(log),
                created: state.created,
            }))
        })
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        let (redis, name) = (self.shared.redis.clone(), name.to_owned());
        StoreCall::later(async move { redis.delete(&name, epoch).await })
    }

    fn notices(&self) -> Option<Notices> {
        let receiver = crate::lock::lock(&self.shared.notices).take()?;
        Some(Box::pin(UnboundedReceiverStream::new(receiver)))
    }
}
