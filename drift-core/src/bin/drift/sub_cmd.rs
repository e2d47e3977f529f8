//! `drift sub` (owned by the client work; placeholder until it lands).

use std::process::ExitCode;

/// Arguments of `drift sub`.
#[derive(Debug, clap::Args)]
pub struct SubArgs {}

pub fn run(_args: SubArgs) -> drift_core::Result<ExitCode> {
    Err(drift_core::Error::new(
        drift_core::ErrorKind::Internal,
        "drift sub is not built yet",
    ))
}
