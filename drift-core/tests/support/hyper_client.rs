//! The hyper client: one HTTP/2 or HTTP/1.1 connection, requests answered
//! with a whole [`Reply`], and streaming GETs handed over as a [`Sub`].

use bytes::Bytes;
use drift_core::tls::{ALPN_H2, ALPN_HTTP11};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::body::{ReqBody, full};
use super::server::TestServer;
use super::sub::Sub;

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// One hyper client connection.
pub struct Client {
    sender: Sender,
    base: String,
    authority: String,
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Protocol version the response came over.
    pub version: Version,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// A header as text (panics when it is not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// A header parsed as a number; panics when missing or malformed.
    pub fn num(&self, name: &str) -> u64 {
        let v = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"));
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: {v:?} is not a number"))
    }

    /// The body as UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .map(|v| v.to_str().expect("visible ASCII header"))
}

impl Client {
    /// Connects to `server` speaking `version` (HTTP/2 or HTTP/1.1).
    pub async fn connect(server: &TestServer, version: Version) -> Client {
        let h2 = version == Version::HTTP_2;
        if server.is_tls() {
            let alpn: &[u8] = if h2 { ALPN_H2 } else { ALPN_HTTP11 };
            let tls = server.tls(&[alpn]).await;
            // The server must have agreed to what we offered.
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            Client::handshake(tls, h2, server).await
        } else {
            Client::handshake(server.tcp().await, h2, server).await
        }
    }

    /// Runs the HTTP handshake over an established transport.
    pub async fn handshake<T>(io: T, h2: bool, server: &TestServer) -> Client
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        let sender = if h2 {
            let (send, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H2(send)
        } else {
            let (send, conn) = http1::handshake(io).await.expect("h1 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H1(send)
        };
        Client {
            sender,
            base: server.url.clone(),
            authority: server.authority(),
        }
    }

    /// Another client on the same HTTP/2 connection (a multiplexed stream).
    pub fn multiplexed(&self) -> Client {
        match &self.sender {
            Sender::H2(s) => Client {
                sender: Sender::H2(s.clone()),
                base: self.base.clone(),
                authority: self.authority.clone(),
            },
            Sender::H1(_) => panic!("HTTP/1.1 connections cannot multiplex"),
        }
    }

    /// Sends one request; transport errors are returned, not panicked on.
    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: ReqBody,
    ) -> hyper::Result<Response<Incoming>> {
        let mut req = Request::builder().method(method);
        req = match &self.sender {
            // HTTP/2 takes :scheme and :authority from an absolute URI.
            Sender::H2(_) => req.uri(format!("{}{path}", self.base)),
            Sender::H1(_) => req
                .uri(path)
                .header(http::header::HOST, self.authority.as_str()),
        };
        for (k, v) in headers {
            req = req.header(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(v.as_bytes()).expect("header value"),
            );
        }
        let req = req.body(body).expect("request");
        match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: ReqBody,
    ) -> Reply {
        let res = self
            .try_send(method.clone(), path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        read_reply(res).await
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], full("")).await
    }

    /// `GET path` with headers.
    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path, headers, full("")).await
    }

    /// `HEAD path`.
    pub async fn head(&mut self, path: &str) -> Reply {
        self.request(Method::HEAD, path, &[], full("")).await
    }

    /// `PUT path` with `body`.
    pub async fn put(&mut self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.request(Method::PUT, path, &[], full(body)).await
    }

    /// `POST path` with `body`.
    pub async fn post(&mut self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.request(Method::POST, path, &[], full(body)).await
    }

    /// `POST path` with headers and `body`.
    pub async fn post_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.request(Method::POST, path, headers, full(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&mut self, path: &str) -> Reply {
        self.request(Method::DELETE, path, &[], full("")).await
    }

    /// Publishes `body` to `topic` and checks the 200.
    pub async fn publish(&mut self, topic: &str, body: impl Into<Bytes>) -> Reply {
        let r = self.post(&format!("/v1/t/{topic}"), body).await;
        assert_eq!(r.status, StatusCode::OK, "publish to {topic}: {r:?}");
        r
    }

    /// `GET path` with headers, returning as soon as the response headers
    /// are in; the body is read from the returned [`Sub`].
    pub async fn subscribe(&mut self, path: &str, headers: &[(&str, &str)]) -> Sub {
        let res = self
            .try_send(Method::GET, path, headers, full(""))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Sub::new(res)
    }
}

/// Reads a whole response.
pub async fn read_reply(res: Response<Incoming>) -> Reply {
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    }
}
