//! The broker: topics, history, sequence numbers and epochs, subscriber
//! back-pressure and fan-out. It knows nothing about HTTP and can be used
//! in-process from Rust:
//!
//! ```
//! # async fn demo() -> drift_core::Result<()> {
//! use drift_core::broker::{Access, Broker, BrokerConfig};
//! use drift_core::model::{HistoryRequest, SlowPolicy};
//! use drift_core::Event;
//!
//! let broker = Broker::new(BrokerConfig::default());
//! let mut sub = broker.subscribe("news", HistoryRequest::default(), SlowPolicy::Disconnect, &Access::default())?;
//! let published = broker.publish("news", "hello".into(), &Access::default())?;
//! match sub.next_event().await {
//!     Some(Event::Message(m)) => assert_eq!(m.seq, published.id.seq),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod history;
pub mod store;
mod subscription;
mod topic;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

pub use auth::{Access, Action, AllowAll, Authorizer};
pub use config::{
    BrokerConfig, MAX_HISTORY_LENGTH, TopicConfig, TopicConfigRequest, validate_topic_name,
};
pub use history::{
    HistoryStore, HistoryStoreFactory, MemoryHistory, MemoryHistoryFactory, Retention, Selection,
};
pub use subscription::Subscription;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{EndReason, HistoryRequest, MessageId, SlowPolicy, now_us};
use topic::Topic;

/// The outcome of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The message's id.
    pub id: MessageId,
    /// Publish time, µs since the Unix epoch.
    pub time_us: u64,
    /// The publish created the topic.
    pub created: bool,
}

/// The outcome of a create (`PUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new topic with this epoch.
    New(u64),
    /// The topic already existed with the same configuration.
    Existing(u64),
}

/// A snapshot of one topic, for `HEAD` and inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic's epoch.
    pub epoch: u64,
    /// Newest seq (0 when nothing was published).
    pub last_seq: u64,
    /// Retained history messages.
    pub history_len: usize,
    /// The topic's configuration.
    pub config: TopicConfig,
}

/// Topics and their subscribers. Cheap to clone; all clones share state.
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BrokerConfig,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    subscriptions: AtomicUsize,
    shutting_down: AtomicBool,
    last_epoch: AtomicU64,
    /// The wall clock, µs since the Unix epoch (tests step it back).
    clock: fn() -> u64,
}

/// Publishes to one topic, authorised once (see [`Broker::publisher`]).
#[derive(Debug)]
pub struct Publisher {
    broker: Broker,
    topic: String,
    /// The topic incarnation last published to, kept so that a stream of
    /// messages does not look the topic up again for each one.
    current: Option<Arc<Topic>>,
}

impl Publisher {
    /// Publishes one message; never waits for a subscriber.
    pub fn publish(&mut self, payload: Bytes) -> Result<Published> {
        self.broker.check_size(&payload)?;
        self.broker
            .publish_checked(&self.topic, &mut self.current, payload)
    }
}

/// Counts a subscription against the broker's limit while it lives.
#[derive(Debug)]
pub(crate) struct SubscriptionSlot(Arc<Inner>);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.subscriptions.fetch_sub(1, Ordering::AcqRel);
    }
}

// ===== impl Broker =====

impl Broker {
    /// A broker with these limits and hooks.
    pub fn new(config: BrokerConfig) -> Broker {
        Broker::with_clock(config, now_us)
    }

    /// A broker that reads the time from `clock`.
    pub(crate) fn with_clock(config: BrokerConfig, clock: fn() -> u64) -> Broker {
        Broker {
            inner: Arc::new(Inner {
                config,
                topics: RwLock::new(HashMap::new()),
                subscriptions: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                last_epoch: AtomicU64::new(0),
                clock,
            }),
        }
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// Publishes `payload` to `topic`, creating the topic unless the broker
    /// requires explicit creation. Never waits for a subscriber.
    pub fn publish(&self, topic: &str, payload: Bytes, access: &Access<'_>) -> Result<Published> {
        self.check_name(topic)?;
        self.check_size(&payload)?;
        self.authorize_publish(topic, access)?;
        self.publish_checked(topic, &mut None, payload)
    }

    /// Stores and fans out a message already checked and authorised, to
    /// `current` when it is still the topic's incarnation (then `current`
    /// is kept for the next message).
    fn publish_checked(
        &self,
        topic: &str,
        current: &mut Option<Arc<Topic>>,
        payload: Bytes,
    ) -> Result<Published> {
        loop {
            let (t, created) = match current.take() {
                Some(t) => (t, false),
                None => self.topic_for_use(topic)?,
            };
            if let Some((id, time_us)) = t.publish(payload.clone()) {
                *current = Some(t);
                return Ok(Published {
                    id,
                    time_us,
                    created,
                });
            }
            // Deleted since it was looked up: the next lookup creates anew.
        }
    }

    /// Publishes each payload in order (a streamed publish). Stops at the
    /// first error; the messages before it stay published.
    pub fn publish_many<I>(
        &self,
        topic: &str,
        payloads: I,
        access: &Access<'_>,
    ) -> Result<Vec<Published>>
    where
        I: IntoIterator<Item = Bytes>,
    {
        let mut publisher = self.publisher(topic, access)?;
        payloads.into_iter().map(|p| publisher.publish(p)).collect()
    }

    /// A publisher for a stream of messages to one topic: the name is
    /// checked and the publish authorised once, and the topic is looked up
    /// once, rather than for every message.
    pub fn publisher(&self, topic: &str, access: &Access<'_>) -> Result<Publisher> {
        self.check_name(topic)?;
        self.authorize_publish(topic, access)?;
        Ok(Publisher {
            broker: self.clone(),
            topic: topic.to_owned(),
            current: None,
        })
    }

    fn authorize_publish(&self, topic: &str, access: &Access<'_>) -> Result<()> {
        self.inner
            .config
            .authorizer
            .authorize(Action::Publish, topic, access)
    }

    /// Subscribes to `topic` (creating it unless creation must be explicit),
    /// replaying what `history` asks for first.
    pub fn subscribe(
        &self,
        topic: &str,
        history: HistoryRequest,
        policy: SlowPolicy,
        access: &Access<'_>,
    ) -> Result<Subscription> {
        self.check_name(topic)?;
        self.inner
            .config
            .authorizer
            .authorize(Action::Subscribe, topic, access)?;
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "server is shutting down",
            ));
        }
        let slot = self.take_subscription_slot()?;
        loop {
            let (t, created) = self.topic_for_use(topic)?;
            if let Some(joined) = t.join(&history) {
                return Ok(Subscription::new(t, joined, created, policy, slot));
            }
        }
    }

    /// Creates `topic` with `config` (`PUT`). An existing topic with the same
    /// configuration is fine; a different one is a conflict.
    pub fn create(
        &self,
        topic: &str,
        config: &TopicConfigRequest,
        access: &Access<'_>,
    ) -> Result<Created> {
        self.check_name(topic)?;
        self.inner
            .config
            .authorizer
            .authorize(Action::Create, topic, access)?;
        let wanted = config.resolve(&self.inner.config)?;
        let mut topics = self.write_topics();
        if let Some(t) = topics.get(topic) {
            return if t.config == wanted {
                Ok(Created::Existing(t.epoch))
            } else {
                Err(Error::new(
                    ErrorKind::Conflict,
                    "topic exists with a different configuration (delete it first)",
                ))
            };
        }
        let t = self.insert_topic(&mut topics, topic, wanted)?;
        Ok(Created::New(t.epoch))
    }

    /// Deletes `topic`, ending its subscriptions with reason "deleted".
    /// `NotFound` when there is no such topic.
    pub fn delete(&self, topic: &str, access: &Access<'_>) -> Result<()> {
        self.check_name(topic)?;
        self.inner
            .config
            .authorizer
            .authorize(Action::Delete, topic, access)?;
        let removed = self.write_topics().remove(topic);
        match removed {
            Some(t) => {
                t.close(EndReason::Deleted, true);
                Ok(())
            }
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no topic named {topic:?}"),
            )),
        }
    }

    /// The topic's state, `None` when it does not exist. Never creates.
    pub fn inspect(&self, topic: &str, access: &Access<'_>) -> Result<Option<TopicInfo>> {
        self.check_name(topic)?;
        self.inner
            .config
            .authorizer
            .authorize(Action::Inspect, topic, access)?;
        Ok(self.read_topics().get(topic).map(|t| TopicInfo {
            epoch: t.epoch,
            last_seq: t.last_seq.load(Ordering::Acquire),
            history_len: t.history_len(),
            config: t.config,
        }))
    }

    /// Number of topics.
    pub fn topic_count(&self) -> usize {
        self.read_topics().len()
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.inner.subscriptions.load(Ordering::Acquire)
    }

    /// Ends every subscription with reason "shutdown" and refuses new ones.
    /// Publishes keep working so that those in flight can finish.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let topics: Vec<Arc<Topic>> = self.read_topics().values().cloned().collect();
        for t in topics {
            t.close(EndReason::Shutdown, false);
        }
    }

    /// True once [`Broker::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    // ----- helpers -----

    fn check_name(&self, topic: &str) -> Result<()> {
        validate_topic_name(topic, self.inner.config.max_topic_name_bytes)
    }

    fn check_size(&self, payload: &Bytes) -> Result<()> {
        if payload.len() > self.inner.config.max_message_bytes {
            return Err(self.too_large(payload.len()));
        }
        Ok(())
    }

    fn too_large(&self, len: usize) -> Error {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "message of {len} bytes exceeds the limit of {} bytes",
                self.inner.config.max_message_bytes
            ),
        )
    }

    fn take_subscription_slot(&self) -> Result<SubscriptionSlot> {
        let max = self.inner.config.max_subscriptions;
        let prev = self.inner.subscriptions.fetch_add(1, Ordering::AcqRel);
        let slot = SubscriptionSlot(self.inner.clone());
        if prev >= max {
            drop(slot);
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("subscription limit of {max} reached"),
            ));
        }
        Ok(slot)
    }

    /// Finds the topic, creating it with the defaults when allowed.
    fn topic_for_use(&self, name: &str) -> Result<(Arc<Topic>, bool)> {
        if let Some(t) = self.read_topics().get(name) {
            return Ok((t.clone(), false));
        }
        if self.inner.config.require_create {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no topic named {name:?} (this server requires PUT to create topics)"),
            ));
        }
        let defaults = TopicConfigRequest::default().resolve(&self.inner.config)?;
        let mut topics = self.write_topics();
        if let Some(t) = topics.get(name) {
            return Ok((t.clone(), false));
        }
        Ok((self.insert_topic(&mut topics, name, defaults)?, true))
    }

    fn insert_topic(
        &self,
        topics: &mut HashMap<Arc<str>, Arc<Topic>>,
        name: &str,
        config: TopicConfig,
    ) -> Result<Arc<Topic>> {
        let max = self.inner.config.max_topics;
        if topics.len() >= max {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("topic limit of {max} reached"),
            ));
        }
        let name: Arc<str> = Arc::from(name);
        let store = self
            .inner
            .config
            .history_store
            .create(&name, config.retention);
        let t = Arc::new(Topic::new(
            name.clone(),
            self.next_epoch(),
            config,
            store,
            self.inner.config.queue_messages,
            self.inner.config.queue_bytes,
            self.inner.clock,
        ));
        topics.insert(name, t.clone());
        Ok(t)
    }

    /// Epochs are microsecond timestamps made strictly increasing, so they
    /// differ across topic incarnations and across restarts, and stay below
    /// 2^53 (exact in JSON and JavaScript).
    fn next_epoch(&self) -> u64 {
        let now = (self.inner.clock)();
        let mut prev = self.inner.last_epoch.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev + 1);
            match self.inner.last_epoch.compare_exchange_weak(
                prev,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Topic>>> {
        self.inner.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_topics(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<Topic>>> {
        self.inner.topics.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
