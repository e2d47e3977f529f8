//! `/healthz` and `/readyz` (issue 23 item 2): ready only when a probe
//! message goes through the store and reaches a local subscriber; not ready,
//! with a reason, while shutting down or when the store refuses it.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use drift_core::broker::store::{Appended, Opened, Selection, StoreCall, TopicLog};
use drift_core::broker::{MemoryStore, TopicConfig, TopicStore};
use drift_core::{Error, ErrorKind, Message};
use http::StatusCode;
use support::*;

async fn healthz_and_readyz(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let r = c.get("/healthz").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "serving\n");
        for _ in 0..3 {
            let r = c.get("/readyz").await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert!(
                r.text().starts_with("ready: a probe message reached"),
                "{}",
                r.text()
            );
        }
        // The probe's topic is out of every client's reach.
        assert_eq!(
            c.head("/v1/t/drift%2Freadyz").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.post("/readyz", "x").await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );

        server.broker().shutdown();
        let r = c.get("/readyz").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.text(), "not ready: server is shutting down\n");
        assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    })
    .await
}

every_store!(healthz_and_readyz);

/// A store whose appends fail: topics open, messages are refused.
#[derive(Debug)]
struct RefusingStore(MemoryStore);

#[derive(Debug)]
struct RefusingLog(Arc<dyn TopicLog>);

impl TopicStore for RefusingStore {
    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        StoreCall::ok(Vec::new())
    }
    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        match self.0.open(name, create).now() {
            Ok(Ok(opened)) => StoreCall::ok(opened.map(|o| Opened {
                log: Arc::new(RefusingLog(o.log)),
                created: o.created,
            })),
            Ok(Err(e)) => StoreCall::Ready(Err(e)),
            Err(_) => StoreCall::Ready(Err(Error::new(ErrorKind::Internal, "memory waited"))),
        }
    }
    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        self.0.delete(name, epoch)
    }
}

impl TopicLog for RefusingLog {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn epoch(&self) -> u64 {
        self.0.epoch()
    }
    fn config(&self) -> &TopicConfig {
        self.0.config()
    }
    fn last_seq(&self) -> u64 {
        self.0.last_seq()
    }
    fn retained(&self) -> usize {
        self.0.retained()
    }
    fn retained_bytes(&self) -> u64 {
        self.0.retained_bytes()
    }
    fn append(&self, _: &[Bytes]) -> StoreCall<Appended> {
        StoreCall::Ready(Err(Error::new(
            ErrorKind::StorageFull,
            "no space left on the test's imaginary disk",
        )))
    }
    fn read(&self, selection: &Selection) -> StoreCall<Vec<Arc<Message>>> {
        self.0.read(selection)
    }
}

#[tokio::test]
async fn a_store_that_refuses_messages_is_not_ready_and_says_why() {
    within(async {
        let server = start_server(|c| {
            c.broker.store = Arc::new(RefusingStore(MemoryStore::new()));
        })
        .await;
        let mut c = server.h2().await;
        let r = c.get("/readyz").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.text(),
            "not ready: no space left on the test's imaginary disk\n"
        );
        assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
        // A publisher gets the same reason, as 507.
        let p = c.post("/v1/t/t", "x").await;
        assert_eq!(p.status, StatusCode::INSUFFICIENT_STORAGE);
    })
    .await
}
