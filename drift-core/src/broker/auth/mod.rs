//! Authentication yields a grant: every publish, subscription, create,
//! delete and inspection first asks the broker's [`Authenticator`] to turn
//! the request's credentials into a [`Grant`] (who, which topics it may
//! publish to, subscribe to and administer, until when), then checks the
//! action against it. The HTTP layer only finds the credentials (bearer
//! header, cookie, query parameter); it never knows which authenticator
//! runs. JWT ([`JwtAuthenticator`]) is the first one; [`AllowAll`] keeps a
//! server open.

mod grant;
mod jwt;
mod patterns;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

pub use grant::Grant;
pub use jwt::{
    JwtAuthenticator, JwtConfig, MIN_SECRET_BYTES, MintRequest, mint_hs256, read_secret_file,
};
pub use patterns::{TopicPattern, TopicPatterns};

use crate::error::Result;

/// What a caller wants to do to a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Publish a message (the grant's `publish` patterns).
    Publish,
    /// Subscribe, including history replay (`subscribe`).
    Subscribe,
    /// Create or reconfigure the topic (`admin`).
    Create,
    /// Delete the topic (`admin`).
    Delete,
    /// Ask whether the topic exists and how it is doing: allowed by any of
    /// the three lists, since whoever may use a topic may see that it is
    /// there.
    Inspect,
}

impl Action {
    /// The verb, for refusals: "publish to", "delete".
    pub fn verb(self) -> &'static str {
        match self {
            Action::Publish => "publish to",
            Action::Subscribe => "subscribe to",
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Inspect => "inspect",
        }
    }
}

/// Who is asking, as far as the transport knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access<'a> {
    /// The bearer token the request carried (from the `Authorization`
    /// header, the `drift_token` cookie or, when allowed, the
    /// `access_token` query parameter), if any.
    pub credentials: Option<&'a str>,
    /// The peer's socket address, if the caller came over the network.
    pub peer: Option<SocketAddr>,
    /// The quota state of the caller's connection, charged for what it
    /// opens, creates and publishes (see [`crate::broker::ConnectionQuota`]);
    /// `None`: only the subject's quotas apply.
    pub quota: Option<&'a super::ConnectionQuota>,
}

/// Turns credentials into a [`Grant`].
///
/// Implementations must be cheap: they run on the publish path (cache what
/// was verified). A refusal is an error of kind
/// [`crate::ErrorKind::Unauthorized`] with a one-line reason that never
/// contains the credentials.
pub trait Authenticator: Send + Sync + Debug + 'static {
    /// The grant of `access`'s credentials, or of a caller without any.
    fn authenticate(&self, access: &Access<'_>) -> Result<Arc<Grant>>;

    /// One line for the server's start-up log: how callers are
    /// authenticated and what a caller without credentials may do.
    fn describe(&self) -> String;
}

/// Grants everything to everyone: the default, a server without
/// authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, _: &Access<'_>) -> Result<Arc<Grant>> {
        static OPEN: LazyLock<Arc<Grant>> = LazyLock::new(|| Arc::new(Grant::open()));
        Ok(OPEN.clone())
    }

    fn describe(&self) -> String {
        "open: no authentication, anyone may publish, subscribe and administer every topic".into()
    }
}
