//! `drift pub` (owned by the client work; placeholder until it lands).

use std::process::ExitCode;

/// Arguments of `drift pub`.
#[derive(Debug, clap::Args)]
pub struct PubArgs {}

pub fn run(_args: PubArgs) -> drift_core::Result<ExitCode> {
    Err(drift_core::Error::new(
        drift_core::ErrorKind::Internal,
        "drift pub is not built yet",
    ))
}
