//! `GET /console`: a web page to look at a server without writing code —
//! its topics, a topic's live messages and history, publishing, creating
//! and deleting — built on the public API only (`/v1/topics`, `/v1/t/…`,
//! `/v1/auth/cookie`), so it can do nothing a client cannot.
//!
//! The page is plain HTML, CSS and JavaScript compiled into the binary
//! (`include_str!`): nothing to build, nothing fetched at run time, and the
//! committed files are what runs. Served on loopback by default
//! ([`Console::Auto`]), as an option elsewhere.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::body::DriftBody;
use super::context::Context;
use super::response;
use crate::broker::auth::Grant;

/// The page's path; its assets live under it.
pub(crate) const PATH: &str = "/console";
/// The methods of every console path.
pub(crate) const METHODS: &str = "GET, HEAD";

const HTML: &str = include_str!("index.html");
const JS: &str = include_str!("console.js");
const CSS: &str = include_str!("console.css");
const ICON: &str = include_str!("favicon.svg");

/// Where the page lets its resources come from: this server only, no
/// inline script or style, no frames, no forms posted anywhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether a server serves `/console`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Console {
    /// Only when every address the server listens on is loopback: a
    /// developer's server has it, an exposed one does not unless asked.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never (`/console` is a 404).
    Off,
}

impl Console {
    /// Whether a server listening on `listen` serves the console. `Auto`
    /// with no address known (a [`super::DriftService`] mounted by a
    /// program, which does not know where it is reached) does not.
    pub fn serves(self, listen: &[SocketAddr]) -> bool {
        match self {
            Console::On => true,
            Console::Off => false,
            Console::Auto => !listen.is_empty() && listen.iter().all(|a| a.ip().is_loopback()),
        }
    }
}

impl FromStr for Console {
    type Err = String;

    fn from_str(text: &str) -> Result<Console, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Console::Auto),
            "on" | "true" => Ok(Console::On),
            "off" | "false" => Ok(Console::Off),
            _ => Err(format!("expected auto, on or off, got {text:?}")),
        }
    }
}

impl fmt::Display for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Console::Auto => "auto",
            Console::On => "on",
            Console::Off => "off",
        })
    }
}

/// Whether `path` is one of the console's.
pub(crate) fn is_console_path(path: &str) -> bool {
    asset(path).is_some()
}

/// The console's answer to a request for `path` (one of its own).
pub(crate) fn answer(
    cx: &Context,
    method: &Method,
    path: &str,
    req: &HeaderMap,
) -> Response<DriftBody> {
    if *method != Method::GET && *method != Method::HEAD {
        return response::method_not_allowed(METHODS);
    }
    let Some((body, content_type)) = asset(path) else {
        return response::error(StatusCode::NOT_FOUND, "404 page not found");
    };
    let body = if path == PATH {
        // The page offers a token field when callers need one.
        HTML.replacen(
            "data-auth=\"open\"",
            &format!("data-auth=\"{}\"", auth_mode(cx)),
            1,
        )
    } else {
        body.to_owned()
    };
    let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        response::empty(StatusCode::NOT_MODIFIED)
    } else {
        response::text(StatusCode::OK, body, content_type)
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    // Revalidated on every load (cheap: a 304), so a new binary's page is
    // never mixed with an old one's script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    Some(match path {
        PATH => (HTML, "text/html; charset=utf-8"),
        "/console/console.js" => (JS, "text/javascript; charset=utf-8"),
        "/console/console.css" => (CSS, "text/css; charset=utf-8"),
        "/console/favicon.svg" => (ICON, "image/svg+xml"),
        _ => return None,
    })
}

/// `open` when a caller without credentials may do everything, `token`
/// when the server authenticates callers.
fn auth_mode(cx: &Context) -> &'static str {
    match cx.broker.authenticate(&cx.access(None)) {
        Ok(grant) if *grant == Grant::open() => "open",
        _ => "token",
    }
}

/// FNV-1a, 64 bits: an entity tag that changes with the content.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn auto_serves_only_on_loopback() {
        let auto = Console::Auto;
        assert!(auto.serves(&[addr("127.0.0.1:5500")]));
        assert!(auto.serves(&[addr("[::1]:0"), addr("127.0.0.2:1")]));
        assert!(!auto.serves(&[addr("0.0.0.0:5500")]));
        assert!(!auto.serves(&[addr("[::]:5500")]));
        assert!(!auto.serves(&[addr("192.168.1.2:5500")]));
        assert!(
            !auto.serves(&[addr("127.0.0.1:1"), addr("10.0.0.1:2")]),
            "every address"
        );
        assert!(!auto.serves(&[]), "no address known");
        assert!(Console::On.serves(&[addr("0.0.0.0:1")]));
        assert!(!Console::Off.serves(&[addr("127.0.0.1:1")]));
    }

    #[test]
    fn parses_and_prints_its_values() {
        for c in [Console::Auto, Console::On, Console::Off] {
            assert_eq!(c.to_string().parse::<Console>(), Ok(c));
        }
        assert_eq!(" ON ".parse::<Console>(), Ok(Console::On));
        let e = "sometimes".parse::<Console>().unwrap_err();
        assert!(e.contains("auto, on or off"), "{e}");
    }

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        assert!(HTML.contains("<script src=\"/console/console.js\" defer></script>"));
        assert!(HTML.contains("href=\"/console/console.css\""));
        assert!(HTML.contains("data-auth=\"open\""));
        assert_eq!(HTML.matches("<script").count(), 1);
        assert!(
            !HTML.contains("style="),
            "inline style is refused by the CSP"
        );
        for text in [HTML, JS, CSS] {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        // The one URL in the icon is SVG's namespace, which loads nothing.
        for url in ICON.split("http").skip(1) {
            assert!(url.starts_with("://www.w3.org/2000/svg\""), "{url}");
        }
    }
}
