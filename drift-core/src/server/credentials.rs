//! Where a request's bearer token comes from: the `Authorization: Bearer`
//! header, else the `drift_token` cookie (for `EventSource`, which cannot
//! set headers), else, only where the server allows it, the RFC 6750
//! `access_token` query parameter (RFC 9700 advises against tokens in URLs:
//! they end up in proxies' and browsers' histories). What the token means
//! is the broker's authenticator's business, not this module's.

use http::{Request, header};
use percent_encoding::percent_decode_str;

/// The cookie a page gets from `POST /v1/auth/cookie`.
pub(crate) const COOKIE: &str = "drift_token";
/// The query parameter of RFC 6750 §2.3.
pub(crate) const QUERY: &str = "access_token";

/// The request's bearer token, if it has one.
pub(crate) fn token_of<B>(req: &Request<B>, query_allowed: bool) -> Option<String> {
    bearer(req)
        .or_else(|| cookie(req))
        .or_else(|| query_allowed.then(|| query(req.uri().query())).flatten())
}

/// The token of an `Authorization: Bearer` header (the scheme in any case).
pub(crate) fn bearer<B>(req: &Request<B>) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The `drift_token` cookie; HTTP/2 may split cookies over several headers.
fn cookie<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// The `access_token` query parameter, percent-decoded.
fn query(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, v)| *k == QUERY && !v.is_empty())
        .and_then(|(_, v)| percent_decode_str(v).decode_utf8().ok())
        .map(|v| v.into_owned())
}

/// `query` without the value of its `access_token` parameter, for anything
/// that records a request's target.
pub(crate) fn scrubbed(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((QUERY, _)) => "access_token=REDACTED",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: impl FnOnce(http::request::Builder) -> http::request::Builder) -> Request<()> {
        f(Request::builder()).body(()).unwrap()
    }

    #[test]
    fn the_header_wins_then_the_cookie_then_the_query() {
        let r = req(|b| {
            b.uri("/v1/t/a?access_token=q")
                .header("authorization", "Bearer h")
                .header("cookie", "drift_token=c")
        });
        assert_eq!(token_of(&r, true).as_deref(), Some("h"));
        let r = req(|b| {
            b.uri("/v1/t/a?access_token=q")
                .header("cookie", "a=1; drift_token=c")
        });
        assert_eq!(token_of(&r, true).as_deref(), Some("c"));
        let r = req(|b| b.uri("/v1/t/a?x=1&access_token=q%2Eq"));
        assert_eq!(token_of(&r, true).as_deref(), Some("q.q"));
        assert_eq!(token_of(&r, false), None);
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        for value in ["Basic abc", "Bearer", "Bearer  ", "bearer"] {
            let r = req(|b| b.uri("/").header("authorization", value));
            assert_eq!(token_of(&r, false), None, "{value}");
        }
        let r = req(|b| b.uri("/").header("authorization", "bEaReR  t "));
        assert_eq!(token_of(&r, false).as_deref(), Some("t"));
    }

    #[test]
    fn cookies_over_several_headers_are_found() {
        let r = req(|b| {
            b.uri("/")
                .header("cookie", "a=1")
                .header("cookie", "drift_token=\"c\"")
        });
        assert_eq!(token_of(&r, false).as_deref(), Some("c"));
    }

    #[test]
    fn a_query_token_is_scrubbed() {
        assert_eq!(
            scrubbed("history=2&access_token=s3cret&x"),
            "history=2&access_token=REDACTED&x"
        );
    }
}
