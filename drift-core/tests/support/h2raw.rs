//! The `h2` crate directly, for frame-level control: every DATA frame seen as
//! it came, and flow control left to the test.

use bytes::Bytes;
use drift_core::tls::ALPN_H2;
use http::Request;

use super::server::TestServer;

/// A bare `h2` client connection: every DATA frame is seen as it came, and
/// flow control is the test's to manage.
pub struct H2Raw {
    send: h2::client::SendRequest<Bytes>,
    base: String,
}

/// A response stream of an [`H2Raw`] request.
pub struct H2Stream {
    /// Response head.
    pub head: http::response::Parts,
    /// The body's DATA frames.
    pub body: h2::RecvStream,
}

impl H2Raw {
    /// Connects with the given initial stream and connection windows.
    /// `H2Raw::connect(s, 65_535, 1 << 30)` is the original Go client.
    pub async fn connect(server: &TestServer, stream_window: u32, conn_window: u32) -> H2Raw {
        let mut builder = h2::client::Builder::new();
        builder
            .initial_window_size(stream_window)
            .initial_connection_window_size(conn_window);
        let send = if server.is_tls() {
            let tls = server.tls(&[ALPN_H2]).await;
            let (send, conn) = builder.handshake(tls).await.expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            send
        } else {
            let (send, conn) = builder
                .handshake(server.tcp().await)
                .await
                .expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            send
        };
        H2Raw {
            send,
            base: server.url.clone(),
        }
    }

    /// Sends `GET path` with `headers` and waits for the response headers.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> H2Stream {
        let mut req = Request::get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut send = self.send.clone().ready().await.expect("h2 ready");
        let (res, _) = send
            .send_request(req.body(()).unwrap(), true)
            .expect("h2 send_request");
        let res = res.await.expect("h2 response");
        let (head, body) = res.into_parts();
        H2Stream { head, body }
    }
}

impl H2Stream {
    /// The next DATA frame's payload, giving the window back (a normal client).
    pub async fn next_data_releasing(&mut self) -> Option<Bytes> {
        let data = self.body.data().await?.expect("DATA frame");
        self.body
            .flow_control()
            .release_capacity(data.len())
            .expect("release capacity");
        Some(data)
    }

    /// The next DATA frame's payload, keeping the window consumed (a client
    /// that never sends a stream WINDOW_UPDATE).
    pub async fn next_data_holding(&mut self) -> Option<Bytes> {
        self.body.data().await.map(|d| d.expect("DATA frame"))
    }
}
