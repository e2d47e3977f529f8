//! The `drift` command: `serve`, `pub`, `sub`, `token` and `bench`
//! (drift-bench), as a library so that the binary and the Python package's
//! `drift` console script run the same command line ([`run`]).

mod config_file;
mod hint;
mod print_config;
mod pub_cmd;
mod serve;
mod sub_cmd;
mod sub_report;
mod token_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Mint a development token (HS256) from a secret file; prints it alone.
    Token(token_cmd::TokenArgs),
}

/// Runs the command line `args` (the program's name first) to its end: the
/// exit status (0 for success, 1 for a failure reported on standard error;
/// a malformed command line exits the process at once with clap's status 2,
/// after its message).
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let cli = parse_command_line(args.into_iter().map(Into::into).collect());
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Pub(args) => pub_cmd::run(args),
        Command::Sub(args) => sub_cmd::run(args),
        Command::Bench(args) => drift_bench::run(*args),
        Command::Token(args) => token_cmd::run(args),
    };
    match result {
        Ok(code) if code == ExitCode::SUCCESS => 0,
        Ok(_) => 1,
        Err(e) => {
            match hint::for_error(&e) {
                Some(hint) => eprintln!("drift: {e} ({hint})"),
                None => eprintln!("drift: {e}"),
            }
            1
        }
    }
}

/// The command line, with every empty `DRIFT_*` variable taken as unset:
/// `DRIFT_CACERT=` in a shell, a unit file or a compose file means "no CA
/// file", not a file named "" (nor an error for a number or a flag).
fn parse_command_line(args: Vec<std::ffi::OsString>) -> Cli {
    let command = without_empty_env(Cli::command());
    let serve = command
        .find_subcommand("serve")
        .expect("drift has a serve command");
    let args = config_file::expand(args, serve).unwrap_or_else(|e| {
        eprintln!("drift: {e}");
        std::process::exit(2)
    });
    let matches = command.clone().get_matches_from(args);
    if let Some(("serve", given)) = matches.subcommand()
        && given.get_flag("print_config")
    {
        print!("{}", print_config::render(serve, given));
        std::process::exit(0);
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `command` and its subcommands with no environment variable for the
/// arguments whose variable is set but empty, so clap falls back to the
/// default (clap reads the variables when the command is built).
fn without_empty_env(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let empty = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.is_empty());
            if empty { arg.env(None) } else { arg }
        })
        .mut_subcommands(without_empty_env)
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

    /// `drift serve` has a flag for every option of drift-core's table (the
    /// options of the C and Python servers) and no other but `--log`, and
    /// each flag's default is the table's value in `ServerConfig::default()`
    /// (but `--cert-dir`'s, `.drift` here and none when embedded).
    #[test]
    fn serve_flags_are_the_server_options() {
        use drift_core::server::options::OPTIONS;
        use drift_core::server::{ServerConfig, ServerOptions};

        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        let serve_defaults = ServerOptions::from(ServerConfig::default());
        for option in OPTIONS {
            let flag = option.flag();
            let arg = serve
                .get_arguments()
                .find(|a| a.get_long().is_some_and(|l| format!("--{l}") == flag))
                .unwrap_or_else(|| panic!("drift serve has no {flag} for option {}", option.name));
            if let [default] = arg.get_default_values()
                && option.name != "cert_dir"
            {
                let default = default.to_str().unwrap();
                assert_eq!(
                    option.parse(default).unwrap(),
                    option.value(&serve_defaults),
                    "{flag} defaults to {default:?}"
                );
            }
        }
        for long in serve.get_arguments().filter_map(|a| a.get_long()) {
            assert!(
                ["log", "log-format", "config", "print-config"].contains(&long)
                    || OPTIONS.iter().any(|o| o.flag() == format!("--{long}")),
                "--{long} is not an option of drift_core::server::options"
            );
        }
    }
}
