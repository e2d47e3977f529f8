//! `drift serve` colours its log only for a person at a terminal: never on a
//! pipe or in a file, and nowhere when `NO_COLOR` is set. The terminal is a
//! real pseudo-terminal, made by util-linux's `script`.

#[path = "../../drift-core/tests/support/timing.rs"]
#[allow(dead_code)]
mod timing;

use std::process::Stdio;

use timing::within;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

const ESC: u8 = 0x1b;

/// The environment of `drift serve` but for `NO_COLOR`: none of the tester's
/// DRIFT_* (a `DRIFT_LOG=off` would hide the line looked at).
fn clean(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DRIFT_") || name == "NO_COLOR" {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
}

const SERVE: [&str; 6] = ["serve", "--h2c", "--listen", "127.0.0.1:0", "--log", "info"];

/// What `from` writes up to and including the "listening on" log line.
async fn until_listening<R: AsyncRead + Unpin>(from: &mut R) -> Vec<u8> {
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("listening on") {
        let mut chunk = [0u8; 1024];
        let n = from.read(&mut chunk).await.unwrap();
        assert!(n > 0, "ended early: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    seen
}

/// `drift serve` with its standard error on a pseudo-terminal (`script`
/// copies what the terminal shows to its own standard output).
fn on_a_terminal(no_color: Option<&str>) -> Child {
    let drift = env!("CARGO_BIN_EXE_drift");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c"])
        .arg(format!("{drift} {}", SERVE.join(" ")))
        .arg("/dev/null");
    clean(&mut cmd);
    if let Some(value) = no_color {
        cmd.env("NO_COLOR", value);
    }
    cmd.spawn().expect("run script(1)")
}

/// Ends the `drift serve` that `script` runs (by its pid), then `script`.
async fn stop(mut script: Child) {
    let pid = script.id().expect("running");
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    for child in children.split_whitespace() {
        let killed = Command::new("kill")
            .args(["-TERM", child])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
    }
    script.wait().await.unwrap();
}

#[tokio::test]
async fn a_log_on_a_pipe_has_no_colour_codes() {
    within(async {
        let mut serve = clean(&mut Command::new(env!("CARGO_BIN_EXE_drift")))
            .args(SERVE)
            .spawn()
            .unwrap();
        let mut stderr = serve.stderr.take().unwrap();
        let log = until_listening(&mut stderr).await;
        assert!(
            !log.contains(&ESC),
            "escape codes on a pipe: {:?}",
            String::from_utf8_lossy(&log)
        );
        serve.kill().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_terminal_gets_colour_unless_no_color_is_set() {
    within(async {
        // The terminal itself is coloured (so that the next check means
        // something), and an empty NO_COLOR counts as unset.
        for no_color in [None, Some("")] {
            let mut script = on_a_terminal(no_color);
            let log = until_listening(script.stdout.as_mut().unwrap()).await;
            assert!(
                log.contains(&ESC),
                "NO_COLOR={no_color:?}: no colour on a terminal: {:?}",
                String::from_utf8_lossy(&log)
            );
            stop(script).await;
        }
        let mut script = on_a_terminal(Some("1"));
        let log = until_listening(script.stdout.as_mut().unwrap()).await;
        assert!(
            !log.contains(&ESC),
            "escape codes despite NO_COLOR: {:?}",
            String::from_utf8_lossy(&log)
        );
        stop(script).await;
    })
    .await;
}
