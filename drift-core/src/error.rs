//! The one error type of drift-core.
//!
//! Callers (the HTTP layer, the client, the C and Python bindings) branch on
//! [`ErrorKind`], never on the message text: each binding has exactly one
//! `match` from kind to its own status or exception class.

use std::fmt;

/// What went wrong, coarsely. Stable: bindings map these to status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed something malformed (topic name, header value, config).
    InvalidInput,
    /// The topic (or other named thing) does not exist.
    NotFound,
    /// The request conflicts with existing state (e.g. a topic config differs).
    Conflict,
    /// A message or request exceeds a configured size limit.
    TooLarge,
    /// A server limit (topics, subscriptions) is reached, or the server is shutting down.
    Unavailable,
    /// An authorisation hook rejected the operation.
    Forbidden,
    /// Credentials are missing or invalid.
    Unauthorized,
    /// A connection could not be made or broke.
    Connect,
    /// TLS set-up or handshake failed (bad certificate, untrusted peer).
    Tls,
    /// An operation did not finish in time.
    Timeout,
    /// The peer spoke something that is not the Drift protocol.
    Protocol,
    /// The subscription or client is closed.
    Closed,
    /// Reading a local file or socket failed.
    Io,
    /// The topic store failed (unavailable, a write error, corrupt data);
    /// HTTP 503.
    Storage,
    /// The topic store has no space left; HTTP 507.
    StorageFull,
    /// A quota of the caller's connection or subject (open subscriptions,
    /// topics created, publish rate) is used up; HTTP 429. A rate-based
    /// one says when to try again ([`Error::retry_after`]).
    QuotaExceeded,
    /// The server answered with an HTTP status not covered by another kind.
    Http,
    /// A bug: an invariant did not hold.
    Internal,
}

/// A drift-core error: a kind, a one-line message and an optional cause.
///
/// The `Display` text is meant for people and is not stable.
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    /// The server's own one-line reason, when it gave one.
    reason: Option<String>,
    /// When trying again may succeed (a rate quota; HTTP `Retry-After`).
    retry_after: Option<std::time::Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

// ===== impl Error =====

impl Error {
    /// A new error of `kind` with a one-line `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            status: None,
            reason: None,
            retry_after: None,
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attaches the HTTP status the server answered with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The coarse kind, for branching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message, without the cause chain.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status of a server answer, when the error came from one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Attaches the reason the server gave (the first line of its answer).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The reason the server gave for refusing, as it wrote it (the
    /// message says more: the status and what was asked).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Attaches when trying again may succeed (HTTP `Retry-After`).
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// When trying again may succeed: how long a rate quota needs to allow
    /// the refused action, or the server's `Retry-After`.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(status) = self.status {
            d.field("status", &status);
        }
        if let Some(after) = self.retry_after {
            d.field("retry_after", &after);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::NotConnected
            | std::io::ErrorKind::AddrInUse
            | std::io::ErrorKind::AddrNotAvailable => ErrorKind::Connect,
            _ => ErrorKind::Io,
        };
        Error::new(kind, e.to_string())
    }
}
