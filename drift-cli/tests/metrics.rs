//! `drift serve`'s `/metrics` options, run as the binary: `--metrics-listen`
//! moves `/metrics` to a port of its own (404 on the main one),
//! `DRIFT_METRICS=off` turns it off, and both come back from
//! `--print-config` and a config file.

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;

use support::{TempDir, http1, within};

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("host:port")
}

#[tokio::test]
async fn metrics_listen_serves_metrics_on_a_port_of_its_own() {
    within(async {
        let mut cmd = serve::command([
            "--h2c",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]);
        let (_child, url, mut log) = serve::spawn(&mut cmd).await;
        let metrics = loop {
            let line = log.next_line().await.unwrap().expect("a metrics line");
            if let Some(rest) = line.split("metrics: http://").nth(1) {
                break rest
                    .trim_end_matches("/metrics")
                    .parse::<SocketAddr>()
                    .unwrap();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        let main = addr_of(&url);
        assert_ne!(main, metrics);
        assert_eq!(http1(main, "POST", "/v1/t/a", "hello").await.0, 200);
        assert_eq!(http1(main, "GET", "/metrics", "").await.0, 404);
        let (status, text) = http1(metrics, "GET", "/metrics", "").await;
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains("\ndrift_published_messages_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\ndrift_store_info{store=\"memory\"} 1\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    })
    .await
}

#[tokio::test]
async fn metrics_off_from_the_environment() {
    within(async {
        let mut cmd = serve::command(["--h2c", "--listen", "127.0.0.1:0"]);
        cmd.env("DRIFT_METRICS", "off");
        let (_child, url, mut log) = serve::spawn(&mut cmd).await;
        loop {
            let line = log.next_line().await.unwrap().expect("a metrics line");
            if line.contains("metrics: ") {
                assert!(line.ends_with("metrics: off"), "{line}");
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        let main = addr_of(&url);
        assert_eq!(http1(main, "POST", "/v1/t/a", "hello").await.0, 200);
        assert_eq!(http1(main, "GET", "/metrics", "").await.0, 404);
        // On by default.
        let mut cmd = serve::command(["--h2c", "--listen", "127.0.0.1:0"]);
        let (_child, url) = serve::start(&mut cmd).await;
        assert_eq!(http1(addr_of(&url), "GET", "/metrics", "").await.0, 200);
    })
    .await
}

#[tokio::test]
async fn print_config_and_the_config_file_carry_the_metrics_options() {
    within(async {
        let dir = TempDir::new("metrics-config");
        let file = dir.path().join("drift.toml");
        std::fs::write(
            &file,
            "metrics = false\nmetrics_listen = \"127.0.0.1:9464\"\n",
        )
        .unwrap();
        let mut cmd = serve::command(["--config".as_ref(), file.as_os_str()]);
        cmd.arg("--print-config")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = cmd.output().await.unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{text}");
        assert!(text.contains("\nmetrics = \"false\"\n"), "{text}");
        assert!(
            text.contains("\nmetrics_listen = \"127.0.0.1:9464\"\n"),
            "{text}"
        );
        // Read back, the same configuration: refused when served, since a
        // metrics listener needs metrics on.
        let mut cmd = serve::command(["--config".as_ref(), file.as_os_str()]);
        cmd.args(["--h2c", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = cmd.output().await.unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("a metrics listen address needs metrics on"),
            "{err}"
        );
    })
    .await
}
