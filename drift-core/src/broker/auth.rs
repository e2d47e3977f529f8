//! The authorisation hook: every publish, subscription, create and delete is
//! put to an [`Authorizer`] before the broker acts. JWT and other schemes plug
//! in here without the HTTP layer knowing which is in use.

use std::fmt::Debug;
use std::net::SocketAddr;

use crate::error::Result;

/// What a caller wants to do to a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Publish a message.
    Publish,
    /// Subscribe (including history replay).
    Subscribe,
    /// Create or reconfigure the topic.
    Create,
    /// Delete the topic.
    Delete,
    /// Ask whether the topic exists.
    Inspect,
}

/// Who is asking, as far as the transport knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access<'a> {
    /// The `Authorization` header value (or another credential), if any.
    pub credentials: Option<&'a str>,
    /// The peer's socket address, if the caller came over the network.
    pub peer: Option<SocketAddr>,
}

/// Decides whether an action on a topic is allowed.
///
/// Implementations must be cheap: they run on the publish path. Return an
/// error of kind [`crate::ErrorKind::Forbidden`] or
/// [`crate::ErrorKind::Unauthorized`] with a one-line reason to refuse.
pub trait Authorizer: Send + Sync + Debug + 'static {
    /// Allows (`Ok`) or refuses (`Err`) `action` on `topic`.
    fn authorize(&self, action: Action, topic: &str, access: &Access<'_>) -> Result<()>;
}

/// Allows everything: the default for a development server.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: Action, _: &str, _: &Access<'_>) -> Result<()> {
        Ok(())
    }
}
