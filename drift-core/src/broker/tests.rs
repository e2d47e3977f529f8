//! Broker behaviour without HTTP: identity, history selection, hand-over,
//! back-pressure, delete and shutdown.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::model::{Event, Gap, GapReason, MessageId};

const ACCESS: Access<'static> = Access {
    credentials: None,
    peer: None,
};

fn broker(tweak: impl FnOnce(&mut BrokerConfig)) -> Broker {
    let mut cfg = BrokerConfig::default();
    tweak(&mut cfg);
    Broker::new(cfg)
}

fn publish(b: &Broker, topic: &str, payload: &str) -> Published {
    b.publish(topic, Bytes::copy_from_slice(payload.as_bytes()), &ACCESS)
        .unwrap()
}

fn history(last: Option<u64>, after: Option<MessageId>) -> HistoryRequest {
    HistoryRequest {
        last,
        since_us: None,
        after,
    }
}

/// A subscription with no history and the default slow-consumer policy.
fn live(b: &Broker, topic: &str) -> Subscription {
    b.subscribe(
        topic,
        HistoryRequest::default(),
        SlowPolicy::Disconnect,
        &ACCESS,
    )
    .unwrap()
}

async fn next(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next_event())
        .await
        .expect("timed out waiting for an event")
        .expect("subscription ended without an end event")
}

async fn next_payload(sub: &mut Subscription) -> String {
    match next(sub).await {
        Event::Message(m) => String::from_utf8(m.payload.to_vec()).unwrap(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn seq_counts_from_one_and_epochs_differ_per_incarnation() {
    let b = broker(|_| {});
    let first = publish(&b, "t", "a");
    assert!(first.created);
    assert_eq!(first.id.seq, 1);
    let second = publish(&b, "t", "b");
    assert!(!second.created);
    assert_eq!(
        second.id,
        MessageId {
            epoch: first.id.epoch,
            seq: 2
        }
    );
    b.delete("t", &ACCESS).unwrap();
    let again = publish(&b, "t", "c");
    assert_eq!(again.id.seq, 1);
    assert!(again.id.epoch > first.id.epoch);
}

#[tokio::test]
async fn replay_then_live_in_order() {
    let b = broker(|_| {});
    for p in ["a", "b", "c", "d"] {
        publish(&b, "t", p);
    }
    let mut sub = b
        .subscribe("t", history(Some(2), None), SlowPolicy::Disconnect, &ACCESS)
        .unwrap();
    assert_eq!(sub.start_last_seq(), 4);
    assert!(!sub.created_topic());
    publish(&b, "t", "e");
    assert_eq!(next_payload(&mut sub).await, "c");
    assert_eq!(next_payload(&mut sub).await, "d");
    assert_eq!(next_payload(&mut sub).await, "e");
}

#[tokio::test]
async fn resume_after_id_and_expired_gap() {
    let b = broker(|c| c.history_length = 3);
    let ids: Vec<MessageId> = (1..=6)
        .map(|i| publish(&b, "t", &i.to_string()).id)
        .collect();
    // 4, 5, 6 are retained: resuming after 4 replays 5 and 6 without a gap.
    let mut sub = b
        .subscribe(
            "t",
            history(None, Some(ids[3])),
            SlowPolicy::Disconnect,
            &ACCESS,
        )
        .unwrap();
    assert_eq!(sub.initial_gap(), None);
    assert_eq!(next_payload(&mut sub).await, "5");
    assert_eq!(next_payload(&mut sub).await, "6");
    // Resuming after 1 misses 2 and 3: a gap first, then 4, 5, 6.
    let mut sub = b
        .subscribe(
            "t",
            history(None, Some(ids[0])),
            SlowPolicy::Disconnect,
            &ACCESS,
        )
        .unwrap();
    let gap = Gap {
        from: 2,
        to: 3,
        reason: GapReason::Expired,
    };
    assert_eq!(sub.initial_gap(), Some(gap));
    assert!(matches!(next(&mut sub).await, Event::Gap(g) if g == gap));
    assert_eq!(next_payload(&mut sub).await, "4");
}

#[tokio::test]
async fn resume_from_another_epoch_is_an_epoch_gap() {
    let b = broker(|_| {});
    let old = publish(&b, "t", "old").id;
    b.delete("t", &ACCESS).unwrap();
    publish(&b, "t", "new");
    let mut sub = b
        .subscribe(
            "t",
            history(None, Some(old)),
            SlowPolicy::Disconnect,
            &ACCESS,
        )
        .unwrap();
    assert!(matches!(
        next(&mut sub).await,
        Event::Gap(Gap {
            reason: GapReason::Epoch,
            ..
        })
    ));
    assert_eq!(next_payload(&mut sub).await, "new");
}

#[tokio::test]
async fn concurrent_publishes_and_joins_have_no_gap_or_duplicate() {
    let b = broker(|c| c.queue_messages = 100_000);
    let total = 5_000u64;
    let publisher = {
        let b = b.clone();
        tokio::task::spawn_blocking(move || {
            for i in 1..=total {
                publish(&b, "t", &i.to_string());
            }
        })
    };
    let mut joins = Vec::new();
    for _ in 0..8 {
        let b = b.clone();
        joins.push(tokio::spawn(async move {
            tokio::task::yield_now().await;
            let mut sub = b
                .subscribe(
                    "t",
                    history(Some(1000), None),
                    SlowPolicy::Disconnect,
                    &ACCESS,
                )
                .unwrap();
            let mut prev: Option<u64> = None;
            loop {
                match next(&mut sub).await {
                    Event::Message(m) => {
                        if let Some(p) = prev {
                            assert_eq!(m.seq, p + 1, "hole or duplicate after {p}");
                        }
                        prev = Some(m.seq);
                        if m.seq == total {
                            return;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }));
    }
    publisher.await.unwrap();
    for j in joins {
        tokio::time::timeout(Duration::from_secs(20), j)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn slow_subscriber_is_disconnected_without_blocking_the_publisher() {
    let b = broker(|c| c.queue_messages = 4);
    let mut slow = live(&b, "t");
    let mut fast = live(&b, "t");
    for i in 1..=10 {
        publish(&b, "t", &i.to_string());
        assert_eq!(next_payload(&mut fast).await, i.to_string());
    }
    assert!(matches!(
        next(&mut slow).await,
        Event::End(EndReason::SlowConsumer)
    ));
    assert!(slow.next_event().await.is_none());
}

#[tokio::test]
async fn slow_subscriber_with_drop_policy_gets_a_gap() {
    let b = broker(|c| c.queue_messages = 4);
    let mut sub = b
        .subscribe("t", HistoryRequest::default(), SlowPolicy::Drop, &ACCESS)
        .unwrap();
    for i in 1..=10 {
        publish(&b, "t", &i.to_string());
    }
    match next(&mut sub).await {
        Event::Gap(g) => {
            assert_eq!(g.reason, GapReason::Dropped);
            assert_eq!(g.to, 10);
            assert!(g.from >= 1 && g.from <= 7, "gap {g:?}");
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    publish(&b, "t", "11");
    assert_eq!(next_payload(&mut sub).await, "11");
}

#[tokio::test]
async fn byte_bound_counts_as_slow() {
    let b = broker(|c| c.queue_bytes = 10);
    let mut sub = live(&b, "t");
    for _ in 0..3 {
        publish(&b, "t", "123456");
    }
    assert!(matches!(
        next(&mut sub).await,
        Event::End(EndReason::SlowConsumer)
    ));
}

#[tokio::test]
async fn delete_and_shutdown_end_subscriptions_after_pending_messages() {
    let b = broker(|_| {});
    let mut sub = live(&b, "t");
    publish(&b, "t", "last");
    b.delete("t", &ACCESS).unwrap();
    assert_eq!(next_payload(&mut sub).await, "last");
    assert!(matches!(
        next(&mut sub).await,
        Event::End(EndReason::Deleted)
    ));
    assert_eq!(
        b.delete("t", &ACCESS).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let mut sub = live(&b, "u");
    b.shutdown();
    assert!(matches!(
        next(&mut sub).await,
        Event::End(EndReason::Shutdown)
    ));
    let refused = b
        .subscribe(
            "u",
            HistoryRequest::default(),
            SlowPolicy::Disconnect,
            &ACCESS,
        )
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable);
    // Publishes in flight during shutdown still succeed.
    publish(&b, "u", "late");
}

#[tokio::test]
async fn limits_are_enforced() {
    let b = broker(|c| {
        c.max_topics = 1;
        c.max_subscriptions = 1;
        c.max_message_bytes = 3;
    });
    publish(&b, "a", "x");
    assert_eq!(
        b.publish("b", Bytes::from_static(b"x"), &ACCESS)
            .unwrap_err()
            .kind(),
        ErrorKind::Unavailable
    );
    assert_eq!(
        b.publish("a", Bytes::from_static(b"four"), &ACCESS)
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge
    );
    let sub = live(&b, "a");
    assert_eq!(
        b.subscribe(
            "a",
            HistoryRequest::default(),
            SlowPolicy::Disconnect,
            &ACCESS
        )
        .unwrap_err()
        .kind(),
        ErrorKind::Unavailable
    );
    drop(sub);
    assert_eq!(b.subscription_count(), 0);
    assert!(
        b.subscribe(
            "a",
            HistoryRequest::default(),
            SlowPolicy::Disconnect,
            &ACCESS
        )
        .is_ok()
    );
}

#[tokio::test]
async fn create_is_idempotent_and_detects_conflicts() {
    let b = broker(|_| {});
    let cfg = TopicConfigRequest {
        history_length: Some(5),
        ..Default::default()
    };
    let Created::New(epoch) = b.create("t", &cfg, &ACCESS).unwrap() else {
        panic!("not new")
    };
    assert_eq!(
        b.create("t", &cfg, &ACCESS).unwrap(),
        Created::Existing(epoch)
    );
    let other = TopicConfigRequest {
        history_length: Some(6),
        ..Default::default()
    };
    assert_eq!(
        b.create("t", &other, &ACCESS).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        b.inspect("t", &ACCESS)
            .unwrap()
            .unwrap()
            .config
            .retention
            .max_messages,
        5
    );
    assert!(b.inspect("missing", &ACCESS).unwrap().is_none());
}

#[tokio::test]
async fn require_create_refuses_implicit_topics() {
    let b = broker(|c| c.require_create = true);
    assert_eq!(
        b.publish("t", Bytes::new(), &ACCESS).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    b.create("t", &TopicConfigRequest::default(), &ACCESS)
        .unwrap();
    assert!(b.publish("t", Bytes::new(), &ACCESS).is_ok());
}

#[derive(Debug)]
struct DenyPublish;

impl Authorizer for DenyPublish {
    fn authorize(&self, action: Action, topic: &str, access: &Access<'_>) -> crate::Result<()> {
        match (action, access.credentials) {
            (Action::Publish, Some("Bearer ok")) => Ok(()),
            (Action::Publish, _) => Err(Error::new(
                ErrorKind::Forbidden,
                format!("no publishing to {topic}"),
            )),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn authorizer_decides() {
    let b = broker(|c| c.authorizer = std::sync::Arc::new(DenyPublish));
    assert_eq!(
        b.publish("t", Bytes::new(), &ACCESS).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let ok = Access {
        credentials: Some("Bearer ok"),
        peer: None,
    };
    assert!(b.publish("t", Bytes::new(), &ok).is_ok());
}

#[tokio::test]
async fn a_publisher_authorises_once_and_follows_a_recreated_topic() {
    let b = broker(|c| c.authorizer = std::sync::Arc::new(DenyPublish));
    assert_eq!(
        b.publisher("t", &ACCESS).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let ok = Access {
        credentials: Some("Bearer ok"),
        peer: None,
    };
    let mut publisher = b.publisher("t", &ok).unwrap();
    let first = publisher.publish(Bytes::from_static(b"a")).unwrap();
    assert!(first.created);
    assert_eq!(
        publisher.publish(Bytes::from_static(b"b")).unwrap().id.seq,
        2
    );
    // Deleted under the publisher's feet: the next message starts a new epoch.
    b.delete("t", &ACCESS).unwrap();
    let again = publisher.publish(Bytes::from_static(b"c")).unwrap();
    assert!(again.created);
    assert_eq!(again.id.seq, 1);
    assert!(again.id.epoch > first.id.epoch);
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
    let mut sub = b
        .subscribe("t", req, SlowPolicy::Disconnect, &ACCESS)
        .unwrap();
    let mut payloads = Vec::new();
    for _ in 0..n {
        payloads.push(next_payload(&mut sub).await);
    }
    payloads
}

#[tokio::test]
async fn publish_times_stay_monotonic_when_the_clock_steps_back() {
    let b = Broker::with_clock(
        BrokerConfig {
            history_max_age: Some(Duration::from_secs(60)),
            ..BrokerConfig::default()
        },
        stepped_clock,
    );
    let mut times = Vec::new();
    for (clock, payload) in [
        (1000, "a"),
        (1001, "b"),
        (900, "c"),
        (950, "d"),
        (1002, "e"),
    ] {
        set_clock(clock);
        times.push(publish(&b, "t", payload).time_us / 1_000_000);
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
