//! Transport: TLS with ALPN serving HTTP/2 and HTTP/1.1 on one port, plain
//! HTTP to the TLS port, IPv6 loopback, certificates from files or generated
//! into a directory, and start-up errors (ORIGINAL.md §12 case 6, §2).

mod support;

use drift_core::ErrorKind;
use drift_core::server::{Server, TlsMode};
use drift_core::tls::{ALPN_H2, ALPN_HTTP11, ServerIdentity};
use http::{StatusCode, Version};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// ALPN offered, ALPN agreed, HTTP version served.
type AlpnCase = (&'static [&'static [u8]], Option<&'static [u8]>, Version);

/// One port, two protocols, chosen by ALPN; without ALPN the server still
/// serves HTTP/1.1.
#[tokio::test]
async fn alpn_selects_h2_or_http11_on_one_port() {
    within(async {
        let server = start_server(|_| {}).await;
        let cases: [AlpnCase; 4] = [
            (&[ALPN_H2], Some(ALPN_H2), Version::HTTP_2),
            (&[ALPN_HTTP11], Some(ALPN_HTTP11), Version::HTTP_11),
            (&[ALPN_H2, ALPN_HTTP11], Some(ALPN_H2), Version::HTTP_2),
            (&[], None, Version::HTTP_11),
        ];
        for (offered, agreed, version) in cases {
            let tls = server.tls(offered).await;
            assert_eq!(tls.get_ref().1.alpn_protocol(), agreed, "{offered:?}");
            let mut c = Client::handshake(tls, version == Version::HTTP_2, &server).await;
            let r = c.get("/ping").await;
            assert_eq!(
                (r.status, r.version),
                (StatusCode::OK, version),
                "{offered:?}"
            );
            assert_eq!(&r.body[..], b"pong");
        }
    })
    .await
}

/// Case 6: plain HTTP to the TLS port gets Go's `HTTP/1.0 400` answer, not a
/// hang or a TLS alert.
#[tokio::test]
async fn plain_http_to_the_tls_port_is_http10_400() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut tcp = server.tcp().await;
        tcp.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("Client sent an HTTP request to an HTTPS server."));
    })
    .await
}

/// A client that does not trust the server's certificate cannot connect:
/// TLS is real, not decoration.
#[tokio::test]
async fn untrusted_certificate_fails_the_handshake() {
    within(async {
        let server = start_server(|_| {}).await;
        let other = ServerIdentity::generate_self_signed().unwrap();
        let config = drift_core::tls::client_config(
            &drift_core::tls::Trust::CaPem(other.cert_pem.into_bytes()),
            &[ALPN_H2],
        )
        .unwrap();
        let result = drift_core::tls::tls_connector(config)
            .connect(
                rustls_pki_types::ServerName::from(server.addr.ip()),
                server.tcp().await,
            )
            .await;
        assert!(result.is_err(), "handshake with an untrusted certificate");
        // The server is fine afterwards.
        assert_eq!(server.h2().await.get("/ping").await.status, StatusCode::OK);
    })
    .await
}

/// The generated certificate covers `::1`: a server on the IPv6 loopback
/// serves publish and subscribe over HTTP/2 and HTTP/1.1.
#[tokio::test]
async fn ipv6_loopback_server() {
    within(async {
        let server = start_server_v6(|_| {}).await;
        assert!(server.addr.is_ipv6());
        assert!(server.url.starts_with("https://[::1]:"), "{}", server.url);
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[]).await;
        assert_eq!(sub.status, StatusCode::OK);
        server.h1().await.publish("T", "over v6").await;
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"over v6");
    })
    .await
}

/// `TlsMode::Files`: a certificate and key from PEM files.
#[tokio::test]
async fn certificate_and_key_from_files() {
    within(async {
        let dir = TempDir::new("tls-files");
        let id = ServerIdentity::generate_self_signed().unwrap();
        let (cert, key) = id.write_to_dir(dir.path()).unwrap();
        let server = start_server(|c| c.tls = TlsMode::Files { cert, key }).await;
        assert_eq!(server.ca_pem.as_deref(), Some(id.cert_pem.as_bytes()));
        assert_eq!(server.h2().await.get("/ping").await.status, StatusCode::OK);
    })
    .await
}

/// A generated certificate is written to `cert_dir` (so curl can trust it)
/// and reused by the next start, so clients that trust it keep working.
#[tokio::test]
async fn generated_certificate_is_written_and_reused() {
    within(async {
        let dir = TempDir::new("tls-gen");
        let first = start_server(|c| c.cert_dir = Some(dir.path().to_path_buf())).await;
        let on_disk = std::fs::read(dir.path().join("cert.pem")).expect("cert.pem written");
        assert_eq!(first.ca_pem.as_deref(), Some(&on_disk[..]));
        assert!(dir.path().join("key.pem").exists());
        first.shutdown().await.unwrap();

        let second = start_server(|c| c.cert_dir = Some(dir.path().to_path_buf())).await;
        assert_eq!(second.ca_pem.as_deref(), Some(&on_disk[..]), "reused");
        assert_eq!(second.h2().await.get("/ping").await.status, StatusCode::OK);
    })
    .await
}

/// Start-up failures are errors with a clear message (the original exited 0
/// silently): port in use, unreadable files, a key that does not match.
#[tokio::test]
async fn bind_errors_are_clear() {
    within(async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = Server::bind(base_config(addr, TlsMode::H2c))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert!(
            e.to_string().contains(&format!("cannot listen on {addr}")),
            "{e}"
        );

        let dir = TempDir::new("tls-bad");
        let missing = dir.path().join("missing.pem");
        let any = "127.0.0.1:0".parse().unwrap();
        let e = Server::bind(base_config(
            any,
            TlsMode::Files {
                cert: missing.clone(),
                key: missing.clone(),
            },
        ))
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );

        let a = ServerIdentity::generate_self_signed().unwrap();
        let b = ServerIdentity::generate_self_signed().unwrap();
        let cert = dir.path().join("a-cert.pem");
        let key = dir.path().join("b-key.pem");
        std::fs::write(&cert, &a.cert_pem).unwrap();
        std::fs::write(&key, &b.key_pem).unwrap();
        let e = Server::bind(base_config(any, TlsMode::Files { cert, key }))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls);
        assert!(e.to_string().contains("do not match"), "{e}");
    })
    .await
}
