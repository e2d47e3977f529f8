//! Graceful shutdown (DESIGN.md §2; issue 2 item 8, issue 26 item 4): stop
//! accepting, refuse new publishes, fan out the ones already accepted, end
//! every subscription with reason "shutdown" then END_STREAM, let requests
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
const TRAILERS: (&str, &str) = ("te", "trailers");

#[tokio::test]
async fn shutdown_ends_streams_finishes_publishes_and_stops_accepting() {
    within(async {
        let mut server = start_server(|_| {}).await;
        let broker = server.broker().clone();
        let addr = server.addr;

        let mut frames = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let mut sse = server.h1().await.subscribe("/v1/t/T", &[SSE]).await;
        let mut raw = server.h2().await.subscribe("/v1/t/T", &[TRAILERS]).await;

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

        // The request in flight finishes, but a message that arrives after
        // the subscribers were ended would reach none of them: refused, and
        // the count says the first one stays published.
        body_tx.send(frames_body(["second"])).unwrap();
        drop(body_tx);
        let r = post.await.unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.text().contains("shutting down"), "{}", r.text());
        assert_eq!(r.num("drift-count"), 1);
        let info = broker
            .inspect("T", &Default::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.last_seq, 1);

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

/// Publishers running while the server shuts down: every publish answered
/// 200 reached each live subscriber before its end; every other one was
/// refused (503) or cut off with its connection, never acknowledged and
/// lost (issue 26 item 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_publish_reaches_subscribers_before_shutdown_ends_them() {
    within(async {
        let mut server = start_h2c(|_| {}).await;
        let mut subs = Vec::new();
        for _ in 0..3 {
            subs.push(server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await);
        }
        let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
        let progress_tx = std::sync::Arc::new(progress_tx);
        let mut publishers = Vec::new();
        for w in 0..4 {
            let mut client = server.h2().await;
            let progress_tx = progress_tx.clone();
            publishers.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for k in 0.. {
                    let payload = format!("p{w}-{k}");
                    let sent = client
                        .try_send(Method::POST, "/v1/t/T", &[], full(payload.clone()))
                        .await;
                    match sent {
                        Ok(res) if res.status() == StatusCode::OK => {
                            acked.push(payload);
                            progress_tx.send_modify(|n| *n += 1);
                        }
                        Ok(res) => {
                            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
                            break;
                        }
                        Err(_) => break, // the connection closed
                    }
                }
                acked
            }));
        }
        progress.wait_for(|&n| n >= 300).await.unwrap();
        let shutdown = tokio::spawn(server.take_handle().shutdown());

        let mut seen_by_each = Vec::new();
        for sub in &mut subs {
            let mut seen = std::collections::HashSet::new();
            loop {
                let f = sub.next_frame().await.expect("frames until the end");
                match f.kind {
                    FrameKind::Message => {
                        seen.insert(String::from_utf8(f.payload.to_vec()).unwrap());
                    }
                    FrameKind::End => {
                        assert_eq!(f.as_end_reason().unwrap(), EndReason::Shutdown);
                        break;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            seen_by_each.push(seen);
        }
        let mut acked = Vec::new();
        for p in publishers {
            acked.extend(p.await.unwrap());
        }
        assert!(acked.len() >= 300);
        for seen in &seen_by_each {
            let missing: Vec<&String> = acked.iter().filter(|p| !seen.contains(*p)).collect();
            assert!(
                missing.is_empty(),
                "acknowledged but never delivered: {} of {}, e.g. {:?}",
                missing.len(),
                acked.len(),
                missing.first()
            );
        }
        shutdown.await.unwrap().expect("shutdown returns Ok");
    })
    .await
}
