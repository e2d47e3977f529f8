//! The Rust client against the real server over loopback: publishing, topic
//! management, errors, TLS trust, h2c, headers and connection sharing.

#[path = "support/client.rs"]
mod client_support;
mod support;

use std::time::Duration;

use bytes::Bytes;
use client_support::{Proxy, client_for, client_via, collect_messages, next_message, numbered};
use drift_core::broker::{Access, Authenticator, Grant, TopicConfigRequest, TopicPatterns};
use drift_core::client::{Client, SubscribeOptions};
use drift_core::protocol::HistoryRequest;
use drift_core::tls::{ServerIdentity, Trust};
use drift_core::{Error, ErrorKind};
use support::{start_h2c, start_server, within};

fn replay_all() -> SubscribeOptions {
    SubscribeOptions {
        history: HistoryRequest {
            last: Some(100_000),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn publish_returns_consecutive_ids_and_the_server_time() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let before = support::now_us();
        let a = client.publish("ids", "one").await.unwrap();
        let b = client
            .publish("ids", Bytes::from_static(b"two"))
            .await
            .unwrap();
        let c = client.publish("ids", Vec::<u8>::new()).await.unwrap();
        assert_eq!((a.id.seq, b.id.seq, c.id.seq), (1, 2, 3));
        assert!(a.id.epoch > 0 && a.id.epoch == b.id.epoch && b.id.epoch == c.id.epoch);
        assert!(a.time_us >= before && a.time_us <= b.time_us && b.time_us <= c.time_us);

        let mut sub = client.subscribe("ids", replay_all()).await.unwrap();
        let m = next_message(&mut sub).await;
        assert_eq!(
            (m.id, m.seq, m.epoch, m.time_us),
            (Some(a.id), 1, a.id.epoch, a.time_us)
        );
        assert_eq!(&m.payload[..], b"one");
        assert_eq!(&next_message(&mut sub).await.payload[..], b"two");
        let empty = next_message(&mut sub).await;
        assert!(
            empty.payload.is_empty(),
            "empty messages survive Drift framing"
        );
        assert_eq!(empty.id, Some(c.id));
    })
    .await;
}

#[tokio::test]
async fn publish_many_streams_a_batch_in_order() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let first: Vec<Bytes> = numbered("m", 1..=50).into_iter().map(Bytes::from).collect();
        let ids = client.publish_many("batch", first).await.unwrap();
        assert_eq!(
            ids.iter().map(|p| p.id.seq).collect::<Vec<_>>(),
            (1..=50).collect::<Vec<_>>()
        );
        // Now the client knows the server speaks Drift: one streamed request.
        let second: Vec<Bytes> = numbered("m", 51..=300)
            .into_iter()
            .map(Bytes::from)
            .collect();
        let ids = client.publish_many("batch", second).await.unwrap();
        assert_eq!(ids.len(), 250);
        assert_eq!(ids[0].id.seq, 51);
        assert_eq!(ids[249].id.seq, 300);
        assert!(
            client
                .publish_many("batch", Vec::new())
                .await
                .unwrap()
                .is_empty()
        );

        let mut sub = client.subscribe("batch", replay_all()).await.unwrap();
        assert_eq!(
            collect_messages(&mut sub, 300).await,
            numbered("m", 1..=300)
        );
    })
    .await;
}

#[tokio::test]
async fn publish_many_answers_the_times_subscribers_see() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        // The first publish tells the client the server speaks Drift, so the
        // batch goes as one streamed publish, whose answer lists the times.
        let warm = client.publish("times", "warm").await.unwrap();
        let sent = client
            .publish_many("times", vec!["a".into(), "b".into(), "c".into()])
            .await
            .unwrap();
        let mut sub = client.subscribe("times", replay_all()).await.unwrap();
        for want in std::iter::once(&warm).chain(&sent) {
            let m = next_message(&mut sub).await;
            assert_eq!((m.id, m.time_us), (Some(want.id), want.time_us));
        }
        assert!(sent.iter().all(|p| p.time_us >= warm.time_us));
    })
    .await;
}

#[tokio::test]
async fn create_delete_exists() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        assert!(!client.exists("managed").await.unwrap());
        let config = TopicConfigRequest {
            history_length: Some(5),
            ..Default::default()
        };
        assert!(client.create("managed", &config).await.unwrap(), "created");
        assert!(
            !client.create("managed", &config).await.unwrap(),
            "same config: exists"
        );
        assert!(client.exists("managed").await.unwrap());

        let other = TopicConfigRequest {
            history: Some(false),
            ..Default::default()
        };
        let e = client.create("managed", &other).await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::Conflict, Some(409)));
        assert!(e.to_string().contains("different configuration"), "{e}");

        // The config reached the server: history keeps 5.
        client
            .publish_many(
                "managed",
                numbered("x", 1..=8).into_iter().map(Bytes::from).collect(),
            )
            .await
            .unwrap();
        let mut sub = client.subscribe("managed", replay_all()).await.unwrap();
        assert_eq!(collect_messages(&mut sub, 5).await, numbered("x", 4..=8));

        client.delete("managed").await.unwrap();
        assert!(!client.exists("managed").await.unwrap());
        let e = client.delete("managed").await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::NotFound, Some(404)));
        assert!(e.to_string().contains("no topic named"), "{e}");
        // A default create sends no body at all.
        assert!(
            client
                .create("plain", &TopicConfigRequest::default())
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn topic_names_are_percent_encoded() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        for topic in ["a b", "sp%ce", "ünï cödé?#&=", "dots.and~tilde"] {
            let p = client.publish(topic, "x").await.unwrap();
            assert_eq!(p.id.seq, 1, "{topic}");
            assert!(client.exists(topic).await.unwrap(), "{topic}");
            assert!(
                server
                    .broker()
                    .inspect(topic, &Access::default())
                    .await
                    .unwrap()
                    .is_some(),
                "{topic}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn server_time_is_unix_seconds() {
    within(async {
        let server = start_server(|_| {}).await;
        let t = client_for(&server).server_time().await.unwrap();
        let now = support::now_us() / 1_000_000;
        assert!(t.abs_diff(now) <= 2, "{t} vs {now}");
    })
    .await;
}

#[tokio::test]
async fn errors_carry_the_kind_status_and_server_reason() {
    within(async {
        let server = start_server(|c| c.broker.max_message_bytes = 10).await;
        let client = client_for(&server);
        let e = client.publish("t", "01234567890").await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::TooLarge, Some(413)));
        assert!(
            e.to_string()
                .starts_with("server answered 413 Payload Too Large: "),
            "{e}"
        );

        let long = "x".repeat(300);
        let e = client.publish(&long, "m").await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::InvalidInput, Some(400)));
        assert!(e.to_string().contains("topic name"), "{e}");

        // A malformed subscription is refused at once, not retried.
        let e = client
            .subscribe(&long, SubscribeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = client.publish("", "m").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    })
    .await;
}

#[tokio::test]
async fn unreachable_server_is_a_connect_error() {
    within(async {
        // A port nobody listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::builder(format!("http://127.0.0.1:{port}"))
            .build()
            .unwrap();
        let e = client.publish("t", "m").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
            "{e}"
        );
        let e = client
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect);
    })
    .await;
}

#[tokio::test]
async fn connect_timeout_applies() {
    within(async {
        // A listener that never completes the TLS handshake.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let client = Client::builder(url)
            .insecure(true)
            .connect_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let e = client.server_time().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
        drop(listener);
    })
    .await;
}

#[tokio::test]
async fn tls_trust_is_enforced_and_insecure_mode_is_explicit() {
    within(async {
        let server = start_server(|_| {}).await;
        let stranger = ServerIdentity::generate_self_signed().unwrap();
        let untrusting = Client::builder(&server.url)
            .trust(Trust::CaPem(stranger.cert_pem.into_bytes()))
            .build()
            .unwrap();
        let e: Error = untrusting.publish("t", "m").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e:?}");
        assert!(
            e.to_string().contains("TLS handshake with 127.0.0.1:"),
            "{e}"
        );

        let insecure = Client::builder(&server.url).insecure(true).build().unwrap();
        assert_eq!(insecure.publish("t", "m").await.unwrap().id.seq, 1);

        let dir = support::TempDir::new("client-ca");
        let ca = dir.write_ca(server.ca_pem.as_ref().unwrap());
        let by_file = Client::builder(&server.url).ca_file(&ca).build().unwrap();
        assert_eq!(by_file.publish("t", "m").await.unwrap().id.seq, 2);

        let missing = Client::builder(&server.url)
            .ca_file(dir.path().join("nope.pem"))
            .build();
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::Io);
    })
    .await;
}

#[tokio::test]
async fn h2c_serves_everything() {
    within(async {
        let server = start_h2c(|_| {}).await;
        assert!(server.url.starts_with("http://"));
        let client = client_for(&server);
        let mut sub = client
            .subscribe("plain", SubscribeOptions::default())
            .await
            .unwrap();
        let p = client.publish("plain", "hello").await.unwrap();
        let m = next_message(&mut sub).await;
        assert_eq!((m.id, &m.payload[..]), (Some(p.id), &b"hello"[..]));
        assert!(client.exists("plain").await.unwrap());
    })
    .await;
}

/// Grants everything to the token `s3cret`, nothing to another token, and
/// asks a caller without one for a token.
#[derive(Debug)]
struct NeedsToken;

impl Authenticator for NeedsToken {
    fn authenticate(&self, access: &Access<'_>) -> drift_core::Result<std::sync::Arc<Grant>> {
        let mut grant = Grant::open();
        match access.credentials {
            Some("s3cret") => grant.authenticated = true,
            Some(_) => {
                grant = Grant::anonymous(TopicPatterns::none());
                grant.authenticated = true;
            }
            None => grant = Grant::anonymous(TopicPatterns::none()),
        }
        Ok(std::sync::Arc::new(grant))
    }

    fn describe(&self) -> String {
        "the token s3cret".into()
    }
}

#[tokio::test]
async fn extra_headers_are_sent_with_every_request() {
    within(async {
        let server =
            start_server(|c| c.broker.authenticator = std::sync::Arc::new(NeedsToken)).await;
        let pem = server.ca_pem.clone().unwrap();
        let anonymous = Client::builder(&server.url)
            .trust(Trust::CaPem(pem.clone()))
            .build()
            .unwrap();
        let e = anonymous.publish("t", "m").await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::Unauthorized, Some(401)));
        assert!(e.to_string().contains("needs a token"), "{e}");
        let wrong = Client::builder(&server.url)
            .trust(Trust::CaPem(pem.clone()))
            .header("Authorization", "Bearer nope")
            .build()
            .unwrap();
        assert_eq!(
            wrong.publish("t", "m").await.unwrap_err().kind(),
            ErrorKind::Forbidden
        );

        let client = Client::builder(&server.url)
            .trust(Trust::CaPem(pem))
            .header("Authorization", "Bearer s3cret")
            .build()
            .unwrap();
        let mut sub = client
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        client.publish("t", "m").await.unwrap();
        assert_eq!(&next_message(&mut sub).await.payload[..], b"m");
    })
    .await;
}

#[tokio::test]
async fn one_connection_carries_every_request_and_clone() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let client = client_via(&proxy, &server);
        let clone = client.clone();
        let mut subs = Vec::new();
        for i in 0..5 {
            subs.push(
                clone
                    .subscribe(&format!("t{i}"), SubscribeOptions::default())
                    .await
                    .unwrap(),
            );
        }
        let publishes: Vec<_> = (0..20)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.publish(&format!("t{}", i % 5), "m").await })
            })
            .collect();
        for p in publishes {
            p.await.unwrap().unwrap();
        }
        for sub in &mut subs {
            collect_messages(sub, 4).await;
        }
        assert_eq!(proxy.connections(), 1);
    })
    .await;
}
