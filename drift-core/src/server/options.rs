//! Every option of a server, once ([`OPTIONS`]): its name, the kind of
//! value it takes, a line of help, and how a value changes a
//! [`ServerOptions`]. `drift serve` has a flag for each (`--history-length`
//! for `history_length`), `drift.Server` a keyword argument and the C
//! library a setter, so the three mirror each other; each takes its
//! defaults from [`ServerConfig`] through this table
//! ([`ServerOption::default_value`]) instead of spelling them out again.
//!
//! A value arrives typed, as an [`OptionValue`] a binding made from its own
//! types (Python's `int`, C's `uint64_t`), or as text that the one parser of
//! the option's [`OptionKind`] reads ([`ServerOptions::set_text`]: C's
//! `drift_server_config_set`, tests, configuration files).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::{ServerConfig, TlsMode, parse_listen};
use crate::error::{Error, ErrorKind, Result};

/// What kind of value an option takes, and so how its text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionKind {
    /// `true` or `false` (as text also `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// A whole number of things: messages, topics, threads.
    Count,
    /// A whole number of bytes; as text also with a `KiB`, `MiB` or `GiB`
    /// suffix (`64MiB`).
    Bytes,
    /// A length of time; as text seconds (`15`, `0.5`) or with a unit
    /// (`500ms`, `2s`, `1m`, `1h`). The C setters take milliseconds (`_ms`)
    /// or seconds (`_secs`), Python seconds as a number.
    Duration,
    /// Text, such as an address.
    Text,
    /// A file or directory, or none (the empty text).
    Path,
    /// Several texts; as one text, separated by commas.
    List,
}

/// The value of an option: one variant per [`OptionKind`], except that
/// counts and byte sizes are both a `Number`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionValue {
    /// Of a [`OptionKind::Bool`] option.
    Bool(bool),
    /// Of a [`OptionKind::Count`] or [`OptionKind::Bytes`] option.
    Number(u64),
    /// Of a [`OptionKind::Duration`] option.
    Duration(Duration),
    /// Of a [`OptionKind::Text`] option.
    Text(String),
    /// Of a [`OptionKind::Path`] option; `None` for none.
    Path(Option<PathBuf>),
    /// Of a [`OptionKind::List`] option.
    List(Vec<String>),
}

/// One server option: see the [module docs](self).
#[derive(Debug)]
pub struct ServerOption {
    /// The name in Python and C, and with `-` for `_` the `drift serve`
    /// flag: `queue_messages`, `--queue-messages`.
    pub name: &'static str,
    /// What it takes.
    pub kind: OptionKind,
    /// One line for people.
    pub help: &'static str,
    /// Whether 0 turns the setting off (no bound, no heartbeat): a binding
    /// with a value for "none" (Python's `None`) passes 0 for it.
    pub zero_is_none: bool,
    get: fn(&ServerOptions) -> OptionValue,
    set: fn(&mut ServerOptions, OptionValue) -> Result<(), String>,
}

/// The settings of a server as options set them: a [`ServerConfig`] and
/// the three options that choose its TLS mode, which
/// [`ServerOptions::to_config`] puts together (and refuses when they
/// disagree).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Every setting but TLS. Its `tls` is what the server uses when none of
    /// `cert`, `key` and `h2c` is set: a generated certificate, or an
    /// identity a program put there.
    pub config: ServerConfig,
    /// The certificate chain file (option `cert`).
    pub cert: Option<PathBuf>,
    /// The private key file (option `key`).
    pub key: Option<PathBuf>,
    /// Cleartext instead of TLS (option `h2c`).
    pub h2c: bool,
}

// ===== the table =====

use OptionKind::{Bool, Bytes, Count, List, Path, Text};
use OptionValue as V;

/// Every server option, in the order `drift serve --help` lists them.
pub static OPTIONS: &[ServerOption] = &[
    ServerOption {
        name: "listen",
        kind: Text,
        help: "Address and port to listen on: HOST:PORT, [IPv6]:PORT or PORT (0: any free port).",
        zero_is_none: false,
        get: |o| V::Text(o.config.listen.to_string()),
        set: |o, v| {
            o.config.listen = parse_listen(&v.text()?).map_err(|e| e.message().to_owned())?;
            Ok(())
        },
    },
    ServerOption {
        name: "cert",
        kind: Path,
        help: "TLS certificate chain (PEM file), with key; without both a certificate is generated.",
        zero_is_none: false,
        get: |o| V::Path(o.cert.clone()),
        set: |o, v| v.path().map(|x| o.cert = x),
    },
    ServerOption {
        name: "key",
        kind: Path,
        help: "TLS private key (PEM file), with cert.",
        zero_is_none: false,
        get: |o| V::Path(o.key.clone()),
        set: |o, v| v.path().map(|x| o.key = x),
    },
    ServerOption {
        name: "h2c",
        kind: Bool,
        help: "Serve cleartext HTTP/2 (prior knowledge) and HTTP/1.1 instead of TLS.",
        zero_is_none: false,
        get: |o| V::Bool(o.h2c),
        set: |o, v| v.bool().map(|x| o.h2c = x),
    },
    ServerOption {
        name: "cert_dir",
        kind: Path,
        help: "Where a generated certificate is written (and reused from); none: in memory only.",
        zero_is_none: false,
        get: |o| V::Path(o.config.cert_dir.clone()),
        set: |o, v| v.path().map(|x| o.config.cert_dir = x),
    },
    ServerOption {
        name: "data_dir",
        kind: Path,
        help: "Keep topics, their epochs and their history in this directory, across restarts and crashes; none: in memory only.",
        zero_is_none: false,
        get: |o| V::Path(o.config.data_dir.clone()),
        set: |o, v| v.path().map(|x| o.config.data_dir = x),
    },
    ServerOption {
        name: "redis",
        kind: Text,
        help: "Share topics, their epochs and their history with every node using this Redis server: redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS; empty: this node only.",
        zero_is_none: false,
        get: |o| V::Text(o.config.redis.clone().unwrap_or_default()),
        set: |o, v| {
            let url = v.text()?;
            o.config.redis = (!url.is_empty()).then_some(url);
            Ok(())
        },
    },
    ServerOption {
        name: "fsync",
        kind: Text,
        help: "With data_dir: always (answer a publish once on stable storage) or an interval such as 100ms (once the OS has it; synced every interval).",
        zero_is_none: false,
        get: |o| V::Text(o.config.fsync.to_string()),
        set: |o, v| {
            o.config.fsync = v
                .text()?
                .parse()
                .map_err(|e: Error| e.message().to_owned())?;
            Ok(())
        },
    },
    ServerOption {
        name: "history_length",
        kind: Count,
        help: "History capacity per topic, in messages (0: no history).",
        zero_is_none: false,
        get: |o| number(o.config.broker.history_length),
        set: |o, v| v.usize().map(|x| o.config.broker.history_length = x),
    },
    ServerOption {
        name: "history_bytes",
        kind: Bytes,
        help: "History bound per topic, in bytes, each message counted with 200 bytes of overhead (0: max_history_bytes).",
        zero_is_none: true,
        get: |o| V::Number(o.config.broker.history_bytes.unwrap_or(0)),
        set: |o, v| {
            o.config.broker.history_bytes = Some(v.number()?).filter(|&n| n > 0);
            Ok(())
        },
    },
    ServerOption {
        name: "history_max_age",
        kind: OptionKind::Duration,
        help: "History bound per topic by age (0: max_history_age, none when that is none).",
        zero_is_none: true,
        get: |o| duration_or_zero(o.config.broker.history_max_age),
        set: |o, v| {
            v.duration_or_none()
                .map(|x| o.config.broker.history_max_age = x)
        },
    },
    ServerOption {
        name: "max_history_length",
        kind: Count,
        help: "The largest historyLength a PUT may ask for (more is refused with 400); history_length must fit. At most 1000000.",
        zero_is_none: false,
        get: |o| number(o.config.broker.max_history_length),
        set: |o, v| v.usize().map(|x| o.config.broker.max_history_length = x),
    },
    ServerOption {
        name: "max_history_bytes",
        kind: Bytes,
        help: "The largest maxBytes a PUT may ask for (more is refused with 400); history_bytes must fit.",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.max_history_bytes),
        set: |o, v| v.number().map(|x| o.config.broker.max_history_bytes = x),
    },
    ServerOption {
        name: "max_history_age",
        kind: OptionKind::Duration,
        help: "The longest maxAge a PUT may ask for (longer is refused with 400), and the age bound of topics without one; history_max_age must fit (0: none).",
        zero_is_none: true,
        get: |o| duration_or_zero(o.config.broker.max_history_age),
        set: |o, v| {
            v.duration_or_none()
                .map(|x| o.config.broker.max_history_age = x)
        },
    },
    ServerOption {
        name: "history_memory",
        kind: Bytes,
        help: "The history memory budget: retained messages held in memory, each counted with 200 bytes of overhead, over all topics; past it the oldest messages of the topics holding the most are evicted (the disk store evicts from its cache only).",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.history_memory),
        set: |o, v| v.number().map(|x| o.config.broker.history_memory = x),
    },
    ServerOption {
        name: "max_message_bytes",
        kind: Bytes,
        help: "Largest message accepted, in bytes.",
        zero_is_none: false,
        get: |o| number(o.config.broker.max_message_bytes),
        set: |o, v| v.usize().map(|x| o.config.broker.max_message_bytes = x),
    },
    ServerOption {
        name: "max_topics",
        kind: Count,
        help: "Most topics held at once.",
        zero_is_none: false,
        get: |o| number(o.config.broker.max_topics),
        set: |o, v| v.usize().map(|x| o.config.broker.max_topics = x),
    },
    ServerOption {
        name: "max_subscriptions",
        kind: Count,
        help: "Most subscriptions held at once.",
        zero_is_none: false,
        get: |o| number(o.config.broker.max_subscriptions),
        set: |o, v| v.usize().map(|x| o.config.broker.max_subscriptions = x),
    },
    ServerOption {
        name: "unused_topic_expiry",
        kind: OptionKind::Duration,
        help: "Forget a topic that subscribers made by asking for it (no PUT, nothing published) this long after its last subscriber left (0: never).",
        zero_is_none: true,
        get: |o| duration_or_zero(o.config.broker.unused_topic_expiry),
        set: |o, v| {
            v.duration_or_none()
                .map(|x| o.config.broker.unused_topic_expiry = x)
        },
    },
    ServerOption {
        name: "connection_subscriptions",
        kind: Count,
        help: "Subscriptions one connection may hold open (0: unlimited); more are refused with 429.",
        zero_is_none: true,
        get: |o| number(o.config.broker.quotas.connection.subscriptions),
        set: |o, v| {
            v.usize()
                .map(|x| o.config.broker.quotas.connection.subscriptions = x)
        },
    },
    ServerOption {
        name: "connection_topic_rate",
        kind: Count,
        help: "Topics one connection may create per second, after a burst of connection_topic_burst (0: unlimited); more are refused with 429.",
        zero_is_none: true,
        get: |o| V::Number(o.config.broker.quotas.connection.topics.per_second),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.connection.topics.per_second = x)
        },
    },
    ServerOption {
        name: "connection_topic_burst",
        kind: Count,
        help: "Topics one connection may create at once (0: connection_topic_rate).",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.quotas.connection.topics.burst),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.connection.topics.burst = x)
        },
    },
    ServerOption {
        name: "connection_publish_rate",
        kind: Count,
        help: "Messages one connection may publish per second, after a burst of connection_publish_burst (0: unlimited); a POST over it gets 429, a streamed publish is slowed to it.",
        zero_is_none: true,
        get: |o| V::Number(o.config.broker.quotas.connection.publish.per_second),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.connection.publish.per_second = x)
        },
    },
    ServerOption {
        name: "connection_publish_burst",
        kind: Count,
        help: "Messages one connection may publish at once (0: connection_publish_rate).",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.quotas.connection.publish.burst),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.connection.publish.burst = x)
        },
    },
    ServerOption {
        name: "subject_subscriptions",
        kind: Count,
        help: "Subscriptions one subject (a token's sub), over all of its connections, may hold open (0: unlimited); more are refused with 429.",
        zero_is_none: true,
        get: |o| number(o.config.broker.quotas.subject.subscriptions),
        set: |o, v| {
            v.usize()
                .map(|x| o.config.broker.quotas.subject.subscriptions = x)
        },
    },
    ServerOption {
        name: "subject_topic_rate",
        kind: Count,
        help: "Topics one subject (a token's sub), over all of its connections, may create per second, after a burst of subject_topic_burst (0: unlimited); more are refused with 429.",
        zero_is_none: true,
        get: |o| V::Number(o.config.broker.quotas.subject.topics.per_second),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.subject.topics.per_second = x)
        },
    },
    ServerOption {
        name: "subject_topic_burst",
        kind: Count,
        help: "Topics one subject (a token's sub), over all of its connections, may create at once (0: subject_topic_rate).",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.quotas.subject.topics.burst),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.subject.topics.burst = x)
        },
    },
    ServerOption {
        name: "subject_publish_rate",
        kind: Count,
        help: "Messages one subject (a token's sub), over all of its connections, may publish per second, after a burst of subject_publish_burst (0: unlimited); a POST over it gets 429, a streamed publish is slowed to it.",
        zero_is_none: true,
        get: |o| V::Number(o.config.broker.quotas.subject.publish.per_second),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.subject.publish.per_second = x)
        },
    },
    ServerOption {
        name: "subject_publish_burst",
        kind: Count,
        help: "Messages one subject (a token's sub), over all of its connections, may publish at once (0: subject_publish_rate).",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.quotas.subject.publish.burst),
        set: |o, v| {
            v.number()
                .map(|x| o.config.broker.quotas.subject.publish.burst = x)
        },
    },
    ServerOption {
        name: "queue_messages",
        kind: Count,
        help: "How many messages a subscriber may fall behind before it is slow.",
        zero_is_none: false,
        get: |o| number(o.config.broker.queue_messages),
        set: |o, v| v.usize().map(|x| o.config.broker.queue_messages = x),
    },
    ServerOption {
        name: "queue_bytes",
        kind: Bytes,
        help: "How many bytes (payload and 200 per message) a subscriber may fall behind before it is slow.",
        zero_is_none: false,
        get: |o| V::Number(o.config.broker.queue_bytes),
        set: |o, v| v.number().map(|x| o.config.broker.queue_bytes = x),
    },
    ServerOption {
        name: "heartbeat",
        kind: OptionKind::Duration,
        help: "Interval of heartbeats on idle SSE and Drift-frames streams (0: none).",
        zero_is_none: true,
        get: |o| duration_or_zero(o.config.service.heartbeat),
        set: |o, v| v.duration_or_none().map(|x| o.config.service.heartbeat = x),
    },
    ServerOption {
        name: "require_create",
        kind: Bool,
        help: "Require PUT before a topic can be published to or subscribed to.",
        zero_is_none: false,
        get: |o| V::Bool(o.config.broker.require_create),
        set: |o, v| v.bool().map(|x| o.config.broker.require_create = x),
    },
    ServerOption {
        name: "max_header_bytes",
        kind: Bytes,
        help: "Largest request header block, in bytes.",
        zero_is_none: false,
        get: |o| number(o.config.max_header_bytes),
        set: |o, v| v.usize().map(|x| o.config.max_header_bytes = x),
    },
    ServerOption {
        name: "max_streams",
        kind: Count,
        help: "Concurrent HTTP/2 streams per connection.",
        zero_is_none: false,
        get: |o| V::Number(u64::from(o.config.max_concurrent_streams)),
        set: |o, v| v.int().map(|x| o.config.max_concurrent_streams = x),
    },
    ServerOption {
        name: "max_connections",
        kind: Count,
        help: "Most connections served at once (0: the open-file limit less 64); more are closed at once.",
        zero_is_none: false,
        get: |o| number(o.config.max_connections),
        set: |o, v| v.usize().map(|x| o.config.max_connections = x),
    },
    ServerOption {
        name: "handshake_timeout",
        kind: OptionKind::Duration,
        help: "How long a new connection has for its TLS handshake and HTTP/2 preface or first request.",
        zero_is_none: false,
        get: |o| V::Duration(o.config.handshake_timeout),
        set: |o, v| v.duration().map(|x| o.config.handshake_timeout = x),
    },
    ServerOption {
        name: "idle_timeout",
        kind: OptionKind::Duration,
        help: "Close a connection with no request or subscription open for this long (0: never).",
        zero_is_none: true,
        get: |o| duration_or_zero(o.config.idle_timeout),
        set: |o, v| v.duration_or_none().map(|x| o.config.idle_timeout = x),
    },
    ServerOption {
        name: "cors_origin",
        kind: List,
        help: "Origins allowed to call the API from a browser, with credentials (* for any, without); none by default.",
        zero_is_none: false,
        get: |o| {
            V::List(
                o.config
                    .service
                    .cors
                    .as_ref()
                    .map_or_else(Vec::new, |c| c.allow_origins.clone()),
            )
        },
        set: |o, v| {
            let origins = v.list()?;
            let cors = super::Cors {
                allow_origins: origins,
            };
            o.config.service.cors = (!cors.allow_origins.is_empty()).then_some(cors);
            Ok(())
        },
    },
    ServerOption {
        name: "jwt_secret_file",
        kind: Path,
        help: "Authenticate with HS256 JWTs signed with the secret in this file (at least 32 bytes); everything not granted is then refused.",
        zero_is_none: false,
        get: |o| V::Path(o.config.jwt.secret_file.clone()),
        set: |o, v| v.path().map(|x| o.config.jwt.secret_file = x),
    },
    ServerOption {
        name: "jwt_public_key",
        kind: List,
        help: "Authenticate with RS256/ES256 JWTs signed by the key in this PEM file; repeatable, so that keys can be rotated.",
        zero_is_none: false,
        get: |o| {
            V::List(
                o.config
                    .jwt
                    .public_key_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            )
        },
        set: |o, v| {
            o.config.jwt.public_key_files = v.list()?.into_iter().map(PathBuf::from).collect();
            Ok(())
        },
    },
    ServerOption {
        name: "jwt_issuer",
        kind: Text,
        help: "The iss a token must have (none: not checked).",
        zero_is_none: false,
        get: |o| V::Text(o.config.jwt.issuer.clone().unwrap_or_default()),
        set: |o, v| {
            o.config.jwt.issuer = Some(v.text()?).filter(|t| !t.is_empty());
            Ok(())
        },
    },
    ServerOption {
        name: "jwt_audience",
        kind: Text,
        help: "An aud a token must have (none: not checked).",
        zero_is_none: false,
        get: |o| V::Text(o.config.jwt.audience.clone().unwrap_or_default()),
        set: |o, v| {
            o.config.jwt.audience = Some(v.text()?).filter(|t| !t.is_empty());
            Ok(())
        },
    },
    ServerOption {
        name: "jwt_allow_no_exp",
        kind: Bool,
        help: "Accept tokens without exp (they never expire).",
        zero_is_none: false,
        get: |o| V::Bool(o.config.jwt.allow_no_exp),
        set: |o, v| v.bool().map(|x| o.config.jwt.allow_no_exp = x),
    },
    ServerOption {
        name: "anonymous",
        kind: List,
        help: "With JWT: what a caller without a token may subscribe to, as topic patterns (subscribe: every topic); none by default.",
        zero_is_none: false,
        get: |o| {
            V::List(
                o.config
                    .jwt
                    .anonymous
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
            )
        },
        set: |o, v| {
            o.config.jwt.anonymous = crate::broker::JwtConfig::anonymous_patterns(&v.list()?);
            Ok(())
        },
    },
    ServerOption {
        name: "allow_query_token",
        kind: Bool,
        help: "Also take a token from the access_token query parameter (RFC 6750; URLs end up in logs and histories, so RFC 9700 advises against it).",
        zero_is_none: false,
        get: |o| V::Bool(o.config.service.query_token),
        set: |o, v| v.bool().map(|x| o.config.service.query_token = x),
    },
    ServerOption {
        name: "metrics",
        kind: Bool,
        help: "Count what the server does and answer GET /metrics (Prometheus); off: no counting, /metrics is 404.",
        zero_is_none: false,
        get: |o| V::Bool(o.config.broker.metrics),
        set: |o, v| v.bool().map(|x| o.config.broker.metrics = x),
    },
    ServerOption {
        name: "metrics_listen",
        kind: Text,
        help: "Serve /metrics on this address of its own (HTTP/1.1 and h2c, no authentication) instead of on listen; empty: on listen, to a grant with admin rights.",
        zero_is_none: false,
        get: |o| {
            V::Text(
                o.config
                    .metrics_listen
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            )
        },
        set: |o, v| {
            let text = v.text()?;
            o.config.metrics_listen = if text.is_empty() {
                None
            } else {
                Some(parse_listen(&text).map_err(|e| e.message().to_owned())?)
            };
            Ok(())
        },
    },
    ServerOption {
        name: "console",
        kind: Text,
        help: "Serve the web console at /console: auto (only when listening on loopback), on or off.",
        zero_is_none: false,
        get: |o| V::Text(o.config.service.console.to_string()),
        set: |o, v| {
            o.config.service.console = v.text()?.parse()?;
            Ok(())
        },
    },
    ServerOption {
        name: "threads",
        kind: Count,
        help: "Connection threads (0: one per core); each runs its connections from start to end.",
        zero_is_none: false,
        get: |o| number(o.config.threads),
        set: |o, v| v.usize().map(|x| o.config.threads = x),
    },
    ServerOption {
        name: "shutdown_grace",
        kind: OptionKind::Duration,
        help: "How long stopping waits for requests in flight before closing their connections.",
        zero_is_none: false,
        get: |o| V::Duration(o.config.shutdown_grace),
        set: |o, v| v.duration().map(|x| o.config.shutdown_grace = x),
    },
];

/// The option called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static ServerOption> {
    OPTIONS.iter().find(|o| o.name == name)
}

fn number(n: usize) -> OptionValue {
    // usize is at most 64 bits wide on every platform Drift builds for.
    V::Number(u64::try_from(n).unwrap_or(u64::MAX))
}

fn duration_or_zero(d: Option<Duration>) -> OptionValue {
    V::Duration(d.unwrap_or(Duration::ZERO))
}

// ===== impl ServerOption =====

impl ServerOption {
    /// The `drift serve` flag: `--queue-messages`.
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }

    /// The value in `options`.
    pub fn value(&self, options: &ServerOptions) -> OptionValue {
        (self.get)(options)
    }

    /// The default of an embedded server ([`ServerConfig::embedded`]).
    pub fn default_value(&self) -> OptionValue {
        self.value(&ServerOptions::embedded())
    }

    /// Reads `text` as the option's kind (see [`OptionKind`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] such as `option queue_messages: expected
    /// a whole number, got 'x'`.
    pub fn parse(&self, text: &str) -> Result<OptionValue> {
        self.kind.parse(text).ok_or_else(|| {
            self.error(format_args!(
                "expected {}, got '{text}'",
                self.kind.expected()
            ))
        })
    }

    /// An invalid-input error about this option: `option NAME: WHY`.
    pub fn error(&self, why: impl fmt::Display) -> Error {
        Error::new(
            ErrorKind::InvalidInput,
            format!("option {}: {why}", self.name),
        )
    }
}

// ===== impl OptionKind =====

impl OptionKind {
    /// What a value of this kind looks like, for error messages: "a whole
    /// number".
    pub fn expected(self) -> &'static str {
        match self {
            Bool => "true or false",
            Count => "a whole number",
            Bytes => "a whole number of bytes (e.g. 65536 or 64MiB)",
            OptionKind::Duration => "a duration (seconds, or with ms, s, m or h)",
            Text => "text",
            Path => "a path",
            List => "a comma-separated list",
        }
    }

    /// Reads `text` as this kind; `None` when it is not one.
    pub fn parse(self, text: &str) -> Option<OptionValue> {
        let t = text.trim();
        Some(match self {
            Bool => V::Bool(match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return None,
            }),
            Count => V::Number(whole(t)?),
            Bytes => V::Number(bytes(t)?),
            OptionKind::Duration => V::Duration(duration(t)?),
            Text => V::Text(text.to_owned()),
            Path => V::Path((!t.is_empty()).then(|| PathBuf::from(text))),
            List => V::List(
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        })
    }

    /// Whether `value` is of this kind.
    pub fn accepts(self, value: &OptionValue) -> bool {
        matches!(
            (self, value),
            (Bool, V::Bool(_))
                | (Count | Bytes, V::Number(_))
                | (OptionKind::Duration, V::Duration(_))
                | (Text, V::Text(_))
                | (Path, V::Path(_))
                | (List, V::List(_))
        )
    }
}

/// Digits only: no sign, no fraction.
fn whole(t: &str) -> Option<u64> {
    t.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| t.parse().ok())?
}

fn bytes(t: &str) -> Option<u64> {
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    whole(n)?.checked_mul(scale)
}

fn duration(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    let n: f64 = n.trim().parse().ok()?;
    // Refuses negative, NaN and infinite numbers of seconds.
    Duration::try_from_secs_f64(n * scale).ok()
}

// ===== impl OptionValue =====

impl OptionValue {
    /// What this is, for an error message about a value of the wrong kind.
    fn what(&self) -> &'static str {
        match self {
            V::Bool(_) => "a bool",
            V::Number(_) => "a number",
            V::Duration(_) => "a duration",
            V::Text(_) => "text",
            V::Path(_) => "a path",
            V::List(_) => "a list",
        }
    }

    fn bool(self) -> Result<bool, String> {
        match self {
            V::Bool(b) => Ok(b),
            other => Err(other.mismatch()),
        }
    }

    fn number(self) -> Result<u64, String> {
        match self {
            V::Number(n) => Ok(n),
            other => Err(other.mismatch()),
        }
    }

    /// A number that must fit `T` (a `usize` or `u32` setting).
    fn int<T: TryFrom<u64>>(self) -> Result<T, String> {
        let n = self.number()?;
        T::try_from(n).map_err(|_| format!("{n} is too large"))
    }

    fn usize(self) -> Result<usize, String> {
        self.int()
    }

    fn duration(self) -> Result<Duration, String> {
        match self {
            V::Duration(d) => Ok(d),
            other => Err(other.mismatch()),
        }
    }

    /// A duration where 0 means none.
    fn duration_or_none(self) -> Result<Option<Duration>, String> {
        Ok(Some(self.duration()?).filter(|d| !d.is_zero()))
    }

    fn text(self) -> Result<String, String> {
        match self {
            V::Text(t) => Ok(t),
            other => Err(other.mismatch()),
        }
    }

    fn path(self) -> Result<Option<PathBuf>, String> {
        match self {
            V::Path(p) => Ok(p),
            other => Err(other.mismatch()),
        }
    }

    fn list(self) -> Result<Vec<String>, String> {
        match self {
            V::List(l) => Ok(l),
            other => Err(other.mismatch()),
        }
    }

    fn mismatch(&self) -> String {
        format!("got {}", self.what())
    }
}

/// The text [`OptionKind::parse`] reads back as the same value.
impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            V::Bool(b) => write!(f, "{b}"),
            V::Number(n) => write!(f, "{n}"),
            V::Duration(d) if d.subsec_nanos() == 0 => write!(f, "{}s", d.as_secs()),
            V::Duration(d) if d.subsec_nanos() % 1_000_000 == 0 => {
                write!(f, "{}ms", d.as_millis())
            }
            V::Duration(d) => write!(f, "{}", d.as_secs_f64()),
            V::Text(t) => f.write_str(t),
            V::Path(p) => write!(
                f,
                "{}",
                p.as_deref().unwrap_or(std::path::Path::new("")).display()
            ),
            V::List(l) => f.write_str(&l.join(",")),
        }
    }
}

// ===== impl ServerOptions =====

impl ServerOptions {
    /// The options of an embedded server ([`ServerConfig::embedded`]): the
    /// defaults of the C and Python servers.
    pub fn embedded() -> ServerOptions {
        ServerOptions::from(ServerConfig::embedded())
    }

    /// Sets option `name` to `value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] naming the option when there is none
    /// called `name`, `value` is of another kind, or it cannot be used
    /// (an address that does not parse, a number too large). A setting that
    /// only fails together with others (zero limits) is refused by
    /// [`ServerOptions::validate`].
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<()> {
        let option = find(name)
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("no option {name:?}")))?;
        if !option.kind.accepts(&value) {
            return Err(option.error(format_args!(
                "expected {}, got {}",
                option.kind.expected(),
                value.what()
            )));
        }
        (option.set)(self, value).map_err(|why| option.error(why))
    }

    /// Sets option `name` from text, read as its kind (see [`OptionKind`]).
    ///
    /// # Errors
    ///
    /// As [`ServerOptions::set`], and when `text` is not of the option's
    /// kind ([`ServerOption::parse`]).
    pub fn set_text(&mut self, name: &str, text: &str) -> Result<()> {
        let option = find(name)
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("no option {name:?}")))?;
        self.set(name, option.parse(text)?)
    }

    /// The value of option `name`, if there is one called that.
    pub fn get(&self, name: &str) -> Option<OptionValue> {
        find(name).map(|o| o.value(self))
    }

    /// Refuses limits that cannot work ([`ServerConfig::validate`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        self.config.validate()
    }

    /// The configuration to start a server with: TLS from `cert` and `key`
    /// (both or neither), or h2c (with neither).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] when `cert`, `key` and `h2c` disagree, or
    /// as [`ServerOptions::validate`].
    pub fn to_config(&self) -> Result<ServerConfig> {
        let tls = match (&self.cert, &self.key, self.h2c) {
            (None, None, true) => TlsMode::H2c,
            (Some(cert), Some(key), false) => TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (None, None, false) => self.config.tls.clone(),
            (_, _, true) => {
                return Err(Error::invalid(
                    "options cert/key and h2c exclude each other",
                ));
            }
            _ => {
                return Err(Error::invalid(
                    "options cert and key must be given together",
                ));
            }
        };
        let config = ServerConfig {
            tls,
            ..self.config.clone()
        };
        config.validate()?;
        Ok(config)
    }
}

/// The options that make `config` (its TLS files or h2c become `cert`,
/// `key` and `h2c`).
impl From<ServerConfig> for ServerOptions {
    fn from(mut config: ServerConfig) -> ServerOptions {
        let (mut cert, mut key, mut h2c) = (None, None, false);
        match std::mem::take(&mut config.tls) {
            TlsMode::Files { cert: c, key: k } => (cert, key) = (Some(c), Some(k)),
            TlsMode::H2c => h2c = true,
            other => config.tls = other,
        }
        ServerOptions {
            config,
            cert,
            key,
            h2c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::BrokerConfig;
    use crate::server::ServiceConfig;

    #[test]
    fn names_are_unique_snake_case_with_help() {
        for (i, o) in OPTIONS.iter().enumerate() {
            assert!(
                o.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                o.name
            );
            assert!(!o.help.is_empty() && o.help.ends_with('.'), "{}", o.name);
            assert!(OPTIONS[..i].iter().all(|p| p.name != o.name), "{}", o.name);
            assert!(o.kind.accepts(&o.default_value()), "{}", o.name);
            assert_eq!(find(o.name).map(|f| f.name), Some(o.name));
        }
        assert_eq!(find("max_streams").unwrap().flag(), "--max-streams");
        assert!(find("nonsense").is_none());
    }

    #[test]
    fn defaults_come_from_the_embedded_config() {
        let embedded = ServerConfig::embedded();
        let value = |name: &str| find(name).unwrap().default_value();
        assert_eq!(value("listen"), V::Text(embedded.listen.to_string()));
        assert_eq!(
            value("history_length"),
            V::Number(BrokerConfig::default().history_length as u64)
        );
        assert_eq!(
            value("heartbeat"),
            V::Duration(ServiceConfig::default().heartbeat.unwrap())
        );
        assert_eq!(value("history_max_age"), V::Duration(Duration::ZERO));
        assert_eq!(
            value("shutdown_grace"),
            V::Duration(embedded.shutdown_grace)
        );
        assert_eq!(value("cert"), V::Path(None));
        assert_eq!(value("cors_origin"), V::List(vec![]));
        assert_eq!(value("h2c"), V::Bool(false));
        assert_eq!(value("console"), V::Text("auto".into()));
    }

    /// Each default, written as text and read back, is the same value, and
    /// setting it changes nothing.
    #[test]
    fn every_default_round_trips_through_text() {
        for o in OPTIONS {
            let default = o.default_value();
            assert_eq!(
                o.parse(&default.to_string()).unwrap(),
                default,
                "{}",
                o.name
            );
            let mut options = ServerOptions::embedded();
            options.set(o.name, default.clone()).unwrap();
            assert_eq!(o.value(&options), default, "{}", o.name);
        }
        for d in [Duration::from_millis(1500), Duration::from_micros(3)] {
            let v = V::Duration(d);
            assert_eq!(OptionKind::Duration.parse(&v.to_string()), Some(v));
        }
    }

    /// Each quota option sets its own field of the broker's quotas, and
    /// reads back what it set.
    #[test]
    fn quota_options_set_the_broker_quotas() {
        use crate::broker::{QuotaLimits, Quotas, Rate};
        let mut o = ServerOptions::embedded();
        let names = [
            "connection_subscriptions",
            "connection_topic_rate",
            "connection_topic_burst",
            "connection_publish_rate",
            "connection_publish_burst",
            "subject_subscriptions",
            "subject_topic_rate",
            "subject_topic_burst",
            "subject_publish_rate",
            "subject_publish_burst",
        ];
        for (i, name) in names.iter().enumerate() {
            o.set_text(name, &(i + 1).to_string()).unwrap();
            assert_eq!(o.get(name), Some(V::Number(i as u64 + 1)), "{name}");
        }
        let limits = |n: u64| QuotaLimits {
            subscriptions: n as usize,
            topics: Rate::new(n + 1, n + 2),
            publish: Rate::new(n + 3, n + 4),
        };
        assert_eq!(
            o.config.broker.quotas,
            Quotas {
                connection: limits(1),
                subject: limits(6),
            }
        );
        assert_eq!(
            find("connection_subscriptions").map(|o| o.zero_is_none),
            Some(true)
        );
        assert_eq!(
            find("subject_topic_burst").map(|o| o.zero_is_none),
            Some(false)
        );
    }

    #[test]
    fn text_is_read_per_kind() {
        let parse = |kind: OptionKind, t: &str| kind.parse(t);
        assert_eq!(parse(Bool, "Yes"), Some(V::Bool(true)));
        assert_eq!(parse(Bool, "off"), Some(V::Bool(false)));
        assert_eq!(parse(Bool, "maybe"), None);
        assert_eq!(parse(Count, " 42 "), Some(V::Number(42)));
        for bad in ["-1", "1.5", "+3", "", "x", "99999999999999999999"] {
            assert_eq!(parse(Count, bad), None, "{bad:?}");
        }
        assert_eq!(parse(Bytes, "64MiB"), Some(V::Number(64 << 20)));
        assert_eq!(parse(Bytes, "1 KiB"), Some(V::Number(1024)));
        assert_eq!(parse(Bytes, "7"), Some(V::Number(7)));
        assert_eq!(parse(Bytes, "1MB"), None);
        assert_eq!(parse(Bytes, "99999999999GiB"), None, "overflow");
        let d = |t: &str| parse(OptionKind::Duration, t);
        assert_eq!(d("15"), Some(V::Duration(Duration::from_secs(15))));
        assert_eq!(d("0.5"), Some(V::Duration(Duration::from_millis(500))));
        assert_eq!(d("250ms"), Some(V::Duration(Duration::from_millis(250))));
        assert_eq!(d("2m"), Some(V::Duration(Duration::from_secs(120))));
        assert_eq!(d("1h"), Some(V::Duration(Duration::from_secs(3600))));
        for bad in ["-1", "nan", "inf", "5 days", "ms", ""] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
        assert_eq!(parse(Path, ""), Some(V::Path(None)));
        assert_eq!(parse(Path, "a b"), Some(V::Path(Some("a b".into()))));
        assert_eq!(
            parse(List, "https://a, *,,"),
            Some(V::List(vec!["https://a".into(), "*".into()]))
        );
    }

    /// A duration that does not fit a deadline, or a header limit that does
    /// not fit HTTP/2's setting, is refused by validation (a server never
    /// panics adding it, nor truncates it).
    #[test]
    fn oversized_durations_and_header_limits_are_refused() {
        for name in [
            "handshake_timeout",
            "idle_timeout",
            "shutdown_grace",
            "heartbeat",
        ] {
            let mut o = ServerOptions::embedded();
            o.set_text(name, "100000000000").expect("parses");
            let e = o.validate().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}");
            assert!(e.message().contains("exceeds the maximum"), "{name}: {e}");
            o.set_text(name, "1h").expect("parses");
            o.validate().expect("an hour is fine");
        }
        for bad in ["5GiB", "100"] {
            let mut o = ServerOptions::embedded();
            o.set_text("max_header_bytes", bad).expect("parses");
            let e = o.validate().unwrap_err();
            assert!(e.message().contains("max header bytes"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_option_and_the_value() {
        let mut o = ServerOptions::embedded();
        let e = o.set_text("queue_messages", "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "option queue_messages: expected a whole number, got 'x'"
        );
        let e = o.set("queue_messages", V::Bool(true)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option queue_messages: expected a whole number, got a bool"
        );
        let e = o.set_text("nonsense", "1").unwrap_err();
        assert_eq!(e.to_string(), "no option \"nonsense\"");
        let e = o.set_text("listen", "somewhere").unwrap_err();
        assert!(
            e.to_string().starts_with("option listen: listen address"),
            "{e}"
        );
        let e = o.set_text("console", "sometimes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "option console: expected auto, on or off, got \"sometimes\""
        );
        let e = o.set("max_streams", V::Number(u64::MAX)).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        // A refused value changes nothing.
        assert_eq!(
            o.get("queue_messages"),
            find("queue_messages").map(|q| q.default_value())
        );
    }

    #[test]
    fn options_change_the_config() {
        let mut o = ServerOptions::embedded();
        for (name, text) in [
            ("listen", "0.0.0.0:7"),
            ("history_length", "5"),
            ("history_bytes", "0"),
            ("history_max_age", "1m"),
            ("max_history_length", "500"),
            ("max_history_bytes", "32MiB"),
            ("max_history_age", "1h"),
            ("history_memory", "2GiB"),
            ("heartbeat", "0"),
            ("max_streams", "9"),
            ("cors_origin", "*"),
            ("threads", "3"),
            ("shutdown_grace", "0"),
            ("h2c", "true"),
            ("console", "on"),
        ] {
            o.set_text(name, text).unwrap();
        }
        let c = o.to_config().unwrap();
        assert_eq!(c.service.console, crate::server::Console::On);
        assert_eq!(c.listen.to_string(), "0.0.0.0:7");
        assert_eq!(c.broker.history_length, 5);
        assert_eq!(c.broker.history_bytes, None, "0 is the cap");
        assert_eq!(c.broker.history_max_age, Some(Duration::from_secs(60)));
        assert_eq!(c.broker.max_history_length, 500);
        assert_eq!(c.broker.max_history_bytes, 32 << 20);
        assert_eq!(c.broker.max_history_age, Some(Duration::from_secs(3600)));
        assert_eq!(c.broker.history_memory, 2 << 30);
        assert_eq!(c.service.heartbeat, None, "0 is no heartbeat");
        assert_eq!(c.max_concurrent_streams, 9);
        assert_eq!(c.service.cors.unwrap().allow_origins, ["*"]);
        assert_eq!(c.threads, 3);
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        assert!(matches!(c.tls, TlsMode::H2c));
        // Limits that cannot work are refused with the config's reason.
        o.set_text("history_length", "501").unwrap();
        let e = o.validate().unwrap_err().to_string();
        assert!(
            e.contains("history length 501 exceeds max history length 500"),
            "{e}"
        );
        o.set_text("history_length", "5").unwrap();
        o.set_text("max_topics", "0").unwrap();
        assert!(o.validate().unwrap_err().to_string().contains("max topics"));
        assert!(o.to_config().is_err());
    }

    #[test]
    fn auth_options_change_the_jwt_config() {
        let mut o = ServerOptions::embedded();
        for (name, text) in [
            ("jwt_secret_file", "s"),
            ("jwt_public_key", "a.pem,b.pem"),
            ("jwt_issuer", "https://idp"),
            ("jwt_audience", "drift"),
            ("jwt_allow_no_exp", "yes"),
            ("anonymous", "subscribe"),
            ("allow_query_token", "on"),
        ] {
            o.set_text(name, text).unwrap();
        }
        let c = o.to_config().unwrap();
        assert_eq!(c.jwt.secret_file, Some(PathBuf::from("s")));
        assert_eq!(
            c.jwt.public_key_files,
            [PathBuf::from("a.pem"), PathBuf::from("b.pem")]
        );
        assert_eq!(c.jwt.issuer.as_deref(), Some("https://idp"));
        assert_eq!(c.jwt.audience.as_deref(), Some("drift"));
        assert!(c.jwt.allow_no_exp && c.service.query_token);
        assert!(c.jwt.anonymous.matches("any topic"));
        o.set_text("anonymous", "public.*,news").unwrap();
        let anonymous = o.to_config().unwrap().jwt.anonymous;
        assert!(anonymous.matches("news") && anonymous.matches("public.x"));
        assert!(!anonymous.matches("private"));
        o.set_text("anonymous", "none").unwrap();
        assert!(o.to_config().unwrap().jwt.anonymous.is_empty());
        o.set_text("jwt_issuer", "").unwrap();
        assert_eq!(o.to_config().unwrap().jwt.issuer, None);
    }

    #[test]
    fn tls_comes_from_cert_key_and_h2c() {
        let mut o = ServerOptions::embedded();
        assert!(matches!(o.to_config().unwrap().tls, TlsMode::Generated));
        o.set_text("cert", "c.pem").unwrap();
        let e = o.to_config().unwrap_err();
        assert!(e.to_string().contains("together"), "{e}");
        o.set_text("key", "k.pem").unwrap();
        assert!(matches!(o.to_config().unwrap().tls, TlsMode::Files { .. }));
        o.set_text("h2c", "true").unwrap();
        let e = o.to_config().unwrap_err();
        assert!(e.to_string().contains("exclude each other"), "{e}");
        // And back: a config's TLS becomes the three options.
        let files = ServerOptions::from(ServerConfig {
            tls: TlsMode::Files {
                cert: "c".into(),
                key: "k".into(),
            },
            ..ServerConfig::embedded()
        });
        assert_eq!(files.get("cert"), Some(V::Path(Some("c".into()))));
        assert!(matches!(files.config.tls, TlsMode::Generated));
        let h2c = ServerOptions::from(ServerConfig {
            tls: TlsMode::H2c,
            ..ServerConfig::embedded()
        });
        assert_eq!(h2c.get("h2c"), Some(V::Bool(true)));
    }
}
