//! Tests of identities and trust, including real handshakes on loopback.

use std::fs;
use std::path::PathBuf;

use rustls::pki_types::ServerName;

use super::*;
use crate::error::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("drift-tls-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn generated_identity_builds_server_config() {
    let id = ServerIdentity::generate_self_signed().unwrap();
    let config = id.server_config().unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
    );
}

#[test]
fn debug_hides_key() {
    let id = ServerIdentity::generate_self_signed().unwrap();
    let debug = format!("{id:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(debug.contains("redacted"));
}

#[test]
fn fingerprint_format() {
    let id = ServerIdentity::generate_self_signed().unwrap();
    let fp = id.fingerprint_sha256().unwrap();
    let pairs: Vec<&str> = fp.split(':').collect();
    assert_eq!(pairs.len(), 32, "{fp}");
    for pair in pairs {
        assert_eq!(pair.len(), 2, "{fp}");
        assert!(
            pair.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
            "{fp}"
        );
    }
    // Deterministic for the same certificate, different for another.
    assert_eq!(fp, id.fingerprint_sha256().unwrap());
    let other = ServerIdentity::generate_self_signed().unwrap();
    assert_ne!(fp, other.fingerprint_sha256().unwrap());
}

#[test]
fn from_files_missing_file_is_io_error_naming_path() {
    let dir = TempDir::new("missing");
    let cert = dir.0.join("nope-cert.pem");
    let key = dir.0.join("nope-key.pem");
    let err = ServerIdentity::from_files(&cert, &key).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains(&cert.display().to_string()), "{err}");
}

#[test]
fn from_files_without_cert_or_key_is_tls_error() {
    let dir = TempDir::new("empty");
    let id = ServerIdentity::generate_self_signed().unwrap();
    let (cert, key) = id.write_to_dir(&dir.0).unwrap();

    // Swapped arguments: the key file holds no certificate.
    let err = ServerIdentity::from_files(&key, &cert).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert_eq!(
        err.message(),
        format!("no certificate found in {}", key.display())
    );

    let only_cert = dir.0.join("only-cert.pem");
    fs::write(&only_cert, &id.cert_pem).unwrap();
    let err = ServerIdentity::from_files(&cert, &only_cert).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert_eq!(
        err.message(),
        format!("no private key found in {}", only_cert.display())
    );
}

#[test]
fn mismatched_key_is_tls_error() {
    let a = ServerIdentity::generate_self_signed().unwrap();
    let b = ServerIdentity::generate_self_signed().unwrap();
    let mixed = ServerIdentity {
        cert_pem: a.cert_pem,
        key_pem: b.key_pem,
    };
    let err = mixed.server_config().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert_eq!(err.message(), "certificate and private key do not match");
}

#[test]
fn garbage_pem_is_tls_error() {
    let good = ServerIdentity::generate_self_signed().unwrap();
    let garbage = ServerIdentity {
        cert_pem: "this is not PEM".to_owned(),
        key_pem: good.key_pem.clone(),
    };
    assert_eq!(garbage.server_config().unwrap_err().kind(), ErrorKind::Tls);

    let bad_base64 = ServerIdentity {
        cert_pem: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_owned(),
        key_pem: good.key_pem.clone(),
    };
    assert_eq!(
        bad_base64.server_config().unwrap_err().kind(),
        ErrorKind::Tls
    );

    // Valid base64, but not a certificate.
    let bad_der = ServerIdentity {
        cert_pem: "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n".to_owned(),
        key_pem: good.key_pem.clone(),
    };
    assert_eq!(bad_der.server_config().unwrap_err().kind(), ErrorKind::Tls);

    let bad_key = ServerIdentity {
        cert_pem: good.cert_pem,
        key_pem: "garbage".to_owned(),
    };
    let err = bad_key.server_config().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert!(err.message().contains("no private key found"), "{err}");
}

#[test]
fn client_config_with_ca_pem() {
    let id = ServerIdentity::generate_self_signed().unwrap();
    let config = client_config(&Trust::CaPem(id.cert_pem.into_bytes()), &[ALPN_H2]).unwrap();
    assert_eq!(config.alpn_protocols, vec![ALPN_H2.to_vec()]);
}

#[test]
fn client_config_ca_pem_without_certs_is_error() {
    let err = client_config(&Trust::CaPem(b"no certificates here".to_vec()), &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);

    // A key is PEM, but not a CA certificate.
    let id = ServerIdentity::generate_self_signed().unwrap();
    let err = client_config(&Trust::CaPem(id.key_pem.into_bytes()), &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
}

#[test]
fn client_config_ca_file() {
    let dir = TempDir::new("cafile");
    let id = ServerIdentity::generate_self_signed().unwrap();
    let (cert, _) = id.write_to_dir(&dir.0).unwrap();
    client_config(&Trust::CaFile(cert), &[ALPN_H2, ALPN_HTTP11]).unwrap();

    let missing = dir.0.join("missing.pem");
    let err = client_config(&Trust::CaFile(missing.clone()), &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains(&missing.display().to_string()));
}

#[test]
fn client_config_insecure() {
    client_config(&Trust::Insecure, &[ALPN_H2]).unwrap();
}

#[test]
fn write_to_dir_round_trips() {
    let dir = TempDir::new("roundtrip");
    let id = ServerIdentity::generate_self_signed().unwrap();
    // A nested directory checks that missing parents are created.
    let (cert, key) = id.write_to_dir(&dir.0.join("nested")).unwrap();
    assert_eq!(cert.file_name().unwrap(), "cert.pem");
    assert_eq!(key.file_name().unwrap(), "key.pem");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let back = ServerIdentity::from_files(&cert, &key).unwrap();
    assert_eq!(back.cert_pem, id.cert_pem);
    assert_eq!(back.key_pem, id.key_pem);
    back.server_config().unwrap();
}

/// Serves TLS handshakes on 127.0.0.1 with `id` until the test ends;
/// each accepted connection echoes one byte so the client can tell the
/// session works end to end.
pub(super) async fn spawn_server(id: &ServerIdentity) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls_acceptor(id.server_config().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Failed handshakes are expected in the untrusted case.
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut byte = [0u8; 1];
                    if tls.read_exact(&mut byte).await.is_ok() {
                        let _ = tls.write_all(&byte).await;
                        let _ = tls.flush().await;
                    }
                }
            });
        }
    });
    addr
}

/// Connects with `trust` to `addr` as `name`; returns the negotiated ALPN.
pub(super) async fn connect(
    addr: SocketAddr,
    name: &str,
    trust: &Trust,
) -> std::io::Result<Option<Vec<u8>>> {
    let connector = tls_connector(client_config(trust, &[ALPN_H2]).unwrap());
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = connector.connect(server_name, tcp).await?;
    tls.write_all(b"x").await?;
    tls.flush().await?;
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte).await?;
    assert_eq!(&byte, b"x");
    Ok(tls.get_ref().1.alpn_protocol().map(|p| p.to_vec()))
}

/// The client refused the server's certificate (rather than, say, the
/// connection failing for an unrelated reason).
fn assert_invalid_certificate(err: &std::io::Error) {
    let tls = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    assert!(
        matches!(tls, Some(rustls::Error::InvalidCertificate(_))),
        "{err}"
    );
}

#[tokio::test]
async fn handshake_negotiates_h2_and_rejects_untrusted() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let id = ServerIdentity::generate_self_signed().unwrap();
        let addr = spawn_server(&id).await;

        let trusted = Trust::CaPem(id.cert_pem.clone().into_bytes());
        let alpn = connect(addr, "localhost", &trusted).await.unwrap();
        assert_eq!(alpn.as_deref(), Some(ALPN_H2));

        let other = ServerIdentity::generate_self_signed().unwrap();
        let untrusted = Trust::CaPem(other.cert_pem.into_bytes());
        let err = connect(addr, "localhost", &untrusted).await.unwrap_err();
        assert_invalid_certificate(&err);
    })
    .await
    .expect("handshake test timed out");
}

#[tokio::test]
async fn handshake_with_ip_server_name() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let id = ServerIdentity::generate_self_signed().unwrap();
        let addr = spawn_server(&id).await;
        let trusted = Trust::CaPem(id.cert_pem.clone().into_bytes());
        let alpn = connect(addr, "127.0.0.1", &trusted).await.unwrap();
        assert_eq!(alpn.as_deref(), Some(ALPN_H2));

        // A name the certificate does not cover is rejected.
        let err = connect(addr, "example.com", &trusted).await.unwrap_err();
        assert_invalid_certificate(&err);

        // Insecure accepts it anyway, and still completes the session.
        let alpn = connect(addr, "example.com", &Trust::Insecure)
            .await
            .unwrap();
        assert_eq!(alpn.as_deref(), Some(ALPN_H2));
    })
    .await
    .expect("handshake test timed out");
}
