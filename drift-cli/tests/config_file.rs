//! `drift serve --config FILE`, `--print-config` and `--log-format json`,
//! run as the binary: precedence flags > environment > file > defaults,
//! mistakes refused with the file's line, JSON log lines.

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Output;

use support::{TempDir, within};

fn write(dir: &TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("drift.toml");
    std::fs::write(&path, text).expect("write drift.toml");
    path
}

/// `drift serve ARGS --print-config` with `env`; its output.
async fn print_config(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = serve::command(["--config".as_ref(), config.as_os_str()]);
    cmd.args(args).arg("--print-config");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    cmd.output().await.expect("run drift serve --print-config")
}

fn line_of<'a>(out: &'a Output, key: &str) -> &'a str {
    let text = std::str::from_utf8(&out.stdout).expect("UTF-8");
    text.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

#[tokio::test]
async fn flags_beat_the_environment_which_beats_the_file_which_beats_defaults() {
    within(async {
        let dir = TempDir::new("config");
        let file = write(
            &dir,
            "history_length = 3\nqueue-messages = 7\nh2c = true\nconsole = \"off\"\n",
        );
        let out = print_config(&file, &[], &[]).await;
        assert!(out.status.success(), "{out:?}");
        assert_eq!(line_of(&out, "console"), "console = \"off\"", "the file");
        let on = print_config(&file, &[], &[("DRIFT_CONSOLE", "on")]).await;
        assert_eq!(
            line_of(&on, "console"),
            "console = \"on\"",
            "the environment"
        );
        assert_eq!(
            line_of(&out, "history_length"),
            "history_length = 3",
            "the file"
        );
        assert_eq!(
            line_of(&out, "queue_messages"),
            "queue_messages = 7",
            "a dashed key"
        );
        assert_eq!(line_of(&out, "h2c"), "h2c = true");
        assert_eq!(
            line_of(&out, "max_topics"),
            "max_topics = 100000",
            "a default"
        );
        let env = [("DRIFT_HISTORY_LENGTH", "4")];
        let out = print_config(&file, &[], &env).await;
        assert_eq!(
            line_of(&out, "history_length"),
            "history_length = 4",
            "the environment"
        );
        let out = print_config(&file, &["--history-length", "5"], &env).await;
        assert_eq!(
            line_of(&out, "history_length"),
            "history_length = 5",
            "the flag"
        );
        // What it prints is a config file that gives the same again.
        let printed = write(&dir, std::str::from_utf8(&out.stdout).unwrap());
        let again = print_config(&printed, &[], &[]).await;
        assert!(again.status.success(), "{again:?}");
        assert_eq!(again.stdout, out.stdout);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_key_or_a_bad_value_is_refused_with_its_line() {
    within(async {
        let dir = TempDir::new("config-bad");
        for (text, expected) in [
            (
                "h2c = true\n\nhistory_lenght = 3\n",
                "drift.toml:3: `history_lenght` is not an option",
            ),
            (
                "threads = \"many\"\n",
                "drift.toml:1: `threads`: invalid value 'many'",
            ),
            ("h2c = \"yes\"\n", "drift.toml:1: `h2c` is true or false"),
            (
                "console = \"sometimes\"\n",
                "drift.toml:1: `console`: invalid value 'sometimes'",
            ),
            (
                "listen = [\"a\", \"b\"]\n",
                "drift.toml:1: `listen` takes one value, not a list",
            ),
        ] {
            let file = write(&dir, text);
            let out = print_config(&file, &[], &[]).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
            assert!(stderr.contains(expected), "{text}: {stderr}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_server_runs_from_its_config_file_and_logs_json_lines() {
    within(async {
        let dir = TempDir::new("config-serve");
        let file = write(
            &dir,
            "h2c = true\nlisten = \"127.0.0.1:0\"\nlog_format = \"json\"\n",
        );
        let mut cmd = serve::command(["--config".as_ref(), file.as_os_str()]);
        let (_child, url, mut log) = serve::spawn(&mut cmd).await;
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "h2c from the file: {url}"
        );
        let client = drift_core::client::Client::builder(url)
            .build()
            .expect("a client");
        client.publish("t", "x").await.expect("the server serves");
        // Every later log line is one JSON object.
        let line = log.next_line().await.expect("read").expect("a log line");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["fields"]["message"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
    })
    .await;
}
