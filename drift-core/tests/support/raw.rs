//! Byte streams below HTTP: the transport trait, a TLS handshake trusting a
//! test certificate, and reading raw bytes up to a marker.

use std::net::IpAddr;

use drift_core::tls::{Trust, client_config, tls_connector};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A bidirectional byte stream (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Completes a TLS handshake to `ip` trusting only `ca_pem`.
pub async fn tls_connect(
    tcp: TcpStream,
    ip: IpAddr,
    ca_pem: Vec<u8>,
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    let config = client_config(&Trust::CaPem(ca_pem), alpn).expect("client TLS config");
    tls_connector(config)
        .connect(ServerName::from(ip), tcp)
        .await
        .expect("TLS handshake")
}

/// Reads from `io` into `buf` until `needle` appears; returns the index just
/// past it. Panics if the stream ends first.
pub async fn read_until<R: AsyncRead + Unpin + ?Sized>(
    io: &mut R,
    buf: &mut Vec<u8>,
    needle: &[u8],
) -> usize {
    loop {
        if let Some(i) = find(buf, needle) {
            return i + needle.len();
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = io.read(&mut chunk).await.expect("read");
        if n == 0 {
            panic!(
                "stream ended before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(buf)
            );
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `METHOD path` with `body` over a new plain HTTP/1.1 connection to
/// `addr`, written by hand (no client library between the test and the
/// server): the status and the whole answer, head and body.
pub async fn http1(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, answer)
}
