//! The client's side: which server certificates it accepts, and the rustls
//! client config made of that.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::verifier::TrustedCertVerifier;
use super::{provider, tls_error};
use crate::error::{Error, ErrorKind, Result};

/// Which server certificates a client accepts.
///
/// With `System`, `CaFile` and `CaPem` a server certificate must chain to one
/// of the trusted certificates (webpki's rules), or be one of them byte for
/// byte: such a certificate is accepted also when it is marked as a CA
/// (`basicConstraints CA:TRUE`, what `openssl req -x509` makes by default),
/// as curl and Go accept it. Its validity period, key usage and names are
/// checked either way.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The operating system's root certificates.
    System,
    /// Only the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// Only the CA certificates in this PEM data (e.g. a self-signed server
    /// certificate).
    CaPem(Vec<u8>),
    /// Any certificate for any name. **For development only**: it gives no
    /// protection against an active attacker. Handshake signatures are still
    /// verified, so the peer must at least hold the key of the certificate it
    /// presents.
    Insecure,
}

/// Builds a rustls client config: TLS 1.2 and 1.3 with the ring provider,
/// server certificates checked according to `trust`, no client certificate,
/// and `alpn` offered in the given order (empty: no ALPN).
///
/// # Errors
///
/// [`ErrorKind::Io`] if a [`Trust::CaFile`] cannot be read; [`ErrorKind::Tls`]
/// if no usable root certificate is found or the PEM is malformed.
pub fn client_config(trust: &Trust, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::System => trusted_verifier(system_certs()?, &provider)?,
        Trust::CaFile(path) => {
            let pem = fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot read CA file {}", path.display()),
                )
                .with_source(e)
            })?;
            trusted_verifier(pem_certs(&pem, &path.display().to_string())?, &provider)?
        }
        Trust::CaPem(pem) => trusted_verifier(pem_certs(pem, "CA PEM")?, &provider)?,
        Trust::Insecure => Arc::new(AcceptAnyServerCert {
            algorithms: provider.signature_verification_algorithms,
        }),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("cannot build TLS client config").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// webpki's verification against `trusted`, which also accepts a server
/// certificate that is itself one of them ([`TrustedCertVerifier`]).
fn trusted_verifier(
    trusted: Trusted,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(trusted.roots), Arc::clone(provider))
            .build()
            .map_err(|e| tls_error("cannot build TLS certificate verifier").with_source(e))?;
    Ok(Arc::new(TrustedCertVerifier::new(webpki, trusted.certs)))
}

/// Trusted certificates: as roots for webpki, and as given, for
/// [`TrustedCertVerifier`] to recognise one that a server presents itself.
struct Trusted {
    roots: RootCertStore,
    certs: Vec<CertificateDer<'static>>,
}

/// The platform's roots. Individual unreadable or unparsable certificates
/// are skipped (system stores routinely contain a few); none at all is an
/// error because every connection would then fail.
fn system_certs() -> Result<Trusted> {
    let loaded = rustls_native_certs::load_native_certs();
    for e in &loaded.errors {
        tracing::debug!("skipping system root certificates: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs.iter().cloned());
    if ignored > 0 {
        tracing::debug!("skipped {ignored} unparsable system root certificates");
    }
    if added == 0 {
        return Err(tls_error("no system root certificates found"));
    }
    Ok(Trusted {
        roots,
        certs: loaded.certs,
    })
}

/// Roots from PEM data. Malformed PEM is an error; certificates that webpki
/// cannot use as trust anchors are skipped with a warning (bundles may hold
/// some), but there must be at least one usable one.
fn pem_certs(pem: &[u8], origin: &str) -> Result<Trusted> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("invalid PEM in {origin}")).with_source(e))?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
    if ignored > 0 {
        tracing::warn!("skipped {ignored} unusable CA certificates in {origin}");
    }
    if added == 0 {
        return Err(tls_error(format!("no CA certificate found in {origin}")));
    }
    Ok(Trusted { roots, certs })
}

/// Verifier behind [`Trust::Insecure`]: accepts any server certificate, but
/// still checks handshake signatures so that the TLS session is at least
/// bound to the key of the presented certificate.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
