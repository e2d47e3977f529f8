//! Routes and request validation: the fixed endpoints, 404/405, and topic
//! names (ORIGINAL.md §12 cases 1–5, 14–17 and DESIGN.md §1 divergences).

mod support;

use http::{Method, StatusCode};
use support::*;

/// Case 1: `GET /v1/time` is `text/plain` (exactly), decimal seconds, no
/// newline, and close to our clock — over both HTTP/2 and HTTP/1.1.
#[tokio::test]
async fn time_is_plain_unix_seconds_over_h2_and_h1() {
    within(async {
        let server = start_server(|_| {}).await;
        for mut client in [server.h2().await, server.h1().await] {
            let r = client.get("/v1/time").await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("content-type"), Some("text/plain"));
            let body = r.text();
            assert!(
                !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()),
                "body {body:?} is not digits only"
            );
            let server_secs: i64 = body.parse().unwrap();
            let ours = (now_us() / 1_000_000) as i64;
            assert!(
                (server_secs - ours).abs() <= 2,
                "server time {server_secs} vs ours {ours}"
            );
        }
        // The query string is ignored.
        let r = server.h2().await.get("/v1/time?x=1").await;
        assert_eq!(r.status, StatusCode::OK);
    })
    .await
}

/// Case 1 over h2 reports HTTP/2 and over h1 reports HTTP/1.1 (the one port
/// serves both).
#[tokio::test]
async fn versions_match_the_negotiated_protocol() {
    within(async {
        let server = start_server(|_| {}).await;
        assert_eq!(
            server.h2().await.get("/ping").await.version,
            http::Version::HTTP_2
        );
        assert_eq!(
            server.h1().await.get("/ping").await.version,
            http::Version::HTTP_11
        );
    })
    .await
}

/// Case 2.
#[tokio::test]
async fn ping_answers_pong() {
    within(async {
        let server = start_server(|_| {}).await;
        let r = server.h2().await.get("/ping").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], b"pong");
    })
    .await
}

/// Case 3, and case 4's `GET /v1/` (divergence: the original answered 404;
/// DESIGN.md §1 makes `/v1/` the same API reference as `/`).
#[tokio::test]
async fn root_and_v1_list_every_route() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        for path in ["/", "/v1/"] {
            let r = c.get(path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            let ct = r.header("content-type").unwrap();
            assert!(ct.starts_with("text/html"), "{path}: {ct}");
            let body = r.text();
            for route in [
                "GET /",
                "GET /ping",
                "GET /healthz",
                "GET /v1/topics",
                "GET /readyz",
                "GET /v1/time",
                "PUT /v1/t/*",
                "POST /v1/t/*",
                "GET /v1/t/*",
                "HEAD /v1/t/*",
                "DELETE /v1/t/*",
            ] {
                assert!(body.contains(route), "{path} does not list {route}");
            }
        }
    })
    .await
}

/// Case 4: unknown paths get Go's 404, byte for byte.
#[tokio::test]
async fn unknown_paths_are_404_page_not_found() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        for path in ["/nope", "/v1/nope", "/v2/t/x", "/ping/x"] {
            let r = c.get(path).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(&r.body[..], b"404 page not found\n", "{path}");
            assert_eq!(
                r.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "{path}"
            );
        }
    })
    .await
}

/// Case 5, divergence: a wrong method on a known path is 405 with `Allow`
/// (the original answered 404 for every unrouted method). The HEAD cases also
/// check that a HEAD response carries no DATA over HTTP/2: the client would
/// reset the stream with PROTOCOL_ERROR if it did.
#[tokio::test]
async fn wrong_method_on_known_path_is_405_with_allow() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let patch = Method::from_bytes(b"PATCH").unwrap();
        let cases = [
            (Method::OPTIONS, "/v1/t/x", "GET, HEAD, PUT, POST, DELETE"),
            (patch, "/v1/t/x", "GET, HEAD, PUT, POST, DELETE"),
            (Method::POST, "/v1/time", "GET"),
            (Method::HEAD, "/v1/time", "GET"),
            (Method::HEAD, "/", "GET"),
            (Method::DELETE, "/ping", "GET"),
            (Method::PUT, "/v1/", "GET"),
        ];
        for (method, path, allow) in cases {
            let r = c.request(method.clone(), path, &[], full("")).await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
        }
        // None of them created the topic.
        assert_eq!(c.head("/v1/t/x").await.status, StatusCode::NOT_FOUND);
    })
    .await
}

/// Case 15, divergence: a `/` in the topic, raw or percent-encoded, is a
/// 400 that says `/` is not allowed (the original's bare `404 page not
/// found` left one guessing), but a 404 to `HEAD`, which asks whether such a
/// topic exists. A missing segment (`/v1/t`) matches no route: 404.
#[tokio::test]
async fn slashes_in_topics_are_400_saying_so() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        for path in ["/v1/t/a/b", "/v1/t/a%2Fb", "/v1/t/a%2fb", "/v1/topics/a/b"] {
            let methods: &[Method] = if path.starts_with("/v1/topics/") {
                &[Method::GET]
            } else {
                &[Method::GET, Method::PUT, Method::POST, Method::DELETE]
            };
            for method in methods {
                let r = c.request(method.clone(), path, &[], full("x")).await;
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}");
                assert_eq!(
                    r.text(),
                    "topic name must not contain \"/\" (a topic name is one path segment)\n",
                    "{method} {path}"
                );
            }
            if path.starts_with("/v1/t/") {
                let r = c.head(path).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "HEAD {path}");
                assert!(r.body.is_empty(), "HEAD has no body");
            }
        }
        for method in [Method::GET, Method::HEAD, Method::POST] {
            let r = c.request(method.clone(), "/v1/t", &[], full("x")).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} /v1/t");
        }
        assert_eq!(server.broker().topic_count(), 0);
    })
    .await
}

/// Case 14, divergence: the empty topic is a 400 with a one-line reason for
/// every method but HEAD (the original answered 500); HEAD, which asks
/// whether the topic exists and has no body for a reason, gets the
/// original's 404.
#[tokio::test]
async fn empty_topic_is_400_with_one_line_reason() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let r = c.request(method.clone(), "/v1/t/", &[], full("x")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method}");
            let text = r.text();
            assert!(
                text.ends_with('\n') && text.lines().count() == 1,
                "{text:?}"
            );
            assert!(text.contains("empty"), "{text:?}");
        }
        let r = c.head("/v1/t/").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.is_empty(), "HEAD has no body");
    })
    .await
}

/// Control characters (after percent-decoding) and over-long names are 400.
#[tokio::test]
async fn bad_topic_names_are_400() {
    within(async {
        let server = start_server(|c| c.broker.max_topic_name_bytes = 64).await;
        let mut c = server.h2().await;
        let long = "a".repeat(65);
        let fits = "a".repeat(64);
        for path in [
            "/v1/t/a%0Ab".to_string(),
            "/v1/t/a%00".to_string(),
            "/v1/t/%7F".to_string(),
            "/v1/t/%FF".to_string(), // not UTF-8 once decoded
            format!("/v1/t/{long}"),
        ] {
            for method in [Method::GET, Method::POST, Method::PUT] {
                let r = c.request(method.clone(), &path, &[], full("x")).await;
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}");
                assert_eq!(r.text().lines().count(), 1, "{:?}", r.text());
            }
            // No topic has such a name: HEAD says it does not exist.
            assert_eq!(c.head(&path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(server.broker().topic_count(), 0);
        // The limit itself is allowed.
        c.publish(&fits, "x").await;
    })
    .await
}

/// Case 16: the topic name is percent-decoded, so `a%20b` is `a b`.
#[tokio::test]
async fn topic_names_are_percent_decoded() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        c.publish("a%20b", "x").await;
        assert_eq!(c.head("/v1/t/a%20b").await.status, StatusCode::OK);
        // The broker holds the decoded name.
        let info = server
            .broker()
            .inspect("a b", &Default::default())
            .await
            .unwrap()
            .expect("topic `a b` exists");
        assert_eq!(info.last_seq, 1);
    })
    .await
}

/// Case 17: names are case-sensitive.
#[tokio::test]
async fn topic_names_are_case_sensitive() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        c.publish("Abc", "x").await;
        assert_eq!(c.head("/v1/t/Abc").await.status, StatusCode::OK);
        assert_eq!(c.head("/v1/t/abc").await.status, StatusCode::NOT_FOUND);
    })
    .await
}

/// The same routes over cleartext h2c and HTTP/1.1 (the `--h2c` mode).
#[tokio::test]
async fn h2c_and_h1_cleartext_serve_the_same_routes() {
    within(async {
        let server = start_h2c(|_| {}).await;
        assert!(server.url.starts_with("http://"));
        let mut h2 = server.h2().await;
        let r = h2.get("/ping").await;
        assert_eq!(
            (r.status, r.version),
            (StatusCode::OK, http::Version::HTTP_2)
        );
        let mut h1 = server.h1().await;
        let r = h1.get("/ping").await;
        assert_eq!(
            (r.status, r.version),
            (StatusCode::OK, http::Version::HTTP_11)
        );
        assert_eq!(h1.get("/nope").await.status, StatusCode::NOT_FOUND);
    })
    .await
}
