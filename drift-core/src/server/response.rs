//! Small response builders shared by the routes.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::body::DriftBody;
use crate::error::{Error, ErrorKind};

/// A response that comes once a store has answered.
pub(crate) type LaterResponse =
    std::pin::Pin<Box<dyn std::future::Future<Output = Response<DriftBody>> + Send>>;

/// An empty response with `status`.
pub(crate) fn empty(status: StatusCode) -> Response<DriftBody> {
    let mut res = Response::new(DriftBody::empty());
    *res.status_mut() = status;
    res
}

/// A `text/plain` response.
pub(crate) fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<DriftBody> {
    let mut res = Response::new(DriftBody::full(body.into()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// An error response: status and a one-line reason.
pub(crate) fn error(status: StatusCode, reason: &str) -> Response<DriftBody> {
    let mut line = reason.replace(['\r', '\n'], " ");
    line.push('\n');
    let mut res = text(status, line, "text/plain; charset=utf-8");
    res.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The HTTP status for a drift-core error.
pub(crate) fn status_of(e: &Error) -> StatusCode {
    match e.kind() {
        ErrorKind::InvalidInput | ErrorKind::Protocol => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable | ErrorKind::Storage => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error response for a drift-core error; a refusal for want of good
/// credentials (401) or of a grant (403) says so in `WWW-Authenticate`
/// too (RFC 6750 §3), one that says when to try again (a rate quota's
/// 429) in `Retry-After`, in whole seconds rounded up.
pub(crate) fn from_error(e: &Error) -> Response<DriftBody> {
    let mut res = error(status_of(e), &e.to_string());
    if let Some(after) = e.retry_after() {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        res.headers_mut()
            .insert(header::RETRY_AFTER, num(secs.max(1)));
    }
    let code = match e.kind() {
        ErrorKind::Unauthorized => "invalid_token",
        ErrorKind::Forbidden => "insufficient_scope",
        _ => return res,
    };
    let challenge = format!(
        "Bearer realm=\"drift\", error=\"{code}\", error_description=\"{}\"",
        quotable(e.message())
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// `text` as the inside of an RFC 6750 quoted string: printable ASCII
/// without `"` and `\`, which becomes `'`; anything else `?`.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// 405 with the `Allow` header.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<DriftBody> {
    let mut res = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed; allowed: {allow}"),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// A header value from a number.
pub(crate) fn num(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

/// The `X-History-Enabled` value, spelled as the original server does.
pub(crate) fn history_enabled(on: bool) -> HeaderValue {
    HeaderValue::from_static(if on { "True" } else { "False" })
}
