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

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{DigitallySignedStruct, InconsistentKeys, RootCertStore, SignatureScheme};

use crate::error::{Error, ErrorKind, Result};

/// ALPN protocol identifier for HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// ALPN protocol identifier for HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Common name of the certificate made by [`ServerIdentity::generate_self_signed`].
const SELF_SIGNED_CN: &str = "Drift development certificate";

/// The ring provider, fresh for each config: cheap (a struct of static
/// references) and avoids relying on a process-default provider.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Tls, message)
}

// ===== ServerIdentity =====

/// A server certificate chain and its private key, both PEM-encoded.
///
/// `Debug` shows the certificate but never the key.
#[derive(Clone)]
pub struct ServerIdentity {
    /// The certificate chain in PEM, end-entity certificate first.
    pub cert_pem: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1) in PEM.
    pub key_pem: String,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret and Debug output ends up in logs.
        f.debug_struct("ServerIdentity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl ServerIdentity {
    /// Reads a PEM certificate chain and a PEM private key from files.
    ///
    /// Both files are parsed here so that a wrong path or a swapped pair of
    /// arguments is reported at start-up with the file name, not later as an
    /// anonymous handshake failure. Whether the key matches the certificate
    /// is checked by [`ServerIdentity::server_config`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if a file cannot be read; [`ErrorKind::Tls`] if it
    /// holds no certificate (resp. private key) or malformed PEM.
    pub fn from_files(cert: &Path, key: &Path) -> Result<ServerIdentity> {
        let cert_pem = read_text(cert, "certificate")?;
        let key_pem = read_text(key, "private key")?;
        parse_certs(cert_pem.as_bytes(), &cert.display().to_string())?;
        parse_key(key_pem.as_bytes(), &key.display().to_string())?;
        Ok(ServerIdentity { cert_pem, key_pem })
    }

    /// Generates a self-signed certificate for local development.
    ///
    /// The certificate is valid for the DNS name `localhost` and the IP
    /// addresses `127.0.0.1` and `::1`, has the common name "Drift development
    /// certificate", an ECDSA P-256 key, and rcgen's default validity.
    /// Clients must trust it explicitly (e.g. [`Trust::CaPem`] with
    /// [`ServerIdentity::cert_pem`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if key or certificate generation fails.
    pub fn generate_self_signed() -> Result<ServerIdentity> {
        let gen_error =
            |e: rcgen::Error| tls_error("cannot generate self-signed certificate").with_source(e);
        // rcgen turns names that parse as IP addresses into IP SANs, which
        // is what clients connecting to 127.0.0.1 or ::1 check against.
        let mut params = rcgen::CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .map_err(gen_error)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, SELF_SIGNED_CN);
        let key_pair = rcgen::KeyPair::generate().map_err(gen_error)?;
        let cert = params.self_signed(&key_pair).map_err(gen_error)?;
        Ok(ServerIdentity {
            cert_pem: cert.pem(),
            key_pem: key_pair.serialize_pem(),
        })
    }

    /// SHA-256 fingerprint of the end-entity certificate (the first one in
    /// [`ServerIdentity::cert_pem`]), as uppercase hex pairs separated by
    /// `:`, the format `openssl x509 -fingerprint -sha256` prints.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if `cert_pem` holds no certificate.
    pub fn fingerprint_sha256(&self) -> Result<String> {
        let certs = parse_certs(self.cert_pem.as_bytes(), "certificate PEM")?;
        let digest = ring::digest::digest(&ring::digest::SHA256, certs[0].as_ref());
        let pairs: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        Ok(pairs.join(":"))
    }

    /// Writes `cert.pem` and `key.pem` into `dir` (created if missing) and
    /// returns their paths, certificate first.
    ///
    /// On Unix the key file gets mode 0600, also when it already existed, so
    /// a generated key is not left readable by other users.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the directory or a file cannot be written.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create directory {}", dir.display()),
            )
            .with_source(e)
        })?;
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        let write_error = |path: &Path, e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("cannot write {}", path.display())).with_source(e)
        };
        fs::write(&cert_path, &self.cert_pem).map_err(|e| write_error(&cert_path, e))?;
        write_private(&key_path, self.key_pem.as_bytes()).map_err(|e| write_error(&key_path, e))?;
        Ok((cert_path, key_path))
    }

    /// Builds a rustls server config from this identity: TLS 1.2 and 1.3
    /// with the ring provider, no client authentication, ALPN `h2` then
    /// `http/1.1`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if the certificate or key cannot be parsed or is
    /// unsupported, or if the key does not belong to the certificate
    /// (message "certificate and private key do not match").
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let certs = parse_certs(self.cert_pem.as_bytes(), "certificate PEM")?;
        let key = parse_key(self.key_pem.as_bytes(), "private key PEM")?;
        let provider = provider();

        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| tls_error("unsupported private key").with_source(e))?;
        let certified = CertifiedKey::new(certs, signing_key);
        // Checked here rather than left to `with_single_cert`: older rustls
        // 0.23 releases did not compare the key with the certificate, and a
        // mismatch would otherwise only show up as failing handshakes.
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
                return Err(tls_error("certificate and private key do not match"));
            }
            // The ring provider can always derive the public key, so this is
            // not expected; rustls itself accepts such keys, and so do we.
            Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
            Err(e) => return Err(tls_error("invalid certificate").with_source(e)),
        }

        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("cannot build TLS server config").with_source(e))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
        Ok(Arc::new(config))
    }
}

/// Reads a whole PEM file as text; `what` names the file's role in the error.
fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {what} file {}", path.display()),
        )
        .with_source(e)
    })?;
    String::from_utf8(bytes).map_err(|_| {
        tls_error(format!(
            "{what} file {} is not PEM (not text)",
            path.display()
        ))
    })
}

/// All certificates in `pem`; at least one. `origin` names the source in errors.
fn parse_certs(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("invalid PEM in {origin}")).with_source(e))?;
    if certs.is_empty() {
        return Err(tls_error(format!("no certificate found in {origin}")));
    }
    Ok(certs)
}

/// The first private key in `pem`. `origin` names the source in errors.
fn parse_key(pem: &[u8], origin: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            tls_error(format!("no private key found in {origin}"))
        }
        e => tls_error(format!("invalid PEM in {origin}")).with_source(e),
    })
}

/// Writes a secret file, readable only by its owner on Unix.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // `mode` only applies to newly created files; tighten an existing one
    // before the secret goes in.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

// ===== client side =====

/// Which server certificates a client accepts.
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
    let verify_algorithms = provider.signature_verification_algorithms;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("cannot build TLS client config").with_source(e))?;

    let mut config = match trust {
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let pem = fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot read CA file {}", path.display()),
                )
                .with_source(e)
            })?;
            builder
                .with_root_certificates(pem_roots(&pem, &path.display().to_string())?)
                .with_no_client_auth()
        }
        Trust::CaPem(pem) => builder
            .with_root_certificates(pem_roots(pem, "CA PEM")?)
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                algorithms: verify_algorithms,
            }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The platform's roots. Individual unreadable or unparsable certificates
/// are skipped (system stores routinely contain a few); none at all is an
/// error because every connection would then fail.
fn system_roots() -> Result<RootCertStore> {
    let loaded = rustls_native_certs::load_native_certs();
    for e in &loaded.errors {
        tracing::debug!("skipping system root certificates: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    if ignored > 0 {
        tracing::debug!("skipped {ignored} unparsable system root certificates");
    }
    if added == 0 {
        return Err(tls_error("no system root certificates found"));
    }
    Ok(roots)
}

/// Roots from PEM data. Malformed PEM is an error; certificates that webpki
/// cannot use as trust anchors are skipped with a warning (bundles may hold
/// some), but there must be at least one usable one.
fn pem_roots(pem: &[u8], origin: &str) -> Result<RootCertStore> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("invalid PEM in {origin}")).with_source(e))?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if ignored > 0 {
        tracing::warn!("skipped {ignored} unusable CA certificates in {origin}");
    }
    if added == 0 {
        return Err(tls_error(format!("no CA certificate found in {origin}")));
    }
    Ok(roots)
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

// ===== tokio helpers =====

/// A tokio acceptor for `config` (see [`ServerIdentity::server_config`]).
pub fn tls_acceptor(config: Arc<rustls::ServerConfig>) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(config)
}

/// A tokio connector for `config` (see [`client_config`]).
pub fn tls_connector(config: Arc<rustls::ClientConfig>) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(config)
}

#[cfg(test)]
mod tests {
    use super::*;
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
            cert_pem: "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n"
                .to_owned(),
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
    async fn spawn_server(id: &ServerIdentity) -> SocketAddr {
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
    async fn connect(
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
}
