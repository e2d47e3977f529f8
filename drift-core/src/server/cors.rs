//! Cross-origin access for browsers (`EventSource` and `fetch` from pages on
//! another origin). Off unless origins are configured. An origin named in
//! the configuration may also send credentials (`withCredentials`, cookies);
//! one let in only by `*` may not.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::body::DriftBody;
use super::response;

/// Response headers a page's script may read.
const EXPOSED: &str = "drift-id, drift-seq, drift-epoch, drift-time, drift-count, drift-gap, drift-last-seq, x-history-enabled";
/// Request headers a page may send.
const ALLOWED_HEADERS: &str =
    "authorization, content-type, last-event-id, x-history-length, x-history-since, drift-on-slow";

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins (`https://app.example`), or `*` for any.
    pub allow_origins: Vec<String>,
}

/// How an origin is let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Named in the configuration: the operator trusts this page, so its
    /// credentialed requests (`withCredentials`, cookies) are let in too.
    Listed,
    /// Let in only by `*`: any page, so never with the visitor's
    /// credentials (as the Fetch standard forbids for a literal `*`).
    Any,
}

impl Cors {
    fn admission(&self, origin: &str) -> Option<Admission> {
        if self.allow_origins.iter().any(|o| o == origin) {
            Some(Admission::Listed)
        } else if self.allow_origins.iter().any(|o| o == "*") {
            Some(Admission::Any)
        } else {
            None
        }
    }

    /// The allowed origin as a header value, and how it was let in.
    fn allowed(&self, origin: &HeaderValue) -> Option<(HeaderValue, Admission)> {
        let admission = self.admission(origin.to_str().ok()?)?;
        Some((origin.clone(), admission))
    }

    fn allow_credentials(headers: &mut HeaderMap, admission: Admission) {
        if admission == Admission::Listed {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`),
    /// or `None` when the request is not one this configuration allows.
    pub(crate) fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
        allow: &'static str,
    ) -> Option<Response<DriftBody>> {
        if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let (origin, admission) = self.allowed(headers.get(header::ORIGIN)?)?;
        let mut res = response::empty(StatusCode::NO_CONTENT);
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        Self::allow_credentials(h, admission);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(allow),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        Some(res)
    }

    /// Adds the CORS headers to an answer for a request from `origin`.
    pub(crate) fn decorate(&self, origin: Option<&HeaderValue>, res: &mut Response<DriftBody>) {
        let Some((origin, admission)) = origin.and_then(|o| self.allowed(o)) else {
            return;
        };
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        Self::allow_credentials(h, admission);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
}
