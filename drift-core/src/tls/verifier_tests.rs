//! A server certificate that is itself a trusted certificate marked as a CA
//! (what `openssl req -x509` makes by default), over real handshakes on
//! loopback: accepted, and still refused for a wrong name, outside its
//! validity period or without server authentication among its purposes.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::CertificateError;
use rustls::pki_types::pem::PemObject;

use super::super::tests::{connect, spawn_server};
use super::super::x509;
use crate::tls::{ALPN_H2, ServerIdentity, Trust};

/// A self-signed certificate for localhost and 127.0.0.1, marked as a CA,
/// after `tweak`.
fn ca_identity(tweak: impl FnOnce(&mut CertificateParams)) -> ServerIdentity {
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    tweak(&mut params);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    ServerIdentity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn trusting(id: &ServerIdentity) -> Trust {
    Trust::CaPem(id.cert_pem.clone().into_bytes())
}

/// The certificate error a failed handshake carries.
fn certificate_error(err: &std::io::Error) -> CertificateError {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(e)) => e.clone(),
        _ => panic!("not a certificate error: {err}"),
    }
}

async fn within<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), body)
        .await
        .expect("handshake test timed out")
}

/// webpki alone refuses this with `CaUsedAsEndEntity`; curl and Go accept it.
#[tokio::test]
async fn trusted_ca_marked_certificate_is_accepted_for_its_names() {
    within(async {
        let id = ca_identity(|_| {});
        let addr = spawn_server(&id).await;
        for name in ["localhost", "127.0.0.1"] {
            let alpn = connect(addr, name, &trusting(&id)).await.unwrap();
            assert_eq!(alpn.as_deref(), Some(ALPN_H2), "{name}");
        }
        let err = connect(addr, "example.com", &trusting(&id))
            .await
            .unwrap_err();
        assert!(
            matches!(
                certificate_error(&err),
                CertificateError::NotValidForNameContext { .. }
            ),
            "{err}"
        );
    })
    .await
}

/// Another self-signed CA certificate is still not trusted, and says so as
/// any untrusted self-signed certificate does.
#[tokio::test]
async fn untrusted_ca_marked_certificate_is_an_unknown_issuer() {
    within(async {
        let id = ca_identity(|_| {});
        let addr = spawn_server(&id).await;
        let other = ca_identity(|_| {});
        let err = connect(addr, "localhost", &trusting(&other))
            .await
            .unwrap_err();
        assert_eq!(certificate_error(&err), CertificateError::UnknownIssuer);
    })
    .await
}

#[tokio::test]
async fn trusted_ca_marked_certificate_outside_its_validity_is_refused() {
    within(async {
        let expired = ca_identity(|p| {
            p.not_before = rcgen::date_time_ymd(2001, 1, 1);
            p.not_after = rcgen::date_time_ymd(2002, 1, 1);
        });
        let addr = spawn_server(&expired).await;
        let err = connect(addr, "localhost", &trusting(&expired))
            .await
            .unwrap_err();
        assert!(
            matches!(
                certificate_error(&err),
                CertificateError::ExpiredContext { .. }
            ),
            "{err}"
        );

        // GeneralizedTime (years from 2050) is read as well as UTCTime.
        let future = ca_identity(|p| {
            p.not_before = rcgen::date_time_ymd(2090, 1, 1);
            p.not_after = rcgen::date_time_ymd(2091, 1, 1);
        });
        let addr = spawn_server(&future).await;
        let err = connect(addr, "localhost", &trusting(&future))
            .await
            .unwrap_err();
        assert!(
            matches!(
                certificate_error(&err),
                CertificateError::NotValidYetContext { .. }
            ),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn trusted_ca_marked_certificate_must_allow_server_authentication() {
    within(async {
        let client_only = ca_identity(|p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        });
        let addr = spawn_server(&client_only).await;
        let err = connect(addr, "localhost", &trusting(&client_only))
            .await
            .unwrap_err();
        assert_eq!(certificate_error(&err), CertificateError::InvalidPurpose);

        let server = ca_identity(|p| {
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ];
        });
        let addr = spawn_server(&server).await;
        connect(addr, "localhost", &trusting(&server))
            .await
            .unwrap();
    })
    .await
}

/// The fields read are the ones rcgen wrote.
#[test]
fn x509_fields_are_read() {
    let id = ca_identity(|p| {
        p.not_before = rcgen::date_time_ymd(2020, 2, 3);
        p.not_after = rcgen::date_time_ymd(2060, 4, 5);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let der = rustls::pki_types::CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).unwrap();
    let fields = x509::read(der.as_ref()).unwrap();
    assert_eq!(fields.not_before, 1_580_688_000);
    assert_eq!(fields.not_after, 2_848_348_800);
    let ekus: Vec<Vec<u64>> = fields
        .extended_key_usage
        .unwrap()
        .iter()
        .map(|oid| oid.components().clone())
        .collect();
    assert_eq!(ekus, vec![x509::SERVER_AUTH.to_vec()]);

    let plain = ServerIdentity::generate_self_signed().unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(plain.cert_pem.as_bytes()).unwrap();
    assert_eq!(x509::read(der.as_ref()).unwrap().extended_key_usage, None);
}

/// The validity check of the exception itself (webpki checks a certificate's
/// validity before its CA mark, so a handshake does not get this far).
#[test]
fn trusted_certificate_is_checked_against_the_time() {
    let id = ca_identity(|p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2030, 1, 1);
    });
    let der = rustls::pki_types::CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let at = |secs| rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(secs));
    // 2025, 2019 and 2031.
    super::verify_trusted_end_entity(&der, &name, at(1_735_689_600)).unwrap();
    assert!(matches!(
        super::verify_trusted_end_entity(&der, &name, at(1_546_300_800)),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext { .. }
        ))
    ));
    assert!(matches!(
        super::verify_trusted_end_entity(&der, &name, at(1_924_992_000)),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext { .. }
        ))
    ));
}
