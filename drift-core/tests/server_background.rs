//! `BackgroundServer`, the one server lifecycle under the C and Python
//! servers: it starts on threads of its own, stop is idempotent and every
//! caller waits until the server has stopped, and dropping it never panics,
//! also inside async code. Driven over real sockets with plain HTTP/1.1.

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use bytes::Bytes;
use drift_core::ErrorKind;
use drift_core::broker::Access;
use drift_core::server::{BackgroundServer, ServerConfig, TlsMode};

fn h2c(tweak: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
    let mut config = ServerConfig {
        tls: TlsMode::H2c,
        ..ServerConfig::embedded()
    };
    tweak(&mut config);
    config
}

/// Sends `request` on a new connection and returns the whole answer
/// (the request asks the server to close the connection).
fn http(server: &BackgroundServer, request: &str) -> String {
    let mut conn = TcpStream::connect(server.local_addr()).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the answer");
    answer
}

/// Whether the server has closed `conn`: at EOF (or reset), not merely quiet.
fn closed(conn: &mut TcpStream) -> bool {
    conn.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer sent before closing
            Err(e) if e.kind() == IoErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn serves_on_its_own_threads_and_reports_where() {
    let server = BackgroundServer::start(h2c(|_| {})).expect("start");
    assert!(server.is_running());
    assert_ne!(server.port(), 0, "a free port was picked");
    assert_eq!(server.url(), format!("http://127.0.0.1:{}", server.port()));
    assert!(server.ca_cert_pem().is_none() && server.cert_fingerprint().is_none());
    let answer = http(
        &server,
        "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("pong"), "{answer}");
    let stats = server.engine_stats();
    assert_eq!(
        stats.connections_on_threads, 1,
        "served as drift serve serves"
    );
    assert!(stats.connection_threads >= 1);
    server.stop().expect("stop");
    assert!(!server.is_running());
    assert!(
        TcpStream::connect(server.local_addr()).is_err(),
        "the port is released once stop returns"
    );
}

#[test]
fn a_tls_server_gives_the_certificate_to_trust() {
    let server = BackgroundServer::start(ServerConfig::embedded()).expect("start");
    assert_eq!(server.url(), format!("https://127.0.0.1:{}", server.port()));
    let pem = server.ca_cert_pem().expect("a generated certificate");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(
        server.cert_fingerprint().map(str::len),
        Some(95),
        "AA:BB:… SHA-256"
    );
    assert!(
        server.cert_path().is_none(),
        "kept in memory without cert_dir"
    );
}

#[test]
fn start_fails_cleanly_when_the_port_is_taken_or_a_setting_cannot_work() {
    let first = BackgroundServer::start(h2c(|_| {})).expect("start");
    let taken = first.local_addr();
    let e = BackgroundServer::start(h2c(|c| c.listen = taken)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert!(e.to_string().contains("cannot listen"), "{e}");
    let e = BackgroundServer::start(h2c(|c| c.broker.max_topics = 0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("max topics"), "{e}");
    assert!(first.is_running(), "the failed starts left the first alone");
}

/// Two threads stop a server whose shutdown has to wait for a request in
/// flight (a body that never completes): neither may return before the
/// server has stopped and closed that request's connection.
#[test]
fn every_concurrent_stop_waits_until_the_server_has_stopped() {
    let server = Arc::new(
        BackgroundServer::start(h2c(|c| c.shutdown_grace = Duration::from_millis(300)))
            .expect("start"),
    );
    let mut in_flight = TcpStream::connect(server.local_addr()).unwrap();
    in_flight
        .write_all(b"POST /v1/t/t HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf")
        .unwrap();
    // Answered once the server has taken the connection: it is in flight.
    let answer = http(
        &server,
        "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.ends_with("pong"), "{answer}");
    assert!(
        !closed(&mut in_flight),
        "the unfinished request is held open"
    );

    let start = Arc::new(Barrier::new(2));
    let stoppers: Vec<_> = (0..2)
        .map(|_| {
            let (server, start) = (server.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                server.stop().expect("stop");
                server.is_running()
            })
        })
        .collect();
    let mut closed_after = Vec::new();
    for stopper in stoppers {
        assert!(
            !stopper.join().unwrap(),
            "stop returned while still running"
        );
        closed_after.push(closed(&mut in_flight));
    }
    assert_eq!(
        closed_after,
        [true, true],
        "a stop returned before the server closed its connections"
    );
    server.stop().expect("stopping a stopped server is fine");
}

#[test]
fn its_broker_is_the_one_clients_reach() {
    let server = BackgroundServer::start(h2c(|_| {})).expect("start");
    let access = Access::default();
    let in_process = server
        .broker()
        .publish("t", Bytes::from_static(b"hi"), &access);
    let published = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(in_process)
        .expect("publish in-process");
    let answer = http(
        &server,
        "HEAD /v1/t/t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the topic exists: {answer}"
    );
    assert_eq!(published.id.seq, 1);
}

/// A server dropped inside async code (a test, an embedding program) stops
/// without the runtime-inside-runtime panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_drop_inside_async_code_do_not_panic() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let server = BackgroundServer::start(h2c(|_| {})).expect("start");
        let addr = server.local_addr();
        tokio::net::TcpStream::connect(addr).await.expect("serving");
        drop(server);
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    })
    .await
    .expect("timed out");
}
