//! The JWT authenticator: a bearer token is a JWS-signed JWT (HS256 with a
//! shared secret; RS256 or ES256 with PEM public keys, several at once so
//! that keys can be rotated) whose claims are its grant:
//!
//! ```json
//! {"sub": "ann", "exp": 1767225600, "nbf": 1767222000,
//!  "drift": {"publish": ["news.*"], "subscribe": ["*"], "admin": []}}
//! ```
//!
//! `exp` is required (unless [`JwtConfig::allow_no_exp`]), `nbf` is
//! honoured, `iss` and `aud` must match when the server names them. There
//! is no leeway: a token is good from `nbf` to `exp` by the server's clock,
//! and a subscription made with it ends at `exp`. Unsigned tokens (`alg:
//! none`), other algorithms and a token checked with a key of another
//! algorithm are refused.

mod cache;
mod keys;
mod memo;
mod mint;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind as JwtError};
use serde::Deserialize;

pub use keys::{MIN_SECRET_BYTES, read_secret_file};
pub use mint::{MintRequest, mint_hs256};

use super::{Access, Authenticator, Grant, TopicPatterns};
use crate::error::{Error, ErrorKind, Result};
use cache::TokenCache;
use keys::Key;

/// How a server checks JWTs, as the options give it: files, not keys, so
/// that a configuration can be printed and compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtConfig {
    /// A file holding the HS256 secret (its trailing line end ignored).
    pub secret_file: Option<PathBuf>,
    /// PEM files of RSA (RS256) or EC P-256 (ES256) public keys; a token
    /// signed by any of them is good.
    pub public_key_files: Vec<PathBuf>,
    /// The `iss` a token must have, if any.
    pub issuer: Option<String>,
    /// An `aud` a token must have, if any.
    pub audience: Option<String>,
    /// Accept tokens without `exp` (they never expire).
    pub allow_no_exp: bool,
    /// Topics a caller without a token may subscribe to (none by default).
    pub anonymous: TopicPatterns,
}

impl JwtConfig {
    /// The anonymous patterns an option's list means: `subscribe` alone is
    /// every topic, `none` alone (or nothing) no topic, anything else the
    /// patterns themselves.
    pub fn anonymous_patterns<S: AsRef<str>>(list: &[S]) -> TopicPatterns {
        match list {
            [] => TopicPatterns::none(),
            [word] if word.as_ref() == "subscribe" => TopicPatterns::any(),
            [word] if word.as_ref() == "none" => TopicPatterns::none(),
            _ => TopicPatterns::new(list),
        }
    }

    /// Whether any key is configured, so that the server authenticates.
    pub fn is_enabled(&self) -> bool {
        self.secret_file.is_some() || !self.public_key_files.is_empty()
    }
}

/// Verifies bearer JWTs and keeps the verified ones (see the module).
#[derive(Debug)]
pub struct JwtAuthenticator {
    /// Tells this authenticator's entries in a thread's memo from another's.
    id: u64,
    keys: Vec<Key>,
    issuer: Option<String>,
    audience: Option<String>,
    allow_no_exp: bool,
    anonymous: Arc<Grant>,
    cache: TokenCache,
}

/// The claims Drift reads; any others are ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
    #[serde(default)]
    drift: DriftClaim,
}

/// The `drift` claim: the grant's topic patterns.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DriftClaim {
    publish: Vec<String>,
    subscribe: Vec<String>,
    admin: Vec<String>,
}

/// The token's header as Drift reads it before any check.
#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: Option<String>,
}

impl JwtAuthenticator {
    /// Reads the configured key files.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] naming the file that cannot be read or
    /// holds no usable key, or when no key is configured.
    pub fn from_config(config: &JwtConfig) -> Result<JwtAuthenticator> {
        let secret = match &config.secret_file {
            Some(path) => Some(read_secret_file(path)?),
            None => None,
        };
        let mut pems = Vec::new();
        for path in &config.public_key_files {
            pems.push((keys::read_key_file(path)?, path.display().to_string()));
        }
        Self::new(secret.as_deref(), &pems, config)
    }

    /// An authenticator over keys in memory: the secret, and PEM public
    /// keys each with a name for errors. The files of `config` are not read.
    pub fn new(
        secret: Option<&[u8]>,
        public_keys: &[(Vec<u8>, String)],
        config: &JwtConfig,
    ) -> Result<JwtAuthenticator> {
        let mut keys = Vec::new();
        if let Some(s) = secret {
            keys.push(keys::secret(s)?);
        }
        for (pem, name) in public_keys {
            keys.push(keys::public(pem, name)?);
        }
        if keys.is_empty() {
            return Err(Error::invalid(
                "JWT authentication needs a secret file or a public key",
            ));
        }
        static IDS: AtomicU64 = AtomicU64::new(0);
        Ok(JwtAuthenticator {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            allow_no_exp: config.allow_no_exp,
            anonymous: Arc::new(Grant::anonymous(config.anonymous.clone())),
            cache: TokenCache::default(),
        })
    }

    /// Verifies `token` (no cache) and makes its grant.
    fn verify(&self, token: &str) -> Result<Grant> {
        let algorithm = algorithm_of(token)?;
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        let required: &[&str] = if self.allow_no_exp { &[] } else { &["exp"] };
        validation.set_required_spec_claims(required);
        // Named claims must be there: jsonwebtoken checks `iss` and `aud`
        // only when a token has them.
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        let mut last = None;
        for key in self.keys.iter().filter(|k| k.algorithm == algorithm) {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return Ok(grant_of(data.claims)),
                // Another key (rotation) may have signed it.
                Err(e) if *e.kind() == JwtError::InvalidSignature => last = Some(e),
                Err(e) => return Err(refusal(&e)),
            }
        }
        match last {
            Some(e) => Err(refusal(&e)),
            None => Err(invalid(format!(
                "{algorithm:?} tokens are not accepted here (this server has no {} key)",
                match algorithm {
                    Algorithm::HS256 => "HS256 secret",
                    Algorithm::RS256 => "RSA public",
                    _ => "EC P-256 public",
                }
            ))),
        }
    }

    /// Tokens verified and held (for tests and statistics).
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, access: &Access<'_>) -> Result<Arc<Grant>> {
        let Some(token) = access.credentials else {
            return Ok(self.anonymous.clone());
        };
        let grant = match memo::get(self.id, token) {
            Some(grant) => grant,
            None => {
                let grant = match self.cache.get(token) {
                    Some(grant) => grant,
                    None => {
                        let grant = Arc::new(self.verify(token)?);
                        self.cache.put(token, grant.clone());
                        grant
                    }
                };
                memo::put(self.id, token, &grant)
            }
        };
        if grant.expired_at(SystemTime::now()) {
            return Err(grant.expired());
        }
        Ok(grant)
    }

    fn describe(&self) -> String {
        let mut algs: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{:?}", k.algorithm))
            .collect();
        algs.dedup();
        let anonymous = if self.anonymous.subscribe.is_empty() {
            "nothing without a token".to_string()
        } else {
            format!("without a token: subscribe to {}", self.anonymous.subscribe)
        };
        format!(
            "JWT ({} key{}: {}); {anonymous}",
            self.keys.len(),
            if self.keys.len() == 1 { "" } else { "s" },
            algs.join(", ")
        )
    }
}

/// The algorithm a token's header names, refusing what Drift never takes.
fn algorithm_of(token: &str) -> Result<Algorithm> {
    let head = token.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| invalid("malformed token: its header is not base64url".into()))?;
    let header: RawHeader = serde_json::from_slice(&json)
        .map_err(|_| invalid("malformed token: its header is not a JSON object".into()))?;
    match header.alg.as_deref() {
        Some("HS256") => Ok(Algorithm::HS256),
        Some("RS256") => Ok(Algorithm::RS256),
        Some("ES256") => Ok(Algorithm::ES256),
        Some(alg) if alg.eq_ignore_ascii_case("none") => {
            Err(invalid("unsigned tokens (alg none) are refused".into()))
        }
        Some(alg) => Err(invalid(format!(
            "alg {:?} is not accepted (HS256, RS256 or ES256)",
            alg.chars().take(16).collect::<String>()
        ))),
        None => Err(invalid("malformed token: its header has no alg".into())),
    }
}

fn grant_of(claims: Claims) -> Grant {
    Grant {
        subject: claims.sub,
        publish: TopicPatterns::new(claims.drift.publish),
        subscribe: TopicPatterns::new(claims.drift.subscribe),
        admin: TopicPatterns::new(claims.drift.admin),
        // An `exp` past what the clock can hold is as good as none.
        expires: claims
            .exp
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))),
        authenticated: true,
    }
}

/// The one-line reason for a token jsonwebtoken refused; never the token.
fn refusal(e: &jsonwebtoken::errors::Error) -> Error {
    invalid(
        match e.kind() {
            JwtError::InvalidSignature => "bad signature".into(),
            JwtError::ExpiredSignature => "token expired".into(),
            JwtError::ImmatureSignature => "token not valid yet (nbf is in the future)".into(),
            JwtError::InvalidIssuer => "wrong issuer (iss)".into(),
            JwtError::InvalidAudience => "wrong audience (aud)".into(),
            JwtError::MissingRequiredClaim(c) => format!("token has no {c} claim"),
            JwtError::InvalidClaimFormat(c) => format!("malformed {c} claim"),
            JwtError::InvalidAlgorithm => "algorithm does not match the key".into(),
            JwtError::Json(_) => "malformed claims (a drift claim holds lists of topic patterns; exp and nbf are whole seconds)".into(),
            _ => "malformed token".into(),
        },
    )
}

fn invalid(reason: String) -> Error {
    Error::new(ErrorKind::Unauthorized, format!("invalid token: {reason}"))
}

#[cfg(test)]
mod tests;
