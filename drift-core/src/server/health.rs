//! `GET /healthz` (the process serves) and `GET /readyz` (it can take
//! publishes: not shutting down, its store answers, and a probe message
//! reaches a local subscriber in time). Each answers `200` or `503` with a
//! one-line reason, for load balancers and orchestrators.

use std::time::Duration;

use http::{Response, StatusCode};

use super::body::DriftBody;
use super::context::Context;
use super::response;

/// How long the probe message may take to be delivered.
pub(crate) const PROBE_BOUND: Duration = Duration::from_secs(2);

pub(crate) fn healthz() -> Response<DriftBody> {
    response::text(StatusCode::OK, "serving\n", "text/plain; charset=utf-8")
}

pub(crate) async fn readyz(cx: Context) -> Response<DriftBody> {
    match cx.broker.probe(PROBE_BOUND).await {
        Ok(took) => response::text(
            StatusCode::OK,
            format!(
                "ready: a probe message reached a local subscriber in {:.1} ms\n",
                took.as_secs_f64() * 1000.0
            ),
            "text/plain; charset=utf-8",
        ),
        Err(e) => response::error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not ready: {}", e.message()),
        ),
    }
}
