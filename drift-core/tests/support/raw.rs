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
