//! `GET /console` (issue 23 item 5): the web console's page and assets,
//! served with their content types, cache headers and a strict CSP when
//! the console is on, a 404 when it is off, and by default only on a
//! loopback listener. (Its behaviour in a browser: tests/browser.)

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;

use drift_core::server::{Console, TlsMode};
use http::{StatusCode, Version};
use support::*;

const ASSETS: [(&str, &str); 4] = [
    ("/console", "text/html; charset=utf-8"),
    ("/console/console.js", "text/javascript; charset=utf-8"),
    ("/console/console.css", "text/css; charset=utf-8"),
    ("/console/favicon.svg", "image/svg+xml"),
];

async fn assets_are_served(mut c: Client, version: Version) {
    for (path, content_type) in ASSETS {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.version, version, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let csp = r.header("content-security-policy").expect("a CSP");
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self';"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!r.body.is_empty(), "{path}");
        // Revalidation with the entity tag answers 304, without a body.
        let etag = r.header("etag").expect("an etag").to_owned();
        let again = c.get_with(path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
    }
    let page = c.get("/console").await;
    assert!(page.text().contains("<script src=\"/console/console.js\""));
    assert!(
        page.text().contains("data-auth=\"open\""),
        "an open server needs no token"
    );
    let head = c.head("/console").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    let post = c.post("/console", "x").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        c.get("/console/other.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn served_over_http2_and_http11_with_tls_and_h2c() {
    within(async {
        let tls = start_server(|_| {}).await;
        assets_are_served(tls.h2().await, Version::HTTP_2).await;
        assets_are_served(tls.h1().await, Version::HTTP_11).await;
        let h2c = start_h2c(|_| {}).await;
        assets_are_served(h2c.h2().await, Version::HTTP_2).await;
        assets_are_served(h2c.h1().await, Version::HTTP_11).await;
    })
    .await
}

async fn console_status(listen: SocketAddr, console: Console) -> StatusCode {
    let server = start_with(listen, TlsMode::H2c, |c| c.service.console = console).await;
    let mut c = server.h1().await;
    let status = c.get("/console").await.status;
    if status == StatusCode::NOT_FOUND {
        // As every unknown path, and for its assets too.
        assert_eq!(c.get("/console").await.text(), "404 page not found\n");
        let js = c.get("/console/console.js").await.status;
        assert_eq!(js, StatusCode::NOT_FOUND);
    }
    status
}

#[tokio::test]
async fn auto_serves_on_loopback_only_and_off_is_a_404() {
    within(async {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let anywhere: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let ok = StatusCode::OK;
        let missing = StatusCode::NOT_FOUND;
        assert_eq!(console_status(loopback, Console::Auto).await, ok);
        assert_eq!(console_status(anywhere, Console::Auto).await, missing);
        assert_eq!(console_status(anywhere, Console::On).await, ok);
        assert_eq!(console_status(loopback, Console::Off).await, missing);
    })
    .await
}

#[tokio::test]
async fn a_server_that_authenticates_gets_the_token_field() {
    within(async {
        let secret = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jwt/secret");
        let server = start_h2c(|c| c.jwt.secret_file = Some(secret)).await;
        let page = server.h2().await.get("/console").await;
        assert_eq!(page.status, StatusCode::OK, "the page itself is open");
        assert!(page.text().contains("data-auth=\"token\""));
    })
    .await
}
