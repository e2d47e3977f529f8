//! The load generator end to end: the real binary (`drift-bench`, the same
//! as `drift bench`) against a real server over loopback, checking the JSON
//! summary it prints as its last line.

#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{TempDir, TestServer, now_us, start_h2c, start_server, within};
use tokio::process::Command;

/// Runs `drift-bench <args>` (words separated by spaces, as on a command
/// line) against `server`, which runs in this process, so its CPU time is
/// this process's; returns the exit success and the JSON summary.
async fn bench(server: &TestServer, args: &str) -> (bool, Value) {
    let dir = TempDir::new("bench");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift-bench"));
    cmd.args(args.split_whitespace())
        .args(["--url", &server.url, "--quiet", "--drain", "5"])
        .arg("--server-pid")
        .arg(std::process::id().to_string());
    if let Some(pem) = &server.ca_pem {
        cmd.arg("--cacert").arg(dir.write_ca(pem));
    }
    let out = cmd.output().await.expect("drift-bench runs");
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

/// With `--server-pid` the summary says what each thread did during the
/// run: here the server's two connection threads, which served every
/// subscription, and the bench's own connection thread. Each ran, and each
/// went to sleep between the paced messages.
#[tokio::test]
async fn fanout_reports_each_thread() {
    within(async {
        let server = start_h2c(|c| c.threads = 2).await;
        let args = "fanout --framing raw -s 10 -c 2 -n 200 --rate 1000";
        let (ok, s) = bench(&server, args).await;
        assert!(ok, "{s}");
        let thread = |list: &str, name: &str| {
            let threads = s[list].as_array().unwrap_or_else(|| panic!("{list}: {s}"));
            threads
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("{name} is not in {list}: {s}"))
                .clone()
        };
        for (list, name, pid) in [
            ("server_threads", "drift-io-0", Some(std::process::id())),
            ("server_threads", "drift-io-1", Some(std::process::id())),
            ("client_threads", "bench-0", None),
        ] {
            let t = thread(list, name);
            if let Some(pid) = pid {
                assert_eq!(t["pid"].as_u64(), Some(u64::from(pid)), "{t}");
            }
            assert!(num(&t, "cpu_s") > 0.0, "{t}");
            assert!(num(&t, "runqueue_wait_s") >= 0.0, "{t}");
            assert!(num(&t, "voluntary_switches") > 0.0, "{t}");
            assert!(num(&t, "involuntary_switches") >= 0.0, "{t}");
        }
    })
    .await
}

/// `--latency-log` writes one line per delivery: every subscription's every
/// message once, with its topic and the connection it rides, received after
/// it was published.
#[tokio::test]
async fn fanout_writes_every_delivery_to_the_latency_log() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let dir = TempDir::new("latency-log");
        let log = dir.path().join("deliveries.txt");
        // 2 topics x 3 subscriptions over 2 connections; 20 messages, 10 per topic.
        let args = format!(
            "fanout --framing raw -t 2 -s 3 -c 2 -n 20 --latency-log {}",
            log.display()
        );
        let before = now_us();
        let (ok, s) = bench(&server, &args).await;
        let after = now_us();
        assert!(ok, "{s}");
        assert_eq!(s["latency_log"].as_str(), Some(log.to_str().unwrap()));
        let text = std::fs::read_to_string(&log).expect("the log is written");
        let mut lines = text.lines();
        // The clock's origin as wall-clock time, for lining the log up with
        // traces: the bench started it while it ran.
        let clock = lines.next().expect("a clock line");
        let origin: u64 = clock
            .strip_prefix("# clock: microseconds since ")
            .and_then(|rest| rest.strip_suffix(" µs after the Unix epoch"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("clock line: {clock:?}"));
        assert!(
            before <= origin && origin <= after,
            "{origin} not in {before}..{after}"
        );
        assert_eq!(
            lines.next(),
            Some("# published_us received_us topic publisher seq connection subscription")
        );
        let mut seen = std::collections::BTreeSet::new();
        // From the first publish to the last delivery, in the log's clock.
        let mut span = (u64::MAX, 0);
        for line in lines {
            let v: Vec<u64> = line
                .split(' ')
                .map(|w| w.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")))
                .collect();
            let [
                published,
                received,
                topic,
                publisher,
                seq,
                connection,
                subscription,
            ] = v[..]
            else {
                panic!("seven columns: {line:?}");
            };
            assert!(received >= published, "{line:?}");
            span = (span.0.min(published), span.1.max(received));
            assert_eq!(publisher, 0, "{line:?}");
            // Subscription j reads topic j / 3 and rides connection j % 2.
            assert_eq!(subscription / 3, topic, "{line:?}");
            assert_eq!(subscription % 2, connection, "{line:?}");
            assert!(
                seen.insert((subscription, seq)),
                "delivered twice: {line:?}"
            );
        }
        let expected: std::collections::BTreeSet<(u64, u64)> = (0..6)
            .flat_map(|j| (0..10).map(move |seq| (j, seq)))
            .collect();
        assert_eq!(seen, expected);

        // bench/tail.py reads the same file.
        let report = bench_script("tail.py", &[log.as_os_str()]).await;
        assert_eq!(
            report.lines().next(),
            Some("60 deliveries of 20 messages over 2 connections"),
            "{report}"
        );

        check_cpu_waits(&log, origin, span, &dir.path().join("sched.txt")).await;
    })
    .await
}

/// Runs `python3 bench/NAME ARGS...`, which must succeed, and returns what it
/// printed.
async fn bench_script(name: &str, args: &[&std::ffi::OsStr]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(name);
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// bench/cpu_waits.py lays a latency log over a scheduler trace. In the trace
/// written here the server's thread holds CPU 0 throughout, the bench's thread
/// waits for CPU 0 throughout, and CPU 1 is idle: every message's whole span
/// is server run, client wait and idle CPU, and nothing else.
///
/// `span` runs from the log's first publish to its last delivery.
async fn check_cpu_waits(log: &Path, origin: u64, span: (u64, u64), trace: &Path) {
    // Monotonic time = log time + 50 s (the offset between the clocks
    // is given, as the test's clocks are not those of a real trace).
    let offset_us = origin as f64 - 50e6;
    let at = |log_us: u64| (log_us as f64 + 50e6) / 1e6;
    let (from, to) = (at(span.0) - 0.1, at(span.1) + 0.1);
    // `perf script -F cpu,time,event,trace` lines.
    let switch = |cpu: u32, t: f64, prev: (&str, u32, &str), next: (&str, u32)| {
        format!(
            "[{cpu:03}] {t:.6}: sched:sched_switch: prev_comm={} prev_pid={} prev_prio=120 \
             prev_state={} ==> next_comm={} next_pid={} next_prio=120",
            prev.0, prev.1, prev.2, next.0, next.1
        )
    };
    let sched = [
        switch(1, from, ("x", 9, "S"), ("swapper/1", 0)),
        switch(0, from, ("swapper/0", 0, "R"), ("drift-io-0", 100)),
        format!(
            "[000] {from:.6}: sched:sched_wakeup: comm=bench-0 pid=200 prio=120 target_cpu=000"
        ),
        switch(1, to, ("swapper/1", 0, "R"), ("x", 9)),
        switch(0, to, ("drift-io-0", 100, "S"), ("bench-0", 200)),
    ];
    std::fs::write(trace, sched.join("\n")).expect("write the trace");
    let offset = format!("--offset-us={offset_us}");
    let report = bench_script(
        "cpu_waits.py",
        &[
            log.as_os_str(),
            trace.as_os_str(),
            "--script".as_ref(),
            offset.as_ref(),
        ],
    )
    .await;
    assert!(
        report.starts_with("20 messages inside the trace;"),
        "{report}"
    );
    assert!(report.contains("\non time: "), "{report}");
    for line in report.lines().skip(1) {
        let Some((_, figures)) = line.split_once("per message µs: ") else {
            assert!(line.ends_with(": 0 messages"), "{report}");
            continue;
        };
        let figures: std::collections::HashMap<&str, &str> = figures
            .split(", ")
            .filter_map(|kv| kv.rsplit_once(' '))
            .collect();
        let window = figures["window"];
        for key in [
            "server ran",
            "client waited",
            "client waited while a CPU was idle",
            "idle",
        ] {
            assert_eq!(figures[key], window, "{key}: {line}");
        }
        for key in ["client ran", "server waited", "others ran"] {
            assert_eq!(figures[key], "0", "{key}: {line}");
        }
    }
}

/// `--latency-log` belongs to fanout, and a file that cannot be created is
/// refused before the run, not after it.
#[tokio::test]
async fn bad_latency_log_arguments_are_refused() {
    within(async {
        let dir = TempDir::new("latency-log-bad");
        let missing = dir.path().join("missing").join("deliveries.txt");
        let cases = [
            (
                vec!["idle", "--latency-log", "unused.txt"],
                "--latency-log applies to the fanout scenario only".to_string(),
            ),
            (
                // Nothing listens on port 1: had the run started, the error
                // would be about the connection.
                vec![
                    "fanout",
                    "--url",
                    "http://127.0.0.1:1",
                    "--latency-log",
                    missing.to_str().unwrap(),
                ],
                format!("--latency-log {}: ", missing.display()),
            ),
        ];
        for (args, expected) in cases {
            let out = Command::new(env!("CARGO_BIN_EXE_drift-bench"))
                .args(&args)
                .output()
                .await
                .expect("drift-bench runs");
            assert!(!out.status.success(), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&expected), "{args:?}: {err}");
        }
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
