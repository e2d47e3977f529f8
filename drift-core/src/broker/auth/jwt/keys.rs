//! The keys a JWT may be signed with, and which algorithm each accepts: the
//! HS256 secret only HS256, an RSA public key only RS256, a P-256 key only
//! ES256. A token is only ever checked with keys of its header's algorithm,
//! so an HS256 token "signed" with a public key's bytes as the secret
//! (algorithm confusion) meets no key that would take it.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::{Error, Result};

/// The fewest bytes of an HS256 secret: RFC 7518 §3.2 asks for a key at
/// least as long as the hash (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// One verification key and the one algorithm it verifies.
pub(super) struct Key {
    pub(super) algorithm: Algorithm,
    pub(super) key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        write!(f, "Key({:?})", self.algorithm)
    }
}

/// The HS256 key of a secret.
pub(super) fn secret(secret: &[u8]) -> Result<Key> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(Error::invalid(format!(
            "the JWT secret has {} bytes; HS256 needs at least {MIN_SECRET_BYTES}",
            secret.len()
        )));
    }
    let key = DecodingKey::from_secret(secret)
        .map_err(|e| Error::invalid(format!("the JWT secret is unusable: {e}")))?;
    Ok(Key {
        algorithm: Algorithm::HS256,
        key,
    })
}

/// The key of a PEM public key: RSA (RS256) or EC P-256 (ES256).
pub(super) fn public(pem: &[u8], name: &str) -> Result<Key> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok(Key {
            algorithm: Algorithm::RS256,
            key,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok(Key {
            algorithm: Algorithm::ES256,
            key,
        });
    }
    Err(Error::invalid(format!(
        "{name} holds no PEM RSA or EC (P-256) public key"
    )))
}

/// The secret in `path`, without the line end an editor or `echo` leaves.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).map_err(|e| {
        Error::invalid(format!(
            "cannot read the JWT secret file {}: {e}",
            path.display()
        ))
    })?;
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(bytes)
}

/// The PEM text of a public key file.
pub(super) fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::invalid(format!(
            "cannot read the JWT public key file {}: {e}",
            path.display()
        ))
    })
}
