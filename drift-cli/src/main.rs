//! The `drift` command: `serve`, `pub` and `sub`.

mod bench;
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
    Bench(Box<bench::BenchArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Pub(args) => pub_cmd::run(args),
        Command::Sub(args) => sub_cmd::run(args),
        Command::Bench(args) => bench::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drift: {e}");
            ExitCode::FAILURE
        }
    }
}
