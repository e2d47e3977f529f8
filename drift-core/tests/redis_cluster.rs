//! Several Drift nodes sharing topics through one Redis server (Debian's
//! redis-server, started by the tests): a publish on any node reaches every
//! subscriber on every node once and in seq order, a subscriber resumes on
//! another node with no gap, deletions and configurations are cluster-wide,
//! and each fault of Redis (restart empty, unreachable, lost notices, back
//! with older data) ends in delivery or an explicit gap, never silence.

mod support;

use std::collections::HashMap;

use drift_core::protocol::{Frame, FrameKind};
use drift_core::server::ServerConfig;
use http::StatusCode;
use support::*;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");

async fn node(redis: &RedisServer, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let url = redis.url();
    start_h2c(move |c| {
        c.redis = Some(url);
        tweak(c);
    })
    .await
}

/// A subscription in Drift frames, with extra request headers.
async fn subscribe(server: &TestServer, topic: &str, headers: &[(&str, &str)]) -> Sub {
    let mut all = vec![FRAMES];
    all.extend_from_slice(headers);
    let sub = server
        .h2()
        .await
        .subscribe(&format!("/v1/t/{topic}"), &all)
        .await;
    assert_eq!(sub.status, StatusCode::OK, "subscribe to {topic}");
    sub
}

/// The next frame, which must be a message: (seq, payload).
async fn message(sub: &mut Sub) -> (u64, String) {
    let f = sub.next_frame().await.expect("a frame");
    assert_eq!(f.kind, FrameKind::Message, "expected a message, got {f:?}");
    (f.seq, String::from_utf8(f.payload.to_vec()).expect("text"))
}

/// The next frame, which must be the end: its reason.
async fn end(sub: &mut Sub) -> String {
    let f: Frame = sub.next_frame().await.expect("an end frame");
    assert_eq!(f.kind, FrameKind::End, "expected the end, got {f:?}");
    String::from_utf8(f.payload.to_vec()).expect("text")
}

async fn publish(server: &TestServer, topic: &str, body: &str) -> (u64, u64) {
    let r = server.h2().await.publish(topic, body.to_owned()).await;
    assert_eq!(r.status, StatusCode::OK, "publish: {}", r.text());
    (r.num("drift-epoch"), r.num("drift-seq"))
}

/// Publishes `body` to `T` on `server` once Redis answers again after a
/// restart: the first publishes may find the connection broken (503) or
/// the incarnation replaced, and each is refused with a reason, never
/// half-done. Polls, bounded by the test's timeout.
async fn publish_once_back(server: &TestServer, body: &str) -> (u64, u64) {
    let mut c = server.h2().await;
    let mut refusals = Vec::new();
    loop {
        let r = c.post("/v1/t/T", body.to_owned()).await;
        if r.status == StatusCode::OK {
            return (r.num("drift-epoch"), r.num("drift-seq"));
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        refusals.push(r.text().to_owned());
        assert!(
            refusals.len() < 400,
            "Redis never answered again: {refusals:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_any_node_reaches_every_node_once_and_in_order() {
    within(async {
        let redis = RedisServer::start();
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(node(&redis, |_| {}).await);
        }
        let mut subs = Vec::new();
        for n in &nodes {
            subs.push(subscribe(n, "T", &[]).await);
        }
        // Every node publishes at once, many streams each.
        let mut publishers = Vec::new();
        for (n, server) in nodes.iter().enumerate() {
            let client = server.h2().await;
            for i in 0..20 {
                let mut c = client.multiplexed();
                publishers.push(tokio::spawn(async move {
                    let r = c.publish("T", format!("{n}-{i}")).await;
                    (r.num("drift-seq"), format!("{n}-{i}"))
                }));
            }
        }
        let mut published = HashMap::new();
        for p in publishers {
            let (seq, payload) = p.await.expect("publisher");
            assert!(
                published.insert(seq, payload).is_none(),
                "a seq handed out twice"
            );
        }
        for sub in &mut subs {
            let mut seen = Vec::new();
            for _ in 0..60 {
                seen.push(message(sub).await);
            }
            let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
            assert_eq!(
                seqs,
                (1..=60).collect::<Vec<_>>(),
                "every seq once, in order"
            );
            for (seq, payload) in seen {
                assert_eq!(
                    published[&seq], payload,
                    "seq {seq} carries its own payload"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_password_in_the_url_is_used_and_never_shown() {
    within(async {
        let redis = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
        let url = format!("redis://:s3cret-pw@127.0.0.1:{}", redis.port());
        let a = start_h2c(move |c| c.redis = Some(url)).await;
        publish(&a, "T", "m1").await;
        let wrong = format!("redis://:wrong@127.0.0.1:{}", redis.port());
        let b = start_h2c(move |c| c.redis = Some(wrong)).await;
        let r = b.h2().await.post("/v1/t/T", "m2").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!r.text().contains("wrong"), "no password in {:?}", r.text());
        assert!(r.text().contains(&redis.port().to_string()), "{}", r.text());
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_resumes_on_another_node_with_no_gap() {
    within(async {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis, |_| {}).await, node(&redis, |_| {}).await);
        let mut on_a = subscribe(&a, "T", &[]).await;
        let mut epoch = 0;
        for i in 1..=3 {
            epoch = publish(&a, "T", &format!("m{i}")).await.0;
        }
        for i in 1..=3 {
            assert_eq!(message(&mut on_a).await, (i, format!("m{i}")));
        }
        drop(on_a);
        // Published elsewhere while the subscriber moves.
        publish(&b, "T", "m4").await;
        publish(&a, "T", "m5").await;
        let last_id = format!("{epoch}-3");
        let mut on_b = subscribe(&b, "T", &[("last-event-id", &last_id)]).await;
        assert_eq!(on_b.header("drift-gap"), None, "nothing is missing");
        assert_eq!(message(&mut on_b).await, (4, "m4".into()));
        assert_eq!(message(&mut on_b).await, (5, "m5".into()));
        publish(&a, "T", "m6").await;
        assert_eq!(message(&mut on_b).await, (6, "m6".into()), "then live");
    })
    .await;
}

#[tokio::test]
async fn history_selections_read_the_shared_log_from_any_node() {
    within(async {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis, |_| {}).await, node(&redis, |_| {}).await);
        for i in 1..=5 {
            publish(&a, "T", &format!("m{i}")).await;
        }
        let mut newest = subscribe(&b, "T", &[("x-history-length", "2")]).await;
        assert_eq!(message(&mut newest).await, (4, "m4".into()));
        assert_eq!(message(&mut newest).await, (5, "m5".into()));
    })
    .await;
}

#[tokio::test]
async fn delete_on_one_node_ends_subscriptions_on_every_node() {
    within(async {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis, |_| {}).await, node(&redis, |_| {}).await);
        publish(&a, "T", "m1").await;
        let mut on_b = subscribe(&b, "T", &[]).await;
        let r = a.h2().await.delete("/v1/t/T").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(end(&mut on_b).await, "deleted");
        // The topic made again has a new epoch, on every node.
        let (e1, s1) = publish(&b, "T", "again").await;
        let (e2, s2) = publish(&a, "T", "again").await;
        assert_eq!((e1, s1, s2), (e2, 1, 2));
    })
    .await;
}

#[tokio::test]
async fn configurations_and_require_create_are_cluster_wide() {
    within(async {
        let redis = RedisServer::start();
        let strict = |c: &mut ServerConfig| c.broker.require_create = true;
        let (a, b) = (node(&redis, strict).await, node(&redis, strict).await);
        let r = b.h2().await.post("/v1/t/T", "x").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "not created anywhere yet");
        let r = a.h2().await.put("/v1/t/T", r#"{"historyLength": 7}"#).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        publish(&b, "T", "x").await;
        let r = b.h2().await.put("/v1/t/T", r#"{"historyLength": 7}"#).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "the same configuration: {}",
            r.text()
        );
        let r = b.h2().await.put("/v1/t/T", r#"{"historyLength": 8}"#).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "another one: {}", r.text());
    })
    .await;
}

#[tokio::test]
async fn redis_restarting_empty_gives_every_subscriber_an_explicit_gap() {
    within(async {
        let mut redis = RedisServer::start();
        let (a, b) = (node(&redis, |_| {}).await, node(&redis, |_| {}).await);
        let mut on_b = subscribe(&b, "T", &[]).await;
        let (epoch, _) = publish(&a, "T", "m1").await;
        assert_eq!(message(&mut on_b).await, (1, "m1".into()));
        redis.forget_snapshot();
        redis.restart();
        assert_eq!(end(&mut on_b).await, "reset", "the lost incarnation ends");
        // Resuming finds a new epoch and says so.
        let again = subscribe(&b, "T", &[("last-event-id", &format!("{epoch}-1"))]).await;
        let gap = again
            .header("drift-gap")
            .expect("an explicit gap")
            .to_owned();
        assert!(gap.ends_with("epoch"), "{gap}");
        assert_ne!(again.num("drift-epoch"), epoch);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_redis_answers_503_and_keeps_subscribers() {
    within(async {
        let mut redis = RedisServer::start();
        let a = node(&redis, |_| {}).await;
        let mut on_a = subscribe(&a, "T", &[]).await;
        publish(&a, "T", "m1").await;
        assert_eq!(message(&mut on_a).await, (1, "m1".into()));
        redis.save();
        redis.kill();
        let mut c = a.h2().await;
        let r = c.post("/v1/t/T", "lost?").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            r.text().contains("Redis"),
            "a reason naming the store: {}",
            r.text()
        );
        let r = c.get("/readyz").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        // Back with everything it had: the subscription goes on.
        redis.restart();
        let (_, seq) = publish_once_back(&a, "m2").await;
        assert_eq!(seq, 2, "the seqs go on");
        assert_eq!(message(&mut on_a).await, (2, "m2".into()));
    })
    .await;
}

#[tokio::test]
async fn notices_lost_while_cut_off_are_read_back_from_the_log() {
    within(async {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis, |_| {}).await, node(&redis, |_| {}).await);
        let mut on_b = subscribe(&b, "T", &[]).await;
        publish(&a, "T", "m1").await;
        assert_eq!(message(&mut on_b).await, (1, "m1".into()));
        // Cut every pub/sub connection; publish before they come back.
        redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        publish(&a, "T", "m2").await;
        publish(&a, "T", "m3").await;
        assert_eq!(message(&mut on_b).await, (2, "m2".into()));
        assert_eq!(message(&mut on_b).await, (3, "m3".into()));
    })
    .await;
}

#[tokio::test]
async fn redis_back_with_older_data_becomes_a_new_epoch() {
    within(async {
        let mut redis = RedisServer::start();
        let (a, b) = (node(&redis, |_| {}).await, node(&redis, |_| {}).await);
        let mut on_b = subscribe(&b, "T", &[]).await;
        let (epoch, _) = publish(&a, "T", "m1").await;
        redis.save(); // the snapshot holds m1 only
        publish(&a, "T", "m2").await;
        assert_eq!(message(&mut on_b).await, (1, "m1".into()));
        assert_eq!(message(&mut on_b).await, (2, "m2".into()));
        redis.restart(); // from the older snapshot
        assert_eq!(end(&mut on_b).await, "reset");
        // Seq 2 of that epoch is never handed out again for other content.
        let (new_epoch, _) = publish_once_back(&a, "m2'").await;
        assert_ne!(new_epoch, epoch, "a new epoch, not seq 2 again");
        let again = subscribe(&b, "T", &[("last-event-id", &format!("{epoch}-2"))]).await;
        let gap = again
            .header("drift-gap")
            .expect("an explicit gap")
            .to_owned();
        assert!(gap.ends_with("epoch"), "{gap}");
    })
    .await;
}

#[tokio::test]
async fn drift_clients_see_the_epoch_gap_after_redis_restarts_empty() {
    use drift_core::client::{Backoff, Client, SubscribeOptions, SubscriptionEvent};
    use drift_core::model::GapReason;
    within(async {
        let mut redis = RedisServer::start();
        let a = node(&redis, |_| {}).await;
        let client = Client::builder(a.url.clone()).build().expect("a client");
        let options = SubscribeOptions {
            reconnect: Backoff {
                initial: std::time::Duration::from_millis(20),
                max: std::time::Duration::from_millis(200),
                max_attempts: None,
            },
            ..Default::default()
        };
        let mut sub = client.subscribe("T", options).await.expect("subscribe");
        let first = client.publish("T", "before").await.expect("publish");
        match sub.next_event().await {
            Some(Ok(SubscriptionEvent::Message(m))) => assert_eq!(m.id, Some(first.id)),
            other => panic!("the message, not {other:?}"),
        }
        redis.forget_snapshot();
        redis.restart();
        // The subscription resumes by itself; what it missed is said.
        match sub.next_event().await {
            Some(Ok(SubscriptionEvent::Gap(gap))) => assert_eq!(gap.reason, GapReason::Epoch),
            other => panic!("an epoch gap, not {other:?}"),
        }
        let (epoch, _) = publish_once_back(&a, "after").await;
        assert_ne!(epoch, first.id.epoch);
        match sub.next_event().await {
            Some(Ok(SubscriptionEvent::Message(m))) => {
                assert_eq!((m.epoch, &m.payload[..]), (epoch, &b"after"[..]));
            }
            other => panic!("the new epoch's message, not {other:?}"),
        }
    })
    .await;
}
