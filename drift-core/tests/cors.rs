//! Browser cross-origin access: preflight and response headers when origins
//! are configured, nothing when they are not.

use std::time::Duration;

use bytes::Bytes;
use drift_core::server::{Cors, Server, ServerConfig, ServiceConfig, TlsMode};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

async fn server(cors: Option<Cors>) -> drift_core::server::ServerHandle {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsMode::H2c,
        service: ServiceConfig {
            cors,
            ..Default::default()
        },
        ..Default::default()
    };
    Server::bind(config).await.unwrap().spawn()
}

async fn send(
    addr: std::net::SocketAddr,
    req: Request<Empty<Bytes>>,
) -> http::Response<hyper::body::Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender.send_request(req).await.unwrap()
}

fn preflight(origin: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/t/news")
        .header("host", "localhost")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "last-event-id")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn configured_origins_get_cors_headers() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let handle = server(Some(Cors {
            allow_origins: vec!["https://app.example".into()],
        }))
        .await;
        let addr = handle.local_addr();

        let res = send(addr, preflight("https://app.example")).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.example");
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("GET")
        );
        assert!(
            h["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("last-event-id")
        );

        // Another origin is not let in: the preflight is an ordinary 405.
        let res = send(addr, preflight("https://evil.example")).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(res.headers().get("access-control-allow-origin").is_none());

        let get = Request::get("/v1/time")
            .header("host", "localhost")
            .header("origin", "https://app.example")
            .body(Empty::new())
            .unwrap();
        let res = send(addr, get).await;
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://app.example"
        );
        assert!(
            res.headers()["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .contains("drift-id")
        );
        handle.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}

/// A page the operator named may send the visitor's credentials
/// (`new EventSource(url, {withCredentials: true})`); any page let in by
/// `*` may not, so `*` never lends a visitor's cookies to every site.
#[tokio::test]
async fn only_named_origins_may_send_credentials() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let handle = server(Some(Cors {
            allow_origins: vec!["https://app.example".into(), "*".into()],
        }))
        .await;
        let addr = handle.local_addr();
        let get = |origin: &str| {
            Request::get("/v1/time")
                .header("host", "localhost")
                .header("origin", origin)
                .body(Empty::new())
                .unwrap()
        };
        let credentials = "access-control-allow-credentials";

        let res = send(addr, preflight("https://app.example")).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(res.headers()[credentials], "true");
        let res = send(addr, get("https://app.example")).await;
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://app.example"
        );
        assert_eq!(res.headers()[credentials], "true");

        let res = send(addr, preflight("https://other.example")).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.headers().get(credentials).is_none());
        let res = send(addr, get("https://other.example")).await;
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://other.example"
        );
        assert!(res.headers().get(credentials).is_none());
        handle.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn without_configuration_there_are_no_cors_headers() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let handle = server(None).await;
        let res = send(handle.local_addr(), preflight("https://app.example")).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(res.headers().get("access-control-allow-origin").is_none());
        handle.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}
