//! `drift sub`: print a topic's messages as they come, resuming by itself
//! after a disconnect, until Ctrl-C.

use std::io::Write;
use std::process::ExitCode;

use base64::Engine;
use drift_core::client::{ReceivedMessage, SubscribeOptions, SubscriptionEvent};
use drift_core::protocol::history::parse_unix_seconds;
use drift_core::protocol::{HistoryRequest, SlowPolicy};
use drift_core::{Error, ErrorKind, MessageId, Result};

use crate::pub_cmd::ConnArgs;
use crate::sub_report::{Reporter, gap_text};

/// How each message is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The payload followed by a newline.
    Lines,
    /// The payload bytes only, nothing between messages.
    Raw,
    /// One JSON object per line: id, seq, epoch, time (Unix seconds) and
    /// data (text), or data_base64 when the payload is not UTF-8.
    Json,
}

/// What the server does when this subscriber falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnSlow {
    /// End the stream; `drift sub` resumes from history by itself.
    Disconnect,
    /// Skip ahead and report the skipped messages as a gap.
    Drop,
}

/// Arguments of `drift sub`.
#[derive(Debug, clap::Args)]
pub struct SubArgs {
    /// Topic to subscribe to.
    pub topic: String,
    /// First replay the newest N retained messages.
    #[arg(long, value_name = "N")]
    pub history: Option<u64>,
    /// First replay the retained messages published after this time (Unix
    /// seconds, a fraction allowed).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub since: Option<String>,
    /// First replay the retained messages after this message id (EPOCH-SEQ).
    #[arg(long, value_name = "EPOCH-SEQ")]
    pub after: Option<MessageId>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Lines)]
    pub format: Format,
    /// What the server does when this subscriber is too slow.
    #[arg(long, value_enum, default_value_t = OnSlow::Disconnect)]
    pub on_slow: OnSlow,
    /// Exit after printing this many messages.
    #[arg(long, short = 'n', value_name = "COUNT")]
    pub count: Option<u64>,
    /// Do not resume after a disconnect: exit with an error instead.
    #[arg(long)]
    pub no_resume: bool,
    /// Say on standard error when the subscription is established.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub fn run(args: SubArgs) -> Result<ExitCode> {
    // No request timeout: the original Drift server sends a subscription's
    // response headers only with its first message, which may take long.
    // Connecting is still bounded by --connect-timeout.
    let client = args.conn.builder()?.no_request_timeout().build()?;
    let history = HistoryRequest {
        last: args.history,
        since_us: args
            .since
            .as_deref()
            .map(|v| {
                parse_unix_seconds(v).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "--since {v:?} is not Unix seconds (e.g. 1700000000 or 1700000000.25)"
                        ),
                    )
                })
            })
            .transpose()?,
        after: args.after,
    };
    let options = SubscribeOptions {
        history,
        on_slow: match args.on_slow {
            OnSlow::Disconnect => SlowPolicy::Disconnect,
            OnSlow::Drop => SlowPolicy::Drop,
        },
        resume: !args.no_resume,
        ..Default::default()
    };
    let runtime = crate::pub_cmd::runtime()?;
    runtime.block_on(async {
        // Listening for Ctrl-C from the start: a server that is slow to
        // answer must not make Ctrl-C kill the process uncleanly.
        let stop = stop_signal();
        tokio::pin!(stop);
        let mut sub = tokio::select! {
            () = &mut stop => return Ok(ExitCode::SUCCESS),
            sub = client.subscribe(&args.topic, options) => sub?,
        };
        if args.verbose {
            let epoch = sub.epoch().map_or("unknown".to_owned(), |e| e.to_string());
            eprintln!("drift: subscribed to {:?} (epoch {epoch})", args.topic);
        }
        let mut printed = 0u64;
        let mut reporter = Reporter::default();
        let mut out = std::io::stdout().lock();
        loop {
            if args.count.is_some_and(|n| printed >= n) {
                return Ok(ExitCode::SUCCESS);
            }
            let event = tokio::select! {
                () = &mut stop => return Ok(ExitCode::SUCCESS),
                event = reporter.next_event(&mut sub) => event,
            };
            match event {
                None => return Ok(ExitCode::SUCCESS),
                Some(Err(e)) => return Err(e),
                Some(Ok(SubscriptionEvent::Message(m))) => {
                    match write_message(&mut out, &m, args.format) {
                        Ok(()) => printed += 1,
                        // The reader went away (`drift sub t | head`): done.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                            return Ok(ExitCode::SUCCESS);
                        }
                        Err(e) => {
                            return Err(Error::new(
                                ErrorKind::Io,
                                format!("cannot write to standard output: {e}"),
                            ));
                        }
                    }
                }
                Some(Ok(SubscriptionEvent::Gap(gap))) => {
                    let last = sub.last_id().map(|id| id.to_string());
                    eprintln!("drift: {}", gap_text(&gap, last));
                }
                Some(Ok(SubscriptionEvent::End(reason))) => {
                    eprintln!("drift: subscription ended: {reason}");
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    })
}

fn write_message(out: &mut impl Write, m: &ReceivedMessage, format: Format) -> std::io::Result<()> {
    match format {
        Format::Raw => out.write_all(&m.payload)?,
        Format::Lines => {
            out.write_all(&m.payload)?;
            out.write_all(b"\n")?;
        }
        Format::Json => {
            let id = match m.id {
                Some(id) => format!("\"{id}\""),
                None => "null".to_owned(),
            };
            // Written by hand: the time keeps all its microsecond digits,
            // which a float in serde_json would not.
            let data = match std::str::from_utf8(&m.payload) {
                Ok(text) => format!("\"data\":{}", serde_json::Value::from(text)),
                Err(_) => format!(
                    "\"data_base64\":\"{}\"",
                    base64::engine::general_purpose::STANDARD.encode(&m.payload)
                ),
            };
            writeln!(
                out,
                "{{\"id\":{id},\"seq\":{},\"epoch\":{},\"time\":{}.{:06},{data}}}",
                m.seq,
                m.epoch,
                m.time_us / 1_000_000,
                m.time_us % 1_000_000
            )?;
        }
    }
    out.flush()
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(payload: &'static [u8]) -> ReceivedMessage {
        ReceivedMessage {
            payload: Bytes::from_static(payload),
            seq: 7,
            epoch: 3,
            time_us: 1_700_000_000_000_042,
            id: Some(MessageId { epoch: 3, seq: 7 }),
        }
    }

    #[test]
    fn json_lines_carry_text_or_base64() {
        let mut out = Vec::new();
        write_message(&mut out, &message(b"hi \"you\""), Format::Json).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":\"3-7\",\"seq\":7,\"epoch\":3,\"time\":1700000000.000042,\"data\":\"hi \\\"you\\\"\"}\n"
        );
        let mut out = Vec::new();
        write_message(&mut out, &message(b"\xff\x00"), Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data_base64"], "/wA=");
    }

    #[test]
    fn lines_and_raw() {
        let mut out = Vec::new();
        write_message(&mut out, &message(b"a"), Format::Lines).unwrap();
        write_message(&mut out, &message(b"b"), Format::Raw).unwrap();
        assert_eq!(out, b"a\nb");
    }
}
