//! The server-certificate check of every client that trusts certificates
//! (the system's or a `--cacert` file's): webpki's, with the one exception
//! curl and Go make too.
//!
//! webpki refuses a server certificate marked as a CA (`basicConstraints
//! CA:TRUE`) with `CaUsedAsEndEntity`, also when that very certificate is
//! the one the client was told to trust; `openssl req -x509` marks every
//! certificate it makes so unless told otherwise, which made
//! `--cacert cert.pem` fail for a server whose `cert.pem` was made that way.
//! A certificate that is byte for byte one of the trusted ones needs no
//! chain: it is accepted as long as it is valid now, allows server
//! authentication and names the server, the checks webpki would have made of
//! it past its CA mark. Everything else is webpki's verdict, unchanged.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::x509::{self, SERVER_AUTH};

/// webpki's verifier, and the trusted certificates as they were given, to
/// recognise one that a server presents as its own.
#[derive(Debug)]
pub(super) struct TrustedCertVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    trusted: Vec<CertificateDer<'static>>,
}

impl TrustedCertVerifier {
    pub(super) fn new(
        webpki: Arc<WebPkiServerVerifier>,
        trusted: Vec<CertificateDer<'static>>,
    ) -> TrustedCertVerifier {
        TrustedCertVerifier { webpki, trusted }
    }
}

impl ServerCertVerifier for TrustedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verdict {
            Err(e) if is_ca_used_as_end_entity(&e) => {
                if self
                    .trusted
                    .iter()
                    .any(|t| t.as_ref() == end_entity.as_ref())
                {
                    verify_trusted_end_entity(end_entity, server_name, now)
                } else if is_self_issued(end_entity) {
                    // webpki says "CA used as end entity" before it looks
                    // for an issuer; for a self-signed certificate that is
                    // not trusted the useful answer is that it is not.
                    Err(CertificateError::UnknownIssuer.into())
                } else {
                    Err(e)
                }
            }
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.webpki.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// rustls passes webpki's `CaUsedAsEndEntity` on as an "other" error.
fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
        }
        _ => false,
    }
}

fn is_self_issued(cert: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(cert).is_ok_and(|c| c.issuer() == c.subject())
}

/// The checks webpki makes of an end-entity certificate besides its chain
/// and its CA mark, in webpki's order: validity period, extended key usage
/// (server authentication, if the certificate restricts it at all), then
/// the server's name.
fn verify_trusted_end_entity(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    // webpki has parsed this certificate already; failing here would mean
    // it reads DER that yasna does not.
    let fields = x509::read(cert.as_ref()).map_err(|_| CertificateError::BadEncoding)?;
    let not_before = unix_time(fields.not_before);
    let not_after = unix_time(fields.not_after);
    if not_before > not_after {
        return Err(CertificateError::Expired.into());
    }
    if now < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }
        .into());
    }
    if now > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after,
        }
        .into());
    }
    if let Some(purposes) = &fields.extended_key_usage
        && !purposes
            .iter()
            .any(|p| p.components().as_slice() == SERVER_AUTH)
    {
        return Err(CertificateError::InvalidPurpose.into());
    }
    rustls::client::verify_server_name(&ParsedCertificate::try_from(cert)?, server_name)?;
    Ok(ServerCertVerified::assertion())
}

/// Seconds since the Unix epoch as rustls's time (before 1970: 1970).
fn unix_time(seconds: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds.max(0) as u64))
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
