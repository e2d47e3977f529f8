//! Authentication from the command line (issue 22): `drift token` mints a
//! token alone on standard output, `drift serve --jwt-secret-file` says in
//! its start-up log how callers are authenticated (and an open server that
//! it is open), `drift pub`/`sub --token` and curl with a bearer header
//! use it, and no token reaches the log even at `--log trace`.

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Stdio;

use support::{TempDir, within};
use tokio::io::{BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

fn secret_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../drift-core/tests/data/jwt/secret")
}

/// `drift ARGS` with no DRIFT_* of the caller's, to completion.
async fn drift(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
    cmd.args(args);
    serve::configure(&mut cmd);
    cmd.stdout(Stdio::piped());
    cmd.output().await.expect("run drift")
}

async fn mint(args: &[&str]) -> String {
    let secret = secret_file();
    let mut all = vec!["token", "--secret-file", secret.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = drift(&all).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "the token alone: {text:?}");
    text.trim().to_owned()
}

/// Reads the log until a line has `needle`; returns everything read.
async fn log_until(lines: &mut Lines<BufReader<ChildStderr>>, log: &mut String, needle: &str) {
    while !log.contains(needle) {
        let Some(line) = lines.next_line().await.unwrap() else {
            panic!("log ended without {needle:?}:\n{log}");
        };
        log.push_str(&line);
        log.push('\n');
    }
}

#[tokio::test]
async fn drift_token_prints_a_token_and_refuses_bad_input() {
    within(async {
        let token = mint(&[
            "--publish",
            "a",
            "--subscribe",
            "*",
            "--ttl",
            "10m",
            "--sub",
            "dev",
        ])
        .await;
        assert_eq!(token.split('.').count(), 3, "{token}");
        let dir = TempDir::new("cli-token");
        let short = dir.path().join("short");
        std::fs::write(&short, "too short\n").unwrap();
        let out = drift(&["token", "--secret-file", short.to_str().unwrap()]).await;
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
        let secret = secret_file();
        let out = drift(&[
            "token",
            "--secret-file",
            secret.to_str().unwrap(),
            "--ttl",
            "soon",
        ])
        .await;
        assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl"));
    })
    .await;
}

#[tokio::test]
async fn an_open_server_says_so_at_start() {
    within(async {
        let (child, _, mut lines) =
            serve::spawn(&mut serve::command(["--h2c", "--listen", "127.0.0.1:0"])).await;
        let mut log = String::new();
        log_until(&mut lines, &mut log, "access: open").await;
        drop(child); // killed on drop
    })
    .await;
}

#[tokio::test]
async fn tokens_work_from_the_cli_and_curl_and_never_reach_the_trace_log() {
    within(async {
        // TLS, so that rustls has something to trace too.
        let dir = TempDir::new("cli-auth");
        let secret = secret_file();
        let mut cmd = serve::command([
            "--listen",
            "127.0.0.1:0",
            "--allow-query-token",
            "--anonymous",
            "public.*",
            "--log",
            "trace",
            "--cert-dir",
        ]);
        cmd.arg(dir.path()).env("DRIFT_JWT_SECRET_FILE", &secret);
        let (child, url, mut lines) = serve::spawn(&mut cmd).await;
        let mut log = String::new();
        log_until(&mut lines, &mut log, "access: JWT").await;
        assert!(log.contains("subscribe to public.*"), "{log}");
        // The log must be read meanwhile: a full pipe blocks the server.
        let reader = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });

        let token = mint(&["--publish", "news", "--subscribe", "news"]).await;
        let reader_token = mint(&["--subscribe", "*"]).await;
        let published = drift(&[
            "pub",
            "--insecure",
            "--url",
            &url,
            "--token",
            &token,
            "news",
            "hello",
        ])
        .await;
        assert!(
            published.status.success(),
            "{}",
            String::from_utf8_lossy(&published.stderr)
        );
        let refused = drift(&["pub", "--insecure", "--url", &url, "news", "hello"]).await;
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("needs a token"), "{stderr}");
        let forbidden = drift(&[
            "pub",
            "--insecure",
            "--url",
            &url,
            "--token",
            &reader_token,
            "news",
            "x",
        ])
        .await;
        let stderr = String::from_utf8_lossy(&forbidden.stderr);
        assert!(stderr.contains("publish to topic \"news\""), "{stderr}");
        assert!(
            !stderr.contains(&reader_token),
            "the token is echoed: {stderr}"
        );

        // curl, as the README shows it: a bearer header, and a query token.
        let topic = format!("{url}/v1/t/news");
        let auth = format!("Authorization: Bearer {token}");
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-k",
                "-H",
                &auth,
                "-d",
                "from curl",
                &topic,
            ])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let replay = format!("{topic}?history=2&access_token={reader_token}");
        let sub = drift(&[
            "sub",
            "--insecure",
            "--url",
            &url,
            "--token",
            &token,
            "--history",
            "2",
            "-n",
            "2",
            "news",
        ])
        .await;
        let got = String::from_utf8_lossy(&sub.stdout);
        assert!(got.contains("hello") && got.contains("from curl"), "{got}");
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "2", "-k", &replay])
            .output()
            .await
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(
            got.contains("from curl"),
            "the query token subscribes: {got}"
        );

        stop_by_pid(child).await;
        let rest = reader.await.unwrap();
        log.push_str(&rest);
        // The requests are traced, the query token's value scrubbed.
        assert!(log.contains("TRACE"), "a trace log: {log}");
        assert!(log.contains("access_token=REDACTED"), "{log}");
        for t in [&token, &reader_token] {
            let signature = t.rsplit('.').next().unwrap();
            assert!(!log.contains(signature), "a token in the log:\n{log}");
        }
    })
    .await;
}

async fn stop_by_pid(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().await.unwrap().success());
}
