//! `GET /v1/topics` and `GET /v1/topics/{topic}` (issue 23 item 3): what
//! the server holds, as JSON.

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::*;

const SSE: (&str, &str) = ("accept", "text/event-stream");

fn parse(r: &Reply) -> Value {
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).expect("JSON")
}

async fn topics_are_listed_with_their_state(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let put = c
            .put("/v1/t/news", r#"{"historyLength": 2, "maxAge": 60}"#)
            .await;
        assert_eq!(put.status, StatusCode::CREATED);
        let mut last = None;
        for m in ["one", "two", "three"] {
            last = Some(c.publish("news", m).await);
        }
        let last = last.expect("published");
        let _a = server.h2().await.subscribe("/v1/t/news", &[SSE]).await;
        let _b = server.h2().await.subscribe("/v1/t/news", &[]).await;
        c.publish("a%20b", "x").await;
        // The readiness probe's topic is not the operator's.
        assert_eq!(c.get("/readyz").await.status, StatusCode::OK);

        let want = json!({
            "name": "news",
            "epoch": last.num("drift-epoch"),
            "lastSeq": last.num("drift-seq"),
            "retained": { "messages": 2, "bytes": 8 },
            "subscribers": 2,
            "queued": { "messages": 0, "bytes": 0 },
            "config": { "history": true, "historyLength": 2, "maxAge": 60, "maxBytes": 67108864 },
        });
        let listed = parse(&c.get("/v1/topics").await);
        let names: Vec<&str> = listed["topics"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|t| t["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, ["a b", "news"]);
        assert_eq!(listed["topics"][1], want);

        let one = c.get("/v1/topics/news").await;
        assert_eq!(one.status, StatusCode::OK);
        assert_eq!(parse(&one), want);
        let spaced = parse(&c.get("/v1/topics/a%20b").await);
        assert_eq!(spaced["name"], "a b");

        let missing = c.get("/v1/topics/nope").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.text().contains("nope"), "{}", missing.text());
        assert_eq!(
            c.delete("/v1/topics").await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Inspecting never creates.
        assert_eq!(c.head("/v1/t/nope").await.status, StatusCode::NOT_FOUND);
    })
    .await
}

every_store!(topics_are_listed_with_their_state);
