//! Every history option of `Client::subscribe`, and how gaps in history are
//! reported to the caller.

#[path = "support/client.rs"]
mod client_support;
mod support;

use bytes::Bytes;
use client_support::{client_for, collect_messages, next, next_message, numbered};
use drift_core::broker::TopicConfigRequest;
use drift_core::client::{Client, SubscribeOptions, SubscriptionEvent};
use drift_core::protocol::HistoryRequest;
use drift_core::{Gap, GapReason, MessageId};
use support::{start_server, within};

fn history(h: HistoryRequest) -> SubscribeOptions {
    SubscribeOptions {
        history: h,
        ..Default::default()
    }
}

/// Publishes `prefix1..=prefixN` one by one; returns their ids and times.
async fn publish_numbered(
    client: &Client,
    topic: &str,
    prefix: &str,
    n: u64,
) -> Vec<(MessageId, u64)> {
    let mut out = Vec::new();
    for payload in numbered(prefix, 1..=n) {
        let p = client.publish(topic, payload).await.unwrap();
        out.push((p.id, p.time_us));
    }
    out
}

#[tokio::test]
async fn last_n_replays_the_newest_then_goes_live() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        publish_numbered(&client, "t", "m", 10).await;
        let mut sub = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    last: Some(3),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(sub.history_enabled(), Some(true));
        assert_eq!(collect_messages(&mut sub, 3).await, numbered("m", 8..=10));
        let live = client.publish("t", "m11").await.unwrap();
        let m = next_message(&mut sub).await;
        assert_eq!((m.id, &m.payload[..]), (Some(live.id), &b"m11"[..]));
        assert_eq!(sub.last_id(), Some(live.id));
        assert_eq!(sub.epoch(), Some(live.id.epoch));
    })
    .await;
}

#[tokio::test]
async fn no_history_and_last_zero_deliver_live_messages_only() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        publish_numbered(&client, "t", "old", 3).await;
        let mut plain = client
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        let mut zero = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    last: Some(0),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        client.publish("t", "new").await.unwrap();
        assert_eq!(collect_messages(&mut plain, 1).await, ["new"]);
        assert_eq!(collect_messages(&mut zero, 1).await, ["new"]);
    })
    .await;
}

#[tokio::test]
async fn since_replays_what_was_published_after_a_time() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let sent = publish_numbered(&client, "t", "m", 6).await;
        let t3 = sent[2].1;
        let mut sub = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    since_us: Some(t3),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(collect_messages(&mut sub, 3).await, numbered("m", 4..=6));

        // Both bounds together: the newest 2 of those after t3.
        let mut both = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    since_us: Some(t3),
                    last: Some(2),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(collect_messages(&mut both, 2).await, numbered("m", 5..=6));
        client.publish("t", "m7").await.unwrap();
        assert_eq!(collect_messages(&mut both, 1).await, ["m7"]);
    })
    .await;
}

#[tokio::test]
async fn after_an_id_replays_everything_after_it() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let sent = publish_numbered(&client, "t", "m", 10).await;
        let mut sub = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    after: Some(sent[4].0),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(collect_messages(&mut sub, 5).await, numbered("m", 6..=10));
        // After the newest id: nothing to replay, no gap, live from here.
        let mut caught_up = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    after: Some(sent[9].0),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        client.publish("t", "m11").await.unwrap();
        assert_eq!(collect_messages(&mut caught_up, 1).await, ["m11"]);
        assert_eq!(collect_messages(&mut sub, 1).await, ["m11"]);
    })
    .await;
}

#[tokio::test]
async fn messages_gone_from_history_are_reported_as_a_gap() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let config = TopicConfigRequest {
            history_length: Some(5),
            ..Default::default()
        };
        client.create("short", &config).await.unwrap();
        let ids = client
            .publish_many(
                "short",
                numbered("m", 1..=20).into_iter().map(Bytes::from).collect(),
            )
            .await
            .unwrap();
        let mut sub = client
            .subscribe(
                "short",
                history(HistoryRequest {
                    after: Some(ids[2].id),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            next(&mut sub).await,
            SubscriptionEvent::Gap(Gap {
                from: 4,
                to: 15,
                reason: GapReason::Expired
            })
        );
        assert_eq!(collect_messages(&mut sub, 5).await, numbered("m", 16..=20));
    })
    .await;
}

#[tokio::test]
async fn an_id_from_another_incarnation_is_an_epoch_gap() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let old = publish_numbered(&client, "t", "old", 3).await;
        client.delete("t").await.unwrap();
        let new = publish_numbered(&client, "t", "new", 2).await;
        assert_ne!(old[0].0.epoch, new[0].0.epoch);
        let mut sub = client
            .subscribe(
                "t",
                history(HistoryRequest {
                    after: Some(old[2].0),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            next(&mut sub).await,
            SubscriptionEvent::Gap(Gap {
                from: 0,
                to: 0,
                reason: GapReason::Epoch
            })
        );
        let m = next_message(&mut sub).await;
        assert_eq!((m.id, &m.payload[..]), (Some(new[0].0), &b"new1"[..]));
        assert_eq!(collect_messages(&mut sub, 1).await, ["new2"]);
    })
    .await;
}

#[tokio::test]
async fn a_topic_without_history_says_so() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let off = TopicConfigRequest {
            history: Some(false),
            ..Default::default()
        };
        client.create("nohist", &off).await.unwrap();
        client.publish("nohist", "gone").await.unwrap();
        let mut sub = client
            .subscribe(
                "nohist",
                history(HistoryRequest {
                    last: Some(10),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(sub.history_enabled(), Some(false));
        client.publish("nohist", "live").await.unwrap();
        assert_eq!(collect_messages(&mut sub, 1).await, ["live"]);
    })
    .await;
}
