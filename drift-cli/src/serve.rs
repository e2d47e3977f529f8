//! `drift serve`: run a server until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use drift_core::broker::store::Fsync;
use drift_core::broker::{BrokerConfig, JwtConfig, Quotas};
use drift_core::server::{Console, Cors, Server, ServerConfig, ServiceConfig, TlsMode};

/// Arguments of `drift serve`. Every option can also be set by the
/// environment variable named in its help. Each but `--log` is an option of
/// drift-core's table (`drift_core::server::options`), which the C and
/// Python servers take too; a test checks that the two lists agree.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on: HOST:PORT, [IPv6]:PORT or PORT.
    #[arg(long, env = "DRIFT_LISTEN", default_value = "127.0.0.1:5500", value_parser = listen_addr)]
    listen: SocketAddr,
    /// TLS certificate chain (PEM). Without --cert/--key a self-signed
    /// certificate for localhost is generated.
    #[arg(long, env = "DRIFT_CERT", requires = "key", conflicts_with = "h2c")]
    cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "DRIFT_KEY", requires = "cert", conflicts_with = "h2c")]
    key: Option<PathBuf>,
    /// Serve cleartext HTTP/2 (prior knowledge) and HTTP/1.1 instead of TLS.
    #[arg(long, env = "DRIFT_H2C")]
    h2c: bool,
    /// Where the generated certificate is written (and reused from).
    #[arg(long, env = "DRIFT_CERT_DIR", default_value = ".drift")]
    cert_dir: PathBuf,
    /// Keep topics, their epochs and their history in this directory, across
    /// restarts and crashes. Without it history is in memory only and
    /// nothing touches the disk.
    #[arg(long, env = "DRIFT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// With --data-dir: `always` (a publish is answered once it is on stable
    /// storage) or an interval such as 100ms (answered once the OS has it,
    /// synced every interval: a power loss may lose that much).
    #[arg(long, env = "DRIFT_FSYNC", default_value_t = ServerConfig::default().fsync, value_parser = fsync_mode)]
    fsync: Fsync,
    /// Share topics, their epochs and their history with every node using
    /// this Redis server: redis://[:PASSWORD@]HOST:PORT[/DB], or rediss://
    /// for TLS. Several servers then behave as one.
    #[arg(long, env = "DRIFT_REDIS_URL", conflicts_with = "data_dir")]
    redis: Option<String>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "DRIFT_LOG", default_value = "info")]
    log: String,
    /// Log lines as text, or as JSON: one object per line (timestamp,
    /// level, target, fields), for a log collector.
    #[arg(long, env = "DRIFT_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Read options from this TOML file, by the flags' names
    /// (`history_length = 100`, `h2c = true`, `cors_origin = ["…"]`).
    /// Flags and DRIFT_* variables take precedence over it; an unknown key
    /// or a bad value is refused with the file's line.
    #[arg(long, env = "DRIFT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (flags, environment, config file
    /// and defaults together) as a config file, and exit. A password in the
    /// Redis URL is shown as ***.
    #[arg(long)]
    print_config: bool,
    /// History capacity per topic, in messages.
    #[arg(long, env = "DRIFT_HISTORY_LENGTH", default_value_t = BrokerConfig::default().history_length)]
    history_length: usize,
    /// History bound per topic, in bytes, each message counted with 200
    /// bytes of overhead (0: --max-history-bytes).
    #[arg(long, env = "DRIFT_HISTORY_BYTES", default_value_t = BrokerConfig::default().history_bytes.unwrap_or(0))]
    history_bytes: u64,
    /// History bound per topic, in seconds of age (0: --max-history-age,
    /// none when that is 0).
    #[arg(long, env = "DRIFT_HISTORY_MAX_AGE", default_value_t = 0)]
    history_max_age: u64,
    /// The largest historyLength a PUT may ask for (more is refused with
    /// 400); --history-length must fit. At most 1000000.
    #[arg(long, env = "DRIFT_MAX_HISTORY_LENGTH", default_value_t = BrokerConfig::default().max_history_length)]
    max_history_length: usize,
    /// The largest maxBytes a PUT may ask for (more is refused with 400);
    /// --history-bytes must fit.
    #[arg(long, env = "DRIFT_MAX_HISTORY_BYTES", default_value_t = BrokerConfig::default().max_history_bytes)]
    max_history_bytes: u64,
    /// The longest maxAge, in seconds, a PUT may ask for (longer is refused
    /// with 400), and the age bound of topics without one; --history-max-age
    /// must fit (0: none).
    #[arg(long, env = "DRIFT_MAX_HISTORY_AGE", default_value_t = 0)]
    max_history_age: u64,
    /// The history memory budget, in bytes: retained messages held in
    /// memory, each counted with 200 bytes of overhead, over all topics;
    /// past it the oldest messages of the topics holding the most are
    /// evicted (the disk store evicts from its cache only).
    #[arg(long, env = "DRIFT_HISTORY_MEMORY", default_value_t = BrokerConfig::default().history_memory)]
    history_memory: u64,
    /// Largest message accepted, in bytes.
    #[arg(long, env = "DRIFT_MAX_MESSAGE_BYTES", default_value_t = BrokerConfig::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Most topics held at once.
    #[arg(long, env = "DRIFT_MAX_TOPICS", default_value_t = BrokerConfig::default().max_topics)]
    max_topics: usize,
    /// Most subscriptions held at once.
    #[arg(long, env = "DRIFT_MAX_SUBSCRIPTIONS", default_value_t = BrokerConfig::default().max_subscriptions)]
    max_subscriptions: usize,
    /// Forget a topic that subscribers made by asking for it (no PUT,
    /// nothing published) this many seconds after its last subscriber left
    /// (0: never).
    #[arg(long, env = "DRIFT_UNUSED_TOPIC_EXPIRY", default_value_t = BrokerConfig::default().unused_topic_expiry.map_or(0, |d| d.as_secs()))]
    unused_topic_expiry: u64,
    /// Subscriptions one connection may hold open (0: unlimited); more are refused with 429.
    #[arg(long, env = "DRIFT_CONNECTION_SUBSCRIPTIONS", default_value_t = Quotas::default().connection.subscriptions)]
    connection_subscriptions: usize,
    /// Topics one connection may create per second, after a burst of --connection-topic-burst (0:
    /// unlimited); more are refused with 429.
    #[arg(long, env = "DRIFT_CONNECTION_TOPIC_RATE", default_value_t = Quotas::default().connection.topics.per_second)]
    connection_topic_rate: u64,
    /// Topics one connection may create at once (0: --connection-topic-rate).
    #[arg(long, env = "DRIFT_CONNECTION_TOPIC_BURST", default_value_t = Quotas::default().connection.topics.burst)]
    connection_topic_burst: u64,
    /// Messages one connection may publish per second, after a burst of --connection-publish-burst
    /// (0: unlimited); a POST over it gets 429, a streamed publish is slowed to it.
    #[arg(long, env = "DRIFT_CONNECTION_PUBLISH_RATE", default_value_t = Quotas::default().connection.publish.per_second)]
    connection_publish_rate: u64,
    /// Messages one connection may publish at once (0: --connection-publish-rate).
    #[arg(long, env = "DRIFT_CONNECTION_PUBLISH_BURST", default_value_t = Quotas::default().connection.publish.burst)]
    connection_publish_burst: u64,
    /// Subscriptions one subject (a token's `sub`), over all of its connections, may hold open (0:
    /// unlimited); more are refused with 429.
    #[arg(long, env = "DRIFT_SUBJECT_SUBSCRIPTIONS", default_value_t = Quotas::default().subject.subscriptions)]
    subject_subscriptions: usize,
    /// Topics one subject (a token's `sub`), over all of its connections, may create per second,
    /// after a burst of --subject-topic-burst (0: unlimited); more are refused with 429.
    #[arg(long, env = "DRIFT_SUBJECT_TOPIC_RATE", default_value_t = Quotas::default().subject.topics.per_second)]
    subject_topic_rate: u64,
    /// Topics one subject (a token's `sub`), over all of its connections, may create at once (0:
    /// --subject-topic-rate).
    #[arg(long, env = "DRIFT_SUBJECT_TOPIC_BURST", default_value_t = Quotas::default().subject.topics.burst)]
    subject_topic_burst: u64,
    /// Messages one subject (a token's `sub`), over all of its connections, may publish per second,
    /// after a burst of --subject-publish-burst (0: unlimited); a POST over it gets 429, a streamed
    /// publish is slowed to it.
    #[arg(long, env = "DRIFT_SUBJECT_PUBLISH_RATE", default_value_t = Quotas::default().subject.publish.per_second)]
    subject_publish_rate: u64,
    /// Messages one subject (a token's `sub`), over all of its connections, may publish at once (0:
    /// --subject-publish-rate).
    #[arg(long, env = "DRIFT_SUBJECT_PUBLISH_BURST", default_value_t = Quotas::default().subject.publish.burst)]
    subject_publish_burst: u64,
    /// How many messages a subscriber may fall behind before it is slow.
    #[arg(long, env = "DRIFT_QUEUE_MESSAGES", default_value_t = BrokerConfig::default().queue_messages)]
    queue_messages: usize,
    /// How many bytes (payload and 200 per message) a subscriber may fall
    /// behind before it is slow.
    #[arg(long, env = "DRIFT_QUEUE_BYTES", default_value_t = BrokerConfig::default().queue_bytes)]
    queue_bytes: u64,
    /// Seconds between heartbeats on idle SSE and Drift-frames streams (0: none).
    #[arg(long, env = "DRIFT_HEARTBEAT", default_value_t = ServiceConfig::default().heartbeat.map_or(0, |d| d.as_secs()))]
    heartbeat: u64,
    /// Require `PUT` before a topic can be published to or subscribed to.
    #[arg(long, env = "DRIFT_REQUIRE_CREATE")]
    require_create: bool,
    /// Largest request header block, in bytes.
    #[arg(long, env = "DRIFT_MAX_HEADER_BYTES", default_value_t = ServerConfig::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    #[arg(long, env = "DRIFT_MAX_STREAMS", default_value_t = ServerConfig::default().max_concurrent_streams)]
    max_streams: u32,
    /// Most connections served at once (0: the open-file limit less 64);
    /// more are closed at once.
    #[arg(long, env = "DRIFT_MAX_CONNECTIONS", default_value_t = ServerConfig::default().max_connections)]
    max_connections: usize,
    /// Seconds a new connection has for its TLS handshake and HTTP/2 preface
    /// or first request.
    #[arg(long, env = "DRIFT_HANDSHAKE_TIMEOUT", default_value_t = ServerConfig::default().handshake_timeout.as_secs())]
    handshake_timeout: u64,
    /// Seconds after which a connection with no request or subscription
    /// open is closed (0: never).
    #[arg(long, env = "DRIFT_IDLE_TIMEOUT", default_value_t = ServerConfig::default().idle_timeout.map_or(0, |d| d.as_secs()))]
    idle_timeout: u64,
    /// Origins allowed to call the API from a browser, with credentials
    /// (`*` for any, without; comma-separated in the environment). None by
    /// default.
    #[arg(
        long = "cors-origin",
        env = "DRIFT_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Authenticate with HS256 JWTs signed with the secret in this file (at
    /// least 32 bytes); everything a token does not grant is then refused.
    #[arg(long, env = "DRIFT_JWT_SECRET_FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// Authenticate with RS256/ES256 JWTs signed by the key in this PEM
    /// file; repeatable (comma-separated in the environment), so that keys
    /// can be rotated.
    #[arg(long, env = "DRIFT_JWT_PUBLIC_KEY", value_delimiter = ',')]
    jwt_public_key: Vec<PathBuf>,
    /// The iss a token must have (none: not checked).
    #[arg(long, env = "DRIFT_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// An aud a token must have (none: not checked).
    #[arg(long, env = "DRIFT_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Accept tokens without exp (they never expire).
    #[arg(long, env = "DRIFT_JWT_ALLOW_NO_EXP")]
    jwt_allow_no_exp: bool,
    /// With JWT: what a caller without a token may subscribe to, as topic
    /// patterns (`*` for any run of characters), or `subscribe` for every
    /// topic. Nothing by default.
    #[arg(long, env = "DRIFT_ANONYMOUS", value_delimiter = ',')]
    anonymous: Vec<String>,
    /// Also take a token from the access_token query parameter (RFC 6750).
    /// Off by default: URLs end up in logs and histories (RFC 9700).
    #[arg(long, env = "DRIFT_ALLOW_QUERY_TOKEN")]
    allow_query_token: bool,
    /// Count what the server does and answer GET /metrics (Prometheus text
    /// format): on or off. Off counts nothing, and /metrics is 404.
    #[arg(long, env = "DRIFT_METRICS", default_value = "on", value_name = "on|off",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    metrics: bool,
    /// Serve /metrics on this address of its own (plain HTTP/1.1 and h2c,
    /// no authentication: keep it private) instead of on --listen, where it
    /// is then 404. Without it /metrics is on --listen, and with JWT
    /// options needs a token with admin rights.
    #[arg(long, env = "DRIFT_METRICS_LISTEN", value_name = "ADDR", value_parser = listen_addr)]
    metrics_listen: Option<SocketAddr>,
    /// Serve the web console at /console: `auto` (only when the listen
    /// address is loopback), `on` or `off`.
    #[arg(long, env = "DRIFT_CONSOLE", default_value_t = Console::default(), value_parser = console_mode)]
    console: Console,
    /// Connection threads (0: one per core); each runs its own connections
    /// from start to end.
    #[arg(long, env = "DRIFT_THREADS", default_value_t = ServerConfig::default().threads)]
    threads: usize,
    /// Seconds that stopping waits for requests in flight before closing
    /// their connections.
    #[arg(long, env = "DRIFT_SHUTDOWN_GRACE", default_value_t = ServerConfig::default().shutdown_grace.as_secs())]
    shutdown_grace: u64,
}

impl ServeArgs {
    fn server_config(&self) -> ServerConfig {
        let tls = match (&self.cert, &self.key, self.h2c) {
            (_, _, true) => TlsMode::H2c,
            (Some(cert), Some(key), _) => TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => TlsMode::Generated,
        };
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let mut config = ServerConfig {
            listen: self.listen,
            tls,
            cert_dir: Some(self.cert_dir.clone()),
            data_dir: self.data_dir.clone(),
            fsync: self.fsync,
            redis: self.redis.clone(),
            broker: BrokerConfig {
                history_length: self.history_length,
                history_bytes: (self.history_bytes > 0).then_some(self.history_bytes),
                history_max_age: secs(self.history_max_age),
                max_history_length: self.max_history_length,
                max_history_bytes: self.max_history_bytes,
                max_history_age: secs(self.max_history_age),
                history_memory: self.history_memory,
                max_message_bytes: self.max_message_bytes,
                max_topics: self.max_topics,
                max_subscriptions: self.max_subscriptions,
                unused_topic_expiry: secs(self.unused_topic_expiry),
                queue_messages: self.queue_messages,
                queue_bytes: self.queue_bytes,
                require_create: self.require_create,
                metrics: self.metrics,
                ..BrokerConfig::default()
            },
            service: ServiceConfig {
                heartbeat: secs(self.heartbeat),
                cors: (!self.cors_origins.is_empty()).then(|| Cors {
                    allow_origins: self.cors_origins.clone(),
                }),
                query_token: self.allow_query_token,
                console: self.console,
            },
            jwt: JwtConfig {
                secret_file: self.jwt_secret_file.clone(),
                public_key_files: self.jwt_public_key.clone(),
                issuer: self.jwt_issuer.clone(),
                audience: self.jwt_audience.clone(),
                allow_no_exp: self.jwt_allow_no_exp,
                anonymous: JwtConfig::anonymous_patterns(&self.anonymous),
            },
            max_header_bytes: self.max_header_bytes,
            max_concurrent_streams: self.max_streams,
            max_connections: self.max_connections,
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            idle_timeout: secs(self.idle_timeout),
            threads: self.threads,
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            metrics_listen: self.metrics_listen,
            ..ServerConfig::default()
        };
        config.broker.quotas.connection.subscriptions = self.connection_subscriptions;
        config.broker.quotas.connection.topics.per_second = self.connection_topic_rate;
        config.broker.quotas.connection.topics.burst = self.connection_topic_burst;
        config.broker.quotas.connection.publish.per_second = self.connection_publish_rate;
        config.broker.quotas.connection.publish.burst = self.connection_publish_burst;
        config.broker.quotas.subject.subscriptions = self.subject_subscriptions;
        config.broker.quotas.subject.topics.per_second = self.subject_topic_rate;
        config.broker.quotas.subject.topics.burst = self.subject_topic_burst;
        config.broker.quotas.subject.publish.per_second = self.subject_publish_rate;
        config.broker.quotas.subject.publish.burst = self.subject_publish_burst;
        config
    }
}

pub fn run(args: ServeArgs) -> drift_core::Result<ExitCode> {
    init_logging(&args.log, &args.log_format)?;
    // Connections are served by `--threads` single-threaded runtimes (see
    // `ServerConfig::threads`); this one only accepts and waits for signals.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> drift_core::Result<ExitCode> {
    // Every connection is a file descriptor: use all the process may have
    // (the default connection limit follows it).
    let files = drift_core::server::raise_open_files_limit();
    let config = args.server_config();
    let server = Server::bind(config.clone()).await?;
    let protocols = if args.h2c {
        "h2c and HTTP/1.1, cleartext"
    } else {
        "HTTP/2 and HTTP/1.1 over TLS"
    };
    tracing::info!(
        "drift {} listening on {} ({protocols})",
        env!("CARGO_PKG_VERSION"),
        server.url()
    );
    if let (Some(path), Some(fingerprint)) = (server.cert_path(), server.cert_fingerprint())
        && args.cert.is_none()
    {
        tracing::info!(
            "self-signed certificate at {} (SHA-256 {fingerprint}); trust it with: curl --cacert {}",
            path.display(),
            path.display()
        );
    }
    if server.serves_console() {
        tracing::info!("web console at {}/console", server.url());
    }
    tracing::info!("{}", config.history_location());
    match (config.broker.metrics, server.metrics_addr()) {
        (false, _) => tracing::info!("metrics: off"),
        (true, Some(addr)) => tracing::info!("metrics: http://{addr}/metrics"),
        (true, None) => tracing::info!("metrics: {}/metrics", server.url()),
    }
    tracing::info!(
        "access: {}",
        server.broker().config().authenticator.describe()
    );
    match files {
        Ok(files) => tracing::info!(
            "serving at most {} connections (open-file limit {files})",
            config.connection_limit()
        ),
        Err(e) => tracing::warn!(
            "cannot raise the open-file limit ({e}); serving at most {} connections",
            config.connection_limit()
        ),
    }
    server.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `filter`, with h2's own lines limited to errors unless it names h2.
///
/// h2 logs a WARN line for each protocol slip of a peer (one per
/// unsolicited PING ACK: 400,000 frames wrote 74 MB of log). Those are the
/// peer's mistakes, not the server's, and a client must not be able to fill
/// the operator's disk with them.
fn quiet_peer_errors(filter: &str) -> String {
    let names_h2 = filter.split(',').any(|directive| {
        let target = directive.split('=').next().unwrap_or("").trim();
        target == "h2" || target.starts_with("h2::")
    });
    if names_h2 {
        filter.to_owned()
    } else {
        format!("{filter},h2=error")
    }
}

/// `--fsync`: drift-core's parser.
fn fsync_mode(text: &str) -> Result<Fsync, String> {
    text.parse()
        .map_err(|e: drift_core::Error| e.message().to_owned())
}

/// `--console`: auto, on or off.
fn console_mode(text: &str) -> Result<Console, String> {
    text.parse()
}

/// `--listen`: drift-core's one parser of listen addresses.
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    drift_core::server::parse_listen(text).map_err(|e| e.to_string())
}

fn init_logging(filter: &str, format: &str) -> drift_core::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(quiet_peer_errors(filter)).map_err(|e| {
            drift_core::Error::new(
                drift_core::ErrorKind::InvalidInput,
                format!("invalid --log filter: {e}"),
            )
        })?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(colour_logs()).init();
    }
    Ok(())
}

/// Colour only for a person at a terminal: escape codes in a log file, a
/// journal or a pipe are noise, and `NO_COLOR` (set and not empty, as
/// no-color.org has it) turns them off everywhere.
fn colour_logs() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
