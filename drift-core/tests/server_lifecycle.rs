//! Topic lifecycle: create (`PUT`), exists (`HEAD`), implicit creation by
//! publish and subscribe, and `DELETE` — including what live subscribers see
//! when their topic is deleted (ORIGINAL.md §12 cases 7–13, 30, 42).

mod support;

use drift_core::protocol::FrameKind;
use http::StatusCode;
use support::*;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const SSE: (&str, &str) = ("accept", "text/event-stream");
const TRAILERS: (&str, &str) = ("te", "trailers");

/// Cases 7 and 8: HEAD 404 (empty), PUT 201 (divergence: the original had
/// only 200), HEAD 200, PUT again 200 (idempotent).
#[tokio::test]
async fn head_put_head_put() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let r = c.head("/v1/t/T").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.is_empty());

        let created = c.put("/v1/t/T", "").await;
        assert_eq!(created.status, StatusCode::CREATED);
        let epoch = created.num("drift-epoch");

        let r = c.head("/v1/t/T").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-epoch"), epoch);
        assert_eq!(r.num("drift-last-seq"), 0);
        assert_eq!(r.header("x-history-enabled"), Some("True"));

        let again = c.put("/v1/t/T", "").await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.num("drift-epoch"), epoch, "same incarnation");
        // An explicit config equal to the defaults is "the same config".
        let same = c
            .put("/v1/t/T", r#"{"history":true,"historyLength":1000}"#)
            .await;
        assert_eq!(same.status, StatusCode::OK);
    })
    .await
}

/// A PUT whose config differs from the existing topic's is a conflict, and
/// the topic keeps its config.
#[tokio::test]
async fn put_with_a_different_config_is_409() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        assert_eq!(
            c.put("/v1/t/T", r#"{"historyLength":5}"#).await.status,
            StatusCode::CREATED
        );
        let r = c.put("/v1/t/T", r#"{"historyLength":6}"#).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.text().lines().count(), 1, "{:?}", r.text());
        assert_eq!(c.put("/v1/t/T", "").await.status, StatusCode::CONFLICT);
        assert_eq!(
            c.put("/v1/t/T", r#"{"historyLength":5}"#).await.status,
            StatusCode::OK
        );
    })
    .await
}

/// DESIGN.md §1: unknown fields and malformed JSON are 400, never ignored,
/// and create nothing.
#[tokio::test]
async fn put_with_unknown_field_or_bad_json_is_400() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        for body in [
            r#"{"histroy":false}"#,
            r#"{"history":"no"}"#,
            "not json",
            "[1]",
            r#"{"historyLength":-1}"#,
        ] {
            let r = c.put("/v1/t/T", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
            assert!(r.text().ends_with('\n'));
        }
        assert_eq!(c.head("/v1/t/T").await.status, StatusCode::NOT_FOUND);
    })
    .await
}

/// Case 9, divergence: the JSON body is honoured. `{"history":false}` keeps
/// no history, so a history request replays nothing, and the subscription
/// says `x-history-enabled: False`.
#[tokio::test]
async fn put_history_false_keeps_no_history() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let r = c
            .put("/v1/t/T", r#"{"history":false,"historyLength":5}"#)
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        c.publish("T", "aaa").await;
        c.publish("T", "bbb").await;
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("x-history-length", "10")])
            .await;
        assert_eq!(sub.status, StatusCode::OK);
        assert_eq!(sub.header("x-history-enabled"), Some("False"));
        assert_eq!(sub.header("drift-last-seq"), Some("2"));
        c.publish("T", "ccc").await;
        // The first thing on the stream is the live message, not history.
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"ccc");
        assert_eq!(
            c.head("/v1/t/T").await.header("x-history-enabled"),
            Some("False")
        );
    })
    .await
}

/// Case 10: publishing creates the topic (and `Drift-Seq: 1` says so).
#[tokio::test]
async fn post_creates_the_topic() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let r = c.post("/v1/t/T", "x").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-seq"), 1);
        let head = c.head("/v1/t/T").await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.num("drift-last-seq"), 1);
        assert_eq!(head.num("drift-epoch"), r.num("drift-epoch"));
    })
    .await
}

/// Case 11: subscribing creates the topic, and it outlives the subscriber.
#[tokio::test]
async fn subscribe_creates_the_topic_and_it_persists() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let sub = server.h2().await.subscribe("/v1/t/T", &[]).await;
        assert_eq!(sub.status, StatusCode::OK);
        // Case 35: a topic that did not exist says nothing about history.
        assert_eq!(sub.header("x-history-enabled"), None);
        drop(sub);
        eventually("the subscription is released", || {
            server.broker().subscription_count() == 0
        })
        .await;
        assert_eq!(c.head("/v1/t/T").await.status, StatusCode::OK);
    })
    .await
}

/// Case 12 and case 13 (divergence: a missing topic is 404, not 200).
#[tokio::test]
async fn delete_then_head_404_and_delete_missing_404() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        c.publish("T", "x").await;
        assert_eq!(c.delete("/v1/t/T").await.status, StatusCode::OK);
        assert_eq!(c.head("/v1/t/T").await.status, StatusCode::NOT_FOUND);
        let r = c.delete("/v1/t/T").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(c.delete("/v1/t/never").await.status, StatusCode::NOT_FOUND);
    })
    .await
}

/// Case 42: DELETE drops history; a new incarnation has a new epoch and
/// starts again at seq 1.
#[tokio::test]
async fn delete_removes_history_and_starts_a_new_epoch() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let old = c.publish("T", "x").await;
        assert_eq!(c.delete("/v1/t/T").await.status, StatusCode::OK);
        let new = c.publish("T", "y").await;
        assert_ne!(new.num("drift-epoch"), old.num("drift-epoch"));
        assert_eq!(new.num("drift-seq"), 1);
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("x-history-length", "10")])
            .await;
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"y");
        c.publish("T", "z").await;
        assert_eq!(
            &sub.next_chunk().await.unwrap()[..],
            b"z",
            "no x in between"
        );
    })
    .await
}

/// Case 30, divergence: DELETE ends every subscriber's stream cleanly — the
/// in-band end ("deleted") in each framing, then END_STREAM — and a later
/// POST makes a new incarnation that the old subscribers are not part of.
#[tokio::test]
async fn delete_ends_every_subscription_with_reason_deleted() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let first = c.publish("T", "before-delete").await;
        let epoch = first.num("drift-epoch");

        // Raw and frames share one HTTP/2 connection; SSE is on HTTP/1.1.
        let h2 = server.h2().await;
        let mut raw = h2.multiplexed().subscribe("/v1/t/T", &[TRAILERS]).await;
        let mut frames = h2.multiplexed().subscribe("/v1/t/T", &[FRAMES]).await;
        let mut sse = server.h1().await.subscribe("/v1/t/T", &[SSE]).await;
        for s in [&raw, &frames, &sse] {
            assert_eq!(s.status, StatusCode::OK);
            assert_eq!(s.num("drift-epoch"), epoch);
        }
        c.publish("T", "live").await;
        assert_eq!(&raw.next_chunk().await.unwrap()[..], b"live");
        assert_eq!(&frames.next_frame().await.unwrap().payload[..], b"live");
        assert_eq!(sse.next_event().await.unwrap().data, "live");

        assert_eq!(c.delete("/v1/t/T").await.status, StatusCode::OK);

        // Raw has no in-band end: the reason is a trailer, for a client
        // that accepts trailers.
        raw.expect_end().await;
        let trailers = raw.trailers.as_ref().expect("trailers on the raw stream");
        assert_eq!(
            trailers
                .get("drift-end-reason")
                .map(|v| v.to_str().unwrap()),
            Some("deleted")
        );

        let end = frames.next_frame().await.expect("an end frame");
        assert_eq!(end.kind, FrameKind::End);
        assert_eq!(&end.payload[..], b"deleted");
        assert_eq!(end.seq, 2, "the end frame carries the last seq delivered");
        frames.expect_end().await;

        let end = sse.next_event().await.expect("an end event");
        assert_eq!((end.event.as_str(), end.data.as_str()), ("end", "deleted"));
        sse.expect_end().await;

        eventually("the subscriptions are released", || {
            server.broker().subscription_count() == 0
        })
        .await;
        let recreated = c.publish("T", "after").await;
        assert_ne!(recreated.num("drift-epoch"), epoch, "a new incarnation");
        assert_eq!(recreated.num("drift-seq"), 1);
    })
    .await
}

/// A raw subscriber that did not send `TE: trailers` (as the original Go
/// client, which fails on a trailer it did not ask for) gets its stream
/// ended by END_STREAM on DATA, over HTTP/2 as over HTTP/1.1; one that did
/// gets the reason as a trailer.
#[tokio::test]
async fn raw_end_reason_trailer_only_when_asked_for() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        c.publish("T", "first").await;
        let h2 = server.h2().await;
        let mut plain_h2 = h2.multiplexed().subscribe("/v1/t/T", &[]).await;
        let mut asked_h2 = h2.multiplexed().subscribe("/v1/t/T", &[TRAILERS]).await;
        let mut plain_h1 = server.h1().await.subscribe("/v1/t/T", &[]).await;
        c.publish("T", "live").await;
        for s in [&mut plain_h2, &mut asked_h2, &mut plain_h1] {
            assert_eq!(&s.next_chunk().await.unwrap()[..], b"live");
        }
        assert_eq!(c.delete("/v1/t/T").await.status, StatusCode::OK);
        for s in [&mut plain_h2, &mut plain_h1] {
            s.expect_end().await;
            assert!(s.trailers.is_none(), "{:?}: no trailers unasked", s.version);
        }
        asked_h2.expect_end().await;
        let reason = asked_h2
            .trailers
            .as_ref()
            .and_then(|t| t.get("drift-end-reason"));
        assert_eq!(reason.map(|v| v.to_str().unwrap()), Some("deleted"));
    })
    .await
}
