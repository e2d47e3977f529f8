//! Authentication and per-topic authorisation over HTTP (issue 22): JWT
//! bearer tokens from the header, the `drift_token` cookie and (when
//! allowed) the query, over HTTP/2 and HTTP/1.1; every refusal; patterns;
//! anonymous access; and the end of a subscription or a streamed publish
//! when its token expires. The keys are the test-only ones of `data/jwt`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use drift_core::EndReason;
use drift_core::broker::TopicPatterns;
use drift_core::broker::auth::{MintRequest, mint_hs256, read_secret_file};
use drift_core::protocol::FrameKind;
use drift_core::server::ServerConfig;
use http::{Method, StatusCode, Version};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const SSE: (&str, &str) = ("accept", "text/event-stream");
const FRAMES_BODY: (&str, &str) = ("content-type", "application/vnd.drift.frames");
const TRAILERS: (&str, &str) = ("te", "trailers");

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/jwt")
        .join(name)
}

/// HS256 with the test secret, RS256 with either test RSA key.
fn with_jwt(c: &mut ServerConfig) {
    c.jwt.secret_file = Some(data("secret"));
    c.jwt.public_key_files = vec![data("rsa1.pub"), data("rsa2.pub")];
}

fn secret() -> Vec<u8> {
    read_secret_file(&data("secret")).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for `sub` "ann" granting these patterns for ten minutes.
fn token(publish: &[&str], subscribe: &[&str], admin: &[&str]) -> String {
    token_for(publish, subscribe, admin, Duration::from_secs(600))
}

fn token_for(publish: &[&str], subscribe: &[&str], admin: &[&str], ttl: Duration) -> String {
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    mint_hs256(
        &secret(),
        &MintRequest {
            subject: Some("ann".into()),
            publish: list(publish),
            subscribe: list(subscribe),
            admin: list(admin),
            ttl: Some(ttl),
            ..MintRequest::default()
        },
    )
    .unwrap()
}

fn everything() -> String {
    token(&["*"], &["*"], &["*"])
}

fn signed(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn claims() -> Value {
    json!({"sub": "ann", "exp": now() + 600, "drift": {"publish": ["*"], "subscribe": ["*"]}})
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn auth_server() -> TestServer {
    start_server(with_jwt).await
}

/// Publishes with `token` over `version` and answers the reply.
async fn publish_as(server: &TestServer, version: Version, topic: &str, token: &str) -> Reply {
    let mut c = Client::connect(server, version).await;
    let auth = bearer(token);
    c.post_with(&format!("/v1/t/{topic}"), &[("authorization", &auth)], "m")
        .await
}

/// Asserts a 401 with an RFC 6750 challenge whose description has `why`.
fn assert_401(r: &Reply, why: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    let challenge = r.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("error_description=\""), "{challenge}");
    assert!(r.text().contains(why), "{why:?} not in {:?}", r.text());
    assert!(!r.text().contains("eyJ"), "a token is echoed: {}", r.text());
}

// ===== refusals =====

#[tokio::test]
async fn no_token_is_401_over_both_protocols() {
    within(async {
        let server = auth_server().await;
        for version in [Version::HTTP_2, Version::HTTP_11] {
            let mut c = Client::connect(&server, version).await;
            assert_401(&c.post("/v1/t/a", "m").await, "needs a token");
            assert_401(&c.get("/v1/t/a").await, "needs a token");
            assert_401(&c.put("/v1/t/a", "").await, "needs a token");
            assert_401(&c.delete("/v1/t/a").await, "needs a token");
            assert_401(&c.get("/v1/topics").await, "needs a token");
            assert_401(&c.get("/v1/topics/a").await, "needs a token");
            // HEAD has no body for the reason, but keeps the challenge.
            let r = c.head("/v1/t/a").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert!(r.header("www-authenticate").is_some());
        }
    })
    .await;
}

#[tokio::test]
async fn a_bad_signature_is_401() {
    within(async {
        let server = auth_server().await;
        let good = everything();
        let (signed_part, _) = good.rsplit_once('.').unwrap();
        let forged = format!("{signed_part}.{}", "A".repeat(43));
        assert_401(
            &publish_as(&server, Version::HTTP_2, "a", &forged).await,
            "bad signature",
        );
    })
    .await;
}

#[tokio::test]
async fn an_unsigned_token_is_401() {
    within(async {
        let server = auth_server().await;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(claims().to_string())
        );
        assert_401(
            &publish_as(&server, Version::HTTP_2, "a", &none).await,
            "alg none",
        );
    })
    .await;
}

#[tokio::test]
async fn an_hs256_token_made_with_the_public_key_is_401() {
    within(async {
        // Only public keys here: an HS256 token meets no key that takes it.
        let server = start_server(|c| c.jwt.public_key_files = vec![data("rsa1.pub")]).await;
        let pem = std::fs::read(data("rsa1.pub")).unwrap();
        let confused = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(&pem).unwrap(),
            &claims(),
        );
        assert_401(
            &publish_as(&server, Version::HTTP_2, "a", &confused).await,
            "HS256",
        );
    })
    .await;
}

#[tokio::test]
async fn an_expired_token_is_401() {
    within(async {
        let server = auth_server().await;
        let mut c = claims();
        c["exp"] = json!(now() - 10);
        let expired = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret()).unwrap(),
            &c,
        );
        assert_401(
            &publish_as(&server, Version::HTTP_11, "a", &expired).await,
            "expired",
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_not_valid_yet_is_401() {
    within(async {
        let server = auth_server().await;
        let mut c = claims();
        c["nbf"] = json!(now() + 300);
        let early = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret()).unwrap(),
            &c,
        );
        assert_401(
            &publish_as(&server, Version::HTTP_2, "a", &early).await,
            "not valid yet",
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_without_exp_is_401_unless_allowed() {
    within(async {
        let mut c = claims();
        c.as_object_mut().unwrap().remove("exp");
        let forever = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret()).unwrap(),
            &c,
        );
        let strict = auth_server().await;
        assert_401(
            &publish_as(&strict, Version::HTTP_2, "a", &forever).await,
            "no exp claim",
        );
        let lenient = start_server(|c| {
            with_jwt(c);
            c.jwt.allow_no_exp = true;
        })
        .await;
        let r = publish_as(&lenient, Version::HTTP_2, "a", &forever).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    })
    .await;
}

#[tokio::test]
async fn an_action_not_granted_is_403_naming_it_and_the_topic() {
    within(async {
        let server = auth_server().await;
        let reader = token(&[], &["*"], &[]);
        for version in [Version::HTTP_2, Version::HTTP_11] {
            let r = publish_as(&server, version, "news", &reader).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
            let line = r.text();
            assert!(line.contains("publish to topic \"news\""), "{line}");
            assert!(line.contains("\"ann\""), "{line}");
            assert_eq!(line.lines().count(), 1, "{line}");
            let challenge = r.header("www-authenticate").unwrap();
            assert!(challenge.contains("insufficient_scope"), "{challenge}");
        }
    })
    .await;
}

// ===== grants and patterns =====

#[tokio::test]
async fn patterns_grant_publish_subscribe_and_admin_separately() {
    within(async {
        let server = auth_server().await;
        let t = token(&["news.*"], &["news.*", "chat"], &["ann-*"]);
        let auth = bearer(&t);
        let h = [("authorization", auth.as_str())];
        let mut c = server.h2().await;
        let ok = |r: &Reply| assert!(r.status.is_success(), "{r:?}");
        let forbidden = |r: &Reply| assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");

        let mut sub = c.subscribe("/v1/t/news.sport", &[h[0], SSE]).await;
        assert_eq!(sub.status, StatusCode::OK);
        ok(&c.post_with("/v1/t/news.sport", &h, "goal").await);
        assert_eq!(sub.next_event().await.unwrap().data, "goal");
        forbidden(&c.post_with("/v1/t/chat", &h, "hi").await);
        forbidden(&c.get_with("/v1/t/other", &h).await);
        // admin: create and delete only where it is granted.
        ok(&c.request(Method::PUT, "/v1/t/ann-1", &h, full("")).await);
        ok(&c.request(Method::DELETE, "/v1/t/ann-1", &h, full("")).await);
        forbidden(&c.request(Method::PUT, "/v1/t/news.x", &h, full("")).await);
        forbidden(
            &c.request(Method::DELETE, "/v1/t/news.sport", &h, full(""))
                .await,
        );
        // Inspection and the list follow any of the three.
        ok(&c.get_with("/v1/topics/news.sport", &h).await);
        // A topic the narrow token does not grant is not listed.
        let all = bearer(&everything());
        ok(&c
            .post_with("/v1/t/secret-topic", &[("authorization", &all)], "x")
            .await);
        let list = c.get_with("/v1/topics", &h).await;
        assert!(list.text().contains("news.sport"), "{}", list.text());
        assert!(!list.text().contains("secret-topic"), "{}", list.text());
    })
    .await;
}

#[tokio::test]
async fn either_of_two_public_keys_is_accepted() {
    within(async {
        let server = auth_server().await;
        for key in ["rsa1.key", "rsa2.key"] {
            let pem = std::fs::read(data(key)).unwrap();
            let t = signed(
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(&pem).unwrap(),
                &claims(),
            );
            let r = publish_as(&server, Version::HTTP_2, "a", &t).await;
            assert_eq!(r.status, StatusCode::OK, "{key}: {r:?}");
        }
        // A key the server does not have is a bad signature.
        let other = start_server(|c| c.jwt.public_key_files = vec![data("rsa2.pub")]).await;
        let pem = std::fs::read(data("rsa1.key")).unwrap();
        let t = signed(
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(&pem).unwrap(),
            &claims(),
        );
        assert_401(
            &publish_as(&other, Version::HTTP_2, "a", &t).await,
            "bad signature",
        );
    })
    .await;
}

#[tokio::test]
async fn anonymous_callers_read_only_the_topics_let_in() {
    within(async {
        let server = start_server(|c| {
            with_jwt(c);
            c.jwt.anonymous = TopicPatterns::new(["public.*"]);
        })
        .await;
        let mut sub = server
            .h1()
            .await
            .subscribe("/v1/t/public.news", &[SSE])
            .await;
        assert_eq!(sub.status, StatusCode::OK);
        let mut c = server.h2().await;
        assert_401(&c.post("/v1/t/public.news", "m").await, "needs a token");
        assert_401(&c.get("/v1/t/private").await, "needs a token");
        let r = publish_as(&server, Version::HTTP_2, "public.news", &everything()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(sub.next_event().await.unwrap().data, "m");
    })
    .await;
}

#[tokio::test]
async fn routes_that_reveal_nothing_stay_open() {
    within(async {
        let server = auth_server().await;
        let mut c = server.h2().await;
        for path in ["/", "/ping", "/v1/time", "/healthz", "/readyz"] {
            let r = c.get(path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {r:?}");
        }
    })
    .await;
}

// ===== the cookie and the query =====

#[tokio::test]
async fn the_cookie_endpoint_sets_a_cookie_that_subscribes() {
    within(async {
        let server = auth_server().await;
        let t = token(&[], &["*"], &[]);
        for version in [Version::HTTP_2, Version::HTTP_11] {
            let mut c = Client::connect(&server, version).await;
            let auth = bearer(&t);
            let r = c
                .post_with("/v1/auth/cookie", &[("authorization", &auth)], "")
                .await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            assert!(!r.text().contains(&t), "the body echoes the token");
            let body: Value = serde_json::from_str(r.text()).unwrap();
            assert_eq!(body["subject"], "ann");
            let cookie = r.header("set-cookie").expect("a cookie");
            let (pair, attributes) = cookie.split_once(';').unwrap();
            assert_eq!(pair, format!("drift_token={t}"));
            for attr in [
                "HttpOnly",
                "Secure",
                "SameSite=Strict",
                "Path=/",
                "Max-Age=",
            ] {
                assert!(attributes.contains(attr), "{attr} missing: {attributes}");
            }
            let max_age: u64 = attributes
                .split("Max-Age=")
                .nth(1)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!((590..=600).contains(&max_age), "{max_age}");

            let mut sub = c.subscribe("/v1/t/c", &[("cookie", pair), SSE]).await;
            assert_eq!(sub.status, StatusCode::OK, "subscribed with the cookie");
            let r = publish_as(&server, Version::HTTP_2, "c", &everything()).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(sub.next_event().await.unwrap().data, "m");
            drop(sub);
            // The cookie reads; it does not publish.
            let mut c = Client::connect(&server, version).await;
            let r = c.post_with("/v1/t/c", &[("cookie", pair)], "m").await;
            assert_eq!(r.status, StatusCode::FORBIDDEN);
        }
    })
    .await;
}

#[tokio::test]
async fn the_cookie_endpoint_refuses_bad_tokens_and_clears() {
    within(async {
        let server = auth_server().await;
        let mut c = server.h2().await;
        assert_401(
            &c.post("/v1/auth/cookie", "").await,
            "Authorization: Bearer",
        );
        let r = c
            .post_with("/v1/auth/cookie", &[("authorization", "Bearer a.b.c")], "")
            .await;
        assert_401(&r, "invalid token");
        assert!(r.header("set-cookie").is_none());
        let r = c.delete("/v1/auth/cookie").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    })
    .await;
}

#[tokio::test]
async fn a_cross_origin_cookie_is_same_site_none_with_credentials() {
    within(async {
        let server = start_server(|c| {
            with_jwt(c);
            c.service.cors = Some(drift_core::server::Cors {
                allow_origins: vec!["https://app.example".into()],
            });
        })
        .await;
        let mut c = server.h2().await;
        let auth = bearer(&everything());
        let r = c
            .post_with(
                "/v1/auth/cookie",
                &[("authorization", &auth), ("origin", "https://app.example")],
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("set-cookie").unwrap().contains("SameSite=None"));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        // Its preflight lets the page POST with its Authorization header.
        let pre = c
            .request(
                Method::OPTIONS,
                "/v1/auth/cookie",
                &[
                    ("origin", "https://app.example"),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "authorization"),
                ],
                full(""),
            )
            .await;
        assert_eq!(pre.status, StatusCode::NO_CONTENT);
        assert!(
            pre.header("access-control-allow-methods")
                .unwrap()
                .contains("POST")
        );
    })
    .await;
}

#[tokio::test]
async fn a_query_token_counts_only_when_allowed() {
    within(async {
        let t = token(&[], &["*"], &[]);
        let path = format!("/v1/t/q?access_token={t}");
        let strict = auth_server().await;
        assert_401(&strict.h2().await.get(&path).await, "needs a token");
        let lenient = start_server(|c| {
            with_jwt(c);
            c.service.query_token = true;
        })
        .await;
        for version in [Version::HTTP_2, Version::HTTP_11] {
            let mut c = Client::connect(&lenient, version).await;
            let sub = c.subscribe(&path, &[SSE]).await;
            assert_eq!(sub.status, StatusCode::OK, "{version:?}");
        }
    })
    .await;
}

// ===== expiry while open =====

/// A token good for subscribing for one to two seconds (`exp` is whole
/// seconds), and when it expires.
fn brief() -> (String, u64) {
    let t = token_for(&["*"], &["*"], &[], Duration::from_secs(2));
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: Value =
        serde_json::from_slice(&b64.decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap();
    (t, claims["exp"].as_u64().unwrap())
}

fn assert_after(exp: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        now >= Duration::from_secs(exp),
        "ended before exp: {now:?} < {exp}"
    );
    assert!(
        now < Duration::from_secs(exp + 2),
        "ended late: {now:?} for {exp}"
    );
}

#[tokio::test]
async fn an_sse_subscription_ends_unauthorized_at_expiry() {
    within(async {
        let server = auth_server().await;
        let (t, exp) = brief();
        let auth = bearer(&t);
        let mut sub = server
            .h1()
            .await
            .subscribe("/v1/t/e", &[("authorization", &auth), SSE])
            .await;
        assert_eq!(sub.status, StatusCode::OK);
        let end = sub.next_event().await.expect("an end event");
        assert_eq!(
            (end.event.as_str(), end.data.as_str()),
            ("end", "unauthorized")
        );
        assert_after(exp);
        sub.expect_end().await;
    })
    .await;
}

#[tokio::test]
async fn a_frames_subscription_ends_unauthorized_at_expiry() {
    within(async {
        let server = auth_server().await;
        let (t, exp) = brief();
        let auth = bearer(&t);
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/e", &[("authorization", &auth), FRAMES])
            .await;
        assert_eq!(sub.status, StatusCode::OK);
        let end = sub.next_frame().await.expect("an end frame");
        assert_eq!(end.kind, FrameKind::End);
        assert_eq!(end.as_end_reason().unwrap(), EndReason::Unauthorized);
        assert_after(exp);
        sub.expect_end().await;
    })
    .await;
}

#[tokio::test]
async fn a_raw_subscription_ends_with_the_unauthorized_trailer() {
    within(async {
        let server = auth_server().await;
        let (t, exp) = brief();
        let auth = bearer(&t);
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/e", &[("authorization", &auth), TRAILERS])
            .await;
        assert_eq!(sub.status, StatusCode::OK);
        sub.expect_end().await;
        assert_after(exp);
        let reason = sub
            .trailers
            .as_ref()
            .and_then(|t| t.get("drift-end-reason"));
        assert_eq!(reason.map(|v| v.to_str().unwrap()), Some("unauthorized"));
    })
    .await;
}

#[tokio::test]
async fn a_streamed_publish_stops_at_expiry_keeping_what_came_before() {
    within(async {
        let server = auth_server().await;
        let (t, exp) = brief();
        let auth = bearer(&t);
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/s", &[("authorization", &bearer(&everything())), SSE])
            .await;
        let (body_tx, body) = channel_body();
        let mut publisher = server.h2().await;
        let post = tokio::spawn(async move {
            publisher
                .request(
                    Method::POST,
                    "/v1/t/s",
                    &[FRAMES_BODY, ("authorization", &auth)],
                    body,
                )
                .await
        });
        body_tx.send(frames_body(["before"])).unwrap();
        assert_eq!(sub.next_event().await.unwrap().data, "before");
        // Wait for the wall clock to pass exp (polled, bounded by `within`).
        while now() < exp {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        body_tx.send(frames_body(["after"])).unwrap();
        drop(body_tx);
        let r = post.await.unwrap();
        assert_401(&r, "expired");
        assert_eq!(r.num("drift-count"), 1);
    })
    .await;
}
