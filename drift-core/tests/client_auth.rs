//! The Rust client with a token (issue 22): `ClientBuilder::token` sends the
//! bearer header, refusals come back as `Unauthorized` / `Forbidden` with
//! the server's reason (never the token), and a subscription whose token
//! expires ends with `EndReason::Unauthorized` instead of resuming.

#[path = "support/client.rs"]
mod client_support;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use client_support::{builder_for, next, next_message};
use drift_core::EndReason;
use drift_core::ErrorKind;
use drift_core::broker::auth::{MintRequest, mint_hs256, read_secret_file};
use drift_core::client::{Client, SubscribeOptions, SubscriptionEvent};
use support::{TestServer, start_server, within};

fn secret_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jwt/secret")
}

fn token(publish: &[&str], subscribe: &[&str], ttl: Duration) -> String {
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    mint_hs256(
        &read_secret_file(&secret_file()).unwrap(),
        &MintRequest {
            subject: Some("rust".into()),
            publish: list(publish),
            subscribe: list(subscribe),
            ttl: Some(ttl),
            ..MintRequest::default()
        },
    )
    .unwrap()
}

fn client(server: &TestServer, token: Option<&str>) -> Client {
    let mut b = builder_for(&server.url, server.ca_pem.as_deref());
    if let Some(t) = token {
        b = b.token(t);
    }
    b.build().unwrap()
}

async fn jwt_server() -> TestServer {
    start_server(|c| c.jwt.secret_file = Some(secret_file())).await
}

#[tokio::test]
async fn a_token_publishes_and_refusals_say_why() {
    within(async {
        let server = jwt_server().await;
        let ten_minutes = Duration::from_secs(600);
        let writer = client(&server, Some(&token(&["t"], &["t"], ten_minutes)));
        let mut sub = writer
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        writer.publish("t", "m").await.unwrap();
        assert_eq!(&next_message(&mut sub).await.payload[..], b"m");

        let e = client(&server, None).publish("t", "m").await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::Unauthorized, Some(401)));
        assert!(e.to_string().contains("needs a token"), "{e}");
        let reader_token = token(&[], &["*"], ten_minutes);
        let e = client(&server, Some(&reader_token))
            .publish("t", "m")
            .await
            .unwrap_err();
        assert_eq!((e.kind(), e.status()), (ErrorKind::Forbidden, Some(403)));
        assert!(e.to_string().contains("publish to topic \"t\""), "{e}");
        assert!(!e.to_string().contains(&reader_token), "{e}");
        assert!(!format!("{e:?}").contains(&reader_token), "{e:?}");
    })
    .await;
}

#[tokio::test]
async fn an_expired_token_ends_the_subscription_without_a_resume() {
    within(async {
        let server = jwt_server().await;
        let brief = client(&server, Some(&token(&[], &["t"], Duration::from_secs(2))));
        let mut sub = brief
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        match next(&mut sub).await {
            SubscriptionEvent::End(reason) => assert_eq!(reason, EndReason::Unauthorized),
            other => panic!("expected the end, got {other:?}"),
        }
        let after = tokio::time::timeout(Duration::from_secs(10), sub.next_event())
            .await
            .expect("the stream ends");
        assert!(after.is_none(), "it resumed: {after:?}");
    })
    .await;
}
