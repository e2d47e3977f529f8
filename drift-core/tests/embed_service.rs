//! Mounting `DriftService` inside another program's own hyper server, next to
//! its own routes, and publishing in-process through the broker while HTTP
//! clients subscribe.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use drift_core::broker::{Access, Broker, BrokerConfig};
use drift_core::server::{DriftService, ServiceConfig};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type AppBody = BoxBody<Bytes, Infallible>;

/// The host application: `/app/hello` is its own, everything else is Drift's.
async fn app(drift: DriftService, req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    if req.uri().path() == "/app/hello" {
        return Ok(Response::new(
            Full::new(Bytes::from_static(b"hello from the host")).boxed(),
        ));
    }
    Ok(drift.handle(req).await.map(|b| b.boxed()))
}

async fn serve(listener: TcpListener, drift: DriftService) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let drift = drift.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| app(drift.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn connect(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

#[tokio::test]
async fn drift_service_mounts_beside_host_routes() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let broker = Broker::new(BrokerConfig::default());
        let drift = DriftService::new(broker.clone(), ServiceConfig::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, drift));

        // The host's own route.
        let mut client = connect(addr).await;
        let res = client
            .send_request(
                Request::get("/app/hello")
                    .header("host", "x")
                    .body(Empty::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            &res.into_body().collect().await.unwrap().to_bytes()[..],
            b"hello from the host"
        );

        // A Drift subscription over HTTP/1.1, fed by an in-process publish.
        let mut sub_client = connect(addr).await;
        let res = sub_client
            .send_request(
                Request::get("/v1/t/embedded")
                    .header("host", "x")
                    .header("accept", "text/event-stream")
                    .body(Empty::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let published = broker
            .publish(
                "embedded",
                Bytes::from_static(b"in-process"),
                &Access::default(),
            )
            .await
            .unwrap();
        let mut body = res.into_body();
        let mut seen = Vec::new();
        let expected = format!("id: {}\ndata: in-process\n\n", published.id);
        while seen.len() < expected.len() {
            let frame = body.frame().await.expect("stream ended").unwrap();
            if let Ok(data) = frame.into_data() {
                seen.extend_from_slice(&data);
            }
        }
        assert_eq!(String::from_utf8(seen).unwrap(), expected);

        // And Drift's own routes answer through the host.
        let res = client
            .send_request(
                Request::get("/ping")
                    .header("host", "x")
                    .body(Empty::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            &res.into_body().collect().await.unwrap().to_bytes()[..],
            b"pong"
        );
    })
    .await
    .expect("test timed out");
}
