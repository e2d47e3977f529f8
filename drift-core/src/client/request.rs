//! Building requests and turning responses into results: topic paths,
//! common headers, timeouts, and the server's error statuses.

use std::future::Future;

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http::response::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Client;
use super::body::Chunks;
use crate::error::{Error, ErrorKind, Result};

/// Everything but RFC 3986 unreserved characters is percent-encoded, so a
/// topic is always exactly one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Largest response body read into memory (the id list of a big streamed
/// publish is the largest expected).
const MAX_RESPONSE_BODY: usize = 64 << 20;

/// Longest server reason kept in an error message.
const MAX_REASON_CHARS: usize = 300;

const AGENT: &str = concat!("drift-rust/", env!("CARGO_PKG_VERSION"));

/// `/v1/t/{topic}` with the topic percent-encoded.
pub(crate) fn topic_path(topic: &str) -> Result<String> {
    if topic.is_empty() {
        return Err(Error::invalid("topic name is empty"));
    }
    Ok(format!("/v1/t/{}", utf8_percent_encode(topic, SEGMENT)))
}

impl Client {
    /// A request to `path` with the client's headers.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        body: Chunks,
    ) -> Result<Request<Chunks>> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = self.inner.connector.target().uri(path)?;
        let headers = req.headers_mut();
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        for (name, value) in &self.inner.headers {
            headers.append(name, value.clone());
        }
        Ok(req)
    }

    /// Sends `req` and waits for the response head, within the request
    /// timeout; a non-2xx status is an error carrying the server's reason.
    pub(crate) async fn send(&self, req: Request<Chunks>) -> Result<Response<Incoming>> {
        self.within_timeout(async {
            let resp = self.inner.connector.send(req).await?;
            if resp.status().is_success() {
                return Ok(resp);
            }
            let status = resp.status();
            let after = retry_after(resp.headers());
            let body = self.read_body(resp.into_body()).await?;
            Err(refusal(status_error(status, &body), after))
        })
        .await
    }

    /// Sends `req` and reads the whole response; a non-2xx status is an error
    /// carrying the server's reason.
    pub(crate) async fn call(&self, req: Request<Chunks>) -> Result<(Parts, Bytes)> {
        self.within_timeout(async {
            let resp = self.inner.connector.send(req).await?;
            let (parts, body) = resp.into_parts();
            let body = self.read_body(body).await?;
            if !parts.status.is_success() {
                let after = retry_after(&parts.headers);
                return Err(refusal(status_error(parts.status, &body), after));
            }
            Ok((parts, body))
        })
        .await
    }

    /// Reads a whole (small) response body.
    pub(crate) async fn read_body(&self, body: Incoming) -> Result<Bytes> {
        match Limited::new(body, MAX_RESPONSE_BODY).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "response from {} is larger than {MAX_RESPONSE_BODY} bytes",
                    self.server()
                ),
            )),
            Err(e) => Err(Error::new(
                ErrorKind::Connect,
                format!("reading the response from {} failed: {e}", self.server()),
            )),
        }
    }

    async fn within_timeout<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let Some(limit) = self.inner.request_timeout else {
            return fut.await;
        };
        match tokio::time::timeout(limit, fut).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("request to {} timed out after {limit:?}", self.server()),
            )),
        }
    }
}

/// The error for a non-2xx answer: the kind from the status, the server's
/// one-line reason (its `text/plain` body) in the message.
pub(crate) fn status_error(status: StatusCode, body: &[u8]) -> Error {
    let kind = match status.as_u16() {
        400 => ErrorKind::InvalidInput,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        413 => ErrorKind::TooLarge,
        429 => ErrorKind::QuotaExceeded,
        503 => ErrorKind::Unavailable,
        507 => ErrorKind::StorageFull,
        _ => ErrorKind::Http,
    };
    let reason: String = String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    let head = format!(
        "server answered {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if reason.is_empty() {
        return Error::new(kind, head.trim_end()).with_status(status.as_u16());
    }
    let message = format!("{}: {reason}", head.trim_end());
    Error::new(kind, message)
        .with_status(status.as_u16())
        .with_reason(reason)
}

/// The answer's `Retry-After` in seconds (the HTTP-date form is not read:
/// Drift's server sends seconds).
fn retry_after(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    header_u64(headers, "retry-after").map(std::time::Duration::from_secs)
}

/// `e` with the answer's `Retry-After`, when it had one.
fn refusal(e: Error, after: Option<std::time::Duration>) -> Error {
    match after {
        Some(after) => e.with_retry_after(after),
        None => e,
    }
}

/// A header's value as text, when present and valid.
pub(crate) fn header_str<'a>(parts: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    parts.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A header's value as a number, when present and valid.
pub(crate) fn header_u64(parts: &http::HeaderMap, name: &str) -> Option<u64> {
    header_str(parts, name).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_one_segment() {
        assert_eq!(topic_path("news").unwrap(), "/v1/t/news");
        assert_eq!(topic_path("a b/c?d").unwrap(), "/v1/t/a%20b%2Fc%3Fd");
        assert_eq!(topic_path("é~._-").unwrap(), "/v1/t/%C3%A9~._-");
        assert!(topic_path("").is_err());
    }

    #[test]
    fn statuses_map_to_kinds_with_the_reason() {
        let e = status_error(StatusCode::NOT_FOUND, b"no topic named \"x\"\n");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.status(), Some(404));
        assert_eq!(
            e.to_string(),
            "server answered 404 Not Found: no topic named \"x\""
        );
        let e = status_error(StatusCode::INTERNAL_SERVER_ERROR, b"");
        assert_eq!(e.kind(), ErrorKind::Http);
        assert_eq!(e.to_string(), "server answered 500 Internal Server Error");
        assert_eq!(
            status_error(StatusCode::CONFLICT, b"x").kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            status_error(StatusCode::INSUFFICIENT_STORAGE, b"x").kind(),
            ErrorKind::StorageFull
        );
        let e = status_error(StatusCode::TOO_MANY_REQUESTS, b"quota\n");
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert_eq!(e.reason(), Some("quota"));
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        let e = refusal(e, retry_after(&headers));
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(3)));
    }
}
