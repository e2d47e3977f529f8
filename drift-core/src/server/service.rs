//! [`DriftService`]: the Drift API as a hyper `Service`, mountable in any
//! hyper (or, through hyper-util, tower) application.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;

use super::body::DriftBody;
use super::console::Console;
use super::context::Context;
use super::cors::Cors;
use super::drain::Drained;
use super::engine::Heartbeats;
use super::metrics::MetricsRoute;
use super::routes;
use crate::broker::Broker;

/// Behaviour of the HTTP layer (the broker has its own limits).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Heartbeat interval on idle SSE and Drift-frames subscriptions.
    pub heartbeat: Option<Duration>,
    /// Cross-origin access for browsers; `None` sends no CORS headers.
    pub cors: Option<Cors>,
    /// Take a bearer token from the `access_token` query parameter too
    /// (RFC 6750 §2.3). Off by default: RFC 9700 advises against tokens in
    /// URLs, which proxies, browser histories and logs keep.
    pub query_token: bool,
    /// Whether `/console` is served: `Auto` (the default) when every
    /// address the server listens on is loopback. A [`DriftService`] made
    /// with [`DriftService::new`] does not know where it is reached, so
    /// serves it only with `On`; a [`super::Server`] decides for its
    /// address.
    pub console: Console,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            heartbeat: Some(Duration::from_secs(15)),
            cors: None,
            query_token: false,
            console: Console::Auto,
        }
    }
}

/// The Drift API over a [`Broker`]. Cheap to clone (one per connection).
#[derive(Debug, Clone)]
pub struct DriftService {
    /// What the routes need; they see nothing else of the service.
    cx: Context,
}

impl DriftService {
    /// A service over `broker`.
    pub fn new(broker: Broker, config: ServiceConfig) -> DriftService {
        DriftService::serving(broker, config, &[])
    }

    /// A service over `broker` for a server listening on `listen`, which
    /// decides whether [`Console::Auto`] serves the console.
    pub(crate) fn serving(
        broker: Broker,
        config: ServiceConfig,
        listen: &[SocketAddr],
    ) -> DriftService {
        DriftService {
            cx: Context {
                heartbeats: Heartbeats::new(config.heartbeat),
                broker,
                cors: config.cors,
                peer: None,
                quota: None,
                query_token: config.query_token,
                metrics_route: MetricsRoute::Here,
                console: config.console.serves(listen),
            },
        }
    }

    /// The same service, answering `/metrics` as `route` says.
    pub(crate) fn with_metrics_route(&self, route: MetricsRoute) -> DriftService {
        let mut cx = self.cx.clone();
        cx.metrics_route = route;
        DriftService { cx }
    }

    /// The same service for one connection from `peer`: the peer's address
    /// goes to the authenticator, and the connection gets quota state of
    /// its own (the broker's per-connection quotas count what it opens,
    /// creates and publishes). Call it once per connection; a service that
    /// is never given its connection is charged only per subject.
    pub fn with_peer(&self, peer: SocketAddr) -> DriftService {
        let mut cx = self.cx.clone();
        cx.peer = Some(peer);
        cx.quota = Some(cx.broker.connection_quota());
        DriftService { cx }
    }

    /// Whether it serves `/console`.
    pub fn serves_console(&self) -> bool {
        self.cx.console
    }

    /// The broker behind the service.
    pub fn broker(&self) -> &Broker {
        &self.cx.broker
    }

    /// Answers one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<DriftBody>
    where
        B: Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: std::fmt::Display,
    {
        routes::route(&self.cx, req.map(Drained::new)).await
    }
}

impl<B> hyper::service::Service<Request<B>> for DriftService
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<DriftBody>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<DriftBody>, Self::Error>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        // Requests without a body to read (subscriptions above all) are
        // answered right here, so the future hyper keeps per stream is tiny.
        // A body the answer leaves unread is drained, so the client can
        // read the answer (see `drain`).
        match routes::route_now(&self.cx, req.map(Drained::new)) {
            routes::Routed::Done(res) => Box::pin(std::future::ready(Ok(res))),
            routes::Routed::Body(pending) => {
                let cx = self.cx.clone();
                Box::pin(async move { Ok(pending.finish(&cx).await) })
            }
            routes::Routed::Later(later) => Box::pin(async move { Ok(later.await) }),
        }
    }
}
