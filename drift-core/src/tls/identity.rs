//! The server's identity: a certificate chain and its key, from PEM files
//! or generated for development, and the rustls server config made of it.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::InconsistentKeys;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use super::{ALPN_H2, ALPN_HTTP11, provider, tls_error};
use crate::error::{Error, ErrorKind, Result};

/// Common name of the certificate made by [`ServerIdentity::generate_self_signed`].
const SELF_SIGNED_CN: &str = "Drift development certificate";

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
