//! `GET /metrics` (issue 23 item 1) over real sockets: the text parses as
//! the OpenMetrics / Prometheus text format with a `# TYPE` for every
//! sample; publishing, subscribing in each framing, ending streams and
//! refused requests move the counters by exactly what was done; the metrics
//! listener of its own (`metrics_listen`) answers while the main one says
//! 404; metrics off is 404; with JWT, `/metrics` needs an admin grant.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use drift_core::broker::auth::{MintRequest, mint_hs256, read_secret_file};
use drift_core::server::ServerConfig;
use http::StatusCode;
use support::*;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape: each sample by its name and labels as written
/// (`drift_gaps_total{reason="epoch"}`), and each family's type.
#[derive(Debug)]
struct Scrape {
    samples: HashMap<String, f64>,
    types: HashMap<String, String>,
}

impl Scrape {
    /// Parses the text format line by line, refusing anything that is not a
    /// `# HELP`/`# TYPE`/`# UNIT` line, a sample of a typed family, or the
    /// final `# EOF`.
    fn parse(text: &str) -> Scrape {
        let mut samples = HashMap::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
        for line in &lines[..lines.len() - 1] {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
                assert!(
                    ["counter", "gauge", "histogram", "info"].contains(&kind),
                    "{line}"
                );
                assert!(
                    types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "one # TYPE per family: {line}"
                );
                continue;
            }
            if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("number in {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "metric name {name:?}"
            );
            let labels = &series[name.len()..];
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split(',') {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                }
            }
            assert!(
                family_of(name, &types).is_some(),
                "sample before its # TYPE: {line}"
            );
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "one sample per series: {line}"
            );
        }
        Scrape { samples, types }
    }

    /// The sample `series`, 0 when absent (a status never answered).
    fn get(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.samples.contains_key(series)
    }
}

/// The family a sample belongs to: its name, or its name less a suffix
/// that its type writes (`_total`, `_bucket`, `_sum`, `_count`, `_info`).
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_total", "_bucket", "_sum", "_count", "_info"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|f| types.contains_key(*f))
}

async fn scrape(c: &mut Client) -> Scrape {
    let r = c.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
    Scrape::parse(r.text())
}

/// Scrapes until `done` holds of the scrape (deliveries are added when a
/// subscription's body next waits), within the test's deadline.
async fn scrape_until(c: &mut Client, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(c).await;
        if done(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const SSE: (&str, &str) = ("accept", "text/event-stream");
const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");

#[tokio::test]
async fn counters_move_by_what_was_done() {
    within(async {
        let server = start_h2c(|_| {}).await;
        let mut c = server.h2().await;
        let before = scrape(&mut c).await;
        for (family, kind) in [
            ("drift_connections", "gauge"),
            ("drift_connections_accepted", "counter"),
            ("drift_topics", "gauge"),
            ("drift_subscriptions", "gauge"),
            ("drift_subscriptions_started", "counter"),
            ("drift_subscriptions_ended", "counter"),
            ("drift_published_messages", "counter"),
            ("drift_published_payload_bytes", "counter"),
            ("drift_delivered_messages", "counter"),
            ("drift_delivered_payload_bytes", "counter"),
            ("drift_gaps", "counter"),
            ("drift_refused_requests", "counter"),
            ("drift_history_messages", "gauge"),
            ("drift_history_payload_bytes", "gauge"),
            ("drift_store", "info"),
            ("drift_store_operation_duration_seconds", "histogram"),
            ("drift_subscriber_lag_messages", "histogram"),
        ] {
            assert_eq!(
                before.types.get(family).map(String::as_str),
                Some(kind),
                "{family}"
            );
        }
        assert_eq!(before.get("drift_store_info{store=\"memory\"}"), 1.0);
        // This connection, counted from its first request.
        assert_eq!(
            before.get("drift_connections{protocol=\"h2\",tls=\"false\"}"),
            1.0
        );

        // Three messages of 5 bytes to "m", replayed to an SSE subscriber,
        // which then ends as the topic is deleted.
        for _ in 0..3 {
            assert_eq!(c.publish("m", "hello").await.status, StatusCode::OK);
        }
        let mut sse = c
            .subscribe("/v1/t/m", &[SSE, ("x-history-length", "3")])
            .await;
        for _ in 0..3 {
            assert!(sse.next_event().await.is_some());
        }
        assert_eq!(c.delete("/v1/t/m").await.status, StatusCode::OK);
        let end = sse.next_event().await.expect("the end event");
        assert_eq!(end.event, "end", "{end:?}");
        sse.expect_end().await;

        // A Drift-frames subscriber resuming from another epoch: a gap,
        // then two live messages of 3 bytes.
        let mut frames = c
            .subscribe("/v1/t/n", &[FRAMES, ("last-event-id", "1-1")])
            .await;
        assert!(frames.next_frame().await.is_some(), "the epoch gap");
        // A raw subscriber, which goes away (a client's close) after them.
        let mut h1 = server.h1().await;
        let mut raw = h1.subscribe("/v1/t/n", &[]).await;
        for _ in 0..2 {
            assert_eq!(c.publish("n", "abc").await.status, StatusCode::OK);
        }
        for _ in 0..2 {
            assert!(frames.next_frame().await.is_some());
            assert_eq!(raw.next_chunk().await.as_deref(), Some(&b"abc"[..]));
        }
        drop(raw);

        // Refusals: 400, 404 (twice), 405.
        assert_eq!(c.post("/v1/t/", "x").await.status, StatusCode::BAD_REQUEST);
        assert_eq!(c.get("/nope").await.status, StatusCode::NOT_FOUND);
        assert_eq!(c.delete("/v1/t/gone").await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            c.post("/ping", "x").await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );

        let after = scrape_until(&mut c, "every delivery and the close counted", |s| {
            s.get("drift_delivered_messages_total{framing=\"raw\"}") >= 2.0
                && s.get("drift_delivered_messages_total{framing=\"drift\"}") >= 2.0
                && s.get("drift_subscriptions_ended_total{reason=\"closed\"}") >= 1.0
                && s.get("drift_subscriptions{framing=\"sse\"}") == 0.0
        })
        .await;
        let d = |series: &str| after.get(series) - before.get(series);
        assert_eq!(d("drift_published_messages_total"), 5.0);
        assert_eq!(d("drift_published_payload_bytes_total"), 21.0);
        assert_eq!(d("drift_delivered_messages_total{framing=\"sse\"}"), 3.0);
        assert_eq!(d("drift_delivered_payload_bytes_total{framing=\"sse\"}"), 15.0);
        assert_eq!(d("drift_delivered_messages_total{framing=\"drift\"}"), 2.0);
        assert_eq!(d("drift_delivered_payload_bytes_total{framing=\"drift\"}"), 6.0);
        assert_eq!(d("drift_delivered_messages_total{framing=\"raw\"}"), 2.0);
        assert_eq!(d("drift_delivered_payload_bytes_total{framing=\"raw\"}"), 6.0);
        for framing in ["sse", "drift", "raw"] {
            assert_eq!(
                d(&format!("drift_subscriptions_started_total{{framing=\"{framing}\"}}")),
                1.0,
                "{framing}"
            );
        }
        assert_eq!(after.get("drift_subscriptions{framing=\"sse\"}"), 0.0);
        assert_eq!(after.get("drift_subscriptions{framing=\"raw\"}"), 0.0);
        assert_eq!(after.get("drift_subscriptions{framing=\"drift\"}"), 1.0);
        assert_eq!(d("drift_subscriptions_ended_total{reason=\"deleted\"}"), 1.0);
        assert_eq!(d("drift_subscriptions_ended_total{reason=\"closed\"}"), 1.0);
        assert_eq!(d("drift_subscriptions_ended_total{reason=\"slow_consumer\"}"), 0.0);
        assert_eq!(d("drift_gaps_total{reason=\"epoch\"}"), 1.0);
        assert_eq!(d("drift_gaps_total{reason=\"expired\"}"), 0.0);
        assert_eq!(d("drift_refused_requests_total{status=\"400\"}"), 1.0);
        assert_eq!(d("drift_refused_requests_total{status=\"404\"}"), 2.0);
        assert_eq!(d("drift_refused_requests_total{status=\"405\"}"), 1.0);
        assert!(!after.has("drift_refused_requests_total{status=\"500\"}"));
        // "n" is the one topic left, with its two messages.
        assert_eq!(after.get("drift_topics"), 1.0);
        assert_eq!(after.get("drift_history_messages"), 2.0);
        assert_eq!(after.get("drift_history_payload_bytes"), 6.0);
        // One append per publish, one read per subscription that asks for
        // history (the SSE one and the resuming one; the raw one asks for
        // none), and three opens: "m" and "n" created, "gone" looked for.
        let ops = |op: &str| {
            d(&format!(
                "drift_store_operation_duration_seconds_count{{op=\"{op}\",store=\"memory\"}}"
            ))
        };
        assert_eq!(ops("append"), 5.0);
        assert_eq!(ops("open"), 3.0);
        assert_eq!(ops("delete"), 1.0);
        assert_eq!(ops("read"), 2.0);
        let inf = after.get(
            "drift_store_operation_duration_seconds_bucket{le=\"+Inf\",op=\"append\",store=\"memory\"}",
        );
        assert_eq!(
            inf,
            after.get("drift_store_operation_duration_seconds_count{op=\"append\",store=\"memory\"}")
        );
        assert!(d("drift_subscriber_lag_messages_count") >= 1.0);
        // Two connections (this one over h2, the raw subscriber's over h1),
        // the h1 one closed with its subscription.
        assert_eq!(
            d("drift_connections_accepted_total{protocol=\"h1\",tls=\"false\"}"),
            1.0
        );
        assert_eq!(
            after.get("drift_connections{protocol=\"h2\",tls=\"false\"}"),
            1.0
        );
        drop(frames);
        server.shutdown().await.unwrap();
    })
    .await
}

/// The disk store's group commit is visible: each of these publishes waits
/// for its commit and its fdatasync (`--fsync always`) before the next is
/// sent, so each moves both counters; the memory store has neither.
#[tokio::test]
async fn the_disk_store_counts_its_commits_and_syncs() {
    within(async {
        let memory = start_h2c(|_| {}).await;
        let open = scrape(&mut memory.h2().await).await;
        assert!(!open.has("drift_store_commits_total"));
        assert!(!open.has("drift_store_syncs_total"));

        let server = start_server(|c| Store::Disk.apply(c)).await;
        let mut c = server.h2().await;
        c.publish("t", "first").await;
        let before = scrape(&mut c).await;
        assert_eq!(before.types["drift_store_commits"], "counter");
        assert_eq!(before.types["drift_store_syncs"], "counter");
        for i in 0..20 {
            c.publish("t", format!("m{i}")).await;
        }
        let after = scrape(&mut c).await;
        let moved = |series: &str| after.get(series) - before.get(series);
        assert_eq!(moved("drift_published_messages_total"), 20.0);
        assert!(moved("drift_store_commits_total") >= 20.0);
        assert!(moved("drift_store_syncs_total") >= 20.0);
        // Nothing else commits meanwhile: no creates, deletes or expiry.
        assert!(moved("drift_store_commits_total") <= 21.0);
        server.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_metrics_listener_of_its_own() {
    within(async {
        let server = start_server(|c| c.metrics_listen = Some(([127, 0, 0, 1], 0).into())).await;
        let addr = server.metrics_addr.expect("a metrics listener");
        assert_ne!(addr.port(), server.addr.port());
        // Not on the main listener (TLS here), as if it did not exist.
        let mut c = server.h2().await;
        assert_eq!(c.publish("t", "x").await.status, StatusCode::OK);
        let r = c.get("/metrics").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.text(), "404 page not found\n");
        // On its own port, plain HTTP/1.1, and nothing else there.
        let (status, answer) = http1(addr, "GET", "/metrics", "").await;
        assert_eq!(status, 200, "{answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {CONTENT_TYPE}")),
            "{head}"
        );
        let s = Scrape::parse(body);
        assert_eq!(s.get("drift_published_messages_total"), 1.0);
        assert_eq!(
            s.get("drift_connections{protocol=\"h2\",tls=\"true\"}"),
            1.0
        );
        assert_eq!(http1(addr, "GET", "/v1/t/t", "").await.0, 404);
        assert_eq!(http1(addr, "GET", "/", "").await.0, 404);
        server.shutdown().await.unwrap();
        // It stops with the server.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    })
    .await
}

#[tokio::test]
async fn metrics_off_is_404_and_counts_nothing() {
    within(async {
        let server = start_h2c(|c| c.broker.metrics = false).await;
        let mut c = server.h2().await;
        assert_eq!(c.publish("t", "x").await.status, StatusCode::OK);
        let r = c.get("/metrics").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.text(), "404 page not found\n");
        // A metrics listener without metrics cannot work: refused.
        let mut config = support::base_config(([127, 0, 0, 1], 0).into(), Default::default());
        config.broker.metrics = false;
        config.metrics_listen = Some(([127, 0, 0, 1], 0).into());
        let e = drift_core::server::Server::bind(config).await.unwrap_err();
        assert!(e.to_string().contains("metrics"), "{e}");
        server.shutdown().await.unwrap();
    })
    .await
}

fn jwt_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/jwt")
        .join(name)
}

fn token(admin: &[&str]) -> String {
    let secret = read_secret_file(&jwt_data("secret")).unwrap();
    mint_hs256(
        &secret,
        &MintRequest {
            subject: Some("ops".into()),
            publish: vec!["*".into()],
            subscribe: vec!["*".into()],
            admin: admin.iter().map(|s| s.to_string()).collect(),
            ttl: Some(Duration::from_secs(600)),
            ..MintRequest::default()
        },
    )
    .unwrap()
}

fn with_jwt(c: &mut ServerConfig) {
    c.jwt.secret_file = Some(jwt_data("secret"));
}

#[tokio::test]
async fn with_jwt_metrics_need_an_admin_grant() {
    within(async {
        let server = start_h2c(with_jwt).await;
        let mut c = server.h2().await;
        let r = c.get("/metrics").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
        assert!(r.header("www-authenticate").is_some());
        let no_admin = format!("Bearer {}", token(&[]));
        let r = c
            .get_with("/metrics", &[("authorization", no_admin.as_str())])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        // Admin rights on any pattern will do.
        let admin = format!("Bearer {}", token(&["ops/*"]));
        let r = c
            .get_with("/metrics", &[("authorization", admin.as_str())])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let s = Scrape::parse(r.text());
        assert_eq!(s.get("drift_refused_requests_total{status=\"401\"}"), 1.0);
        assert_eq!(s.get("drift_refused_requests_total{status=\"403\"}"), 1.0);
        server.shutdown().await.unwrap();

        // On a metrics listener of its own, no token is needed.
        let server = start_h2c(|c| {
            with_jwt(c);
            c.metrics_listen = Some(([127, 0, 0, 1], 0).into());
        })
        .await;
        let (status, answer) = http1(server.metrics_addr.unwrap(), "GET", "/metrics", "").await;
        assert_eq!(status, 200, "{answer}");
        server.shutdown().await.unwrap();
    })
    .await
}
