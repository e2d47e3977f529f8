//! `drift-bench`: the load generator as a command of its own, with the
//! arguments of `drift bench` (`drift-bench fanout ...` is `drift bench
//! fanout ...`).

use std::process::ExitCode;

use clap::Parser;

/// Measure a server: fan-out, publish rate, idle subscriptions (the load
/// generator of `drift bench`).
#[derive(Debug, Parser)]
#[command(name = "drift-bench", version)]
struct Cli {
    #[command(flatten)]
    args: drift_bench::BenchArgs,
}

fn main() -> ExitCode {
    match drift_bench::run(Cli::parse().args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drift-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
