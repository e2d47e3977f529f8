//! `drift serve --config FILE`: a TOML file of `drift serve`'s options, by
//! the same names (`history_length = 100` or `history-length = 100` for
//! `--history-length 100`).
//!
//! The file becomes command-line arguments put before the real ones, except
//! for the options the real command line or the environment sets: so flags
//! beat the environment, which beats the file, which beats the defaults, and
//! clap checks every value as it checks a flag. Each key and value is
//! checked here first, so that a mistake is reported with the file's name,
//! the line and the key.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use clap::ArgAction;
use clap::error::ErrorKind;
use toml::de::{DeTable, DeValue};

/// The flag that names the file, and its environment variable.
pub const FLAG: &str = "config";
pub const ENV: &str = "DRIFT_CONFIG";

/// `args` (the whole command line) with the options of the `drift serve
/// --config` file inserted after `serve`; `args` unchanged for any other
/// command or without a file. `serve` is the `serve` subcommand, whose
/// arguments say which keys exist and how their values are checked.
pub fn expand(args: Vec<OsString>, serve: &clap::Command) -> Result<Vec<OsString>, String> {
    if args.get(1).map(OsString::as_os_str) != Some(OsStr::new("serve")) {
        return Ok(args);
    }
    let Some(path) = config_path(&args[2..]) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let from_file = arguments(&text, &path, serve, &args[2..])?;
    let mut out = args;
    out.splice(2..2, from_file);
    Ok(out)
}

/// `--config FILE`, `--config=FILE` or `DRIFT_CONFIG` (not empty).
fn config_path(args: &[OsString]) -> Option<std::path::PathBuf> {
    let long = format!("--{FLAG}");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy();
        if text == long {
            return it.next().map(Into::into);
        }
        if let Some(value) = text.strip_prefix(&format!("{long}=")) {
            return Some(value.into());
        }
    }
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// The arguments the file stands for, checked.
fn arguments(
    text: &str,
    path: &Path,
    serve: &clap::Command,
    given: &[OsString],
) -> Result<Vec<OsString>, String> {
    let at = |offset: usize| {
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        format!("{}:{line}", path.display())
    };
    let table = DeTable::parse(text).map_err(|e| {
        let place = e
            .span()
            .map_or_else(|| path.display().to_string(), |s| at(s.start));
        format!("{place}: {}", e.message())
    })?;
    let mut out = Vec::new();
    for (key, value) in table.get_ref() {
        let name = key.get_ref();
        let place = at(key.span().start);
        let long = name.replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .filter(|_| long != FLAG && long != "print-config")
            .ok_or_else(|| {
                format!(
                    "{place}: `{name}` is not an option of drift serve (see drift serve --help)"
                )
            })?;
        if set_elsewhere(arg, &long, given) {
            continue;
        }
        let values = texts(value.get_ref())
            .ok_or_else(|| format!("{place}: `{name}` takes a value, not a table or a date"))?;
        let flag = OsString::from(format!("--{long}"));
        match arg.get_action() {
            ArgAction::SetTrue => match value.get_ref() {
                DeValue::Boolean(true) => out.push(flag),
                DeValue::Boolean(false) => {}
                _ => return Err(format!("{place}: `{name}` is true or false")),
            },
            ArgAction::Append => {
                for v in values {
                    check(serve, arg, &v).map_err(|e| format!("{place}: `{name}`: {e}"))?;
                    out.extend([flag.clone(), v.into()]);
                }
            }
            _ => {
                let [v] = <[String; 1]>::try_from(values)
                    .map_err(|_| format!("{place}: `{name}` takes one value, not a list"))?;
                check(serve, arg, &v).map_err(|e| format!("{place}: `{name}`: {e}"))?;
                out.extend([flag, v.into()]);
            }
        }
    }
    Ok(out)
}

/// The option is on the command line, or its variable is set (not empty).
fn set_elsewhere(arg: &clap::Arg, long: &str, given: &[OsString]) -> bool {
    let flag = format!("--{long}");
    let on_line = given.iter().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    let in_env = arg
        .get_env()
        .and_then(std::env::var_os)
        .is_some_and(|v| !v.is_empty());
    on_line || in_env
}

/// A value (or each value of an array) as the text a flag would carry.
fn texts(value: &DeValue<'_>) -> Option<Vec<String>> {
    Some(match value {
        DeValue::String(s) => vec![s.to_string()],
        DeValue::Integer(i) => vec![i.to_string()],
        DeValue::Float(f) => vec![f.to_string()],
        DeValue::Boolean(b) => vec![b.to_string()],
        DeValue::Array(items) => {
            let mut all = Vec::new();
            for item in items {
                all.extend(texts(item.get_ref())?);
            }
            all
        }
        DeValue::Datetime(_) | DeValue::Table(_) => return None,
    })
}

/// Checks `value` with the flag's own parser (clap keeps that parser's
/// entry point to itself, so the flag alone is parsed; what concerns other
/// flags too, such as `--cert` needing `--key`, is left to the real parse).
fn check(serve: &clap::Command, arg: &clap::Arg, value: &str) -> Result<(), String> {
    let flag = format!("--{}", arg.get_long().unwrap_or_default());
    let parsed = serve
        .clone()
        .no_binary_name(true)
        .try_get_matches_from([OsString::from(flag), OsString::from(value)]);
    match parsed {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::InvalidValue | ErrorKind::ValueValidation
            ) =>
        {
            // clap's text names the flag and may span lines: keep its gist.
            let text = e.to_string();
            Err(text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_owned())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction, Command};

    use super::*;

    fn serve() -> Command {
        Command::new("serve")
            .arg(Arg::new("config").long("config"))
            .arg(
                Arg::new("threads")
                    .long("threads")
                    .value_parser(clap::value_parser!(usize)),
            )
            .arg(Arg::new("h2c").long("h2c").action(ArgAction::SetTrue))
            .arg(
                Arg::new("cors")
                    .long("cors-origin")
                    .action(ArgAction::Append),
            )
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .env("DRIFT_TEST_LISTEN_UNSET"),
            )
    }

    fn run(text: &str, given: &[&str]) -> Result<Vec<String>, String> {
        let given: Vec<OsString> = given.iter().map(OsString::from).collect();
        arguments(text, Path::new("drift.toml"), &serve(), &given)
            .map(|v| v.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn keys_become_flags_unless_the_command_line_has_them() {
        let text =
            "threads = 3\nh2c = true\ncors_origin = [\"a\", \"b\"]\nlisten = \"1.2.3.4:5\"\n";
        // In the order of the keys' names.
        assert_eq!(
            run(text, &[]).unwrap(),
            [
                "--cors-origin",
                "a",
                "--cors-origin",
                "b",
                "--h2c",
                "--listen",
                "1.2.3.4:5",
                "--threads",
                "3"
            ]
        );
        assert_eq!(
            run(text, &["--threads=4", "--listen", "x"]).unwrap(),
            ["--cors-origin", "a", "--cors-origin", "b", "--h2c"]
        );
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        let unknown = run("threads = 1\n\nthreadz = 2\n", &[]).unwrap_err();
        assert!(
            unknown.starts_with("drift.toml:3: `threadz` is not an option"),
            "{unknown}"
        );
        let wrong = run("\nthreads = \"many\"\n", &[]).unwrap_err();
        assert!(wrong.starts_with("drift.toml:2: `threads`: "), "{wrong}");
        let flag = run("h2c = 1\n", &[]).unwrap_err();
        assert_eq!(flag, "drift.toml:1: `h2c` is true or false");
        let list = run("threads = [1, 2]\n", &[]).unwrap_err();
        assert_eq!(list, "drift.toml:1: `threads` takes one value, not a list");
        let table = run("[threads]\nx = 1\n", &[]).unwrap_err();
        assert!(
            table.starts_with("drift.toml:1: `threads` takes a value"),
            "{table}"
        );
        let syntax = run("threads = = 1\n", &[]).unwrap_err();
        assert!(syntax.starts_with("drift.toml:1: "), "{syntax}");
        let nested = run("config = \"other.toml\"\n", &[]).unwrap_err();
        assert!(nested.contains("`config` is not an option"), "{nested}");
    }
}
