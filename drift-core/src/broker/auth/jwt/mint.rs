//! Minting HS256 tokens from a secret: `drift token`, for development and
//! the README's examples, and tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

use super::keys::{self, MIN_SECRET_BYTES};
use crate::error::{Error, Result};

/// What a minted token grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MintRequest {
    /// `sub`, if any.
    pub subject: Option<String>,
    /// Topic patterns it may publish to.
    pub publish: Vec<String>,
    /// Topic patterns it may subscribe to.
    pub subscribe: Vec<String>,
    /// Topic patterns it may administer.
    pub admin: Vec<String>,
    /// How long from now it is good; `None`: no `exp` (a server takes it
    /// only with `--jwt-allow-no-exp`).
    pub ttl: Option<Duration>,
    /// `iss`, if any.
    pub issuer: Option<String>,
    /// `aud`, if any.
    pub audience: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    drift: Drift<'a>,
}

/// An empty list is left out: a server reads a missing list as empty.
#[derive(Serialize)]
struct Drift<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    publish: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    subscribe: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    admin: &'a [String],
}

/// An HS256 token for `request`, signed with `secret`.
///
/// # Errors
///
/// [`crate::ErrorKind::InvalidInput`] for a secret shorter than
/// [`MIN_SECRET_BYTES`] or a ttl past what the clock holds.
pub fn mint_hs256(secret: &[u8], request: &MintRequest) -> Result<String> {
    keys::secret(secret)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = match request.ttl {
        Some(ttl) => Some(
            now.checked_add(ttl.as_secs().max(1))
                .ok_or_else(|| Error::invalid("the token's ttl is too long"))?,
        ),
        None => None,
    };
    let claims = Claims {
        sub: request.subject.as_deref(),
        exp,
        iss: request.issuer.as_deref(),
        aud: request.audience.as_deref(),
        drift: Drift {
            publish: &request.publish,
            subscribe: &request.subscribe,
            admin: &request.admin,
        },
    };
    let key = EncodingKey::from_secret(secret)
        .map_err(|e| Error::invalid(format!("the secret is unusable: {e}")))?;
    debug_assert!(secret.len() >= MIN_SECRET_BYTES);
    // No `typ` header and no `iat` claim: nothing checks them, and a client
    // sends its token with every request, which HTTP/2 never indexes, so
    // each byte is carried and decoded again each time.
    let header = Header {
        typ: None,
        ..Header::default()
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| Error::invalid(format!("cannot sign the token: {e}")))
}
