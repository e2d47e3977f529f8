//! Connections: TCP (+ TLS with ALPN h2, or h2c with prior knowledge) and
//! the `h2` client handshake, tuned for receiving fan-out.

use std::path::PathBuf;

use bytes::Bytes;
use drift_core::tls::{ALPN_H2, Trust, client_config, tls_connector};
use drift_core::{Error, ErrorKind, Result};
use h2::client::SendRequest;

/// The `Authorization` value every request carries (`--token`), once set.
pub(crate) static TOKEN: std::sync::OnceLock<http::HeaderValue> = std::sync::OnceLock::new();
use http::Uri;
use tokio::net::TcpStream;

use super::invalid;

/// Per-stream receive window: large enough that a fast server is never
/// stalled by flow control on one subscription.
const STREAM_WINDOW: u32 = 1 << 20;
/// Per-connection receive window.
const CONN_WINDOW: u32 = 32 << 20;

#[derive(Debug, Clone)]
pub(crate) enum TlsChoice {
    Verify(Option<PathBuf>),
    Insecure,
}

impl TlsChoice {
    pub(crate) fn from_args(insecure: bool, cacert: Option<PathBuf>) -> TlsChoice {
        if insecure {
            TlsChoice::Insecure
        } else {
            TlsChoice::Verify(cacert)
        }
    }
}

/// Where to connect and how; shared by every connection to one server.
#[derive(Clone)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
}

impl Endpoint {
    /// From a URL template (its `{topic}` does not matter here).
    pub(crate) fn new(template: &str, tls: &TlsChoice) -> Result<Endpoint> {
        let uri: Uri = template
            .replace("{topic}", "x")
            .parse()
            .map_err(|e| invalid(format!("invalid URL {template:?}: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(invalid(format!(
                    "URL {template:?} must be http:// or https://"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| invalid(format!("URL {template:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let trust = match tls {
                TlsChoice::Insecure => Trust::Insecure,
                TlsChoice::Verify(Some(path)) => Trust::CaFile(path.clone()),
                TlsChoice::Verify(None) => Trust::System,
            };
            let config = client_config(&trust, &[ALPN_H2])?;
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| invalid(format!("invalid TLS server name {host:?}: {e}")))?;
            Some((tls_connector(config), name))
        } else {
            None
        };
        Ok(Endpoint { host, port, tls })
    }

    /// Opens one HTTP/2 connection; its driver runs as a local task.
    pub(crate) async fn connect(&self) -> Result<SendRequest<Bytes>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Connect,
                    format!("cannot connect to {}:{}: {e}", self.host, self.port),
                )
            })?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS handshake: {e}")))?;
                if tls.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "the server did not agree to HTTP/2 (ALPN h2)",
                    ));
                }
                handshake(tls).await
            }
        }
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Bytes>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_concurrent_reset_streams(100_000)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| Error::new(ErrorKind::Protocol, format!("HTTP/2 handshake: {e}")))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// Resolves a URL template for each topic once (at setup).
pub(crate) fn topic_uris(template: &str, topics: &[String]) -> Result<Vec<Uri>> {
    topics
        .iter()
        .map(|topic| {
            template
                .replace("{topic}", topic)
                .parse()
                .map_err(|e| invalid(format!("invalid URL for topic {topic}: {e}")))
        })
        .collect()
}
