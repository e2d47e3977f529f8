//! `drift pub`: publish a message, each line of standard input, or a file.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use drift_core::client::{Client, ClientBuilder, Publish};
use drift_core::{Error, ErrorKind, Result};

/// Connection options shared by `drift pub` and `drift sub`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// Server URL: https://HOST:PORT, or http://HOST:PORT for a cleartext
    /// (h2c) server. Several, separated by commas, name nodes sharing
    /// topics (`drift serve --redis`): the next is used when one cannot be
    /// reached, and a subscription resumes there.
    #[arg(long, env = "DRIFT_URL", default_value = "https://127.0.0.1:5500")]
    pub url: String,
    /// Trust only the CA certificate(s) in this PEM file (for example the
    /// certificate `drift serve` generated) instead of the system's roots.
    #[arg(long, env = "DRIFT_CACERT", value_name = "PEM")]
    pub cacert: Option<PathBuf>,
    /// Accept any server certificate. For development servers only.
    #[arg(long, env = "DRIFT_INSECURE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: bool,
    /// Extra request header, "Name: value" (repeatable), e.g.
    /// "Authorization: Bearer TOKEN".
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Bearer token sent with every request (a JWT; `drift token` mints
    /// one for development).
    #[arg(long, env = "DRIFT_TOKEN", value_name = "JWT", hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds allowed to connect (TCP, TLS and HTTP/2 set-up).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,
}

impl ConnArgs {
    /// The client these options describe.
    pub fn client(&self) -> Result<Client> {
        self.builder()?.build()
    }

    /// A builder with these options, for further settings.
    pub fn builder(&self) -> Result<ClientBuilder> {
        let timeout = Duration::try_from_secs_f64(self.connect_timeout).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                "--connect-timeout must be a positive number",
            )
        })?;
        let mut builder = Client::builder(&self.url)
            .insecure(self.insecure)
            .connect_timeout(timeout);
        if let Some(path) = &self.cacert {
            builder = builder.ca_file(path);
        }
        if let Some(token) = &self.token {
            builder = builder.token(token);
        }
        for header in &self.headers {
            let (name, value) = header.split_once(':').ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("--header {header:?} is not \"Name: value\""),
                )
            })?;
            builder = builder.header(name.trim(), value.trim());
        }
        Ok(builder)
    }
}

/// The single-threaded runtime `drift pub` and `drift sub` run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start the runtime: {e}")))
}

/// Arguments of `drift pub`.
#[derive(Debug, clap::Args)]
pub struct PubArgs {
    /// Topic to publish to.
    pub topic: String,
    /// The message. Without it (and without --file) each line of standard
    /// input is published as one message, without its line ending.
    #[arg(conflicts_with = "file")]
    pub message: Option<String>,
    /// Publish the contents of this file as one message.
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Do not print the id (EPOCH-SEQ) of each published message, one line
    /// each on standard output, as is done by default.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the ids: the default, kept so that older scripts go on working.
    #[arg(long, short = 'v', hide = true, conflicts_with = "quiet")]
    pub verbose: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub fn run(args: PubArgs) -> Result<ExitCode> {
    let client = args.conn.client()?;
    let runtime = runtime()?;
    runtime.block_on(publish_all(&client, &args))?;
    Ok(ExitCode::SUCCESS)
}

async fn publish_all(client: &Client, args: &PubArgs) -> Result<()> {
    if let Some(message) = &args.message {
        let p = client.publish(&args.topic, message.clone()).await?;
        return report(args.quiet, &p);
    }
    if let Some(path) = &args.file {
        let data = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let p = client.publish(&args.topic, data).await?;
        return report(args.quiet, &p);
    }
    // Lines are published one at a time, in order, as they arrive, so that
    // `tail -f log | drift pub t` works. Reading stdin blocks, which is fine
    // on this single-purpose runtime.
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read standard input: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        let text = match line.strip_suffix(b"\n") {
            Some(text) => text.strip_suffix(b"\r").unwrap_or(text),
            None => &line,
        };
        let payload = Bytes::copy_from_slice(text);
        let p = client.publish(&args.topic, payload).await?;
        report(args.quiet, &p)?;
    }
}

fn report(quiet: bool, p: &Publish) -> Result<()> {
    if quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", p.id).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // Nobody reads the ids (`drift pub t m | true`, a closed pipe): the
        // message is published all the same, which is what was asked.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::new(
            ErrorKind::Io,
            format!("cannot write to standard output: {e}"),
        )),
    }
}
