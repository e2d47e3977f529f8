//! An empty `DRIFT_*` variable means unset, for every variable of every
//! command of the real `drift` binary: `DRIFT_CACERT=` is no CA file, an
//! empty number or flag is its default, and none is a parse error.

#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::process::Stdio;

use support::{start_h2c, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The variables `drift COMMAND --help` lists (`[env: DRIFT_…=]`), so that a
/// variable added later is covered too.
async fn env_vars(command: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_drift"))
        .args([command, "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let vars: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| rest.split(['=', ']']).next().unwrap().to_string())
        .collect();
    assert!(
        vars.iter().all(|v| v.starts_with("DRIFT_")),
        "{vars:?}\n{help}"
    );
    vars
}

/// `drift ARGS` with every variable of `command` set and empty.
fn with_all_empty(command: &str, vars: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
    cmd.arg(command);
    for var in vars {
        cmd.env(var, "");
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn empty_variables_of_pub_and_sub_are_unset() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let vars = env_vars("pub").await;
        assert!(vars.iter().any(|v| v == "DRIFT_CACERT"), "{vars:?}");
        let out = with_all_empty("pub", &vars)
            .args(["--url", &server.url, "news", "hello"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "drift pub: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let vars = env_vars("sub").await;
        let out = with_all_empty("sub", &vars)
            .args(["--url", &server.url, "news", "--history", "1", "-n", "1"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "drift sub: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    })
    .await
}

#[tokio::test]
async fn empty_variables_of_serve_are_unset() {
    within(async {
        let vars = env_vars("serve").await;
        assert!(vars.len() > 20, "{vars:?}");
        let dir = support::TempDir::new("cli-empty-env");
        let mut child = with_all_empty("serve", &vars)
            .args(["--listen", "127.0.0.1:0", "--h2c"])
            .env("NO_COLOR", "1")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // DRIFT_LOG= is the default filter (info), which logs the address.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push_str(&line);
            log.push('\n');
            if line.contains("listening on") {
                break;
            }
        }
        assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
        child.kill().await.unwrap();
    })
    .await
}
