//! Which authenticator a server's broker asks: the JWT one when the
//! configuration names a JWT key, else the configuration's own ([`AllowAll`]
//! unless a program put another there).
//!
//! [`AllowAll`]: crate::broker::AllowAll

use std::sync::Arc;

use super::ServerConfig;
use crate::broker::{BrokerConfig, JwtAuthenticator};
use crate::error::Result;

/// `broker` with the authenticator `config` asks for.
pub(crate) fn authenticated(
    config: &ServerConfig,
    mut broker: BrokerConfig,
) -> Result<BrokerConfig> {
    if config.jwt.is_enabled() {
        broker.authenticator = Arc::new(JwtAuthenticator::from_config(&config.jwt)?);
    } else if !config.jwt.anonymous.is_empty() {
        return Err(crate::Error::invalid(
            "anonymous access only means something with JWT authentication (a secret file or a public key)",
        ));
    }
    Ok(broker)
}
