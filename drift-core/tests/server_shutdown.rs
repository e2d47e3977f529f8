//! Graceful shutdown (DESIGN.md §2; issue 2 item 8): stop accepting, end
//! every subscription with reason "shutdown" then END_STREAM, let publishes
//! in flight finish, and return Ok.

mod support;

use std::time::Duration;

use drift_core::EndReason;
use drift_core::protocol::FrameKind;
use http::{Method, StatusCode};
use support::*;
use tokio::net::TcpStream;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const SSE: (&str, &str) = ("accept", "text/event-stream");
const FRAMES_BODY: (&str, &str) = ("content-type", "application/vnd.drift.frames");

#[tokio::test]
async fn shutdown_ends_streams_finishes_publishes_and_stops_accepting() {
    within(async {
        let mut server = start_server(|_| {}).await;
        let broker = server.broker().clone();
        let addr = server.addr;

        let mut frames = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let mut sse = server.h1().await.subscribe("/v1/t/T", &[SSE]).await;
        let mut raw = server.h2().await.subscribe("/v1/t/T", &[]).await;

        // A publish in flight: a streamed POST whose first message is
        // published (so the server is certainly inside the request) while
        // the rest of its body has not been sent yet.
        let (body_tx, body) = channel_body();
        let mut publisher = server.h2().await;
        let post = tokio::spawn(async move {
            publisher
                .request(Method::POST, "/v1/t/T", &[FRAMES_BODY], body)
                .await
        });
        body_tx.send(frames_body(["first"])).unwrap();
        assert_eq!(&frames.next_frame().await.unwrap().payload[..], b"first");
        assert_eq!(sse.next_event().await.unwrap().data, "first");
        assert_eq!(&raw.next_chunk().await.unwrap()[..], b"first");

        let shutdown = tokio::spawn(server.take_handle().shutdown());

        // Every subscriber: the in-band end "shutdown", then END_STREAM.
        let end = frames.next_frame().await.expect("an end frame");
        assert_eq!(end.kind, FrameKind::End);
        assert_eq!(end.as_end_reason().unwrap(), EndReason::Shutdown);
        assert_eq!(end.seq, 1);
        frames.expect_end().await;
        let end = sse.next_event().await.expect("an end event");
        assert_eq!((end.event.as_str(), end.data.as_str()), ("end", "shutdown"));
        sse.expect_end().await;
        raw.expect_end().await;
        let reason = raw
            .trailers
            .as_ref()
            .and_then(|t| t.get("drift-end-reason"));
        assert_eq!(reason.map(|v| v.to_str().unwrap()), Some("shutdown"));

        // The listener is closed before subscriptions are ended, so by now
        // a new connection is refused.
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
        assert!(
            !shutdown.is_finished(),
            "it waits for the publish in flight"
        );

        // The publish in flight finishes, and its second message counts.
        body_tx.send(frames_body(["second"])).unwrap();
        drop(body_tx);
        let r = post.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-count"), 2);
        let info = broker
            .inspect("T", &Default::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.last_seq, 2);

        shutdown.await.unwrap().expect("shutdown returns Ok");
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(broker.is_shutting_down());
        assert_eq!(broker.subscription_count(), 0);
    })
    .await
}

/// An idle server shuts down at once.
#[tokio::test]
async fn idle_server_shuts_down_ok() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let addr = server.addr;
        server.h2().await.publish("T", "x").await;
        within_for(Duration::from_secs(5), server.shutdown())
            .await
            .expect("shutdown returns Ok");
        assert!(TcpStream::connect(addr).await.is_err());
    })
    .await
}

/// A request that never finishes does not hold shutdown forever: after the
/// grace period the remaining connections are closed and shutdown returns.
#[tokio::test]
async fn shutdown_closes_what_outlives_the_grace_period() {
    within(async {
        let mut server = start_server(|c| c.shutdown_grace = Duration::from_millis(200)).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let (body_tx, body) = channel_body();
        let mut publisher = server.h2().await;
        let post = tokio::spawn(async move {
            publisher
                .try_send(Method::POST, "/v1/t/T", &[FRAMES_BODY], body)
                .await
        });
        body_tx.send(frames_body(["only"])).unwrap();
        assert_eq!(&sub.next_frame().await.unwrap().payload[..], b"only");

        within_for(Duration::from_secs(10), server.take_handle().shutdown())
            .await
            .expect("shutdown returns Ok");
        // The stuck publish was cut off rather than answered.
        let outcome = post.await.unwrap();
        assert!(outcome.is_err(), "{outcome:?}");
        drop(body_tx);
    })
    .await
}
