//! The broker: topics, subscriber back-pressure and fan-out, over a
//! [`TopicStore`] that keeps each topic's epoch, seqs and history. It knows
//! nothing about HTTP and can be used in-process from Rust:
//!
//! ```
//! # async fn demo() -> drift_core::Result<()> {
//! use drift_core::broker::{Access, Broker, BrokerConfig};
//! use drift_core::model::{HistoryRequest, SlowPolicy};
//! use drift_core::Event;
//!
//! let broker = Broker::new(BrokerConfig::default());
//! let mut sub = broker.subscribe("news", HistoryRequest::default(), SlowPolicy::Disconnect, &Access::default()).await?;
//! let published = broker.publish("news", "hello".into(), &Access::default()).await?;
//! match sub.next_event().await {
//!     Some(Event::Message(m)) => assert_eq!(m.seq, published.id.seq),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok(()) }
//! ```

pub mod auth;
mod config;
mod notices;
mod probe;
mod quota;
mod ring;
pub mod store;
mod subscription;
mod topic;
mod unused;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

pub use auth::{
    Access, Action, AllowAll, Authenticator, Grant, JwtAuthenticator, JwtConfig, TopicPatterns,
};
pub use config::{
    BrokerConfig, MAX_HISTORY_LENGTH, Retention, TopicConfig, TopicConfigRequest,
    validate_topic_name,
};
pub use probe::PROBE_TOPIC;
pub use quota::{ConnectionQuota, QuotaLimits, Quotas, Rate};
pub use store::{MemoryStore, StoreCall, TopicStore};
pub use subscription::Subscription;

use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::model::{EndReason, HistoryRequest, MessageId, SlowPolicy};
use quota::{Pacer, QuotaBook, QuotaSlot};
use store::{Opened, TimedStore, TopicLog};
use topic::{Due, Topic};

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

impl Published {
    /// The ids of a batch of `len` messages whose first one this is: a
    /// batch has consecutive seqs.
    pub fn batch_ids(&self, len: usize) -> impl Iterator<Item = MessageId> + use<> {
        let MessageId { epoch, seq } = self.id;
        (seq..seq + len as u64).map(move |seq| MessageId { epoch, seq })
    }
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
    /// The topic's name.
    pub name: String,
    /// The topic's epoch.
    pub epoch: u64,
    /// Newest seq (0 when nothing was published).
    pub last_seq: u64,
    /// Retained history messages.
    pub history_len: usize,
    /// Payload bytes of the retained history.
    pub history_bytes: u64,
    /// Live subscriptions on this server.
    pub subscribers: usize,
    /// Messages held for live subscribers that have not read them yet (at
    /// most the queue bounds, however the subscribers behave).
    pub queued_len: usize,
    /// Their charged bytes (payload and the per-message overhead).
    pub queued_bytes: u64,
    /// The topic's configuration.
    pub config: TopicConfig,
}

/// What the topics held keep in memory, summed (see [`Broker::held`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Held {
    pub(crate) retained: u64,
    pub(crate) retained_bytes: u64,
    pub(crate) queued: u64,
    pub(crate) queued_bytes: u64,
}

/// Topics and their subscribers. Cheap to clone; all clones share state.
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BrokerConfig,
    /// The topics opened from the store so far (for a local store, all of
    /// them once [`Broker::load`] ran).
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    subscriptions: AtomicUsize,
    shutting_down: AtomicBool,
    /// Publishes between their shutdown check and their fan-out.
    publishing: AtomicUsize,
    /// Topics that subscribers made and left, to forget when due.
    unused: unused::UnusedTopics,
    /// Told when the last of them ends during a shutdown.
    publishes_done: tokio::sync::Notify,
    /// Told when a shutdown starts: a paced stream stops waiting for it.
    shutdown_started: tokio::sync::Notify,
    /// What is counted for `/metrics`; `None` when `config.metrics` is off.
    metrics: Option<Arc<Metrics>>,
    /// The per-connection and per-subject quotas, and the subjects' usage.
    quotas: QuotaBook,
}

/// The unused-topic timer's claim, given back when the task holding it ends
/// (`None`: given back already).
struct TimerClaim(Option<std::sync::Weak<Inner>>);

impl TimerClaim {
    /// The claim went back by other means: nothing to do when dropped.
    fn given_back(&mut self) {
        self.0 = None;
    }
}

impl Drop for TimerClaim {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take().and_then(|w| w.upgrade()) {
            inner.unused.timer_done();
        }
    }
}

/// Counts a publish in flight while it lives (see [`Broker::shutdown_gracefully`]).
struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let before = self.0.publishing.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.0.shutting_down.load(Ordering::SeqCst) {
            self.0.publishes_done.notify_waiters();
        }
    }
}

/// Publishes to one topic, authorised once (see [`Broker::publisher`]).
#[derive(Debug)]
pub struct Publisher {
    broker: Broker,
    topic: String,
    /// The topic incarnation last published to, kept so that a stream of
    /// messages does not look the topic up again for each one.
    current: Option<Arc<Topic>>,
    /// The grant it was authorised with: a stream of messages stops being
    /// accepted when it expires.
    grant: Arc<Grant>,
    /// The connection's and subject's publish rates, which pace the stream.
    pacer: Pacer,
    /// The connection, charged for the topic when a publish creates it.
    connection: Option<ConnectionQuota>,
}

impl Publisher {
    /// Publishes one message; never waits for a subscriber.
    pub async fn publish(&mut self, payload: Bytes) -> Result<Published> {
        self.publish_batch(std::slice::from_ref(&payload)).await
    }

    /// Publishes `payloads` in order as one batch (one commit of a durable
    /// store): they get consecutive seqs. Answers the first message's
    /// outcome; the others follow it by seq. Nothing of a failed batch is
    /// published.
    ///
    /// Over its connection's or subject's publish rate, it waits until the
    /// batch is within the rate before publishing it: a stream is paced,
    /// not refused, and its caller reads no more meanwhile.
    pub async fn publish_batch(&mut self, payloads: &[Bytes]) -> Result<Published> {
        let wait = self
            .broker
            .inner
            .quotas
            .pace(&self.pacer, payloads.len() as u64);
        if !wait.is_zero() {
            // A shutdown ends the wait: the batch is then refused (503).
            let inner = &self.broker.inner;
            let stop = inner.shutdown_started.notified();
            tokio::pin!(stop);
            stop.as_mut().enable();
            if !inner.shutting_down.load(Ordering::SeqCst) {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop => {}
                }
            }
        }
        if self.grant.expired_at(std::time::SystemTime::now()) {
            return Err(self.grant.expired());
        }
        for p in payloads {
            self.broker.check_size(p)?;
        }
        let who = Who {
            connection: self.connection.as_ref(),
            grant: &self.grant,
        };
        self.broker
            .publish_checked(&self.topic, &mut self.current, payloads, who)
            .await
    }
}

/// Who is charged for a topic that an action creates: its connection and
/// its grant's subject.
#[derive(Clone, Copy)]
struct Who<'a> {
    connection: Option<&'a ConnectionQuota>,
    grant: &'a Grant,
}

/// Counts a subscription against the broker's limit, and its connection's
/// and subject's quotas, while it lives.
#[derive(Debug)]
pub(crate) struct SubscriptionSlot {
    inner: Arc<Inner>,
    /// Given back when it drops.
    _quota: QuotaSlot,
}

impl SubscriptionSlot {
    /// The broker the subscription counts against.
    fn broker(&self) -> Broker {
        Broker {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.inner.subscriptions.fetch_sub(1, Ordering::AcqRel);
    }
}

// ===== impl Broker =====

impl Broker {
    /// A broker with these limits, hooks and store. Topics the store already
    /// holds are opened on first use (or all at once by [`Broker::load`]).
    pub fn new(mut config: BrokerConfig) -> Broker {
        config.store.limit_memory(config.history_memory);
        let metrics = config.metrics.then(|| Arc::new(Metrics::new()));
        let quotas = QuotaBook::new(config.quotas);
        if let Some(m) = &metrics {
            config.store = Arc::new(TimedStore::new(config.store.clone(), m.clone()));
        }
        let broker = Broker {
            inner: Arc::new(Inner {
                config,
                metrics,
                quotas,
                topics: RwLock::new(HashMap::new()),
                subscriptions: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                publishing: AtomicUsize::new(0),
                unused: unused::UnusedTopics::default(),
                publishes_done: tokio::sync::Notify::new(),
                shutdown_started: tokio::sync::Notify::new(),
            }),
        };
        // A store that lists at once (memory, disk) is loaded now.
        if let Ok(Ok(logs)) = broker.inner.config.store.list().now() {
            broker.add_listed(logs);
        }
        if let Some(stream) = broker.inner.config.store.notices() {
            notices::follow(&broker, stream);
        }
        broker
    }

    /// Opens every topic the store lists, so that the topic count and its
    /// limit include them. Returns the number of topics held.
    pub async fn load(&self) -> Result<usize> {
        let logs = self.inner.config.store.list().await?;
        self.add_listed(logs);
        Ok(self.topic_count())
    }

    fn add_listed(&self, logs: Vec<Arc<dyn TopicLog>>) {
        let mut topics = self.write_topics();
        for log in logs {
            if !topics.contains_key(log.name()) {
                let t = self.topic_of(log);
                topics.insert(t.name.clone(), t);
            }
        }
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// Publishes `payload` to `topic`, creating the topic unless the broker
    /// requires explicit creation. Answers once the store has accepted it
    /// (durably, with a durable store); never waits for a subscriber. Over
    /// the connection's or subject's publish rate it is refused
    /// ([`ErrorKind::QuotaExceeded`], with when to retry).
    pub async fn publish(
        &self,
        topic: &str,
        payload: Bytes,
        access: &Access<'_>,
    ) -> Result<Published> {
        self.check_name(topic)?;
        self.check_size(&payload)?;
        let grant = self.authorize(Action::Publish, topic, access)?;
        self.inner.quotas.publish(access.quota, &grant, 1)?;
        let who = Who {
            connection: access.quota,
            grant: &grant,
        };
        self.publish_checked(topic, &mut None, std::slice::from_ref(&payload), who)
            .await
    }

    /// Fresh quota state for one connection: what the connection opens,
    /// creates and publishes is counted against
    /// [`BrokerConfig::quotas`]' `connection` quotas while requests carry it
    /// in [`Access::quota`].
    pub fn connection_quota(&self) -> ConnectionQuota {
        self.inner.quotas.connection()
    }

    /// Subjects whose quota usage the broker keeps (held by a connection, a
    /// subscription or a stream, or not yet refilled).
    pub fn quota_subjects(&self) -> usize {
        self.inner.quotas.subjects()
    }

    /// Appends and fans out a batch already checked and authorised, to
    /// `current` when it is still the topic's incarnation (then `current`
    /// is kept for the next batch). Answers the batch's first message.
    async fn publish_checked(
        &self,
        topic: &str,
        current: &mut Option<Arc<Topic>>,
        payloads: &[Bytes],
        who: Who<'_>,
    ) -> Result<Published> {
        // Counted before the check, so that a shutdown either refuses this
        // publish or waits for its fan-out before it ends subscriptions.
        self.inner.publishing.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight(&self.inner);
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        // A topic deleted between lookup and append is looked up again; a
        // store that keeps saying "not found" is believed after a few tries.
        let mut tries = 0;
        loop {
            tries += 1;
            let (t, created) = match current.take() {
                Some(t) => (t, false),
                None => self.topic_for_use(topic, who).await?,
            };
            match t.publish(payloads).await {
                Ok(appended) => {
                    if let Some(m) = &self.inner.metrics {
                        let bytes = payloads.iter().map(|p| p.len() as u64).sum();
                        m.published(payloads.len() as u64, bytes);
                    }
                    let id = MessageId {
                        epoch: t.epoch,
                        seq: appended.first_seq,
                    };
                    *current = Some(t);
                    return Ok(Published {
                        id,
                        time_us: appended.time_us,
                        created,
                    });
                }
                // Deleted since it was looked up: the next lookup creates
                // anew (or says it is gone).
                Err(e) if e.kind() == ErrorKind::NotFound && tries < 4 => self.forget(&t),
                Err(e) => return Err(e),
            }
        }
    }

    /// Publishes each payload in order, as one batch (a streamed publish).
    pub async fn publish_many<I>(
        &self,
        topic: &str,
        payloads: I,
        access: &Access<'_>,
    ) -> Result<Vec<Published>>
    where
        I: IntoIterator<Item = Bytes>,
    {
        let payloads: Vec<Bytes> = payloads.into_iter().collect();
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let mut publisher = self.publisher(topic, access)?;
        let first = publisher.publish_batch(&payloads).await?;
        Ok(first
            .batch_ids(payloads.len())
            .enumerate()
            .map(|(i, id)| Published {
                id,
                created: first.created && i == 0,
                ..first
            })
            .collect())
    }

    /// A publisher for a stream of messages to one topic: the name is
    /// checked and the publish authorised once, and the topic is looked up
    /// once, rather than for every message.
    pub fn publisher(&self, topic: &str, access: &Access<'_>) -> Result<Publisher> {
        self.check_name(topic)?;
        let grant = self.authorize(Action::Publish, topic, access)?;
        Ok(Publisher {
            broker: self.clone(),
            topic: topic.to_owned(),
            current: None,
            pacer: self.inner.quotas.pacer(access.quota, &grant),
            connection: access.quota.cloned(),
            grant,
        })
    }

    /// The grant of `access`, when it allows `action` on `topic`; the
    /// authenticator's refusal (401) or the grant's (401 or 403) otherwise.
    pub fn authorize(
        &self,
        action: Action,
        topic: &str,
        access: &Access<'_>,
    ) -> Result<Arc<Grant>> {
        let grant = self.authenticate(access)?;
        grant.check(action, topic)?;
        Ok(grant)
    }

    /// The grant of `access`'s credentials (see [`Authenticator`]).
    pub fn authenticate(&self, access: &Access<'_>) -> Result<Arc<Grant>> {
        self.inner.config.authenticator.authenticate(access)
    }

    /// Subscribes to `topic` (creating it unless creation must be explicit),
    /// replaying what `history` asks for first. Any gap in what was asked
    /// for is known when the answer comes. Await it; with a store that
    /// answers at once (memory) the answer is [`StoreCall::Ready`], so a
    /// caller that must not suspend (the HTTP layer, which keeps one future
    /// per stream) can take it without awaiting.
    pub fn subscribe(
        &self,
        topic: &str,
        history: HistoryRequest,
        policy: SlowPolicy,
        access: &Access<'_>,
    ) -> StoreCall<Subscription> {
        let (slot, grant) = match self.subscribe_checks(topic, access) {
            Ok(checked) => checked,
            Err(e) => return StoreCall::Ready(Err(e)),
        };
        let broker = self.clone();
        let topic = topic.to_owned();
        let connection = access.quota.cloned();
        let mut joining = Box::pin(async move {
            loop {
                let who = Who {
                    connection: connection.as_ref(),
                    grant: &grant,
                };
                let (t, created) = broker.topic_for_use(&topic, who).await?;
                match t.join(&history).await {
                    Some(joined) => {
                        let sub = Subscription::new(t, joined?, created, policy, slot);
                        return Ok(sub.until(grant.expires));
                    }
                    None => broker.forget(&t),
                }
            }
        });
        // Polled once here: against a store that answers at once this
        // completes, and nobody needs to await. Otherwise the caller's
        // await polls it again with its own waker.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match joining.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => StoreCall::Ready(r),
            std::task::Poll::Pending => StoreCall::Later(joining),
        }
    }

    fn subscribe_checks(
        &self,
        topic: &str,
        access: &Access<'_>,
    ) -> Result<(SubscriptionSlot, Arc<Grant>)> {
        self.check_name(topic)?;
        let grant = self.authorize(Action::Subscribe, topic, access)?;
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        let quota = self.inner.quotas.subscription(access.quota, &grant)?;
        Ok((self.take_subscription_slot(quota)?, grant))
    }

    /// Creates `topic` with `config` (`PUT`). An existing topic with the same
    /// configuration is fine; a different one is a conflict.
    pub async fn create(
        &self,
        topic: &str,
        config: &TopicConfigRequest,
        access: &Access<'_>,
    ) -> Result<Created> {
        self.check_name(topic)?;
        let grant = self.authorize(Action::Create, topic, access)?;
        let wanted = config.resolve(&self.inner.config)?;
        let who = Who {
            connection: access.quota,
            grant: &grant,
        };
        let (t, created) = loop {
            let (t, created) = match self.cached(topic) {
                Some(t) => (t, false),
                None => {
                    self.check_topic_limit()?;
                    match self.open_charged(topic, &wanted, who).await? {
                        Some(opened) => opened,
                        None => {
                            return Err(Error::new(ErrorKind::Internal, "the store made no topic"));
                        }
                    }
                }
            };
            // A topic its subscribers made is forgotten when they leave,
            // unless a PUT names it first; one forgotten meanwhile is made
            // anew.
            if t.config != wanted || t.mark_explicit() {
                break (t, created);
            }
            self.drop_held(&t);
        };
        if created {
            Ok(Created::New(t.epoch))
        } else if t.config == wanted {
            Ok(Created::Existing(t.epoch))
        } else {
            Err(Error::new(
                ErrorKind::Conflict,
                "topic exists with a different configuration (delete it first)",
            ))
        }
    }

    /// Deletes `topic` and its history, ending its subscriptions with reason
    /// "deleted". `NotFound` when there is no such topic.
    pub async fn delete(&self, topic: &str, access: &Access<'_>) -> Result<()> {
        self.check_name(topic)?;
        self.authorize(Action::Delete, topic, access)?;
        let found = self.find(topic).await?;
        let Some(t) = found else {
            return Err(not_found(topic));
        };
        let deleted = self.inner.config.store.delete(topic, t.epoch).await?;
        self.forget(&t);
        t.close(EndReason::Deleted, true);
        if deleted {
            Ok(())
        } else {
            Err(not_found(topic))
        }
    }

    /// The topic's state, `None` when it does not exist. Never creates.
    pub async fn inspect(&self, topic: &str, access: &Access<'_>) -> Result<Option<TopicInfo>> {
        self.check_name(topic)?;
        self.authorize(Action::Inspect, topic, access)?;
        let found = self.find(topic).await?;
        Ok(found.map(|t| info(&t)))
    }

    /// Every topic this server holds that `access` may inspect, by name
    /// (the readiness probe's own topic left out). Credentials that do not
    /// authenticate are refused rather than shown an empty list.
    pub fn topics(&self, access: &Access<'_>) -> Result<Vec<TopicInfo>> {
        let grant = self.authenticate(access)?;
        if grant.expired_at(std::time::SystemTime::now()) {
            return Err(grant.expired());
        }
        if !grant.authenticated && grant.is_empty() {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                "listing topics needs a token (Authorization: Bearer, or the drift_token cookie)",
            ));
        }
        self.forget_due();
        let held: Vec<Arc<Topic>> = self.read_topics().values().cloned().collect();
        let mut infos: Vec<TopicInfo> = held
            .iter()
            .filter(|t| &*t.name != PROBE_TOPIC)
            .filter(|t| grant.allows(Action::Inspect, &t.name))
            .map(|t| info(t))
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// Number of topics held (opened from the store).
    pub fn topic_count(&self) -> usize {
        self.forget_due();
        self.read_topics().len()
    }

    /// What is counted for `/metrics`, when counting is on.
    pub(crate) fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.metrics.as_ref()
    }

    /// What the store holds of history in this process's memory, against
    /// the history memory budget (`None`: history is held elsewhere).
    pub fn history_memory(&self) -> Option<store::MemoryUse> {
        self.inner.config.store.memory()
    }

    /// How the store has group-committed appends (`None`: it does not).
    pub fn store_commits(&self) -> Option<store::Commits> {
        self.inner.config.store.commits()
    }

    /// What every topic held retains in history (messages, payload bytes)
    /// and what their live rings keep for subscribers that have not read it
    /// (messages, charged bytes): a scrape's gauges, in one pass over the
    /// topics (the readiness probe's included; it keeps no history).
    pub(crate) fn held(&self) -> Held {
        self.read_topics().values().fold(Held::default(), |h, t| {
            let (queued, queued_bytes) = t.queued();
            Held {
                retained: h.retained + t.log.retained() as u64,
                retained_bytes: h.retained_bytes + t.log.retained_bytes(),
                queued: h.queued + queued as u64,
                queued_bytes: h.queued_bytes + queued_bytes,
            }
        })
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.inner.subscriptions.load(Ordering::Acquire)
    }

    /// Refuses new publishes and subscriptions (`Unavailable`, "server is
    /// shutting down") and ends every subscription with reason "shutdown"
    /// at once. See [`Broker::shutdown_gracefully`] for the order that loses
    /// no acknowledged message.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.shutdown_started.notify_waiters();
        self.end_subscriptions();
    }

    /// As [`Broker::shutdown`], but ends the subscriptions only once every
    /// publish already past its check has been fanned out: each publish
    /// answered with success has reached every live subscriber's queue
    /// before that subscriber's end, and every later one is refused.
    pub async fn shutdown_gracefully(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.shutdown_started.notify_waiters();
        loop {
            let done = self.inner.publishes_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.inner.publishing.load(Ordering::SeqCst) == 0 {
                break;
            }
            done.await;
        }
        self.end_subscriptions();
    }

    fn end_subscriptions(&self) {
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

    fn take_subscription_slot(&self, quota: QuotaSlot) -> Result<SubscriptionSlot> {
        let max = self.inner.config.max_subscriptions;
        let prev = self.inner.subscriptions.fetch_add(1, Ordering::AcqRel);
        let slot = SubscriptionSlot {
            inner: self.inner.clone(),
            _quota: quota,
        };
        if prev >= max {
            drop(slot);
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("subscription limit of {max} reached"),
            ));
        }
        Ok(slot)
    }

    fn check_topic_limit(&self) -> Result<()> {
        let max = self.inner.config.max_topics;
        if self.topic_count() >= max {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("topic limit of {max} reached"),
            ));
        }
        Ok(())
    }

    fn cached(&self, name: &str) -> Option<Arc<Topic>> {
        self.read_topics().get(name).cloned()
    }

    /// The topic held or in the store, `None` when there is none. Never
    /// creates.
    async fn find(&self, name: &str) -> Result<Option<Arc<Topic>>> {
        match self.cached(name) {
            Some(t) => Ok(Some(t)),
            None => Ok(self.open(name, None).await?.map(|(t, _)| t)),
        }
    }

    /// Finds the topic, creating it with the defaults when allowed (and
    /// charging `who`'s topic quotas for it).
    async fn topic_for_use(&self, name: &str, who: Who<'_>) -> Result<(Arc<Topic>, bool)> {
        if let Some(t) = self.cached(name) {
            return Ok((t, false));
        }
        let found = if self.inner.config.require_create {
            self.open(name, None).await?
        } else {
            self.check_topic_limit()?;
            let defaults = TopicConfigRequest::default().resolve(&self.inner.config)?;
            self.open_charged(name, &defaults, who).await?
        };
        match found {
            Some(found) => Ok(found),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no topic named {name:?} (this server requires PUT to create topics)"),
            )),
        }
    }

    /// Opens `name` from the store, creating it with `config` if there is
    /// none: the creation is charged to `who`'s topic quotas first (refused
    /// when they are used up), and given back when the topic existed.
    async fn open_charged(
        &self,
        name: &str,
        config: &TopicConfig,
        who: Who<'_>,
    ) -> Result<Option<(Arc<Topic>, bool)>> {
        let ticket = self.inner.quotas.topic(who.connection, who.grant)?;
        let opened = self.open(name, Some(config)).await;
        if !matches!(opened, Ok(Some((_, true)))) {
            ticket.give_back();
        }
        opened
    }

    /// Opens `name` from the store (creating it with `create`) and holds it.
    async fn open(
        &self,
        name: &str,
        create: Option<&TopicConfig>,
    ) -> Result<Option<(Arc<Topic>, bool)>> {
        let (log, created, mut topics) = loop {
            let Some(Opened { log, created }) = self.inner.config.store.open(name, create).await?
            else {
                return Ok(None);
            };
            let topics = self.write_topics();
            // Forgotten unused since the store handed it out (under this
            // lock, see `forget_if_unused`): ask the store again.
            if !log.is_deleted() {
                break (log, created, topics);
            }
        };
        // Another caller may have opened the same incarnation meanwhile:
        // there is one `Topic` per incarnation.
        if let Some(t) = topics.get(name)
            && t.epoch == log.epoch()
        {
            return Ok(Some((t.clone(), created)));
        }
        let t = self.topic_of(log);
        if let Some(old) = topics.insert(t.name.clone(), t.clone()) {
            old.close(EndReason::Deleted, true);
        }
        Ok(Some((t, created)))
    }

    fn topic_of(&self, log: Arc<dyn TopicLog>) -> Arc<Topic> {
        Arc::new(Topic::new(
            log,
            self.inner.config.queue_messages,
            self.inner.config.queue_bytes,
        ))
    }

    /// `t`'s last subscriber left: an unused topic goes into the queue of
    /// those to forget (see `unused.rs`).
    fn left(&self, t: &Arc<Topic>) {
        let Some(expiry) = self.inner.config.unused_topic_expiry else {
            return;
        };
        if t.may_be_unused() && t.queue_unused() {
            self.inner
                .unused
                .push(tokio::time::Instant::now() + expiry, t);
            self.start_unused_timer();
        }
    }

    /// Forgets the unused topics that are due.
    fn forget_due(&self) {
        let Some(expiry) = self.inner.config.unused_topic_expiry else {
            return;
        };
        for t in self.inner.unused.take_due() {
            match t.due(expiry) {
                Due::Now => self.forget_if_unused(&t),
                Due::At(at) => self.inner.unused.push(at, &t),
                Due::Never => {}
            }
        }
    }

    /// A task on the current runtime (if any: without one, due topics are
    /// forgotten when topics are next made, listed or counted) that forgets
    /// unused topics as they come due, and ends when none is left. It holds
    /// the broker weakly, so that it never keeps a dropped broker alive.
    fn start_unused_timer(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.inner.unused.claim_timer() {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        // Gives the claim back however the task ends, also when its runtime
        // drops it, run or not (a later leave then starts another timer).
        let mut claim = TimerClaim(Some(inner.clone()));
        runtime.spawn(async move {
            loop {
                let next = match inner.upgrade() {
                    Some(inner) => inner.unused.next_due(),
                    None => return,
                };
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => {
                        let Some(inner) = inner.upgrade() else { return };
                        inner.unused.timer_done();
                        // A topic queued after the look, before the claim
                        // went back, still needs a timer: this one, unless
                        // another task claimed it first.
                        if inner.unused.next_due().is_none() || !inner.unused.claim_timer() {
                            claim.given_back();
                            return;
                        }
                        continue;
                    }
                }
                match inner.upgrade() {
                    Some(inner) => Broker { inner }.forget_due(),
                    None => return,
                }
            }
        });
    }

    /// Forgets `t`, which its last subscriber just left, when it is unused
    /// (see [`Topic::forget_if_unused`]) and still the one held: an implicit
    /// topic costs nothing once nobody asks for it. The topics' lock is held
    /// throughout, so [`Broker::open`] never takes up the forgotten log.
    fn forget_if_unused(&self, t: &Arc<Topic>) {
        if !t.may_be_unused() {
            return;
        }
        let mut topics = self.write_topics();
        if topics.get(&t.name).is_some_and(|held| Arc::ptr_eq(held, t))
            && t.forget_if_unused(&*self.inner.config.store)
        {
            topics.remove(&t.name);
        }
    }

    /// Drops `t` from the topics held, when it is still the one held, and
    /// ends it as deleted.
    fn forget(&self, t: &Arc<Topic>) {
        self.drop_held(t);
        t.close(EndReason::Deleted, true);
    }

    /// Drops `t` from the topics held, when it is still the one held.
    fn drop_held(&self, t: &Arc<Topic>) {
        let mut topics = self.write_topics();
        if topics.get(&t.name).is_some_and(|held| Arc::ptr_eq(held, t)) {
            topics.remove(&t.name);
        }
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Topic>>> {
        self.inner.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_topics(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<Topic>>> {
        self.inner.topics.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn info(t: &Topic) -> TopicInfo {
    let (queued_len, queued_bytes) = t.queued();
    TopicInfo {
        name: t.name.to_string(),
        epoch: t.epoch,
        last_seq: t.last_seq.load(Ordering::Acquire).max(t.log.last_seq()),
        history_len: t.log.retained(),
        history_bytes: t.log.retained_bytes(),
        subscribers: t.subscribers(),
        queued_len,
        queued_bytes,
        config: t.config,
    }
}

fn shutting_down() -> Error {
    Error::new(ErrorKind::Unavailable, "server is shutting down")
}

fn not_found(topic: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no topic named {topic:?}"))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod unused_tests;
