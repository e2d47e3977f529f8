//! What to change on the command line, after the errors a newcomer meets
//! first: an `https://` URL for a cleartext server, and a certificate the
//! system does not trust (`drift serve`'s own, self-signed).

use drift_core::{Error, ErrorKind};
use rustls::{CertificateError, Error as TlsError};

/// A hint for `e`, to print after it on the same line, if there is one.
pub fn for_error(e: &Error) -> Option<&'static str> {
    if e.kind() != ErrorKind::Tls {
        return None;
    }
    match tls_cause(e)? {
        // What came back is not TLS at all: most likely a server started
        // with --h2c, which speaks HTTP/2 in the clear.
        TlsError::InvalidMessage(_) => {
            Some("is it a cleartext (--h2c) server? then use an http:// URL")
        }
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => Some(
            "the server's certificate is not signed by a CA this system trusts: \
             pass --cacert FILE, e.g. --cacert .drift/cert.pem for drift serve's generated one",
        ),
        _ => None,
    }
}

/// The rustls error behind `e`. The TLS stream wraps it in an
/// `io::Error`, whose `source()` skips it, so each cause is also looked
/// into.
fn tls_cause(e: &Error) -> Option<&TlsError> {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<TlsError>() {
            return Some(tls);
        }
        if let Some(tls) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<TlsError>())
        {
            return Some(tls);
        }
        cause = c.source();
    }
    None
}
