//! What one client may make the server hold in history (issue 26 item 7):
//! the operator's caps on what a `PUT` may ask for, refused with 400 and a
//! reason, and the global history memory budget, which evicts the oldest
//! messages of the topics holding the most and reports them as an
//! `expired` gap to a subscriber resuming from them.

mod support;

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use support::*;

fn parse(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.text());
    serde_json::from_slice(&r.body).expect("JSON")
}

/// A `PUT` asking for more than a cap is 400 with a one-line reason naming
/// the field, the value asked for and the cap; no topic is created and an
/// existing one keeps its configuration. At the caps it is granted.
#[tokio::test]
async fn put_over_a_cap_is_400_and_changes_nothing() {
    within(async {
        let server = start_server(|c| {
            c.broker.history_length = 10;
            c.broker.history_bytes = Some(1 << 16);
            c.broker.max_history_length = 100;
            c.broker.max_history_bytes = 1 << 20;
            c.broker.max_history_age = Some(Duration::from_secs(3600));
        })
        .await;
        let mut c = server.h2().await;
        let over = [
            (
                r#"{"historyLength": 101}"#,
                "historyLength 101 exceeds this server's cap of 100 messages",
            ),
            (
                r#"{"maxBytes": 1099511627776}"#,
                "maxBytes 1099511627776 exceeds this server's cap of 1048576 bytes",
            ),
            (
                r#"{"maxAge": 3601}"#,
                "maxAge 3601 exceeds this server's cap of 3600 seconds",
            ),
        ];
        for (body, reason) in over {
            let r = c.put("/v1/t/new", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(r.text().trim_end(), reason, "{body}");
            assert!(!r.text().trim_end().contains('\n'), "one line");
        }
        assert_eq!(c.get("/v1/topics/new").await.status, StatusCode::NOT_FOUND);
        assert_eq!(server.broker().topic_count(), 0);

        let old = r#"{"historyLength": 7, "maxBytes": 4096, "maxAge": 60}"#;
        assert_eq!(c.put("/v1/t/old", old).await.status, StatusCode::CREATED);
        let before = parse(&c.get("/v1/topics/old").await)["config"].clone();
        for (body, reason) in over {
            let r = c.put("/v1/t/old", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(r.text().trim_end(), reason, "{body}");
        }
        let after = parse(&c.get("/v1/topics/old").await);
        assert_eq!(after["config"], before);
        assert_eq!(before["historyLength"], 7);

        let at_caps = r#"{"historyLength": 100, "maxBytes": 1048576, "maxAge": 3600}"#;
        assert_eq!(
            c.put("/v1/t/capped", at_caps).await.status,
            StatusCode::CREATED
        );
        // A topic asking nothing gets the defaults, and the age cap as its
        // age bound: nothing is kept longer than the operator allows.
        c.publish("implicit", "x").await;
        let implicit = parse(&c.get("/v1/topics/implicit").await);
        assert_eq!(implicit["config"]["historyLength"], 10);
        assert_eq!(implicit["config"]["maxBytes"], 1 << 16);
        assert_eq!(implicit["config"]["maxAge"], 3600);
    })
    .await
}

/// With `history_bytes` unset, a topic's byte bound is the cap: no path
/// makes a history unbounded in bytes.
#[tokio::test]
async fn unset_default_byte_bound_is_the_cap() {
    within(async {
        let server = start_server(|c| {
            c.broker.history_bytes = None;
            c.broker.max_history_bytes = 1 << 20;
        })
        .await;
        let mut c = server.h2().await;
        assert_eq!(c.put("/v1/t/T", "").await.status, StatusCode::CREATED);
        let t = parse(&c.get("/v1/topics/T").await);
        assert_eq!(t["config"]["maxBytes"], 1 << 20);
    })
    .await
}

/// A server whose defaults exceed its caps does not start, and says which
/// default exceeds which cap.
#[tokio::test]
async fn a_default_over_a_cap_is_refused_at_start() {
    within(async {
        let mut config = base_config(
            "127.0.0.1:0".parse().unwrap(),
            drift_core::server::TlsMode::H2c,
        );
        config.broker.history_length = 2000;
        config.broker.max_history_length = 1000;
        let Err(e) = drift_core::server::Server::bind(config).await else {
            panic!("a server with a default over its cap started");
        };
        assert_eq!(e.kind(), drift_core::ErrorKind::InvalidInput);
        assert!(
            e.to_string()
                .contains("history length 2000 exceeds max history length 1000"),
            "{e}"
        );
    })
    .await
}

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");

/// The value of the unlabelled sample `name` in a `/metrics` scrape.
async fn metric(c: &mut Client, name: &str) -> u64 {
    let r = c.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let prefix = format!("{name} ");
    let line = r
        .text()
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .to_owned();
    line[prefix.len()..]
        .parse()
        .unwrap_or_else(|_| panic!("a number in {line:?}"))
}

async fn retained(c: &mut Client, topic: &str) -> (u64, u64) {
    let t = parse(&c.get(&format!("/v1/topics/{topic}")).await);
    let n = |v: &Value| v.as_u64().expect("a number");
    (n(&t["retained"]["messages"]), n(&t["lastSeq"]))
}

/// A budget of 4 MiB with many topics publishing: what the server holds
/// stays within it (`/metrics`), the topic that asked for much and holds
/// the most loses its oldest messages while the small topics keep all of
/// theirs, and a subscriber resuming from an evicted id is told of an
/// `expired` gap before the messages that remain.
#[tokio::test]
async fn the_history_memory_budget_holds_and_the_hog_pays_first() {
    within(async {
        const BUDGET: u64 = 4 << 20;
        let server = start_server(|c| c.broker.history_memory = BUDGET).await;
        let mut c = server.h2().await;
        let hog = r#"{"historyLength": 100000, "maxBytes": 268435456}"#;
        assert_eq!(c.put("/v1/t/hog", hog).await.status, StatusCode::CREATED);
        let mut epoch = 0;
        for round in 0..100 {
            let r = c.publish("hog", vec![b'h'; 64 << 10]).await;
            epoch = r.num("drift-epoch");
            if round < 10 {
                for i in 0..20 {
                    c.publish(&format!("small-{i}"), vec![b's'; 1024]).await;
                }
            }
            let held = metric(&mut c, "drift_history_memory_bytes").await;
            assert!(held <= BUDGET, "round {round}: {held} held");
        }
        assert_eq!(
            metric(&mut c, "drift_history_memory_limit_bytes").await,
            BUDGET
        );
        for i in 0..20 {
            assert_eq!(retained(&mut c, &format!("small-{i}")).await, (10, 10));
        }
        let (kept, last) = retained(&mut c, "hog").await;
        assert_eq!(last, 100);
        assert!(kept > 0 && kept < 100, "the hog keeps {kept}");
        let evicted = metric(&mut c, "drift_history_evicted_messages_total").await;
        assert_eq!(evicted, 100 - kept);
        let held = metric(&mut c, "drift_history_memory_bytes").await;
        let charged = |n: u64, len: u64| n * (len + 200);
        assert_eq!(held, charged(kept, 64 << 10) + charged(200, 1024));

        // Resuming from the hog's first message: the evicted ones are a gap.
        let first_kept = 101 - kept;
        let mut sub = server
            .h2()
            .await
            .subscribe(
                "/v1/t/hog",
                &[FRAMES, ("last-event-id", &format!("{epoch}-1"))],
            )
            .await;
        assert_eq!(
            sub.header("drift-gap"),
            Some(&*format!("2-{} expired", first_kept - 1))
        );
        let gap = sub.next_frame().await.expect("the gap");
        assert_eq!(
            gap.as_gap().expect("a gap frame"),
            drift_core::Gap {
                from: 2,
                to: first_kept - 1,
                reason: drift_core::GapReason::Expired,
            }
        );
        for seq in first_kept..=100 {
            assert_eq!(sub.next_frame().await.expect("a message").seq, seq);
        }
    })
    .await
}

/// With the disk store only the cache is evicted: a subscriber resuming
/// from the first id gets every message back, with no gap, and the budget
/// holds.
#[tokio::test]
async fn with_the_disk_store_only_the_cache_is_evicted() {
    within(async {
        const BUDGET: u64 = 1 << 20;
        let server = start_server(|c| {
            Store::Disk.apply(c);
            c.broker.history_memory = BUDGET;
        })
        .await;
        let mut c = server.h2().await;
        let mut epoch = 0;
        for i in 0..40 {
            for topic in ["a", "b"] {
                epoch = c
                    .publish(topic, vec![b'x'; 32 << 10])
                    .await
                    .num("drift-epoch");
            }
            let held = metric(&mut c, "drift_history_memory_bytes").await;
            assert!(held <= BUDGET, "after {i}: {held}");
        }
        assert!(metric(&mut c, "drift_history_evicted_messages_total").await > 0);
        let mut sub = server
            .h2()
            .await
            .subscribe(
                "/v1/t/b",
                &[FRAMES, ("last-event-id", &format!("{epoch}-0"))],
            )
            .await;
        assert_eq!(sub.header("drift-gap"), None);
        for seq in 1..=40 {
            let f = sub.next_frame().await.expect("a message");
            assert_eq!(
                (f.kind, f.seq),
                (drift_core::protocol::FrameKind::Message, seq)
            );
        }
    })
    .await
}

/// Many publishers at once, each on its own connection and topic: the
/// budget holds when they are done (one eviction at a time, and none left
/// over the budget by an append that found another evicting).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishers_stay_within_the_budget() {
    within(async {
        const BUDGET: u64 = 2 << 20;
        let server = start_server(|c| c.broker.history_memory = BUDGET).await;
        let mut publishers = Vec::new();
        for t in 0..8 {
            let mut c = server.h2().await;
            publishers.push(tokio::spawn(async move {
                for _ in 0..40 {
                    c.publish(&format!("t{t}"), vec![b'x'; 32 << 10]).await;
                }
            }));
        }
        for p in publishers {
            p.await.expect("a publisher");
        }
        let mut c = server.h2().await;
        let held = metric(&mut c, "drift_history_memory_bytes").await;
        assert!(held <= BUDGET, "{held}");
        assert!(held > BUDGET / 2, "{held}");
        let evicted = metric(&mut c, "drift_history_evicted_messages_total").await;
        let mut kept = 0;
        for t in 0..8 {
            let (n, last) = retained(&mut c, &format!("t{t}")).await;
            assert_eq!(last, 40);
            kept += n;
        }
        assert_eq!(kept + evicted, 8 * 40);
        assert_eq!(held, kept * ((32 << 10) + 200));
    })
    .await
}
