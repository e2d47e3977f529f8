//! Quotas of one connection and of one subject (a grant's `sub`): open
//! subscriptions, topics created (a token bucket) and publish rate (a token
//! bucket), so that one client cannot take the whole server's topic table,
//! subscription limit or publishing capacity (issue 26 item 7).
//!
//! The server makes one [`ConnectionQuota`] per connection and hands it to
//! the broker in [`super::Access::quota`]; the broker charges the connection
//! and, when the grant names a subject, the subject, whose usage every
//! connection of that subject shares. A refusal is
//! [`ErrorKind::QuotaExceeded`] (HTTP 429) with a line naming the quota, its
//! value and whose it is; the rate-based ones say when to try again
//! ([`Error::retry_after`]).
//!
//! Cost: a quota that is off (0) is one comparison. A token bucket is one
//! atomic word (GCRA: the time at which the bucket is full again), taken
//! with a compare-and-swap; the connection's is touched only by that
//! connection's requests, so the publish path adds no shared lock. A
//! subject's usage is found once per connection (a map under a mutex) and
//! then kept by the connection.
//!
//! The subjects' map holds an entry while anything holds it (a connection,
//! a subscription, a streamed publish) or its buckets are not full again:
//! when the last holder goes and the buckets are full it is removed at once,
//! otherwise by the next sweep, which runs when the map has doubled since
//! the last one. So the map holds at most about twice the subjects in use or
//! refilling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Grant;
use crate::error::{Error, ErrorKind, Result};

/// A token bucket's bounds: `per_second` tokens come back each second, and
/// the bucket holds at most `burst` (0: one second's worth). A `per_second`
/// of 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate {
    /// Tokens that come back per second; 0: unlimited.
    pub per_second: u64,
    /// Most tokens the bucket holds, taken at once by a burst; 0: as many
    /// as `per_second`.
    pub burst: u64,
}

impl Rate {
    /// No bound.
    pub const UNLIMITED: Rate = Rate {
        per_second: 0,
        burst: 0,
    };

    /// `per_second` a second, `burst` at once.
    pub const fn new(per_second: u64, burst: u64) -> Rate {
        Rate { per_second, burst }
    }

    /// Whether it bounds anything.
    pub fn is_limited(&self) -> bool {
        self.per_second > 0
    }

    /// The bucket's size.
    pub fn effective_burst(&self) -> u64 {
        if self.burst == 0 {
            self.per_second
        } else {
            self.burst
        }
    }

    /// Nanoseconds per token.
    fn interval(&self) -> u64 {
        (1_000_000_000 / self.per_second.max(1)).max(1)
    }

    /// The bucket's size in nanoseconds of refill.
    fn tolerance(&self) -> u64 {
        self.interval().saturating_mul(self.effective_burst())
    }
}

/// The quotas of one holder (a connection, or a subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Subscriptions open at once; 0: unlimited.
    pub subscriptions: usize,
    /// Topics created (implicitly, or by `PUT`).
    pub topics: Rate,
    /// Messages published (each message of a streamed publish counts).
    pub publish: Rate,
}

impl QuotaLimits {
    /// No quota at all.
    pub const UNLIMITED: QuotaLimits = QuotaLimits {
        subscriptions: 0,
        topics: Rate::UNLIMITED,
        publish: Rate::UNLIMITED,
    };
}

/// Every connection's quotas, and every subject's (shared by all of the
/// subject's connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Each connection's.
    pub connection: QuotaLimits,
    /// Each subject's, over all of its connections.
    pub subject: QuotaLimits,
}

impl Quotas {
    /// No quota at all.
    pub const UNLIMITED: Quotas = Quotas {
        connection: QuotaLimits::UNLIMITED,
        subject: QuotaLimits::UNLIMITED,
    };
}

impl Default for Quotas {
    /// Far from what legitimate clients and the project's benchmarks use
    /// (100 subscriptions and topics per connection, 10,000+ publishes a
    /// second per connection), far below the server's limits (250,000
    /// subscriptions, 100,000 topics). Publishing is not bounded: any
    /// finite rate would slow some legitimate producer, and what publishing
    /// costs in memory is bounded by history and queues, not by its rate.
    fn default() -> Self {
        Quotas {
            connection: QuotaLimits {
                subscriptions: 1000,
                topics: Rate::new(100, 1000),
                publish: Rate::UNLIMITED,
            },
            subject: QuotaLimits {
                subscriptions: 10_000,
                topics: Rate::new(1000, 10_000),
                publish: Rate::UNLIMITED,
            },
        }
    }
}

// ===== the clock and the bucket =====

/// Nanoseconds since the first call: the buckets' clock.
fn now() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A token bucket as one word (GCRA): the time at which it is full again.
#[derive(Debug, Default)]
struct Bucket {
    full_at: AtomicU64,
}

impl Bucket {
    /// Takes `n` tokens, or says how long until they are there.
    fn take(&self, rate: Rate, n: u64, now: u64) -> Result<(), Duration> {
        let cost = rate.interval().saturating_mul(n);
        let tolerance = rate.tolerance();
        let mut full_at = self.full_at.load(Ordering::Relaxed);
        loop {
            let next = full_at.max(now).saturating_add(cost);
            if next - now > tolerance {
                return Err(Duration::from_nanos(next - now - tolerance));
            }
            match self.full_at.compare_exchange_weak(
                full_at,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => full_at = seen,
            }
        }
    }

    /// Takes `n` tokens whether they are there or not, and answers how long
    /// until they would have been (zero: they were).
    fn reserve(&self, rate: Rate, n: u64, now: u64) -> Duration {
        let cost = rate.interval().saturating_mul(n);
        let before = self
            .full_at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |full_at| {
                Some(full_at.max(now).saturating_add(cost))
            })
            .unwrap_or_else(|seen| seen);
        let next = before.max(now).saturating_add(cost);
        Duration::from_nanos((next - now).saturating_sub(rate.tolerance()))
    }

    /// Gives back `n` tokens taken.
    fn give_back(&self, rate: Rate, n: u64) {
        let cost = rate.interval().saturating_mul(n);
        let _ = self
            .full_at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |full_at| {
                Some(full_at.saturating_sub(cost))
            });
    }

    fn is_full(&self, now: u64) -> bool {
        self.full_at.load(Ordering::Relaxed) <= now
    }
}

/// Takes one of `max` places counted by `count`; false when all are taken.
fn take_place(count: &AtomicUsize, max: usize) -> bool {
    let before = count.fetch_add(1, Ordering::AcqRel);
    if before >= max {
        count.fetch_sub(1, Ordering::AcqRel);
        return false;
    }
    true
}

/// What one holder has used.
#[derive(Debug, Default)]
struct Usage {
    subscriptions: AtomicUsize,
    topics: Bucket,
    publish: Bucket,
}

impl Usage {
    /// Nothing open, and both buckets full again.
    fn is_idle(&self, now: u64) -> bool {
        self.subscriptions.load(Ordering::Acquire) == 0
            && self.topics.is_full(now)
            && self.publish.is_full(now)
    }
}

// ===== subjects =====

#[derive(Debug)]
struct SubjectUsage {
    subject: Arc<str>,
    usage: Usage,
}

/// Every subject's usage (see the module docs for how entries go).
#[derive(Debug, Default)]
pub(crate) struct Subjects {
    table: Mutex<SubjectTable>,
}

#[derive(Debug, Default)]
struct SubjectTable {
    map: HashMap<Arc<str>, Arc<SubjectUsage>>,
    /// The size at which the next insert sweeps first.
    sweep_at: usize,
}

/// The smallest map size that is swept.
const MIN_SWEEP: usize = 1024;

impl Subjects {
    fn table(&self) -> std::sync::MutexGuard<'_, SubjectTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `subject`'s usage, made if there is none.
    fn get(self: &Arc<Self>, subject: &str) -> SubjectHold {
        let mut table = self.table();
        let usage = match table.map.get(subject) {
            Some(u) => u.clone(),
            None => {
                if table.map.len() >= table.sweep_at.max(MIN_SWEEP) {
                    let now = now();
                    table
                        .map
                        .retain(|_, u| Arc::strong_count(u) > 1 || !u.usage.is_idle(now));
                    table.sweep_at = table.map.len() * 2;
                }
                let subject: Arc<str> = Arc::from(subject);
                let u = Arc::new(SubjectUsage {
                    subject: subject.clone(),
                    usage: Usage::default(),
                });
                table.map.insert(subject, u.clone());
                u
            }
        };
        SubjectHold {
            usage: Some(usage),
            subjects: self.clone(),
        }
    }

    /// A holder of `usage` let go of it: the entry goes if nobody else
    /// holds it and it is idle.
    fn release(&self, usage: Arc<SubjectUsage>) {
        // Held by the table, this holder and someone else: nothing to do.
        if Arc::strong_count(&usage) > 2 {
            return;
        }
        let key = usage.subject.clone();
        drop(usage);
        let mut table = self.table();
        if let Some(u) = table.map.get(&key)
            && Arc::strong_count(u) == 1
            && u.usage.is_idle(now())
        {
            table.map.remove(&key);
        }
    }

    /// Subjects with an entry.
    pub(crate) fn len(&self) -> usize {
        self.table().map.len()
    }
}

/// A hold on one subject's usage: while it lives, the entry stays.
#[derive(Debug)]
pub(crate) struct SubjectHold {
    usage: Option<Arc<SubjectUsage>>,
    subjects: Arc<Subjects>,
}

impl SubjectHold {
    fn usage(&self) -> &SubjectUsage {
        // Taken only by `drop`.
        self.usage
            .as_deref()
            .expect("a subject hold holds its usage")
    }
}

impl Clone for SubjectHold {
    fn clone(&self) -> Self {
        SubjectHold {
            usage: self.usage.clone(),
            subjects: self.subjects.clone(),
        }
    }
}

impl Drop for SubjectHold {
    fn drop(&mut self) {
        if let Some(usage) = self.usage.take() {
            self.subjects.release(usage);
        }
    }
}

/// A subject's hold, borrowed from the connection's when it is the
/// connection's subject.
enum SubjectRef<'a> {
    Borrowed(&'a SubjectHold),
    Owned(SubjectHold),
}

impl SubjectRef<'_> {
    fn hold(&self) -> &SubjectHold {
        match self {
            SubjectRef::Borrowed(h) => h,
            SubjectRef::Owned(h) => h,
        }
    }

    fn into_owned(self) -> SubjectHold {
        match self {
            SubjectRef::Borrowed(h) => h.clone(),
            SubjectRef::Owned(h) => h,
        }
    }
}

// ===== connections =====

/// One connection's quota state: what it has open and its buckets. The
/// server makes one per connection ([`super::Broker::connection_quota`])
/// and passes it in every request's [`super::Access`]; a new connection
/// starts afresh. Cheap to clone (clones share the state).
#[derive(Debug, Clone)]
pub struct ConnectionQuota(Arc<ConnectionUsage>);

#[derive(Debug)]
struct ConnectionUsage {
    usage: Usage,
    /// The usage of the first subject that acted over this connection, held
    /// while the connection lives.
    subject: OnceLock<SubjectHold>,
}

impl ConnectionQuota {
    /// Subscriptions open over this connection (counted only while the
    /// connection's subscription quota is on).
    pub fn subscriptions(&self) -> usize {
        self.0.usage.subscriptions.load(Ordering::Acquire)
    }
}

// ===== the broker's book =====

/// Whose quota.
#[derive(Clone, Copy)]
enum Whose<'a> {
    Connection,
    Subject(&'a str),
}

impl Whose<'_> {
    fn prefix(self) -> &'static str {
        match self {
            Whose::Connection => "connection",
            Whose::Subject(_) => "subject",
        }
    }

    fn holder(self) -> String {
        match self {
            Whose::Connection => "this connection".into(),
            Whose::Subject(s) => format!("subject {s:?}"),
        }
    }
}

fn exceeded(message: String) -> Error {
    Error::new(ErrorKind::QuotaExceeded, message)
}

/// What a rate bounds: the stem of its option's name, and what it counts.
#[derive(Clone, Copy)]
enum Bounded {
    Topics,
    Publishes,
}

impl Bounded {
    fn stem(self) -> &'static str {
        match self {
            Bounded::Topics => "topic",
            Bounded::Publishes => "publish",
        }
    }

    fn counted(self) -> &'static str {
        match self {
            Bounded::Topics => "topics",
            Bounded::Publishes => "messages",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Bounded::Topics => "create",
            Bounded::Publishes => "publish",
        }
    }
}

fn rate_refusal(whose: Whose<'_>, what: Bounded, rate: Rate, wait: Duration) -> Error {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    exceeded(format!(
        "quota exceeded: {}_{}_rate ({} {} may {} per second) is {}/s after a burst of {}; retry in {secs} s",
        whose.prefix(),
        what.stem(),
        what.counted(),
        whose.holder(),
        what.verb(),
        rate.per_second,
        rate.effective_burst(),
    ))
    .with_retry_after(Duration::from_secs(secs))
}

/// The broker's quotas and the subjects' usage.
#[derive(Debug)]
pub(crate) struct QuotaBook {
    limits: Quotas,
    subjects: Arc<Subjects>,
}

/// A topic creation charged, to give back when no topic was made.
pub(crate) struct TopicTicket<'a> {
    book: &'a QuotaBook,
    connection: Option<&'a ConnectionQuota>,
    subject: Option<SubjectRef<'a>>,
}

impl TopicTicket<'_> {
    /// No topic was made after all: the tokens go back.
    pub(crate) fn give_back(self) {
        if let Some(c) = self.connection {
            c.0.usage
                .topics
                .give_back(self.book.limits.connection.topics, 1);
        }
        if let Some(s) = &self.subject {
            s.hold()
                .usage()
                .usage
                .topics
                .give_back(self.book.limits.subject.topics, 1);
        }
    }
}

/// The places a subscription takes of its connection's and subject's
/// quotas, given back when it drops.
#[derive(Debug, Default)]
pub(crate) struct QuotaSlot {
    connection: Option<ConnectionQuota>,
    subject: Option<SubjectHold>,
}

impl Drop for QuotaSlot {
    fn drop(&mut self) {
        if let Some(c) = &self.connection {
            c.0.usage.subscriptions.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(s) = &self.subject {
            s.usage().usage.subscriptions.fetch_sub(1, Ordering::AcqRel);
        }
        // The subject's hold goes after its count, so that its entry can
        // go with it.
    }
}

/// What a stream of publishes is paced by: its connection's and subject's
/// publish buckets (those that are on).
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    connection: Option<ConnectionQuota>,
    subject: Option<SubjectHold>,
}

impl QuotaBook {
    pub(crate) fn new(limits: Quotas) -> QuotaBook {
        QuotaBook {
            limits,
            subjects: Arc::default(),
        }
    }

    /// A fresh connection's quota state.
    pub(crate) fn connection(&self) -> ConnectionQuota {
        ConnectionQuota(Arc::new(ConnectionUsage {
            usage: Usage::default(),
            subject: OnceLock::new(),
        }))
    }

    /// Subjects with an entry (held, or refilling).
    pub(crate) fn subjects(&self) -> usize {
        self.subjects.len()
    }

    /// The usage of `grant`'s subject, if it has one: the connection's own
    /// when it is the connection's subject.
    fn subject<'a>(
        &self,
        connection: Option<&'a ConnectionQuota>,
        grant: &Grant,
    ) -> Option<SubjectRef<'a>> {
        let subject = grant.subject.as_deref()?;
        if let Some(c) = connection {
            let own = c.0.subject.get_or_init(|| self.subjects.get(subject));
            if &*own.usage().subject == subject {
                return Some(SubjectRef::Borrowed(own));
            }
        }
        Some(SubjectRef::Owned(self.subjects.get(subject)))
    }

    /// Takes a place for one more subscription, or refuses naming the quota.
    pub(crate) fn subscription(
        &self,
        connection: Option<&ConnectionQuota>,
        grant: &Grant,
    ) -> Result<QuotaSlot> {
        let mut slot = QuotaSlot::default();
        let max = self.limits.connection.subscriptions;
        if let Some(c) = connection
            && max > 0
        {
            if !take_place(&c.0.usage.subscriptions, max) {
                return Err(exceeded(format!(
                    "quota exceeded: connection_subscriptions (subscriptions this connection may hold open) is {max}"
                )));
            }
            slot.connection = Some(c.clone());
        }
        let max = self.limits.subject.subscriptions;
        if max > 0
            && let Some(s) = self.subject(connection, grant)
        {
            let usage = s.hold().usage();
            if !take_place(&usage.usage.subscriptions, max) {
                return Err(exceeded(format!(
                    "quota exceeded: subject_subscriptions (subscriptions {} may hold open) is {max}",
                    Whose::Subject(&usage.subject).holder()
                )));
            }
            slot.subject = Some(s.into_owned());
        }
        Ok(slot)
    }

    /// Charges the creation of a topic, or refuses naming the quota.
    pub(crate) fn topic<'a>(
        &'a self,
        connection: Option<&'a ConnectionQuota>,
        grant: &Grant,
    ) -> Result<TopicTicket<'a>> {
        let mut ticket = TopicTicket {
            book: self,
            connection: None,
            subject: None,
        };
        let now = now();
        let rate = self.limits.connection.topics;
        if let Some(c) = connection
            && rate.is_limited()
        {
            c.0.usage
                .topics
                .take(rate, 1, now)
                .map_err(|wait| rate_refusal(Whose::Connection, Bounded::Topics, rate, wait))?;
            ticket.connection = Some(c);
        }
        let rate = self.limits.subject.topics;
        if rate.is_limited()
            && let Some(s) = self.subject(connection, grant)
        {
            let usage = s.hold().usage();
            if let Err(wait) = usage.usage.topics.take(rate, 1, now) {
                let e = rate_refusal(Whose::Subject(&usage.subject), Bounded::Topics, rate, wait);
                ticket.give_back();
                return Err(e);
            }
            ticket.subject = Some(s);
        }
        Ok(ticket)
    }

    /// Charges `n` messages published at once (a `POST`), or refuses naming
    /// the quota.
    pub(crate) fn publish(
        &self,
        connection: Option<&ConnectionQuota>,
        grant: &Grant,
        n: u64,
    ) -> Result<()> {
        let conn_rate = self.limits.connection.publish;
        let subject_rate = self.limits.subject.publish;
        if !conn_rate.is_limited() && !subject_rate.is_limited() {
            return Ok(());
        }
        let now = now();
        let mut charged = None;
        if let Some(c) = connection
            && conn_rate.is_limited()
        {
            c.0.usage.publish.take(conn_rate, n, now).map_err(|wait| {
                rate_refusal(Whose::Connection, Bounded::Publishes, conn_rate, wait)
            })?;
            charged = Some(c);
        }
        if subject_rate.is_limited()
            && let Some(s) = self.subject(connection, grant)
        {
            let usage = s.hold().usage();
            if let Err(wait) = usage.usage.publish.take(subject_rate, n, now) {
                if let Some(c) = charged {
                    c.0.usage.publish.give_back(conn_rate, n);
                }
                return Err(rate_refusal(
                    Whose::Subject(&usage.subject),
                    Bounded::Publishes,
                    subject_rate,
                    wait,
                ));
            }
        }
        Ok(())
    }

    /// What paces a stream of publishes by `grant` over `connection`.
    pub(crate) fn pacer(&self, connection: Option<&ConnectionQuota>, grant: &Grant) -> Pacer {
        let mut pacer = Pacer::default();
        if self.limits.connection.publish.is_limited() {
            pacer.connection = connection.cloned();
        }
        if self.limits.subject.publish.is_limited() {
            pacer.subject = self.subject(connection, grant).map(SubjectRef::into_owned);
        }
        pacer
    }

    /// Charges `n` messages of a stream, and answers how long to wait
    /// before publishing them so that the stream keeps to its rates.
    pub(crate) fn pace(&self, pacer: &Pacer, n: u64) -> Duration {
        if pacer.connection.is_none() && pacer.subject.is_none() {
            return Duration::ZERO;
        }
        let now = now();
        let mut wait = Duration::ZERO;
        if let Some(c) = &pacer.connection {
            wait = wait.max(
                c.0.usage
                    .publish
                    .reserve(self.limits.connection.publish, n, now),
            );
        }
        if let Some(s) = &pacer.subject {
            wait = wait.max(
                s.usage()
                    .usage
                    .publish
                    .reserve(self.limits.subject.publish, n, now),
            );
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(subject: &str) -> Grant {
        Grant {
            subject: Some(subject.into()),
            ..Grant::open()
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rate = Rate::new(10, 5);
        let b = Bucket::default();
        let t0 = 1_000_000_000;
        for _ in 0..5 {
            assert!(b.take(rate, 1, t0).is_ok());
        }
        let wait = b.take(rate, 1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // A tenth of a second later one token is back, and only one.
        assert!(b.take(rate, 1, t0 + 100_000_000).is_ok());
        assert!(b.take(rate, 1, t0 + 100_000_000).is_err());
        // Given back, it can be taken again.
        b.give_back(rate, 1);
        assert!(b.take(rate, 1, t0 + 100_000_000).is_ok());
        // Full again after burst / rate.
        assert!(b.is_full(t0 + 700_000_000));
        assert!(!b.is_full(t0 + 100_000_000));
    }

    #[test]
    fn reserving_paces_a_stream_at_the_rate() {
        let rate = Rate::new(100, 10);
        let b = Bucket::default();
        let t0 = 1_000_000_000;
        // The burst goes at once; the next 100 take one second.
        assert_eq!(b.reserve(rate, 10, t0), Duration::ZERO);
        assert_eq!(b.reserve(rate, 100, t0), Duration::from_secs(1));
        // Zero burst means one second's worth.
        assert_eq!(Rate::new(7, 0).effective_burst(), 7);
    }

    #[test]
    fn subscriptions_count_per_connection_and_per_subject() {
        let book = QuotaBook::new(Quotas {
            connection: QuotaLimits {
                subscriptions: 2,
                ..QuotaLimits::UNLIMITED
            },
            subject: QuotaLimits {
                subscriptions: 3,
                ..QuotaLimits::UNLIMITED
            },
        });
        let (a, b) = (book.connection(), book.connection());
        let ann = grant("ann");
        let s1 = book.subscription(Some(&a), &ann).unwrap();
        let _s2 = book.subscription(Some(&a), &ann).unwrap();
        let e = book.subscription(Some(&a), &ann).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert!(e.to_string().contains("connection_subscriptions"), "{e}");
        assert!(e.to_string().contains(" 2"), "{e}");
        let _s3 = book.subscription(Some(&b), &ann).unwrap();
        let e = book.subscription(Some(&b), &ann).unwrap_err();
        assert!(e.to_string().contains("subject \"ann\""), "{e}");
        assert!(e.to_string().contains("subject_subscriptions"), "{e}");
        // The refusal took nothing: one closed makes room for one.
        drop(s1);
        let _s4 = book.subscription(Some(&b), &ann).unwrap();
        assert_eq!(b.subscriptions(), 2);
        // Another subject is not charged for ann's (but b is full).
        let e = book.subscription(Some(&b), &grant("bob")).unwrap_err();
        assert!(e.to_string().contains("connection_subscriptions"), "{e}");
        let c = book.connection();
        let _bob = book.subscription(Some(&c), &grant("bob")).unwrap();
    }

    #[test]
    fn a_subject_entry_goes_with_its_last_holder_once_idle() {
        let book = QuotaBook::new(Quotas {
            connection: QuotaLimits::UNLIMITED,
            subject: QuotaLimits {
                subscriptions: 10,
                topics: Rate::new(1_000_000, 1),
                publish: Rate::UNLIMITED,
            },
        });
        let a = book.connection();
        let slot = book.subscription(Some(&a), &grant("ann")).unwrap();
        let other = book.subscription(Some(&a), &grant("bob")).unwrap();
        assert_eq!(book.subjects(), 2);
        drop(other);
        // Bob's subscription was the only holder of bob.
        assert_eq!(book.subjects(), 1);
        drop(slot);
        // The connection still holds ann.
        assert_eq!(book.subjects(), 1);
        drop(a);
        assert_eq!(book.subjects(), 0);
        // One whose bucket is not full again stays (until a sweep finds it
        // full).
        let slow = QuotaBook::new(Quotas {
            connection: QuotaLimits::UNLIMITED,
            subject: QuotaLimits {
                topics: Rate::new(1, 1),
                ..QuotaLimits::UNLIMITED
            },
        });
        drop(slow.topic(None, &grant("cy")).unwrap());
        assert_eq!(slow.subjects(), 1);
    }

    #[test]
    fn the_subject_map_is_swept_when_it_doubles() {
        let book = QuotaBook::new(Quotas {
            connection: QuotaLimits::UNLIMITED,
            subject: QuotaLimits {
                subscriptions: 0,
                // A bucket that takes a day to fill again.
                topics: Rate::new(1, 86_400),
                publish: Rate::UNLIMITED,
            },
        });
        for i in 0..MIN_SWEEP {
            book.topic(None, &grant(&format!("s{i}"))).unwrap();
        }
        assert_eq!(book.subjects(), MIN_SWEEP);
        // Nothing is idle: the sweep removes nothing, and the next one
        // waits until the map has doubled.
        book.topic(None, &grant("one more")).unwrap();
        assert_eq!(book.subjects(), MIN_SWEEP + 1);
        // Full buckets are swept: give every token back.
        for (_, u) in book.subjects.table().map.iter() {
            u.usage.topics.give_back(Rate::new(1, 86_400), 1);
        }
        for i in 0..MIN_SWEEP {
            book.topic(None, &grant(&format!("t{i}"))).unwrap();
        }
        assert!(book.subjects() <= MIN_SWEEP + 1, "{}", book.subjects());
    }

    #[test]
    fn a_publish_refused_by_the_subject_gives_the_connection_its_token_back() {
        let book = QuotaBook::new(Quotas {
            connection: QuotaLimits {
                publish: Rate::new(1, 2),
                ..QuotaLimits::UNLIMITED
            },
            subject: QuotaLimits {
                publish: Rate::new(1, 1),
                ..QuotaLimits::UNLIMITED
            },
        });
        let a = book.connection();
        let ann = grant("ann");
        book.publish(Some(&a), &ann, 1).unwrap();
        let e = book.publish(Some(&a), &ann, 1).unwrap_err();
        assert!(e.to_string().contains("subject_publish_rate"), "{e}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        // The connection still has its second token, for another subject.
        book.publish(Some(&a), &grant("bob"), 1).unwrap();
        let e = book.publish(Some(&a), &grant("bob"), 1).unwrap_err();
        assert!(e.to_string().contains("connection_publish_rate"), "{e}");
        assert!(e.to_string().contains("1/s after a burst of 2"), "{e}");
    }
}
