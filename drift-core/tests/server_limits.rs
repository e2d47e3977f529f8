//! Server limits with clear errors (DESIGN.md §4): number of topics and of
//! subscriptions (503 with a reason), and the request header size.
//! (Message size and topic-name limits are in server_publish.rs and
//! server_routes.rs.)

mod support;

use http::{Method, StatusCode};
use support::*;
use tokio::io::AsyncWriteExt;

/// Past `max_topics`, anything that would create a topic is 503 with a
/// reason; existing topics keep working, and deleting one makes room.
#[tokio::test]
async fn topic_limit_is_503_with_a_reason() {
    within(async {
        let server = start_server(|c| c.broker.max_topics = 2).await;
        let mut c = server.h2().await;
        assert_eq!(c.put("/v1/t/a", "").await.status, StatusCode::CREATED);
        c.publish("b", "x").await;

        let refused = [
            c.post("/v1/t/c", "x").await,
            c.put("/v1/t/c", "").await,
            c.get("/v1/t/c").await, // a subscribe would create it
        ];
        for r in refused {
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(r.text().contains("topic limit of 2"), "{:?}", r.text());
        }
        assert_eq!(server.broker().topic_count(), 2);
        assert_eq!(
            server.broker().subscription_count(),
            0,
            "the refused subscribe holds nothing"
        );

        c.publish("a", "still fine").await;
        assert_eq!(c.delete("/v1/t/a").await.status, StatusCode::OK);
        c.publish("c", "room again").await;
    })
    .await
}

/// Past `max_subscriptions`, a subscribe is 503 with a reason; when one ends
/// its slot is free again.
#[tokio::test]
async fn subscription_limit_is_503_with_a_reason() {
    within(async {
        let server = start_server(|c| c.broker.max_subscriptions = 2).await;
        let conn = server.h2().await;
        let first = conn.multiplexed().subscribe("/v1/t/a", &[]).await;
        let second = conn.multiplexed().subscribe("/v1/t/b", &[]).await;
        assert_eq!(
            (first.status, second.status),
            (StatusCode::OK, StatusCode::OK)
        );

        let r = server.h2().await.get("/v1/t/a").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            r.text().contains("subscription limit of 2"),
            "{:?}",
            r.text()
        );
        assert_eq!(server.broker().subscription_count(), 2);
        // Publishing is not a subscription and is unaffected.
        server.h2().await.publish("a", "x").await;

        drop(first);
        eventually("a slot is free", || {
            server.broker().subscription_count() == 1
        })
        .await;
        let third = conn.multiplexed().subscribe("/v1/t/a", &[]).await;
        assert_eq!(third.status, StatusCode::OK);
    })
    .await
}

/// A request header block larger than the limit is refused with 431 over
/// both HTTP/1.1 (hyper) and HTTP/2 (the h2 layer, against the advertised
/// SETTINGS_MAX_HEADER_LIST_SIZE), and nothing is served. A block under the
/// limit is fine, so the refusal is the limit's doing.
#[tokio::test]
async fn oversized_request_headers_are_refused() {
    within(async {
        let server = start_server(|c| c.max_header_bytes = 16 * 1024).await;
        let big = "x".repeat(24 * 1024);
        let small = "x".repeat(4 * 1024);

        // HTTP/1.1, raw bytes.
        let mut io = server.raw_h1().await;
        let req = format!(
            "POST /v1/t/T HTTP/1.1\r\nHost: {}\r\nX-Padding: {big}\r\nContent-Length: 1\r\n\r\nx",
            server.authority()
        );
        // The server may answer and close before reading all of it.
        let _ = io.write_all(req.as_bytes()).await;
        let mut buf = Vec::new();
        read_until(&mut *io, &mut buf, b"\r\n").await;
        assert!(
            buf.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&buf)
        );

        // HTTP/2: the h2 layer answers 431 itself and refuses the stream.
        let mut c = server.h2().await;
        let res = c
            .try_send(Method::POST, "/v1/t/T", &[("x-padding", &big)], full("x"))
            .await
            .expect("a response");
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(
            server.broker().topic_count(),
            0,
            "neither oversized publish was served"
        );

        // Under the limit, both protocols serve the request.
        let r = server
            .h1()
            .await
            .post_with("/v1/t/T", &[("x-padding", &small)], "x")
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = server
            .h2()
            .await
            .post_with("/v1/t/T", &[("x-padding", &small)], "y")
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-seq"), 2);
    })
    .await
}
