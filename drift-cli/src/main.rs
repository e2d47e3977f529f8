//! The `drift` binary: the command line of the `drift_cli` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(drift_cli::run(std::env::args_os()))
}
