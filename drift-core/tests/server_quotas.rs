//! Per-connection and per-subject quotas (issue 26 item 7) over real
//! sockets: each quota of one connection is refused with 429 and a reason
//! naming it while another connection still succeeds; a subject's quotas are
//! shared by every connection with a token of that `sub`; a streamed publish
//! over its rate is paced, not refused, and loses nothing; the defaults do
//! not refuse what the benchmarks do; and a connection's (and an idle
//! subject's) quota state goes when its connections close.

#[path = "support/client.rs"]
mod client_support;
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use drift_core::ErrorKind;
use drift_core::broker::auth::{MintRequest, mint_hs256, read_secret_file};
use drift_core::broker::{Access, QuotaLimits, Quotas, Rate};
use drift_core::protocol::FrameKind;
use drift_core::server::ServerConfig;
use http::{Method, StatusCode};
use support::*;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const FRAMES_BODY: (&str, &str) = ("content-type", "application/vnd.drift.frames");

fn secret_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jwt/secret")
}

/// An HS256 token for `sub` granting everything for ten minutes.
fn token(sub: &str) -> String {
    let all = vec!["*".to_string()];
    mint_hs256(
        &read_secret_file(&secret_file()).unwrap(),
        &MintRequest {
            subject: Some(sub.into()),
            publish: all.clone(),
            subscribe: all.clone(),
            admin: all,
            ttl: Some(Duration::from_secs(600)),
            ..MintRequest::default()
        },
    )
    .unwrap()
}

/// The server's quotas: only the connection's, as given.
fn connection_quotas(c: &mut ServerConfig, limits: QuotaLimits) {
    c.broker.quotas = Quotas {
        connection: limits,
        subject: QuotaLimits::UNLIMITED,
    };
}

/// JWT on, and only the subject's quotas, as given.
fn subject_quotas(c: &mut ServerConfig, limits: QuotaLimits) {
    c.jwt.secret_file = Some(secret_file());
    c.broker.quotas = Quotas {
        connection: QuotaLimits::UNLIMITED,
        subject: limits,
    };
}

/// The value of `drift_refused_requests_total{status="429"}` (0 if absent).
async fn refused_429(c: &mut Client) -> u64 {
    let r = c.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix("drift_refused_requests_total{status=\"429\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

fn assert_quota(r: &Reply, names: &[&str]) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert_eq!(r.text().lines().count(), 1, "one line: {:?}", r.text());
    for n in names {
        assert!(r.text().contains(n), "{n:?} not in {:?}", r.text());
    }
}

/// Past `connection_subscriptions`, a subscribe is 429 naming the quota and
/// its value (no Retry-After: it is not a rate); another connection still
/// subscribes; one ended makes room; the refusal is counted in /metrics.
#[tokio::test]
async fn a_connection_over_its_subscription_quota_gets_429() {
    within(async {
        let server = start_h2c(|c| {
            connection_quotas(
                c,
                QuotaLimits {
                    subscriptions: 3,
                    ..QuotaLimits::UNLIMITED
                },
            )
        })
        .await;
        let mut a = server.h2().await;
        let mut subs = Vec::new();
        for i in 0..3 {
            let s = a.multiplexed().subscribe(&format!("/v1/t/s{i}"), &[]).await;
            assert_eq!(s.status, StatusCode::OK);
            subs.push(s);
        }
        let before = refused_429(&mut a).await;
        let refused = a.get("/v1/t/s3").await;
        assert_quota(
            &refused,
            &["connection_subscriptions", "this connection", " 3"],
        );
        assert!(refused.header("retry-after").is_none(), "{refused:?}");
        assert_eq!(
            refused.text(),
            "quota exceeded: connection_subscriptions (subscriptions this connection may hold open) is 3\n"
        );
        assert_eq!(refused_429(&mut a).await, before + 1);
        assert_eq!(server.broker().subscription_count(), 3);

        // Another connection is not charged for a's.
        let mut b = server.h2().await;
        let other = b.subscribe("/v1/t/s3", &[]).await;
        assert_eq!(other.status, StatusCode::OK);

        // One of a's ended: a has room for one again.
        drop(subs.pop());
        eventually("a's subscription ended", || {
            server.broker().subscription_count() == 3
        })
        .await;
        let again = a.multiplexed().subscribe("/v1/t/s4", &[]).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_quota(&a.get("/v1/t/s5").await, &["connection_subscriptions"]);
    })
    .await
}

/// Past `connection_topic_burst` creations (by PUT, publish or subscribe),
/// creating is 429 with Retry-After, naming the rate and burst; topics that
/// exist still work for that connection, and another connection creates.
#[tokio::test]
async fn a_connection_over_its_topic_quota_gets_429_with_retry_after() {
    within(async {
        let server = start_h2c(|c| {
            connection_quotas(
                c,
                QuotaLimits {
                    topics: Rate::new(1, 3),
                    ..QuotaLimits::UNLIMITED
                },
            )
        })
        .await;
        let mut a = server.h2().await;
        assert_eq!(a.put("/v1/t/t1", "").await.status, StatusCode::CREATED);
        a.publish("t2", "made by a publish").await;
        let sub = a.multiplexed().subscribe("/v1/t/t3", &[]).await;
        assert_eq!(sub.status, StatusCode::OK);
        // Asking again for a topic that exists creates nothing.
        assert_eq!(a.put("/v1/t/t1", "").await.status, StatusCode::OK);

        for (method, path) in [
            (Method::PUT, "/v1/t/t4"),
            (Method::POST, "/v1/t/t4"),
            (Method::GET, "/v1/t/t4"),
        ] {
            let r = a.request(method, path, &[], full("")).await;
            assert_quota(
                &r,
                &["connection_topic_rate", "1/s after a burst of 3", "create"],
            );
            let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=2).contains(&after), "Retry-After {after}");
        }
        assert_eq!(server.broker().topic_count(), 3, "refusals made nothing");
        a.publish("t1", "an existing topic still takes publishes")
            .await;

        let mut b = server.h2().await;
        assert_eq!(b.put("/v1/t/t4", "").await.status, StatusCode::CREATED);
        // Now it exists: a may use it.
        a.publish("t4", "made by b").await;
    })
    .await
}

/// Past `connection_publish_rate` (after its burst) a POST is 429 with
/// Retry-After; another connection still publishes; the Rust client
/// surfaces it as `QuotaExceeded` with the reason and `retry_after`.
#[tokio::test]
async fn a_connection_over_its_publish_rate_gets_429() {
    within(async {
        let server = start_h2c(|c| {
            connection_quotas(
                c,
                QuotaLimits {
                    publish: Rate::new(1, 2),
                    ..QuotaLimits::UNLIMITED
                },
            )
        })
        .await;
        let mut a = server.h2().await;
        a.publish("p", "one").await;
        a.publish("p", "two").await;
        let r = a.post("/v1/t/p", "three").await;
        assert_quota(
            &r,
            &[
                "connection_publish_rate",
                "this connection",
                "1/s after a burst of 2",
            ],
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(
            r.text(),
            "quota exceeded: connection_publish_rate (messages this connection may publish per second) \
             is 1/s after a burst of 2; retry in 1 s\n"
        );
        let mut b = server.h2().await;
        b.publish("p", "from b").await;
        let info = server.broker().inspect("p", &Access::default()).await;
        assert_eq!(
            info.unwrap().unwrap().last_seq,
            3,
            "the refused one took no seq"
        );

        // The Rust client: one connection, its burst, then the refusal.
        let client = client_support::client_for(&server);
        client.publish("p", "rust one").await.unwrap();
        client.publish("p", "rust two").await.unwrap();
        let e = client.publish("p", "rust three").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded, "{e}");
        assert_eq!(e.status(), Some(429));
        assert!(
            e.reason().unwrap().contains("connection_publish_rate"),
            "{e}"
        );
        assert!(e.to_string().contains("429"), "{e}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    })
    .await
}

/// A subject's quotas count over all of its connections: two connections
/// with tokens of `sub` "ann" share one allowance of subscriptions, topics
/// and publishes, refused naming the subject; "bob" is not charged for them.
#[tokio::test]
async fn a_subject_quota_is_shared_by_its_connections() {
    within(async {
        let server = start_h2c(|c| {
            subject_quotas(
                c,
                QuotaLimits {
                    subscriptions: 2,
                    topics: Rate::new(1, 3),
                    publish: Rate::new(1, 2),
                },
            )
        })
        .await;
        let ann = format!("Bearer {}", token("ann"));
        let bob = format!("Bearer {}", token("bob"));
        let as_ann = [("authorization", ann.as_str())];
        let as_bob = [("authorization", bob.as_str())];
        let (mut a1, mut a2) = (server.h2().await, server.h2().await);

        // Subscriptions: one on each of ann's connections, then none.
        let s1 = a1.multiplexed().subscribe("/v1/t/x", &as_ann).await;
        let s2 = a2.multiplexed().subscribe("/v1/t/y", &as_ann).await;
        assert_eq!((s1.status, s2.status), (StatusCode::OK, StatusCode::OK));
        for c in [&mut a1, &mut a2] {
            let r = c.get_with("/v1/t/x", &as_ann).await;
            assert_quota(&r, &["subject_subscriptions", "subject \"ann\"", " 2"]);
        }
        // Topics: x and y took two of ann's three.
        let r = a1.request(Method::PUT, "/v1/t/z", &as_ann, full("")).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = a2.request(Method::PUT, "/v1/t/w", &as_ann, full("")).await;
        assert_quota(
            &r,
            &[
                "subject_topic_rate",
                "subject \"ann\"",
                "after a burst of 3",
            ],
        );
        assert!(r.header("retry-after").is_some(), "{r:?}");
        // Publishes: one on each connection, then none on either.
        for c in [&mut a1, &mut a2] {
            let r = c.post_with("/v1/t/x", &as_ann, "m").await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
        }
        let r = a1.post_with("/v1/t/x", &as_ann, "m").await;
        assert_quota(&r, &["subject_publish_rate", "subject \"ann\""]);
        assert_eq!(r.header("retry-after"), Some("1"));

        // Bob, even on ann's connection, has his own.
        let s3 = a1.multiplexed().subscribe("/v1/t/x", &as_bob).await;
        assert_eq!(s3.status, StatusCode::OK);
        let r = a2.request(Method::PUT, "/v1/t/w", &as_bob, full("")).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = a2.post_with("/v1/t/x", &as_bob, "m").await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    })
    .await
}

/// A streamed publish over the connection's rate is paced, not refused:
/// every message is published, in order, and the whole takes as long as
/// the rate says (burst 1, then 2/s: 3 messages take at least 1 s). Right
/// after, the connection's POSTs are over the rate (the stream used it).
#[tokio::test]
async fn a_streamed_publish_over_the_rate_is_paced() {
    within(async {
        let server = start_h2c(|c| {
            connection_quotas(
                c,
                QuotaLimits {
                    publish: Rate::new(2, 1),
                    ..QuotaLimits::UNLIMITED
                },
            )
        })
        .await;
        let mut reader = server.h2().await;
        let mut sub = reader.subscribe("/v1/t/s", &[FRAMES]).await;
        assert_eq!(sub.status, StatusCode::OK);

        let mut a = server.h2().await;
        let payloads: Vec<String> = (0..3).map(|i| format!("m{i}")).collect();
        let started = Instant::now();
        let r = a
            .multiplexed()
            .post_with("/v1/t/s", &[FRAMES_BODY], frames_body(payloads.clone()))
            .await;
        let took = started.elapsed();
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.num("drift-count"), 3);
        assert_eq!(r.text().lines().count(), 3);
        assert!(took >= Duration::from_millis(950), "paced: took {took:?}");
        // The stream left the connection no token for the next half second.
        let refused = a.post("/v1/t/s", "x").await;
        assert_quota(&refused, &["connection_publish_rate"]);

        for want in &payloads {
            let f = sub.next_frame().await.expect("a frame");
            assert_eq!(f.kind, FrameKind::Message);
            assert_eq!(&f.payload[..], want.as_bytes());
        }
    })
    .await
}

/// The defaults refuse nothing that legitimate clients and the benchmarks
/// do: 200 subscriptions over one connection to 200 topics it creates,
/// 2000 POSTs as fast as they go, and a streamed publish of 10,000 messages
/// that is not slowed.
#[tokio::test]
async fn the_defaults_do_not_refuse_normal_use() {
    within(async {
        let server = start_h2c(|_| {}).await;
        assert_eq!(server.broker().config().quotas, Quotas::default());
        let mut a = server.h2().await;
        let mut subs = Vec::new();
        for i in 0..200 {
            let s = a.multiplexed().subscribe(&format!("/v1/t/n{i}"), &[]).await;
            assert_eq!(s.status, StatusCode::OK, "subscription {i}");
            subs.push(s);
        }
        let posts = (0..2000).map(|i| {
            let mut c = a.multiplexed();
            async move { c.post(&format!("/v1/t/n{}", i % 200), "m").await.status }
        });
        for status in futures_util::future::join_all(posts).await {
            assert_eq!(status, StatusCode::OK);
        }
        let payloads = (0..10_000).map(|i| format!("s{i}"));
        let started = Instant::now();
        let r = a
            .post_with("/v1/t/stream", &[FRAMES_BODY], frames_body(payloads))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.text().lines().count(), 10_000);
        assert!(started.elapsed() < Duration::from_secs(20));
    })
    .await
}

/// A connection's quota state is its own: once it closes, a new connection
/// starts afresh; a subject's entry goes when its last connection and
/// subscription close and its buckets are full, and a new connection of
/// that subject starts afresh too.
#[tokio::test]
async fn quota_state_goes_with_the_connections() {
    within(async {
        let server = start_h2c(|c| {
            c.jwt.secret_file = Some(secret_file());
            c.broker.quotas = Quotas {
                connection: QuotaLimits {
                    subscriptions: 2,
                    ..QuotaLimits::UNLIMITED
                },
                subject: QuotaLimits {
                    subscriptions: 3,
                    ..QuotaLimits::UNLIMITED
                },
            };
        })
        .await;
        let ann = format!("Bearer {}", token("ann"));
        let as_ann = [("authorization", ann.as_str())];
        assert_eq!(server.broker().quota_subjects(), 0);
        {
            let mut a = server.h2().await;
            let b = server.h2().await;
            let _s1 = a.multiplexed().subscribe("/v1/t/q", &as_ann).await;
            let _s2 = a.multiplexed().subscribe("/v1/t/q", &as_ann).await;
            let _s3 = b.multiplexed().subscribe("/v1/t/q", &as_ann).await;
            assert_quota(
                &a.get_with("/v1/t/q", &as_ann).await,
                &["connection_subscriptions"],
            );
            let mut b2 = b.multiplexed();
            assert_quota(
                &b2.get_with("/v1/t/q", &as_ann).await,
                &["subject_subscriptions"],
            );
            assert_eq!(server.broker().quota_subjects(), 1);
        }
        // Both connections closed: their subscriptions end, and ann's entry
        // goes with the last of them.
        eventually("the subscriptions ended", || {
            server.broker().subscription_count() == 0
        })
        .await;
        eventually("ann's quota entry is gone", || {
            server.broker().quota_subjects() == 0
        })
        .await;
        let c = server.h2().await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let s = c.multiplexed().subscribe("/v1/t/q", &as_ann).await;
            assert_eq!(s.status, StatusCode::OK, "a fresh connection's quota");
            held.push(s);
        }
        assert_eq!(server.broker().quota_subjects(), 1);
    })
    .await
}
