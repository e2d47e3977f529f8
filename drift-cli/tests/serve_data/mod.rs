//! `drift serve --h2c --data-dir DIR` as the crash and disk-full tests run
//! it (include with `mod serve_data;`).

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts the real binary on `listen` with `data` and `args`, and returns it
/// with its URL (read from the "listening on" line). The rest of its log is
/// drained, so the server never blocks on a full pipe.
pub async fn start(data: &Path, listen: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drift"))
        .args(["serve", "--h2c", "--listen", listen])
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("DRIFT_DATA_DIR")
        .env_remove("DRIFT_FSYNC")
        .env("NO_COLOR", "1")
        .env("DRIFT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn drift serve");
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
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}
