//! `POST /v1/auth/cookie`: a page that holds a token (in script) trades it
//! for the `drift_token` cookie, which its `EventSource` then sends, since
//! an `EventSource` cannot set an `Authorization` header. The cookie is
//! `HttpOnly` (script cannot read it back), `Secure`, scoped to this
//! server (no `Domain`, `Path=/`) and lives as long as the token.
//! `SameSite=None` when the server lets other origins in (CORS), so that a
//! page on another site can use it with `withCredentials`; `Strict`
//! otherwise. `DELETE` removes it.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request, Response, StatusCode, header};

use super::body::DriftBody;
use super::context::Context;
use super::credentials::{self, COOKIE};
use super::response;
use crate::error::{Error, ErrorKind};

/// The path of the endpoint.
pub(crate) const PATH: &str = "/v1/auth/cookie";
/// Its methods.
pub(crate) const METHODS: &str = "POST, DELETE";

/// Sets the cookie to the request's bearer token, once the token is good.
pub(crate) fn set<B>(cx: &Context, req: &Request<B>) -> Response<DriftBody> {
    let Some(token) = credentials::bearer(req) else {
        return response::from_error(&Error::new(
            ErrorKind::Unauthorized,
            format!("POST {PATH} needs the token in an Authorization: Bearer header"),
        ));
    };
    let grant = match cx.broker.authenticate(&cx.access(Some(&token))) {
        Ok(g) => g,
        Err(e) => return response::from_error(&e),
    };
    let now = SystemTime::now();
    if !grant.authenticated {
        return response::error(
            StatusCode::BAD_REQUEST,
            "this server does not authenticate callers: no cookie is needed",
        );
    }
    if grant.expired_at(now) {
        return response::from_error(&grant.expired());
    }
    // A JWT is base64url and dots; anything else could break the header.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b))
    {
        return response::error(
            StatusCode::BAD_REQUEST,
            "this token cannot be a cookie value",
        );
    }
    let max_age = grant
        .remaining(now)
        .map(|d| format!("; Max-Age={}", d.as_secs().max(1)))
        .unwrap_or_default();
    let cookie = format!("{COOKIE}={token}; {}{max_age}", attributes(cx));
    let expires = grant
        .expires
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let body = serde_json::json!({ "subject": grant.subject, "expires": expires });
    let mut res = response::text(StatusCode::OK, body.to_string(), "application/json");
    set_cookie(&mut res, &cookie);
    res
}

/// Removes the cookie.
pub(crate) fn clear(cx: &Context) -> Response<DriftBody> {
    let mut res = response::empty(StatusCode::NO_CONTENT);
    set_cookie(
        &mut res,
        &format!("{COOKIE}=; {}; Max-Age=0", attributes(cx)),
    );
    res
}

fn attributes(cx: &Context) -> &'static str {
    if cx.cors.is_some() {
        "Path=/; HttpOnly; Secure; SameSite=None"
    } else {
        "Path=/; HttpOnly; Secure; SameSite=Strict"
    }
}

fn set_cookie(res: &mut Response<DriftBody>, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    // Never cached: it carries a credential.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
