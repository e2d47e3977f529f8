//! `drift pub` and `drift sub` end to end: the real binary against a real
//! server over loopback.

#[path = "../../drift-core/tests/support/client.rs"]
mod client_support;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use client_support::{Proxy, client_for, numbered};
use support::{TempDir, TestServer, eventually, start_h2c, start_server, within};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

const LINE_TIMEOUT: Duration = Duration::from_secs(15);

/// How the CLI reaches the server: its URL and (for TLS) a CA file.
struct Target {
    url: String,
    cacert: Option<PathBuf>,
    _dir: TempDir,
}

impl Target {
    fn new(server: &TestServer) -> Target {
        Target::with_url(server, server.url.clone())
    }

    fn with_url(server: &TestServer, url: String) -> Target {
        Target::with(url, server.ca_pem.as_deref())
    }

    /// `url`, trusting `ca_pem` when given (else the system's roots).
    fn with(url: String, ca_pem: Option<&[u8]>) -> Target {
        let dir = TempDir::new("cli");
        let cacert = ca_pem.map(|pem| dir.write_ca(pem));
        Target {
            url,
            cacert,
            _dir: dir,
        }
    }

    /// `drift <args…> --url … [--cacert …]`, with no DRIFT_* from the
    /// environment of whoever runs the tests.
    fn drift(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
        cmd.args(args).arg("--url").arg(&self.url);
        if let Some(ca) = &self.cacert {
            cmd.arg("--cacert").arg(ca);
        }
        for var in ["DRIFT_URL", "DRIFT_CACERT", "DRIFT_INSECURE"] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `drift pub …` with `stdin`, expecting success; returns stdout.
    async fn publish(&self, args: &[&str], stdin: &str) -> String {
        let mut cmd = self.drift(args);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "drift {args:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `drift …` expecting failure; returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.drift(args).output().await.unwrap();
        assert!(!out.status.success(), "drift {args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }
}

/// A `drift sub` running in the background.
struct Sub {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Sub {
    /// Starts `drift sub --verbose <args…>` and waits until it says it is subscribed.
    async fn start(target: &Target, args: &[&str]) -> Sub {
        let mut cmd = target.drift(&["sub", "--verbose"]);
        cmd.args(args);
        let mut child = cmd.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut sub = Sub {
            child,
            stdout,
            stderr,
        };
        let line = sub.stderr_line().await;
        assert!(line.starts_with("drift: subscribed to "), "{line}");
        sub
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(LINE_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("no line from drift sub: {other:?}"),
        }
    }

    async fn lines(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.line().await);
        }
        out
    }

    async fn stderr_line(&mut self) -> String {
        match tokio::time::timeout(LINE_TIMEOUT, self.stderr.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("no stderr line from drift sub: {other:?}"),
        }
    }

    /// Sends SIGINT (what Ctrl-C does) and waits for the exit.
    async fn interrupt(mut self) -> ExitStatus {
        let pid = self.child.id().expect("running");
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.exit().await
    }

    async fn exit(&mut self) -> ExitStatus {
        tokio::time::timeout(LINE_TIMEOUT, self.child.wait())
            .await
            .expect("drift sub exits")
            .unwrap()
    }
}

#[tokio::test]
async fn sub_prints_what_pub_sends_and_exits_cleanly_on_ctrl_c() {
    within(async {
        let server = start_server(|_| {}).await;
        let target = Target::new(&server);
        let mut sub = Sub::start(&target, &["news"]).await;
        let ids = target
            .publish(
                &["pub", "news", "--verbose"],
                "alpha\nbeta\r\n\ngamma δ\nlast",
            )
            .await;
        let ids: Vec<&str> = ids.lines().collect();
        assert_eq!(ids.len(), 5);
        assert!(ids[0].ends_with("-1") && ids[4].ends_with("-5"), "{ids:?}");
        assert_eq!(sub.lines(5).await, ["alpha", "beta", "", "gamma δ", "last"]);
        target.publish(&["pub", "news", "one more"], "").await;
        assert_eq!(sub.line().await, "one more");
        let status = sub.interrupt().await;
        assert!(status.success(), "Ctrl-C is a clean exit: {status:?}");
    })
    .await;
}

#[tokio::test]
async fn sub_history_options_and_formats() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let target = Target::new(&server);
        let client = client_for(&server);
        let first = client.publish("h", "one").await.unwrap();
        let dir = TempDir::new("cli-bin");
        let file = dir.path().join("bin");
        std::fs::write(&file, b"\xff\x00\x01").unwrap();
        let out = target
            .publish(&["pub", "h", "--file", file.to_str().unwrap(), "-v"], "")
            .await;
        assert_eq!(out.trim(), format!("{}-2", first.id.epoch));
        let third = client.publish("h", "three").await.unwrap();

        // --history N --format json, exiting after --count messages.
        let out = target
            .drift(&[
                "sub",
                "h",
                "--history",
                "3",
                "--format",
                "json",
                "--count",
                "3",
            ])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["id"], first.id.to_string());
        assert_eq!(lines[0]["seq"], 1);
        assert_eq!(lines[0]["epoch"], first.id.epoch);
        assert_eq!(lines[0]["data"], "one");
        let time = lines[0]["time"].as_f64().unwrap();
        assert!((time - first.time_us as f64 / 1e6).abs() < 1e-3, "{time}");
        assert_eq!(lines[1]["data_base64"], "/wAB");
        assert!(lines[1].get("data").is_none());
        assert_eq!(lines[2]["data"], "three");

        // --after ID and --since T, raw format.
        let after = format!("{}-1", first.id.epoch);
        let out = target
            .drift(&[
                "sub", "h", "--after", &after, "--format", "raw", "--count", "2",
            ])
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"\xff\x00\x01three");
        let since = format!(
            "{}.{:06}",
            first.time_us / 1_000_000,
            first.time_us % 1_000_000
        );
        let out = target
            .drift(&[
                "sub", "h", "--since", &since, "--count", "2", "--format", "json",
            ])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.lines()
                .last()
                .unwrap()
                .contains(&format!("\"id\":\"{}\"", third.id)),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2);
    })
    .await;
}

#[tokio::test]
async fn sub_resumes_by_itself_after_a_disconnect() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let target = Target::with_url(&server, proxy.url(true));
        let client = client_for(&server);
        let mut sub = Sub::start(&target, &["r"]).await;
        let publish = async |range| {
            for payload in numbered("m", range) {
                client.publish("r", payload).await.unwrap();
            }
        };
        publish(1..=3).await;
        assert_eq!(sub.lines(3).await, numbered("m", 1..=3));
        proxy.cut();
        let broker = server.broker().clone();
        eventually("the server saw the cut", || {
            broker.subscription_count() == 0
        })
        .await;
        publish(4..=6).await; // while drift sub is disconnected
        proxy.restore();
        publish(7..=9).await;
        assert_eq!(sub.lines(6).await, numbered("m", 4..=9));
        assert!(sub.interrupt().await.success());
    })
    .await;
}

#[tokio::test]
async fn sub_reports_the_end_and_exits() {
    within(async {
        let server = start_server(|_| {}).await;
        let target = Target::new(&server);
        let mut sub = Sub::start(&target, &["gone"]).await;
        client_for(&server).delete("gone").await.unwrap();
        assert_eq!(
            sub.stderr_line().await,
            "drift: subscription ended: deleted"
        );
        assert!(sub.exit().await.success());
    })
    .await;
}

/// One line on stderr starting with `drift: `.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(lines[0].starts_with("drift: "), "{stderr:?}");
    lines[0]
}

#[tokio::test]
async fn errors_are_one_clear_line_and_a_failure_exit() {
    within(async {
        let server = start_server(|_| {}).await;
        let target = Target::new(&server);

        // 4xx with the server's reason.
        let long = "x".repeat(300);
        let e = target.fails(&["pub", &long, "m"]).await;
        assert_eq!(
            one_line(&e),
            "drift: server answered 400 Bad Request: topic name is longer than 256 bytes"
        );
        let e = target.fails(&["sub", &long]).await;
        assert!(
            one_line(&e).starts_with("drift: server answered 400 Bad Request"),
            "{e}"
        );

        // TLS: the generated certificate is not trusted without --cacert.
        let untrusting = Target::with(server.url.clone(), None);
        let e = untrusting.fails(&["pub", "t", "m"]).await;
        let line = one_line(&e);
        assert!(line.contains("UnknownIssuer"), "{line}");
        assert!(
            line.ends_with(
                "pass --cacert FILE, e.g. --cacert .drift/cert.pem for drift serve's generated one)"
            ),
            "{line}"
        );
        // ... but is with --insecure.
        let mut cmd = untrusting.drift(&["pub", "t", "m", "--insecure"]);
        assert!(cmd.status().await.unwrap().success());

        // Unreachable.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let nowhere = Target::with(format!("http://127.0.0.1:{port}"), None);
        for args in [&["pub", "t", "m"][..], &["sub", "t"][..]] {
            let e = nowhere.fails(args).await;
            assert!(
                one_line(&e).starts_with(&format!("drift: cannot connect to 127.0.0.1:{port}")),
                "{e}"
            );
        }
    })
    .await;
}

/// An `https://` URL for a cleartext server fails with a hint to use
/// `http://`.
#[tokio::test]
async fn https_against_a_cleartext_server_hints_at_http() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let url = server.url.replacen("http://", "https://", 1);
        let e = Target::with(url, None).fails(&["pub", "t", "m"]).await;
        let line = one_line(&e);
        assert!(line.starts_with("drift: TLS handshake with"), "{line}");
        assert!(line.ends_with("then use an http:// URL)"), "{line}");
    })
    .await;
}

/// `drift pub` prints the id it got, one line per message, unless `--quiet`.
#[tokio::test]
async fn pub_prints_each_id_unless_quiet() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let target = Target::new(&server);
        let out = target.publish(&["pub", "ids", "one"], "").await;
        let first: drift_core::MessageId = out.trim_end().parse().unwrap();
        assert_eq!(out, format!("{first}\n"));
        assert_eq!(first.seq, 1);
        let out = target.publish(&["pub", "ids"], "two\nthree\n").await;
        assert_eq!(out, format!("{0}-2\n{0}-3\n", first.epoch));
        for quiet in ["-q", "--quiet"] {
            assert_eq!(target.publish(&["pub", "ids", "m", quiet], "").await, "");
            assert_eq!(target.publish(&["pub", "ids", quiet], "a\nb\n").await, "");
        }
    })
    .await;
}

#[tokio::test]
async fn environment_variables_configure_the_connection() {
    within(async {
        let server = start_server(|_| {}).await;
        let dir = TempDir::new("cli-env");
        let ca = dir.write_ca(server.ca_pem.as_ref().unwrap());
        let run = |envs: Vec<(&'static str, String)>| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
            cmd.args(["pub", "env", "m", "-v"])
                .env_remove("DRIFT_CACERT")
                .env_remove("DRIFT_INSECURE")
                .env("DRIFT_URL", &server.url)
                .envs(envs)
                .stdin(Stdio::null())
                .kill_on_drop(true);
            cmd
        };
        let out = run(vec![("DRIFT_CACERT", ca.display().to_string())])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for yes in ["1", "true"] {
            let out = run(vec![("DRIFT_INSECURE", yes.into())])
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "DRIFT_INSECURE={yes}");
        }
        let out = run(vec![("DRIFT_INSECURE", "0".into())])
            .output()
            .await
            .unwrap();
        assert!(
            !out.status.success(),
            "DRIFT_INSECURE=0 keeps verification on"
        );
    })
    .await;
}
