//! `drift token`: mints an HS256 token from a secret file, for development
//! and examples (a real deployment's tokens come from its identity
//! provider). Prints the token alone, so that `TOKEN=$(drift token ...)`
//! works.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use drift_core::broker::auth::{MintRequest, mint_hs256, read_secret_file};
use drift_core::server::options::{OptionKind, OptionValue};
use drift_core::{Error, ErrorKind, Result};

/// Arguments of `drift token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The file with the HS256 secret the server has (`--jwt-secret-file`).
    #[arg(long, env = "DRIFT_JWT_SECRET_FILE", value_name = "FILE")]
    secret_file: PathBuf,
    /// Topic pattern the token may publish to (repeatable; `*` is any run
    /// of characters).
    #[arg(long, value_name = "PATTERN")]
    publish: Vec<String>,
    /// Topic pattern the token may subscribe to (repeatable).
    #[arg(long, value_name = "PATTERN")]
    subscribe: Vec<String>,
    /// Topic pattern the token may create, configure and delete (repeatable).
    #[arg(long, value_name = "PATTERN")]
    admin: Vec<String>,
    /// How long the token is good: seconds, or with a unit (30m, 12h);
    /// 0: no expiry (the server must allow that with --jwt-allow-no-exp).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    ttl: String,
    /// The subject (`sub`): who the token is for.
    #[arg(long, value_name = "SUBJECT")]
    sub: Option<String>,
    /// The issuer (`iss`), for a server started with --jwt-issuer.
    #[arg(long, value_name = "ISSUER")]
    issuer: Option<String>,
    /// The audience (`aud`), for a server started with --jwt-audience.
    #[arg(long, value_name = "AUDIENCE")]
    audience: Option<String>,
}

pub fn run(args: TokenArgs) -> Result<ExitCode> {
    let ttl = match OptionKind::Duration.parse(&args.ttl) {
        Some(OptionValue::Duration(d)) => d,
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("--ttl {:?} is not a duration (3600, 30m, 12h)", args.ttl),
            ));
        }
    };
    let secret = read_secret_file(&args.secret_file)?;
    let token = mint_hs256(
        &secret,
        &MintRequest {
            subject: args.sub,
            publish: args.publish,
            subscribe: args.subscribe,
            admin: args.admin,
            ttl: (ttl > Duration::ZERO).then_some(ttl),
            issuer: args.issuer,
            audience: args.audience,
        },
    )?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
