//! `drift serve --print-config`: the options in effect, from the command
//! line, the environment, the config file and the defaults together, as a
//! config file that `--config` reads back (but for a Redis password, shown
//! as `***`).

use clap::{ArgAction, ArgMatches};

/// Every option of `serve` with its value in `given`, one `key = value`
/// line each; options without a value are written as comments.
pub fn render(serve: &clap::Command, given: &ArgMatches) -> String {
    let mut out = String::from("# drift serve: the configuration in effect\n");
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else {
            continue;
        };
        if ["help", "version", "config", "print-config"].contains(&long) {
            continue;
        }
        let key = long.replace('-', "_");
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            out.push_str(&format!("{key} = {}\n", given.get_flag(id)));
            continue;
        }
        let values: Vec<String> = given
            .get_raw(id)
            .map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let redact = |v: String| {
            if key == "redis" {
                without_password(&v)
            } else {
                v
            }
        };
        let mut values: Vec<String> = values
            .into_iter()
            .map(redact)
            .map(|v| toml_value(&v))
            .collect();
        match (arg.get_action(), values.len()) {
            (ArgAction::Append, _) => out.push_str(&format!("{key} = [{}]\n", values.join(", "))),
            (_, 0) => out.push_str(&format!("# {key} = (not set)\n")),
            _ => out.push_str(&format!("{key} = {}\n", values.swap_remove(0))),
        }
    }
    out
}

/// A whole number as itself, anything else as a TOML string.
fn toml_value(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_owned();
    }
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `scheme://[user]:***@host…` for a URL with a password.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_toml_and_passwords_hidden() {
        assert_eq!(toml_value("100"), "100");
        assert_eq!(toml_value("1.5"), "\"1.5\"");
        assert_eq!(toml_value("a\"b"), "\"a\\\"b\"");
        assert_eq!(without_password("redis://:pw@h:1/2"), "redis://:***@h:1/2");
        assert_eq!(without_password("redis://h:1"), "redis://h:1");
    }
}
