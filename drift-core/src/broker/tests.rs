//! Broker behaviour without HTTP: identity, history selection, hand-over,
//! back-pressure, delete and shutdown — against every store, so that nothing
//! depends on the memory store answering at once, counting seqs from 1 or
//! taking epochs from the clock.

use std::time::Duration;

use bytes::Bytes;

use super::store::testing;
use super::*;
use crate::model::{Event, Gap, GapReason, MessageId};

const ACCESS: Access<'static> = Access {
    credentials: None,
    peer: None,
    quota: None,
};

/// The stores every test below runs against.
#[derive(Debug, Clone, Copy)]
enum Store {
    Memory,
    /// Answers every call later.
    Yielding,
    /// Seqs from 1000, epochs 42, 43, …
    Renumbered,
    /// SQLite in a directory of its own.
    Disk,
}

impl Store {
    fn make(self) -> Arc<dyn TopicStore> {
        match self {
            Store::Memory => Arc::new(MemoryStore::new()),
            Store::Yielding => Arc::new(testing::yielding(MemoryStore::new())),
            Store::Renumbered => Arc::new(testing::renumbered()),
            Store::Disk => Arc::new(testing::on_disk()),
        }
    }
}

/// Each `async fn name(store) { … }` becomes a module `name` with one test
/// per store, each on a two-thread runtime and under a deadline.
macro_rules! every_store {
    ($(async fn $name:ident($store:ident: Store) $body:block)*) => {$(
        mod $name {
            use super::*;

            async fn run($store: Store) $body

            async fn within(store: Store) {
                tokio::time::timeout(Duration::from_secs(30), run(store))
                    .await
                    .expect("the test did not finish in time");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                within(Store::Memory).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn yielding() {
                within(Store::Yielding).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn renumbered() {
                within(Store::Renumbered).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn disk() {
                within(Store::Disk).await
            }
        }
    )*};
}

fn broker(store: Store, tweak: impl FnOnce(&mut BrokerConfig)) -> Broker {
    let mut cfg = BrokerConfig {
        store: store.make(),
        ..BrokerConfig::default()
    };
    tweak(&mut cfg);
    Broker::new(cfg)
}

async fn publish(b: &Broker, topic: &str, payload: &str) -> Published {
    b.publish(topic, Bytes::copy_from_slice(payload.as_bytes()), &ACCESS)
        .await
        .expect("publish")
}

fn history(last: Option<u64>, after: Option<MessageId>) -> HistoryRequest {
    HistoryRequest {
        last,
        since_us: None,
        after,
    }
}

async fn subscribe(b: &Broker, topic: &str, req: HistoryRequest) -> Subscription {
    b.subscribe(topic, req, SlowPolicy::Disconnect, &ACCESS)
        .await
        .expect("subscribe")
}

/// A subscription with no history and the default slow-consumer policy.
async fn live(b: &Broker, topic: &str) -> Subscription {
    subscribe(b, topic, HistoryRequest::default()).await
}

async fn next(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next_event())
        .await
        .expect("timed out waiting for an event")
        .expect("subscription ended without an end event")
}

async fn next_payload(sub: &mut Subscription) -> String {
    match next(sub).await {
        Event::Message(m) => String::from_utf8(m.payload.to_vec()).expect("UTF-8 payload"),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn the_memory_store_counts_seqs_from_one() {
    let b = broker(Store::Memory, |_| {});
    assert_eq!(publish(&b, "t", "a").await.id.seq, 1);
    assert_eq!(publish(&b, "t", "b").await.id.seq, 2);
}

every_store! {
    async fn seqs_follow_on_and_epochs_differ_per_incarnation(store: Store) {
        let b = broker(store, |_| {});
        let first = publish(&b, "t", "a").await;
        assert!(first.created);
        let second = publish(&b, "t", "b").await;
        assert!(!second.created);
        assert_eq!(
            second.id,
            MessageId {
                epoch: first.id.epoch,
                seq: first.id.seq + 1
            }
        );
        b.delete("t", &ACCESS).await.expect("delete");
        let again = publish(&b, "t", "c").await;
        assert!(again.created);
        assert_eq!(again.id.seq, first.id.seq, "a new incarnation starts over");
        assert_ne!(again.id.epoch, first.id.epoch);
    }

    async fn replay_then_live_in_order(store: Store) {
        let b = broker(store, |_| {});
        let mut last = None;
        for p in ["a", "b", "c", "d"] {
            last = Some(publish(&b, "t", p).await.id);
        }
        let mut sub = subscribe(&b, "t", history(Some(2), None)).await;
        assert_eq!(Some(sub.start_last_seq()), last.map(|id| id.seq));
        assert!(!sub.created_topic());
        publish(&b, "t", "e").await;
        assert_eq!(next_payload(&mut sub).await, "c");
        assert_eq!(next_payload(&mut sub).await, "d");
        assert_eq!(next_payload(&mut sub).await, "e");
    }

    async fn resume_after_id_and_expired_gap(store: Store) {
        let b = broker(store, |c| c.history_length = 3);
        let mut ids = Vec::new();
        for i in 1..=6 {
            ids.push(publish(&b, "t", &i.to_string()).await.id);
        }
        // 4, 5, 6 are retained: resuming after 4 replays 5 and 6 without a gap.
        let mut sub = subscribe(&b, "t", history(None, Some(ids[3]))).await;
        assert_eq!(sub.initial_gap(), None);
        assert_eq!(next_payload(&mut sub).await, "5");
        assert_eq!(next_payload(&mut sub).await, "6");
        // Resuming after 1 misses 2 and 3: a gap first, then 4, 5, 6.
        let mut sub = subscribe(&b, "t", history(None, Some(ids[0]))).await;
        let gap = Gap {
            from: ids[1].seq,
            to: ids[2].seq,
            reason: GapReason::Expired,
        };
        assert_eq!(sub.initial_gap(), Some(gap));
        assert!(matches!(next(&mut sub).await, Event::Gap(g) if g == gap));
        assert_eq!(next_payload(&mut sub).await, "4");
    }

    async fn resume_from_another_epoch_is_an_epoch_gap(store: Store) {
        let b = broker(store, |_| {});
        let old = publish(&b, "t", "old").await.id;
        b.delete("t", &ACCESS).await.expect("delete");
        publish(&b, "t", "new").await;
        let mut sub = subscribe(&b, "t", history(None, Some(old))).await;
        assert!(matches!(
            next(&mut sub).await,
            Event::Gap(Gap {
                reason: GapReason::Epoch,
                ..
            })
        ));
        assert_eq!(next_payload(&mut sub).await, "new");
    }

    async fn concurrent_publishes_and_joins_have_no_gap_or_duplicate(store: Store) {
        let b = broker(store, |c| c.queue_messages = 100_000);
        let total = 3_000u64;
        let first = publish(&b, "t", "0").await.id.seq;
        let last = first + total;
        // Two publishers at once, so that appends also complete out of order.
        let publishers: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    for i in 0..total / 2 {
                        publish(&b, "t", &i.to_string()).await;
                    }
                })
            })
            .collect();
        let mut joins = Vec::new();
        for _ in 0..8 {
            let b = b.clone();
            joins.push(tokio::spawn(async move {
                tokio::task::yield_now().await;
                let mut sub = subscribe(&b, "t", history(Some(1000), None)).await;
                let mut prev: Option<u64> = None;
                loop {
                    match next(&mut sub).await {
                        Event::Message(m) => {
                            if let Some(p) = prev {
                                assert_eq!(m.seq, p + 1, "hole or duplicate after {p}");
                            }
                            prev = Some(m.seq);
                            if m.seq == last {
                                return;
                            }
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }));
        }
        for p in publishers {
            p.await.expect("publisher");
        }
        for j in joins {
            j.await.expect("subscriber");
        }
    }

    async fn slow_subscriber_is_disconnected_without_blocking_the_publisher(store: Store) {
        let b = broker(store, |c| c.queue_messages = 4);
        let mut slow = live(&b, "t").await;
        let mut fast = live(&b, "t").await;
        for i in 1..=10 {
            publish(&b, "t", &i.to_string()).await;
            assert_eq!(next_payload(&mut fast).await, i.to_string());
        }
        assert!(matches!(
            next(&mut slow).await,
            Event::End(EndReason::SlowConsumer)
        ));
        assert!(slow.next_event().await.is_none());
    }

    async fn slow_subscriber_with_drop_policy_gets_a_gap(store: Store) {
        let b = broker(store, |c| c.queue_messages = 4);
        let mut sub = b
            .subscribe("t", HistoryRequest::default(), SlowPolicy::Drop, &ACCESS)
            .await
            .expect("subscribe");
        let mut ids = Vec::new();
        for i in 1..=10 {
            ids.push(publish(&b, "t", &i.to_string()).await.id.seq);
        }
        match next(&mut sub).await {
            Event::Gap(g) => {
                assert_eq!(g.reason, GapReason::Dropped);
                assert_eq!(g.to, ids[9]);
                assert!(g.from >= ids[0] && g.from <= ids[6], "gap {g:?}");
            }
            other => panic!("expected a gap, got {other:?}"),
        }
        publish(&b, "t", "11").await;
        assert_eq!(next_payload(&mut sub).await, "11");
    }

    async fn byte_bound_counts_as_slow(store: Store) {
        let b = broker(store, |c| c.queue_bytes = 10);
        let mut sub = live(&b, "t").await;
        for _ in 0..3 {
            publish(&b, "t", "123456").await;
        }
        assert!(matches!(
            next(&mut sub).await,
            Event::End(EndReason::SlowConsumer)
        ));
    }

    async fn delete_and_shutdown_end_subscriptions_after_pending_messages(store: Store) {
        let b = broker(store, |_| {});
        let mut sub = live(&b, "t").await;
        publish(&b, "t", "last").await;
        b.delete("t", &ACCESS).await.expect("delete");
        assert_eq!(next_payload(&mut sub).await, "last");
        assert!(matches!(
            next(&mut sub).await,
            Event::End(EndReason::Deleted)
        ));
        let again = b.delete("t", &ACCESS).await.expect_err("deleted twice");
        assert_eq!(again.kind(), ErrorKind::NotFound);

        let mut sub = live(&b, "u").await;
        b.shutdown();
        assert!(matches!(
            next(&mut sub).await,
            Event::End(EndReason::Shutdown)
        ));
        let refused = b
            .subscribe("u", HistoryRequest::default(), SlowPolicy::Disconnect, &ACCESS)
            .await
            .expect_err("subscribed during shutdown");
        assert_eq!(refused.kind(), ErrorKind::Unavailable);
        // A publish after shutdown began would reach no subscriber: refused.
        let late = b
            .publish("u", Bytes::from_static(b"late"), &ACCESS)
            .await
            .expect_err("published during shutdown");
        assert_eq!(late.kind(), ErrorKind::Unavailable);
    }

    async fn limits_are_enforced(store: Store) {
        let b = broker(store, |c| {
            c.max_topics = 1;
            c.max_subscriptions = 1;
            c.max_message_bytes = 3;
        });
        publish(&b, "a", "x").await;
        let kind = |r: Result<Published>| r.expect_err("accepted").kind();
        assert_eq!(
            kind(b.publish("b", Bytes::from_static(b"x"), &ACCESS).await),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(b.publish("a", Bytes::from_static(b"four"), &ACCESS).await),
            ErrorKind::TooLarge
        );
        let sub = live(&b, "a").await;
        let second = b
            .subscribe("a", HistoryRequest::default(), SlowPolicy::Disconnect, &ACCESS)
            .await
            .expect_err("over the subscription limit");
        assert_eq!(second.kind(), ErrorKind::Unavailable);
        drop(sub);
        assert_eq!(b.subscription_count(), 0);
        live(&b, "a").await;
    }

    async fn create_is_idempotent_and_detects_conflicts(store: Store) {
        let b = broker(store, |_| {});
        let cfg = TopicConfigRequest {
            history_length: Some(5),
            ..Default::default()
        };
        let Ok(Created::New(epoch)) = b.create("t", &cfg, &ACCESS).await else {
            panic!("not new")
        };
        assert_eq!(
            b.create("t", &cfg, &ACCESS).await.expect("create again"),
            Created::Existing(epoch)
        );
        let other = TopicConfigRequest {
            history_length: Some(6),
            ..Default::default()
        };
        let conflict = b.create("t", &other, &ACCESS).await.expect_err("conflict");
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
        let info = b.inspect("t", &ACCESS).await.expect("inspect").expect("exists");
        assert_eq!(info.config.retention.max_messages, 5);
        assert_eq!(info.epoch, epoch);
        assert!(b.inspect("missing", &ACCESS).await.expect("inspect").is_none());
    }

    async fn require_create_refuses_implicit_topics(store: Store) {
        let b = broker(store, |c| c.require_create = true);
        let refused = b.publish("t", Bytes::new(), &ACCESS).await.expect_err("implicit");
        assert_eq!(refused.kind(), ErrorKind::NotFound);
        b.create("t", &TopicConfigRequest::default(), &ACCESS)
            .await
            .expect("create");
        b.publish("t", Bytes::new(), &ACCESS).await.expect("publish");
    }

    async fn a_publisher_authorises_once_and_follows_a_recreated_topic(store: Store) {
        let b = broker(store, |c| c.authenticator = std::sync::Arc::new(DenyPublish));
        assert_eq!(
            b.publisher("t", &ACCESS).expect_err("authorised").kind(),
            ErrorKind::Forbidden
        );
        let ok = Access {
            credentials: Some("ok"),
            peer: None,
            quota: None,
        };
        let mut publisher = b.publisher("t", &ok).expect("publisher");
        let first = publisher.publish(Bytes::from_static(b"a")).await.expect("a");
        assert!(first.created);
        let second = publisher.publish(Bytes::from_static(b"b")).await.expect("b");
        assert_eq!(second.id.seq, first.id.seq + 1);
        // Deleted under the publisher's feet: the next message starts a new epoch.
        b.delete("t", &ACCESS).await.expect("delete");
        let again = publisher.publish(Bytes::from_static(b"c")).await.expect("c");
        assert!(again.created);
        assert_eq!(again.id.seq, first.id.seq);
        assert_ne!(again.id.epoch, first.id.epoch);
    }

    async fn the_last_subscriber_to_leave_frees_the_live_ring(store: Store) {
        let b = broker(store, |_| {});
        let first = live(&b, "t").await;
        let second = live(&b, "t").await;
        let held = b.cached("t").expect("the topic");
        drop(first);
        assert!(held.has_live_ring(), "one subscriber is still there");
        drop(second);
        assert!(!held.has_live_ring(), "nobody listens: the ring is freed");
        // And the topic works as before.
        let mut again = live(&b, "t").await;
        publish(&b, "t", "after").await;
        assert_eq!(next_payload(&mut again).await, "after");
    }

    async fn a_batch_gets_consecutive_seqs(store: Store) {
        let b = broker(store, |_| {});
        let mut sub = live(&b, "t").await;
        let payloads = ["x", "y", "z"].map(|p| Bytes::from_static(p.as_bytes()));
        let published = b.publish_many("t", payloads, &ACCESS).await.expect("batch");
        let seqs: Vec<u64> = published.iter().map(|p| p.id.seq).collect();
        let base = seqs[0];
        assert_eq!(seqs, [base, base + 1, base + 2]);
        for want in ["x", "y", "z"] {
            assert_eq!(next_payload(&mut sub).await, want);
        }
    }
}

/// Grants everything but publishing, which takes the token "ok"; and to
/// the token "brief" everything for 300 ms.
#[derive(Debug)]
struct DenyPublish;

impl Authenticator for DenyPublish {
    fn authenticate(&self, access: &Access<'_>) -> crate::Result<std::sync::Arc<Grant>> {
        let mut grant = Grant::open();
        grant.authenticated = true;
        match access.credentials {
            Some("ok") => {}
            Some("brief") => {
                grant.expires = Some(std::time::SystemTime::now() + Duration::from_millis(300));
            }
            _ => grant.publish = auth::TopicPatterns::none(),
        }
        Ok(std::sync::Arc::new(grant))
    }

    fn describe(&self) -> String {
        "a test's".into()
    }
}

#[tokio::test]
async fn the_grant_decides() {
    let b = broker(Store::Memory, |c| {
        c.authenticator = std::sync::Arc::new(DenyPublish)
    });
    let refused = b
        .publish("t", Bytes::new(), &ACCESS)
        .await
        .expect_err("denied");
    assert_eq!(refused.kind(), ErrorKind::Forbidden);
    assert!(
        refused.to_string().contains("publish to topic \"t\""),
        "{refused}"
    );
    let ok = Access {
        credentials: Some("ok"),
        peer: None,
        quota: None,
    };
    b.publish("t", Bytes::new(), &ok).await.expect("allowed");
}

const BRIEF: Access<'static> = Access {
    credentials: Some("brief"),
    peer: None,
    quota: None,
};

#[tokio::test]
async fn a_subscription_ends_unauthorized_when_its_grant_expires() {
    let b = broker(Store::Memory, |c| {
        c.authenticator = std::sync::Arc::new(DenyPublish)
    });
    let started = std::time::Instant::now();
    let mut sub = b
        .subscribe(
            "t",
            HistoryRequest::default(),
            SlowPolicy::Disconnect,
            &BRIEF,
        )
        .await
        .expect("subscribe");
    let end = tokio::time::timeout(Duration::from_secs(5), sub.next_event())
        .await
        .expect("ended in time");
    assert!(
        matches!(end, Some(Event::End(EndReason::Unauthorized))),
        "{end:?}"
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "ended early: {took:?}");
    assert!(sub.next_event().await.is_none());
}

#[tokio::test]
async fn a_publisher_stops_when_its_grant_expires() {
    let b = broker(Store::Memory, |c| {
        c.authenticator = std::sync::Arc::new(DenyPublish)
    });
    let mut publisher = b.publisher("t", &BRIEF).expect("publisher");
    publisher
        .publish(Bytes::from_static(b"a"))
        .await
        .expect("before expiry");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let e = publisher
        .publish(Bytes::from_static(b"b"))
        .await
        .expect_err("after expiry");
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.to_string().contains("expired"), "{e}");
}

// ===== the wall clock stepping back =====

thread_local! {
    /// The time `stepped_clock` reads, µs; set by the test on this thread.
    static CLOCK_US: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn stepped_clock() -> u64 {
    CLOCK_US.with(|c| c.get())
}

fn set_clock(seconds: u64) {
    CLOCK_US.with(|c| c.set(seconds * 1_000_000));
}

/// The first `n` payloads a new subscription to "t" with `req` replays.
async fn replay(b: &Broker, req: HistoryRequest, n: usize) -> Vec<String> {
    let mut sub = subscribe(b, "t", req).await;
    let mut payloads = Vec::new();
    for _ in 0..n {
        payloads.push(next_payload(&mut sub).await);
    }
    payloads
}

#[tokio::test]
async fn publish_times_stay_monotonic_when_the_clock_steps_back() {
    let store = MemoryStore::with_numbering(store::Numbering {
        clock: stepped_clock,
        ..Default::default()
    });
    let b = Broker::new(BrokerConfig {
        history_max_age: Some(Duration::from_secs(60)),
        store: Arc::new(store),
        ..BrokerConfig::default()
    });
    let mut times = Vec::new();
    for (clock, payload) in [
        (1000, "a"),
        (1001, "b"),
        (900, "c"),
        (950, "d"),
        (1002, "e"),
    ] {
        set_clock(clock);
        times.push(publish(&b, "t", payload).await.time_us / 1_000_000);
    }
    // Never before the previous message of the topic.
    assert_eq!(times, [1000, 1001, 1001, 1001, 1002]);
    // `since` selects by those times: everything after 1000.5 s.
    set_clock(1003);
    let since = HistoryRequest {
        last: None,
        since_us: Some(1_000_500_000),
        after: None,
    };
    assert_eq!(replay(&b, since, 4).await, ["b", "c", "d", "e"]);
    // Age expiry counts from the topic's time too: with the clock back
    // at 950 s, nothing published at 1001 s counts as older than 60 s.
    set_clock(950);
    let all = history(Some(100), None);
    assert_eq!(replay(&b, all, 5).await, ["a", "b", "c", "d", "e"]);
    // And once the clock is 60 s past them, they expire in order.
    set_clock(1061);
    assert_eq!(replay(&b, all, 4).await, ["b", "c", "d", "e"]);
}

/// A stream paced by its connection's publish rate stops waiting when the
/// broker shuts down: the batch is refused at once (503), not after the
/// wait, so a shutdown never waits for a paced stream.
#[tokio::test]
async fn a_paced_stream_stops_waiting_at_shutdown() {
    let b = Broker::new(BrokerConfig {
        quotas: Quotas {
            connection: QuotaLimits {
                publish: Rate::new(1, 1),
                ..QuotaLimits::UNLIMITED
            },
            subject: QuotaLimits::UNLIMITED,
        },
        ..BrokerConfig::default()
    });
    let conn = b.connection_quota();
    let access = Access {
        quota: Some(&conn),
        ..ACCESS
    };
    let mut publisher = b.publisher("t", &access).expect("publisher");
    publisher
        .publish(Bytes::from_static(b"first"))
        .await
        .expect("within the burst");
    // Ten more at 1/s: about ten seconds of pacing.
    let batch: Vec<Bytes> = (0..10).map(|_| Bytes::from_static(b"m")).collect();
    let paced = tokio::spawn(async move { publisher.publish_batch(&batch).await });
    tokio::task::yield_now().await;
    let started = std::time::Instant::now();
    b.shutdown();
    let refused = tokio::time::timeout(Duration::from_secs(5), paced)
        .await
        .expect("the wait ended with the shutdown")
        .expect("task")
        .expect_err("refused");
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
