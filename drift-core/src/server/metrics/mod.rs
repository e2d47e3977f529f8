//! `GET /metrics`: the broker's [`Metrics`](crate::metrics::Metrics) in the
//! OpenMetrics text format (`encode`), answered on the main listener to a
//! grant with admin rights, or on a listener of its own (`listener`,
//! `--metrics-listen`), open to whoever reaches that address.

mod encode;
mod listener;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};

pub(crate) use listener::{MetricsListener, bind};

use super::body::DriftBody;
use super::context::Context;
use super::{credentials, response};
use crate::error::{Error, ErrorKind};

/// The path.
pub(crate) const PATH: &str = "/metrics";

/// The `Content-Type` prometheus-client's text encoder writes for.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Where a service answers `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricsRoute {
    /// Among the other routes, to a grant with admin rights (every caller
    /// of an open server).
    Here,
    /// On another listener: here it is 404, as on a server that does not
    /// count.
    Elsewhere,
    /// The metrics listener: `/metrics` only, to anyone.
    Only,
}

/// Answers `GET /metrics` on the main listener, or `None` when this service
/// does not answer it (then it is 404 like any unknown path).
pub(crate) fn route<B>(cx: &Context, req: &Request<B>) -> Option<Response<DriftBody>> {
    let metrics = cx.broker.metrics()?;
    if cx.metrics_route == MetricsRoute::Elsewhere {
        return None;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(response::method_not_allowed("GET"));
    }
    if cx.metrics_route == MetricsRoute::Here {
        let token = credentials::token_of(req, cx.query_token);
        if let Err(e) = admin(cx, token.as_deref()) {
            return Some(response::from_error(&e));
        }
    }
    let text = encode::exposition(&cx.broker, metrics);
    let mut res = response::text(StatusCode::OK, text, CONTENT_TYPE);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(res)
}

/// The metrics listener's only route: `/metrics`, and 404 for anything
/// else.
pub(crate) fn only<B>(cx: &Context, req: &Request<B>) -> Response<DriftBody> {
    match (req.uri().path() == PATH).then(|| route(cx, req)).flatten() {
        Some(res) => res,
        None => response::text(
            StatusCode::NOT_FOUND,
            "404 page not found\n",
            "text/plain; charset=utf-8",
        ),
    }
}

/// Refuses a caller whose grant has no admin right on any topic: the
/// figures are the whole server's.
fn admin(cx: &Context, token: Option<&str>) -> crate::Result<()> {
    let grant = cx.broker.authenticate(&cx.access(token))?;
    if grant.expired_at(std::time::SystemTime::now()) {
        return Err(grant.expired());
    }
    if !grant.admin.is_empty() {
        return Ok(());
    }
    Err(if grant.authenticated {
        Error::new(
            ErrorKind::Forbidden,
            "/metrics needs a grant with admin rights (any topic pattern)",
        )
    } else {
        Error::new(
            ErrorKind::Unauthorized,
            "/metrics needs a token with admin rights (Authorization: Bearer)",
        )
    })
}
