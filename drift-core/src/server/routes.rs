//! Request routing: path and method to handler.

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use percent_encoding::percent_decode_str;

use super::body::DriftBody;
use super::context::Context;
use super::{reference, response, subscribe, topics};

const TOPIC_PREFIX: &str = "/v1/t/";
const TOPIC_METHODS: &str = "GET, HEAD, PUT, POST, DELETE";

/// Answers one request.
pub(crate) async fn route<B>(cx: &Context, req: Request<B>) -> Response<DriftBody>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    match route_now(cx, req) {
        Routed::Done(res) => res,
        Routed::Body(pending) => pending.finish(cx).await,
    }
}

/// A request routed as far as it goes without reading its body.
pub(crate) enum Routed<B> {
    /// The answer (everything but `PUT` and `POST` on a topic).
    Done(Response<DriftBody>),
    /// A `PUT` or `POST` whose body must be read first.
    Body(BodyRoute<B>),
}

/// What a `PUT`/`POST` on a topic needs once its body is read.
pub(crate) struct BodyRoute<B> {
    req: Request<B>,
    topic: String,
    credentials: Option<String>,
    origin: Option<HeaderValue>,
}

/// Routes `req` without awaiting anything. Only requests with a body to read
/// come back as [`Routed::Body`]; everything else (subscriptions above all)
/// is answered here, so their futures stay tiny: hyper keeps one per stream
/// until the stream's task first runs, and inlining the body-reading state
/// machines made each ~2 KiB.
pub(crate) fn route_now<B>(cx: &Context, req: Request<B>) -> Routed<B> {
    let head = req.method() == Method::HEAD;
    let origin = req.headers().get(header::ORIGIN).cloned();
    if let (Some(cors), Some(allow)) = (&cx.cors, methods_of(req.uri().path()))
        && let Some(res) = cors.preflight(req.method(), req.headers(), allow)
    {
        return Routed::Done(res);
    }
    let mut res = match dispatch(cx, req) {
        Ok(res) => res,
        Err((req, topic, credentials)) => {
            return Routed::Body(BodyRoute {
                req,
                topic,
                credentials,
                origin,
            });
        }
    };
    decorate(cx, origin.as_ref(), &mut res);
    if head {
        // A response to HEAD has no content. hyper's HTTP/1.1 server drops
        // it, but its HTTP/2 server would send DATA frames, which an HTTP/2
        // client must treat as a protocol error (RFC 9113 §8.1.1).
        *res.body_mut() = DriftBody::empty();
    }
    Routed::Done(res)
}

impl<B> BodyRoute<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    /// Reads the body and answers.
    pub(crate) async fn finish(self, cx: &Context) -> Response<DriftBody> {
        let BodyRoute {
            req,
            topic,
            credentials,
            origin,
        } = self;
        let access = cx.access(credentials.as_deref());
        let mut res = if req.method() == Method::PUT {
            topics::create(cx, req, &topic, &access).await
        } else {
            topics::publish(cx, req, &topic, &access).await
        };
        decorate(cx, origin.as_ref(), &mut res);
        res
    }
}

fn decorate(cx: &Context, origin: Option<&HeaderValue>, res: &mut Response<DriftBody>) {
    if let Some(cors) = &cx.cors {
        cors.decorate(origin, res);
    }
}

/// A request that needs its body read: the request, topic and credentials.
type NeedsBody<B> = (Request<B>, String, Option<String>);

// The request comes back by value, once, to be moved into a `BodyRoute`.
#[allow(clippy::result_large_err)]
fn dispatch<B>(cx: &Context, req: Request<B>) -> Result<Response<DriftBody>, NeedsBody<B>> {
    let path = req.uri().path();
    let method = req.method();
    Ok(match path {
        "/" | "/v1" | "/v1/" => match *method {
            Method::GET => reference::page(),
            _ => response::method_not_allowed("GET"),
        },
        "/ping" => match *method {
            Method::GET => response::text(StatusCode::OK, "pong", "text/plain; charset=utf-8"),
            _ => response::method_not_allowed("GET"),
        },
        "/v1/time" => match *method {
            Method::GET => {
                let secs = crate::model::now_us() / 1_000_000;
                response::text(StatusCode::OK, secs.to_string(), "text/plain")
            }
            _ => response::method_not_allowed("GET"),
        },
        p if p.starts_with(TOPIC_PREFIX) => {
            let topic = match topic_name(&p[TOPIC_PREFIX.len()..]) {
                Ok(Some(t)) => t,
                Ok(None) => return Ok(not_found()),
                Err(reason) => return Ok(response::error(StatusCode::BAD_REQUEST, reason)),
            };
            let credentials = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if matches!(*method, Method::PUT | Method::POST) {
                return Err((req, topic, credentials));
            }
            let access = cx.access(credentials.as_deref());
            match *method {
                Method::GET => subscribe::subscribe(cx, &req, &topic, &access),
                Method::HEAD => topics::inspect(cx, &topic, &access),
                Method::DELETE => topics::delete(cx, &topic, &access),
                _ => response::method_not_allowed(TOPIC_METHODS),
            }
        }
        _ => not_found(),
    })
}

/// The methods a known path answers, `None` for unknown paths.
fn methods_of(path: &str) -> Option<&'static str> {
    match path {
        "/" | "/v1" | "/v1/" | "/ping" | "/v1/time" => Some("GET"),
        p if p.starts_with(TOPIC_PREFIX) => Some(TOPIC_METHODS),
        _ => None,
    }
}

/// The original server's 404, byte for byte.
fn not_found() -> Response<DriftBody> {
    response::text(
        StatusCode::NOT_FOUND,
        "404 page not found\n",
        "text/plain; charset=utf-8",
    )
}

/// Decodes the topic segment. `Ok(None)` means "no such route" (a `/` inside,
/// raw or percent-encoded, as the original server treats it).
fn topic_name(raw: &str) -> Result<Option<String>, &'static str> {
    if raw.contains('/') {
        return Ok(None);
    }
    if raw.is_empty() {
        return Err("topic name is empty");
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "topic name is not valid UTF-8 after percent-decoding")?;
    if decoded.contains('/') {
        return Ok(None);
    }
    Ok(Some(decoded.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_segments() {
        assert_eq!(topic_name("a%20b"), Ok(Some("a b".to_string())));
        assert_eq!(topic_name("a/b"), Ok(None));
        assert_eq!(topic_name("a%2Fb"), Ok(None));
        assert!(topic_name("").is_err());
        assert!(topic_name("%FF").is_err());
    }
}
