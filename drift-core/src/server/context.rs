//! What a request handler needs of the service: the broker, the peer, the
//! CORS policy and the heartbeat clock. [`super::service`] builds it; the
//! routes and handlers take it and know nothing of the service above them.

use std::net::SocketAddr;

use super::cors::Cors;
use super::engine::Heartbeats;
use super::metrics::MetricsRoute;
use crate::broker::{Access, Broker, ConnectionQuota};

/// One connection's view of the service, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) broker: Broker,
    /// Cross-origin access for browsers; `None` sends no CORS headers.
    pub(crate) cors: Option<Cors>,
    /// The peer's address, for the authoriser.
    pub(crate) peer: Option<SocketAddr>,
    /// The connection's quota state (one per connection, made with the
    /// peer); `None` for a service not yet given its connection.
    pub(crate) quota: Option<ConnectionQuota>,
    /// One heartbeat clock for all of the service's subscriptions.
    pub(crate) heartbeats: Heartbeats,
    /// Whether a token may come in the `access_token` query parameter.
    pub(crate) query_token: bool,
    /// Where `/metrics` is answered.
    pub(crate) metrics_route: MetricsRoute,
    /// Whether `/console` is served (decided where the listen addresses
    /// are known: see [`super::Console::serves`]).
    pub(crate) console: bool,
}

impl Context {
    /// Who is asking, for the broker's authenticator.
    pub(crate) fn access<'a>(&'a self, credentials: Option<&'a str>) -> Access<'a> {
        Access {
            credentials,
            peer: self.peer,
            quota: self.quota.as_ref(),
        }
    }
}
