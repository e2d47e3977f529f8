//! `drift serve` as the binary's tests run it (include with `mod serve;`):
//! with no `DRIFT_*` variable from the environment of whoever runs the
//! tests, logging at info without colour to a pipe that is read for the
//! "listening on" line.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// `drift serve ARGS`, ready to spawn.
pub fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
    cmd.arg("serve").args(args);
    configure(&mut cmd);
    cmd
}

/// Gives `cmd` (`drift serve` itself, or a wrapper such as `prlimit` that
/// runs it) the tests' environment and pipes.
pub fn configure(cmd: &mut Command) -> &mut Command {
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("DRIFT_") {
            cmd.env_remove(var);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("DRIFT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
}

/// Spawns `cmd` and waits for its "listening on" line; returns the child,
/// its URL and the rest of its log, to read on (or drain: a full pipe
/// blocks the server).
pub async fn spawn(cmd: &mut Command) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = cmd.spawn().expect("spawn drift serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    let url = loop {
        let Some(line) = lines.next_line().await.expect("read the log") else {
            panic!("drift serve exited before listening:\n{log}");
        };
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("a URL").to_string();
        }
    };
    (child, url, lines)
}

/// As [`spawn`], with the rest of the log drained.
pub async fn start(cmd: &mut Command) -> (Child, String) {
    let (child, url, mut lines) = spawn(cmd).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// `drift serve --h2c --listen LISTEN --data-dir DATA ARGS`, as the crash
/// and disk-full tests run it.
pub async fn start_data(data: &Path, listen: &str, args: &[&str]) -> (Child, String) {
    let mut cmd = command(["--h2c", "--listen", listen]);
    cmd.arg("--data-dir").arg(data).args(args);
    start(&mut cmd).await
}
