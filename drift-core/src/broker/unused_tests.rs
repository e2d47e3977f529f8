//! Topics that subscribers made and left are forgotten after the unused
//! topic expiry, and nothing else is: not a topic `PUT` made, one published
//! to, or one with a subscriber; and never a message that was accepted.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::model::Event;

const ACCESS: Access<'static> = Access {
    credentials: None,
    peer: None,
    quota: None,
};

const EXPIRY: Duration = Duration::from_secs(60);

fn broker(expiry: Option<Duration>) -> Broker {
    Broker::new(BrokerConfig {
        unused_topic_expiry: expiry,
        ..BrokerConfig::default()
    })
}

async fn live(b: &Broker, topic: &str) -> Subscription {
    b.subscribe(
        topic,
        HistoryRequest::default(),
        SlowPolicy::Disconnect,
        &ACCESS,
    )
    .await
    .expect("subscribe")
}

async fn epoch(b: &Broker, topic: &str) -> Option<u64> {
    let info = b.inspect(topic, &ACCESS).await.expect("inspect");
    info.map(|i| i.epoch)
}

#[tokio::test(start_paused = true)]
async fn a_topic_subscribers_made_is_forgotten_once_the_expiry_has_passed() {
    let b = broker(Some(EXPIRY));
    let first = live(&b, "t").await.epoch();
    // Still there right after (as the original server answers a HEAD).
    assert_eq!(b.topic_count(), 1);
    tokio::time::advance(EXPIRY - Duration::from_secs(1)).await;
    assert_eq!(b.topic_count(), 1, "kept until the expiry");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(b.topic_count(), 0, "forgotten after it");
    assert_eq!(epoch(&b, "t").await, None);
    // Asked for again, it is a new incarnation.
    let again = live(&b, "t").await.epoch();
    assert!(again > first, "{again} after {first}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_server_forgets_them_by_its_timer() {
    let b = broker(Some(EXPIRY));
    for name in ["a", "b", "c"] {
        drop(live(&b, name).await);
    }
    // Virtual time: the broker's timer (due at the expiry) runs before this
    // sleep ends; nothing else looks at the queue.
    tokio::time::sleep(EXPIRY + Duration::from_secs(1)).await;
    assert_eq!(b.read_topics().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn leaving_again_starts_the_expiry_again() {
    let b = broker(Some(EXPIRY));
    drop(live(&b, "t").await);
    tokio::time::advance(EXPIRY / 2).await;
    drop(live(&b, "t").await);
    tokio::time::advance(EXPIRY / 2 + Duration::from_secs(1)).await;
    assert_eq!(b.topic_count(), 1, "left again half-way: not due yet");
    tokio::time::advance(EXPIRY / 2).await;
    assert_eq!(b.topic_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn put_published_and_subscribed_topics_are_kept() {
    let b = broker(Some(EXPIRY));
    b.create("made", &TopicConfigRequest::default(), &ACCESS)
        .await
        .expect("create");
    drop(live(&b, "made").await);
    drop(live(&b, "put-later").await);
    b.create("put-later", &TopicConfigRequest::default(), &ACCESS)
        .await
        .expect("create");
    drop(live(&b, "published").await);
    b.publish("published", Bytes::from_static(b"x"), &ACCESS)
        .await
        .expect("publish");
    let held = live(&b, "held").await;
    drop(live(&b, "held").await);
    tokio::time::advance(EXPIRY * 3).await;
    let mut names: Vec<String> = b
        .topics(&ACCESS)
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert_eq!(names, ["held", "made", "published", "put-later"]);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn no_expiry_keeps_every_topic() {
    let b = broker(None);
    drop(live(&b, "t").await);
    tokio::time::advance(EXPIRY * 100).await;
    assert_eq!(b.topic_count(), 1);
}

/// Subscribers come and go while a publisher publishes the topic's first
/// message and the expiry is tiny, so forgetting races every publish: each
/// acknowledged message is in its topic's history, under the epoch its
/// publish answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_never_loses_an_acknowledged_publish() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let b = broker(Some(Duration::from_micros(1)));
        let mut tasks = Vec::new();
        for i in 0..300 {
            let name = format!("r{i}");
            let (sb, pb) = (b.clone(), b.clone());
            let churn = tokio::spawn({
                let name = name.clone();
                async move {
                    for _ in 0..3 {
                        drop(live(&sb, &name).await);
                        sb.topic_count();
                        tokio::task::yield_now().await;
                    }
                }
            });
            let publish = tokio::spawn(async move {
                tokio::task::yield_now().await;
                let sent = pb
                    .publish(&name, Bytes::from(name.clone()), &ACCESS)
                    .await
                    .expect("publish");
                (name, sent)
            });
            tasks.push((churn, publish));
        }
        for (churn, publish) in tasks {
            churn.await.expect("churn");
            let (name, sent) = publish.await.expect("publisher");
            let mut sub = b
                .subscribe(
                    &name,
                    HistoryRequest {
                        last: Some(10),
                        ..Default::default()
                    },
                    SlowPolicy::Disconnect,
                    &ACCESS,
                )
                .await
                .expect("subscribe");
            match sub.next_event().await {
                Some(Event::Message(m)) => {
                    assert_eq!(m.id(), sent.id, "{name}");
                    assert_eq!(&m.payload[..], name.as_bytes());
                }
                other => panic!("{name}: its message is not in history: {other:?}"),
            }
        }
    })
    .await
    .expect("the test did not finish in time");
}

/// The memory store's side: forgetting is atomic with appends. A log that
/// took an append is never forgotten; a forgotten one refuses appends, so a
/// publisher holding it looks the topic up again instead of losing its
/// message.
#[tokio::test]
async fn the_memory_store_forgets_only_a_log_nothing_was_appended_to() {
    let store = MemoryStore::new();
    let config = TopicConfigRequest::default()
        .resolve(&BrokerConfig::default())
        .expect("config");
    let open = |name: &'static str| {
        let store = store.clone();
        async move {
            store
                .open(name, Some(&config))
                .await
                .expect("open")
                .expect("made")
                .log
        }
    };
    let used = open("used").await;
    used.append(&[Bytes::from_static(b"x")])
        .await
        .expect("append");
    assert!(!used.is_unused());
    assert!(!store.forget_unused("used", used.epoch()));
    assert!(!used.is_deleted());

    let unused = open("unused").await;
    assert!(unused.is_unused());
    assert!(
        !store.forget_unused("unused", unused.epoch() + 1),
        "another epoch"
    );
    assert!(store.forget_unused("unused", unused.epoch()));
    assert!(unused.is_deleted());
    let refused = unused
        .append(&[Bytes::from_static(b"late")])
        .await
        .expect_err("a forgotten log refuses appends");
    assert_eq!(refused.kind(), ErrorKind::NotFound);
    assert!(store.open("unused", None).await.expect("open").is_none());
}

/// A timer task dropped with its runtime gives its claim back: the next
/// leave on another runtime starts a timer that forgets the topic.
#[test]
fn a_timer_dropped_with_its_runtime_is_started_again() {
    let b = broker(Some(EXPIRY));
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
    };
    // The first runtime's timer sleeps until the expiry; the runtime ends
    // before, dropping it.
    paused().block_on(async { drop(live(&b, "first").await) });
    paused().block_on(async {
        drop(live(&b, "second").await);
        tokio::time::sleep(EXPIRY * 3).await;
        assert_eq!(b.read_topics().len(), 0, "both forgotten by the new timer");
    });
}
