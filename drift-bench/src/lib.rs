//! `drift bench`: a load generator for Drift and for other HTTP/2 pub/sub
//! servers (nchan and the like), written directly on the `h2` crate. The
//! `drift` command (drift-cli) runs it as `drift bench`; this crate's own
//! binary, `drift-bench`, takes the same arguments without the `bench`.
//!
//! Scenarios:
//! - `fanout`: T topics × S subscriptions per topic over C connections, P
//!   publishers sending N messages of B bytes (as fast as possible or at
//!   `--rate`); counts every delivery per subscriber against what was
//!   published (a bitmap per subscriber, so "lost" and "duplicates" are
//!   exact) and measures end-to-end latency from a timestamp in the payload.
//! - `publish`: P connections × K concurrent streams of POSTs.
//! - `idle`: holds T × S subscriptions and reports the server's RSS per
//!   subscription (`--server-pid`).
//!
//! The client is sharded: `--threads K` runs K OS threads, each a
//! current-thread tokio runtime with its own connections, so nothing on the
//! receive path is shared between threads except a few counters updated once
//! per DATA frame. Progress goes to stderr once a second; a human summary and
//! then a one-line JSON summary (always the last stdout line) go to stdout.

mod fanout;
mod idle;
mod latency_log;
mod net;
mod payload;
mod publish;
mod report;
mod threads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use drift_core::{Error, ErrorKind, Result};

/// Arguments of `drift bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Base URL of a Drift server; sets the default --sub-url and --pub-url
    /// (`{url}/v1/t/{topic}`).
    #[arg(long, default_value = "https://127.0.0.1:5500")]
    url: String,
    /// Subscription URL template; `{topic}` is replaced by the topic name.
    /// Several, separated by commas (nodes sharing topics), spread the
    /// subscriber connections over them in turn (fanout).
    #[arg(long)]
    sub_url: Option<String>,
    /// Publish URL template; `{topic}` is replaced by the topic name.
    #[arg(long)]
    pub_url: Option<String>,
    /// How subscription bodies are framed: sse (text/event-stream), frames
    /// (Drift binary frames), raw (one message per DATA frame, a trailing
    /// newline is ignored) or lines (newline-separated messages, as nchan's
    /// raw stream).
    #[arg(long, value_enum, default_value = "frames")]
    framing: FramingArg,
    /// Accept any server certificate (TLS only).
    #[arg(long, short = 'k')]
    insecure: bool,
    /// Trust only this CA certificate (PEM), e.g. Drift's .drift/cert.pem.
    #[arg(long, conflicts_with = "insecure")]
    cacert: Option<PathBuf>,
    /// Topics.
    #[arg(long, short = 't', default_value_t = 1)]
    topics: usize,
    /// Subscriptions per topic.
    #[arg(long, short = 's', default_value_t = 100)]
    subs: usize,
    /// HTTP/2 connections carrying the subscriptions (publish: publisher connections).
    #[arg(long, short = 'c', default_value_t = 10)]
    connections: usize,
    /// Publishers in the fanout scenario, each on its own connection.
    #[arg(long, short = 'p', default_value_t = 1)]
    publishers: usize,
    /// Messages to publish in all (fanout) or requests to send (publish).
    #[arg(long, short = 'n', default_value_t = 10_000)]
    messages: u64,
    /// Payload bytes per message (at least 32: sequence number and timestamp).
    #[arg(long, short = 'b', default_value_t = 64)]
    size: usize,
    /// Messages per second over all publishers (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// POSTs in flight per publisher (fanout) or per connection (publish).
    #[arg(long, short = 'm', default_value_t = 8)]
    streams: usize,
    /// Subscribe requests awaiting their answer at once, per connection.
    #[arg(long, default_value_t = 100)]
    open_window: usize,
    /// Hard bound on the measured phase, in seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// After the last publish, stop once no delivery came for this many seconds.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Seconds to hold the idle subscriptions after they are all open.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Server process ids (repeat or comma-separate; e.g. every nginx worker)
    /// whose CPU time, per process and per thread (with its wait for a CPU
    /// and its switches), and for idle RSS, are measured.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Client threads (each a current-thread runtime with its own connections).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Prefix of the topic names (a per-run suffix is added).
    #[arg(long, default_value = "bench")]
    topic_prefix: String,
    /// Label copied into the JSON summary (e.g. "drift-tls-sse").
    #[arg(long, default_value = "")]
    label: String,
    /// Print no progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Bearer token sent with every publish (a JWT for a server with
    /// authentication; subscriptions, too, send it).
    #[arg(long, value_name = "JWT", env = "DRIFT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// fanout: write every delivery to FILE, one line each (publish and
    /// receive time in µs, topic, publisher, seq, connection, subscription),
    /// to see which deliveries make the tail (drift-bench/bench/tail.py). Kept
    /// in memory until the run ends, ~40 bytes per delivery: meant for runs at
    /// a --rate.
    #[arg(long, value_name = "FILE")]
    latency_log: Option<std::path::PathBuf>,
    /// fanout, SSE: a subscription whose stream breaks (its server went
    /// away) opens again on the next --sub-url server with the last event
    /// id it saw (Last-Event-ID), as Drift's own client resumes, so that a
    /// node killed mid-run shows whether anything was lost.
    #[arg(long)]
    resume: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Fanout,
    Publish,
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FramingArg {
    Sse,
    Frames,
    Raw,
    Lines,
}

impl FramingArg {
    fn name(self) -> &'static str {
        match self {
            FramingArg::Sse => "sse",
            FramingArg::Frames => "frames",
            FramingArg::Raw => "raw",
            FramingArg::Lines => "lines",
        }
    }

    /// The `Accept` header a subscription sends.
    fn accept(self) -> &'static str {
        match self {
            FramingArg::Sse => drift_core::protocol::SSE_MEDIA_TYPE,
            FramingArg::Frames => drift_core::protocol::FRAMES_MEDIA_TYPE,
            FramingArg::Raw | FramingArg::Lines => "*/*",
        }
    }
}

/// Microseconds since the process's first call: the clock of every timestamp
/// the bench puts in a payload (publishers and subscribers share the process).
pub(crate) fn now_us() -> u64 {
    start().0.elapsed().as_micros() as u64
}

/// The bench's clock origin, and the same moment in µs since the Unix epoch,
/// so that a latency log can be lined up with traces taken beside it.
fn start() -> &'static (Instant, u64) {
    static START: OnceLock<(Instant, u64)> = OnceLock::new();
    START.get_or_init(|| (Instant::now(), drift_core::message::now_us()))
}

/// Microseconds from the Unix epoch to `now_us()`'s zero.
pub(crate) fn start_unix_us() -> u64 {
    start().1
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, msg.into())
}

/// Runs the scenario of `args` and prints its summary; the exit code is a
/// failure when the summary says the run failed (e.g. lost messages).
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    now_us();
    if args.threads == 0 || args.connections == 0 || args.topics == 0 || args.streams == 0 {
        return Err(invalid(
            "--threads, --connections, --topics and --streams must be at least 1",
        ));
    }
    if args.size < payload::HEADER_LEN {
        return Err(invalid(format!(
            "--size must be at least {} bytes (sequence number and timestamp)",
            payload::HEADER_LEN
        )));
    }
    if args.resume && (args.scenario != Scenario::Fanout || args.framing != FramingArg::Sse) {
        return Err(drift_core::Error::new(
            drift_core::ErrorKind::InvalidInput,
            "--resume is for the fanout scenario with --framing sse (it resumes by SSE event id)",
        ));
    }
    if args.latency_log.is_some() && args.scenario != Scenario::Fanout {
        return Err(invalid("--latency-log applies to the fanout scenario only"));
    }
    let base = args.url.trim_end_matches('/');
    let sub_url = args
        .sub_url
        .clone()
        .unwrap_or_else(|| format!("{base}/v1/t/{{topic}}"));
    let pub_url = args
        .pub_url
        .clone()
        .unwrap_or_else(|| format!("{base}/v1/t/{{topic}}"));
    if let Some(token) = &args.token {
        let value = http::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| invalid("--token is not a valid header value"))?;
        let _ = net::TOKEN.set(value);
    }
    let tls = net::TlsChoice::from_args(args.insecure, args.cacert.clone());
    let summary = match args.scenario {
        Scenario::Fanout => fanout::run(&args, &sub_url, &pub_url, &tls)?,
        Scenario::Publish => publish::run(&args, &pub_url, &tls)?,
        Scenario::Idle => idle::run(&args, &sub_url, &tls)?,
    };
    let ok = summary.ok;
    summary.print();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Topic names of this run: `{prefix}-{pid}-{secs}-{i}`, so runs never share
/// a topic (and its history) with an earlier run.
pub(crate) fn topic_names(prefix: &str, n: usize) -> Vec<String> {
    let run = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 100_000)
            .unwrap_or(0)
    );
    (0..n).map(|i| format!("{prefix}{run}x{i}")).collect()
}
