//! `drift bench` end to end: the real binary against a real server over
//! loopback, checking the JSON summary it prints as its last line.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{TempDir, TestServer, start_h2c, start_server, within};
use tokio::process::Command;

/// Runs `drift bench <args>` (words separated by spaces, as on a command
/// line) against `server`, which runs in this process, so its CPU time is
/// this process's; returns the exit success and the JSON summary.
async fn bench(server: &TestServer, args: &str) -> (bool, Value) {
    let dir = TempDir::new("bench");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
    cmd.arg("bench")
        .args(args.split_whitespace())
        .args(["--url", &server.url, "--quiet", "--drain", "5"])
        .arg("--server-pid")
        .arg(std::process::id().to_string());
    if let Some(pem) = &server.ca_pem {
        cmd.arg("--cacert").arg(dir.write_ca(pem));
    }
    let out = cmd.output().await.expect("drift bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is the JSON summary ({e}): {stdout}"));
    (out.status.success(), summary)
}

fn num(summary: &Value, key: &str) -> f64 {
    summary[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number: {summary}"))
}

/// Every message reaches every subscription in each framing, counted exactly
/// (no loss, no duplicates), with a latency per delivery and the server's CPU
/// time and the machine's steal measured.
async fn fanout_counts_every_delivery(server: TestServer) {
    for framing in ["frames", "sse", "raw"] {
        let args = format!("fanout --framing {framing} -t 2 -s 10 -c 3 -p 2 -n 60 -b 100");
        let (ok, s) = bench(&server, &args).await;
        assert!(ok, "{framing}: {s}");
        assert_eq!(num(&s, "published"), 60.0, "{framing}: {s}");
        // 60 messages over 2 topics, each read by 10 subscriptions.
        assert_eq!(num(&s, "expected"), 600.0, "{framing}: {s}");
        assert_eq!(num(&s, "delivered"), 600.0, "{framing}: {s}");
        assert_eq!(num(&s, "lost"), 0.0, "{framing}: {s}");
        assert_eq!(num(&s, "duplicates"), 0.0, "{framing}: {s}");
        assert_eq!(num(&s, "bad"), 0.0, "{framing}: {s}");
        assert_eq!(
            s["latency_us"]["count"].as_u64(),
            Some(600),
            "{framing}: {s}"
        );
        assert!(num(&s, "server_cpu_s") >= 0.0, "{framing}: {s}");
        let steal = num(&s, "steal_pct");
        assert!((0.0..=100.0).contains(&steal), "{framing}: {s}");
    }
}

#[tokio::test]
async fn fanout_h2c() {
    within(async { fanout_counts_every_delivery(start_h2c(|_| {}).await).await }).await
}

#[tokio::test]
async fn fanout_tls() {
    within(async { fanout_counts_every_delivery(start_server(|_| {}).await).await }).await
}

/// At a fixed rate the publishers are paced: every message is still
/// delivered, and publishing 40 messages at 200/s takes about 0.2 s.
#[tokio::test]
async fn fanout_at_a_fixed_rate() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let args = "fanout --framing sse -s 5 -c 2 -n 40 --rate 200";
        let (ok, s) = bench(&server, args).await;
        assert!(ok, "{s}");
        assert_eq!(num(&s, "delivered"), 200.0, "{s}");
        assert_eq!(num(&s, "lost"), 0.0, "{s}");
        // Paced, not as fast as possible: 40 messages at 200/s need at least
        // 39 intervals of 5 ms.
        let publishing = Duration::from_secs_f64(40.0 / num(&s, "pub_msgs_per_s"));
        assert!(publishing >= Duration::from_millis(190), "{s}");
    })
    .await
}

/// The publish scenario counts every answered POST and reports a rate.
#[tokio::test]
async fn publish_counts_every_request() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let (ok, s) = bench(&server, "publish -c 2 -m 4 -n 500").await;
        assert!(ok, "{s}");
        assert_eq!(num(&s, "published"), 500.0, "{s}");
        assert!(num(&s, "req_per_s") > 0.0, "{s}");
        assert_eq!(num(&s, "errors"), 0.0, "{s}");
    })
    .await
}
