//! [`ClientBuilder`]: the server URL and the options of a [`Client`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::{Scheme, Uri};

use super::Client;
use super::conn::Connector;
use crate::error::{Error, Result};
use crate::tls::{ALPN_H2, Trust, client_config, tls_connector};

/// Default for [`ClientBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ClientBuilder::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server is, parsed once from the URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `https` (TLS, ALPN h2) or `http` (h2c with prior knowledge).
    pub(crate) tls: bool,
    /// Host to resolve and to name in SNI, without IPv6 brackets.
    pub(crate) host: String,
    /// TCP port (the scheme's default when the URL has none).
    pub(crate) port: u16,
    /// `host[:port]` exactly as written, for the `:authority` pseudo-header.
    pub(crate) authority: String,
    /// Path prefix before `/v1/…`, without a trailing `/` (usually empty).
    pub(crate) base: String,
}

impl Target {
    /// Parses `https://host[:port][/prefix]` or `http://…`.
    pub(crate) fn parse(url: &str) -> Result<Target> {
        let bad = |why: &str| Error::invalid(format!("invalid server URL {url:?}: {why}"));
        let uri: Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            Some(_) => return Err(bad("the scheme must be https or http")),
            None => return Err(bad("expected https://host:port or http://host:port")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not supported (use a header)"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if uri.query().is_some() {
            return Err(bad("a query string is not supported"));
        }
        Ok(Target {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            base: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// Parses one URL or several separated by commas (servers that share
    /// topics, tried in turn), all `https` or all `http`.
    pub(crate) fn parse_list(urls: &str) -> Result<Vec<Target>> {
        let targets = urls
            .split(',')
            .map(Target::parse)
            .collect::<Result<Vec<_>>>()?;
        if targets.iter().any(|t| t.tls != targets[0].tls) {
            return Err(Error::invalid(format!(
                "the server URLs {urls:?} mix https and http: use one scheme for all"
            )));
        }
        Ok(targets)
    }

    /// The absolute URI of `path` (which starts with `/`) on this server.
    pub(crate) fn uri(&self, path: &str) -> Result<Uri> {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}{path}", self.authority, self.base)
            .parse()
            .map_err(|_| Error::invalid(format!("cannot form a request URI for {path:?}")))
    }

    /// `host:port` for messages.
    pub(crate) fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Options of a [`Client`]; made by [`Client::builder`].
///
/// ```
/// # fn demo() -> drift_core::Result<()> {
/// use std::time::Duration;
/// use drift_core::client::Client;
///
/// let client = Client::builder("https://127.0.0.1:5500")
///     .ca_file("cert.pem")
///     .header("authorization", "Bearer secret")
///     .request_timeout(Duration::from_secs(5))
///     .build();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    trust: Trust,
    insecure: bool,
    headers: Vec<(String, String)>,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
}

impl ClientBuilder {
    pub(crate) fn new(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            trust: Trust::System,
            insecure: false,
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }

    /// Which server certificates to accept (default: the system's roots).
    /// Ignored for `http://` URLs.
    pub fn trust(mut self, trust: Trust) -> ClientBuilder {
        self.trust = trust;
        self
    }

    /// Trust only the CA certificates in this PEM file (e.g. the certificate
    /// `drift serve` generated, or a server's own self-signed certificate,
    /// CA mark or not: see [`Trust`]). Same as `trust(Trust::CaFile(path))`.
    pub fn ca_file(self, path: impl Into<PathBuf>) -> ClientBuilder {
        self.trust(Trust::CaFile(path.into()))
    }

    /// Accept any server certificate, **for development servers only**: it
    /// gives no protection against an active attacker. Overrides
    /// [`ClientBuilder::trust`] when true.
    pub fn insecure(mut self, insecure: bool) -> ClientBuilder {
        self.insecure = insecure;
        self
    }

    /// Adds a header sent with every request (e.g. `Authorization`). May be
    /// called several times; names and values are checked by `build`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ClientBuilder {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `token` as `Authorization: Bearer TOKEN` with every request
    /// (a JWT the server's authentication accepts). The same as
    /// `header("authorization", format!("Bearer {token}"))`; the token is
    /// never in an error message.
    pub fn token(self, token: impl AsRef<str>) -> ClientBuilder {
        let value = format!("Bearer {}", token.as_ref().trim());
        self.header("authorization", value)
    }

    /// Time allowed to set up a connection: TCP, TLS and the HTTP/2
    /// handshake (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one request from sending to the whole response
    /// (default 30 s). For a subscription it bounds the wait for the
    /// response headers only; the stream itself may last forever.
    pub fn request_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.request_timeout = Some(timeout);
        self
    }

    /// No request timeout (only the connect timeout applies).
    pub fn no_request_timeout(mut self) -> ClientBuilder {
        self.request_timeout = None;
        self
    }

    /// Checks the URL, headers and trust settings and makes the client. It
    /// does not connect: the first request does.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::InvalidInput`] for a malformed URL or header;
    /// [`crate::ErrorKind::Io`] / [`crate::ErrorKind::Tls`] when a CA file
    /// cannot be read or holds no certificate.
    pub fn build(self) -> Result<Client> {
        let targets = Target::parse_list(&self.url)?;
        let target = &targets[0];
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| Error::invalid(format!("invalid header name {name:?}")))?;
            let v = HeaderValue::from_str(value.trim())
                .map_err(|_| Error::invalid(format!("invalid value for header {name:?}")))?;
            headers.append(n, v);
        }
        let tls = if target.tls {
            let trust = if self.insecure {
                Trust::Insecure
            } else {
                self.trust.clone()
            };
            Some(tls_connector(client_config(&trust, &[ALPN_H2])?))
        } else {
            None
        };
        let connector = Connector::new(targets, tls, self.connect_timeout);
        Ok(Client {
            inner: Arc::new(super::Inner {
                connector,
                headers,
                request_timeout: self.request_timeout,
                server_kind: Default::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("https://127.0.0.1:5500").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.base.as_str()),
            ("127.0.0.1", 5500, "")
        );
        let t = Target::parse("http://[::1]:8080/drift/").unwrap();
        assert!(!t.tls);
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert_eq!(t.authority, "[::1]:8080");
        assert_eq!(t.base, "/drift");
        assert_eq!(
            t.uri("/v1/time").unwrap().to_string(),
            "http://[::1]:8080/drift/v1/time"
        );
        assert_eq!(Target::parse("https://example.com").unwrap().port, 443);
        for bad in [
            "",
            "127.0.0.1:5500",
            "ftp://x",
            "https://",
            "https://u:p@host",
            "https://h/?q=1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn several_urls_name_several_servers_of_one_scheme() {
        let ts = Target::parse_list("http://a:1,http://b:2/p").unwrap();
        let names: Vec<String> = ts.iter().map(Target::display).collect();
        assert_eq!(names, ["a:1", "b:2"]);
        assert_eq!(ts[1].base, "/p");
        assert!(Target::parse_list("http://a:1,https://b:2").is_err());
        assert!(Target::parse_list("http://a:1,").is_err());
    }

    #[test]
    fn bad_headers_are_rejected_by_build() {
        let b = || Client::builder("http://127.0.0.1:1");
        assert!(b().header("authorization", "Bearer x").build().is_ok());
        assert!(b().header("bad name", "x").build().is_err());
        assert!(b().header("x-ok", "line\nbreak").build().is_err());
    }
}
