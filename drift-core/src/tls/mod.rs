//! TLS set-up: server identities (PEM files or a generated development
//! certificate) and rustls configurations for both ends.
//!
//! Everything here uses the *ring* crypto provider explicitly. rustls is
//! built without aws-lc, so no process-wide default provider exists and every
//! config is built with [`rustls::ServerConfig::builder_with_provider`] /
//! [`rustls::ClientConfig::builder_with_provider`].
//!
//! The server offers ALPN `h2` then `http/1.1` ([`ALPN_H2`], [`ALPN_HTTP11`]);
//! clients choose what they offer through [`client_config`].
//!
//! Errors: files that cannot be read are [`ErrorKind::Io`]; anything wrong
//! with the PEM contents, certificates or keys is [`ErrorKind::Tls`]. Messages
//! name the file they are about.

mod identity;
mod trust;
mod verifier;
mod x509;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use identity::ServerIdentity;
pub use trust::{Trust, client_config};

use crate::error::{Error, ErrorKind};

/// ALPN protocol identifier for HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// ALPN protocol identifier for HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The ring provider, fresh for each config: cheap (a struct of static
/// references) and avoids relying on a process-default provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn tls_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Tls, message)
}

/// A tokio acceptor for `config` (see [`ServerIdentity::server_config`]).
pub fn tls_acceptor(config: Arc<rustls::ServerConfig>) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(config)
}

/// A tokio connector for `config` (see [`client_config`]).
pub fn tls_connector(config: Arc<rustls::ClientConfig>) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(config)
}

#[cfg(test)]
mod tests;
