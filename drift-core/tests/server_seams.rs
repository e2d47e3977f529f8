//! The server's seams: serving a listener the caller bound, and serving one
//! connection over any byte stream (here `tokio::io::duplex`, no TCP), as
//! an accepted connection is served: HTTP/2 and HTTP/1.1 both.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use drift_core::client::Client;
use drift_core::server::{Server, ServerConfig, TlsMode};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

const LIMIT: Duration = Duration::from_secs(30);

fn h2c() -> ServerConfig {
    ServerConfig {
        tls: TlsMode::H2c,
        ..ServerConfig::embedded()
    }
}

fn request(method: Method, uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "duplex")
        .header("accept", "text/event-stream")
        .header("x-history-length", "1")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn serves_a_listener_the_caller_bound() {
    tokio::time::timeout(LIMIT, async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let mut config = h2c();
        config.listen = "127.0.0.1:1".parse().unwrap(); // not used
        let server = Server::from_listener(listener, config).expect("from_listener");
        assert_eq!(server.local_addr(), addr);
        let handle = server.spawn();
        let client = Client::builder(handle.url()).build().unwrap();
        let published = client.publish("given", "x").await.expect("publish");
        assert_eq!(published.id.seq, 1);
        assert!(client.exists("given").await.unwrap());
        handle.shutdown().await.unwrap();
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn serves_one_connection_over_any_stream_in_both_protocols() {
    tokio::time::timeout(LIMIT, async {
        let server = Arc::new(Server::bind(h2c()).await.unwrap());

        // HTTP/2 with prior knowledge.
        let (client_io, server_io) = tokio::io::duplex(64 << 10);
        let serving = tokio::spawn({
            let server = server.clone();
            async move { server.serve_connection(server_io, None).await }
        });
        let (mut h2, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(client_io))
                .await
                .expect("h2 handshake over the duplex");
        let client_conn = tokio::spawn(conn);
        let answer = h2
            .send_request(request(Method::POST, "http://duplex/v1/t/d", "hello"))
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()["drift-seq"], "1");
        let answer = h2
            .send_request(request(Method::GET, "http://duplex/v1/t/d", ""))
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let mut body = answer.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let text = String::from_utf8_lossy(&first).into_owned();
        assert!(text.contains("data: hello"), "{text}");
        // hyper's HTTP/2 client keeps the transport in a task of its own
        // after its last sender is gone, so this connection is not waited
        // for to close (the HTTP/1.1 one below is).
        drop((body, h2));
        client_conn.abort();
        serving.abort();

        // HTTP/1.1 on the same server and broker.
        let (client_io, server_io) = tokio::io::duplex(64 << 10);
        let serving = tokio::spawn({
            let server = server.clone();
            async move {
                server
                    .serve_connection(server_io, "127.0.0.1:9".parse().ok())
                    .await
            }
        });
        let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io))
            .await
            .expect("HTTP/1.1 over the duplex");
        let client_conn = tokio::spawn(conn);
        let answer = h1
            .send_request(request(Method::POST, "/v1/t/d", "again"))
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()["drift-seq"], "2", "the same broker");
        answer
            .into_body()
            .collect()
            .await
            .expect("the answer's body");
        // Without a sender the client closes the connection.
        drop(h1);
        client_conn
            .await
            .unwrap()
            .expect("the client closed cleanly");
        let served = serving.await.unwrap();
        served.expect("the HTTP/1.1 connection ended cleanly");
    })
    .await
    .expect("timed out");
}
