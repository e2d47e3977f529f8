//! The `drift` command: `serve`, `pub`, `sub`, and `bench` (drift-bench).

mod pub_cmd;
mod serve;
mod sub_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Drift: topic-based publish/subscribe over HTTP/2.
#[derive(Debug, Parser)]
#[command(name = "drift", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Drift server.
    Serve(Box<serve::ServeArgs>),
    /// Publish messages to a topic.
    Pub(pub_cmd::PubArgs),
    /// Subscribe to a topic and print its messages.
    Sub(sub_cmd::SubArgs),
    /// Measure a server: fan-out, publish rate, idle subscriptions.
    Bench(Box<drift_bench::BenchArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Pub(args) => pub_cmd::run(args),
        Command::Sub(args) => sub_cmd::run(args),
        Command::Bench(args) => drift_bench::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drift: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `drift bench` takes the arguments of drift-bench's load generator.
    #[test]
    fn bench_takes_the_load_generator_arguments() {
        let cli = Cli::try_parse_from(["drift", "bench", "fanout", "-t", "2", "--framing", "sse"])
            .unwrap();
        assert!(matches!(cli.command, Command::Bench(_)));
        assert!(Cli::try_parse_from(["drift", "bench", "everything"]).is_err());
    }
}
