//! Request routing: path and method to handler.

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use percent_encoding::percent_decode_str;

use super::body::DriftBody;
use super::context::Context;
use super::cors::Cors;
use super::engine::BodyWaker;
use super::metrics::{self, MetricsRoute};
use super::response::LaterResponse;
use super::subscribe::Subscribed;
use super::{
    auth_cookie, console, credentials, health, inspect, reference, response, subscribe, topics,
};

const TOPIC_PREFIX: &str = "/v1/t/";
const TOPICS: &str = "/v1/topics";
const TOPICS_PREFIX: &str = "/v1/topics/";
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
        Routed::Later(later) => later.await,
    }
}

/// Counts `res`'s status for `/metrics` (its refused requests by status).
fn counted(cx: &Context, res: Response<DriftBody>) -> Response<DriftBody> {
    if let Some(m) = cx.broker.metrics() {
        m.answered(res.status().as_u16());
    }
    res
}

/// A request routed as far as it goes without awaiting.
pub(crate) enum Routed<B> {
    /// The answer (every `GET`, when the store answered at once).
    Done(Response<DriftBody>),
    /// A request on a topic that awaits its body or the store: `PUT`,
    /// `POST`, `HEAD`, `DELETE`.
    Body(BodyRoute<B>),
    /// A subscription whose store answers later.
    Later(LaterResponse),
}

/// What a `PUT`/`POST`/`HEAD`/`DELETE` on a topic needs to be answered.
pub(crate) struct BodyRoute<B> {
    req: Request<B>,
    /// Made while the connection is polled (when the route is), so that a
    /// store's answer to a publish wakes the stream through its connection
    /// thread's relay.
    waker: BodyWaker,
    topic: String,
    credentials: Option<String>,
    origin: Option<HeaderValue>,
}

/// Routes `req` without awaiting anything. Subscriptions above all are
/// answered here when the store answers at once, so their futures stay
/// tiny: hyper keeps one per stream until the stream's task first runs, and
/// inlining the body-reading state machines made each ~2 KiB.
pub(crate) fn route_now<B>(cx: &Context, req: Request<B>) -> Routed<B> {
    if cx.metrics_route == MetricsRoute::Only {
        return Routed::Done(metrics::only(cx, &req));
    }
    // The target without a query token's value; only made at trace level.
    tracing::trace!(
        "{} {}{}",
        req.method(),
        req.uri().path(),
        req.uri()
            .query()
            .map(|q| format!("?{}", credentials::scrubbed(q)))
            .unwrap_or_default()
    );
    let head = req.method() == Method::HEAD;
    let origin = req.headers().get(header::ORIGIN).cloned();
    if let (Some(cors), Some(allow)) = (&cx.cors, methods_of(cx, req.uri().path()))
        && let Some(res) = cors.preflight(req.method(), req.headers(), allow)
    {
        return Routed::Done(res);
    }
    let mut res = match dispatch(cx, req) {
        Dispatched::Done(res) => res,
        Dispatched::Body((req, topic, credentials)) => {
            return Routed::Body(BodyRoute {
                req,
                waker: BodyWaker::new(),
                topic,
                credentials,
                origin,
            });
        }
        Dispatched::Later(later) => {
            let cors = cx.cors.clone();
            let metrics = cx.broker.metrics().cloned();
            return Routed::Later(Box::pin(async move {
                let mut res = later.await;
                if let Some(m) = metrics {
                    m.answered(res.status().as_u16());
                }
                decorate(cors.as_ref(), origin.as_ref(), &mut res);
                res
            }));
        }
    };
    if head {
        res = head_answer(res);
    }
    decorate(cx.cors.as_ref(), origin.as_ref(), &mut res);
    Routed::Done(counted(cx, res))
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
            waker,
            topic,
            credentials,
            origin,
        } = self;
        let access = cx.access(credentials.as_deref());
        let mut res = match *req.method() {
            Method::PUT => topics::create(cx, req, &topic, &access).await,
            Method::POST => topics::publish(cx, req, &topic, &access, &waker).await,
            Method::HEAD => head_answer(topics::inspect(cx, &topic, &access).await),
            _ => topics::delete(cx, &topic, &access).await,
        };
        decorate(cx.cors.as_ref(), origin.as_ref(), &mut res);
        counted(cx, res)
    }
}

fn decorate(cors: Option<&Cors>, origin: Option<&HeaderValue>, res: &mut Response<DriftBody>) {
    if let Some(cors) = cors {
        cors.decorate(origin, res);
    }
}

/// A request that awaits: the request, topic and credentials.
type Awaits<B> = (Request<B>, String, Option<String>);

enum Dispatched<B> {
    Done(Response<DriftBody>),
    Body(Awaits<B>),
    Later(LaterResponse),
}

impl<B> From<Response<DriftBody>> for Dispatched<B> {
    fn from(res: Response<DriftBody>) -> Self {
        Dispatched::Done(res)
    }
}

fn dispatch<B>(cx: &Context, req: Request<B>) -> Dispatched<B> {
    let path = req.uri().path();
    let method = req.method();
    Dispatched::Done(match path {
        "/" | "/v1" | "/v1/" => match *method {
            Method::GET => reference::page(),
            _ => response::method_not_allowed("GET"),
        },
        "/healthz" => match *method {
            Method::GET => health::healthz(),
            _ => response::method_not_allowed("GET"),
        },
        "/readyz" => match *method {
            Method::GET => return Dispatched::Later(Box::pin(health::readyz(cx.clone()))),
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
        metrics::PATH => match metrics::route(cx, &req) {
            Some(res) => res,
            None => not_found(),
        },
        auth_cookie::PATH => match *method {
            Method::POST => auth_cookie::set(cx, &req),
            Method::DELETE => auth_cookie::clear(cx),
            _ => response::method_not_allowed(auth_cookie::METHODS),
        },
        p if cx.console && console::is_console_path(p) => {
            console::answer(cx, method, p, req.headers())
        }
        TOPICS => match *method {
            Method::GET => inspect::list(cx, &cx.access(credentials_of(cx, &req).as_deref())),
            _ => response::method_not_allowed("GET"),
        },
        p if p.starts_with(TOPICS_PREFIX) => {
            let topic = match topic_segment(&p[TOPICS_PREFIX.len()..]) {
                Ok(t) => t,
                Err(res) => return res.into(),
            };
            match *method {
                Method::GET => {
                    let one = inspect::one(cx.clone(), topic, credentials_of(cx, &req));
                    return Dispatched::Later(Box::pin(one));
                }
                _ => response::method_not_allowed("GET"),
            }
        }
        p if p.starts_with(TOPIC_PREFIX) => {
            let topic = match topic_segment(&p[TOPIC_PREFIX.len()..]) {
                Ok(t) => t,
                Err(res) => return res.into(),
            };
            let credentials = credentials_of(cx, &req);
            match *method {
                Method::PUT | Method::POST | Method::HEAD | Method::DELETE => {
                    return Dispatched::Body((req, topic, credentials));
                }
                Method::GET => {
                    let access = cx.access(credentials.as_deref());
                    return match subscribe::subscribe(cx, &req, &topic, &access) {
                        Subscribed::Now(res) => Dispatched::Done(res),
                        Subscribed::Later(later) => Dispatched::Later(later),
                    };
                }
                _ => response::method_not_allowed(TOPIC_METHODS),
            }
        }
        _ => not_found(),
    })
}

/// The request's bearer token, for the broker's authenticator.
fn credentials_of<B>(cx: &Context, req: &Request<B>) -> Option<String> {
    credentials::token_of(req, cx.query_token)
}

/// The methods a known path answers, `None` for unknown paths.
fn methods_of(cx: &Context, path: &str) -> Option<&'static str> {
    match path {
        p if cx.console && console::is_console_path(p) => Some(console::METHODS),
        "/"
        | "/v1"
        | "/v1/"
        | "/ping"
        | "/v1/time"
        | "/healthz"
        | "/readyz"
        | metrics::PATH
        | TOPICS => Some("GET"),
        auth_cookie::PATH => Some(auth_cookie::METHODS),
        p if p.starts_with(TOPICS_PREFIX) => Some("GET"),
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

/// The topic a path segment names, or the answer when it names none: a 400
/// with the reason (a `/` included: a bare 404 left a newcomer guessing).
// The answer goes straight back to the client, once: no point boxing it.
#[allow(clippy::result_large_err)]
fn topic_segment(raw: &str) -> Result<String, Response<DriftBody>> {
    topic_name(raw).map_err(|reason| response::error(StatusCode::BAD_REQUEST, reason))
}

/// Every answer to `HEAD`, whichever route gave it. It has no content:
/// hyper's HTTP/1.1 server drops it, but its HTTP/2 server would send DATA
/// frames, which an HTTP/2 client must treat as a protocol error (RFC 9113
/// §8.1.1). And a 400 becomes a 404: `HEAD` only asks whether the topic
/// exists, no topic has a malformed name, and there is no body to carry the
/// reason (the original, too, answers 404).
fn head_answer(mut res: Response<DriftBody>) -> Response<DriftBody> {
    if res.status() == StatusCode::BAD_REQUEST {
        return response::empty(StatusCode::NOT_FOUND);
    }
    *res.body_mut() = DriftBody::empty();
    res
}

/// Decodes the topic segment, or says why it names no topic.
fn topic_name(raw: &str) -> Result<String, &'static str> {
    const SLASH: &str = "topic name must not contain \"/\" (a topic name is one path segment)";
    if raw.contains('/') {
        return Err(SLASH);
    }
    if raw.is_empty() {
        return Err("topic name is empty");
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "topic name is not valid UTF-8 after percent-decoding")?;
    if decoded.contains('/') {
        return Err(SLASH);
    }
    Ok(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_segments() {
        assert_eq!(topic_name("a%20b"), Ok("a b".to_string()));
        assert!(topic_name("a/b").unwrap_err().contains("\"/\""));
        assert!(topic_name("a%2Fb").unwrap_err().contains("\"/\""));
        assert!(topic_name("").is_err());
        assert!(topic_name("%FF").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any path segment, percent-encoded or not, is a topic or a
        /// refusal with a reason; a name comes back from its encoding.
        #[test]
        fn any_topic_segment(raw in proptest::prelude::any::<String>()) {
            match topic_name(&raw) {
                Ok(name) => proptest::prop_assert!(!name.contains('/')),
                Err(reason) => proptest::prop_assert!(!reason.is_empty()),
            }
            let encoded = percent_encoding::utf8_percent_encode(
                &raw,
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string();
            let decoded = topic_name(&encoded);
            if raw.is_empty() || raw.contains('/') {
                proptest::prop_assert!(decoded.is_err());
            } else {
                proptest::prop_assert_eq!(decoded, Ok(raw));
            }
        }
    }
}
