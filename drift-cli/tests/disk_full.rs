//! A `drift serve --data-dir` server that cannot write answers the publish
//! 507 with a reason, keeps what it had and keeps serving, and takes
//! publishes again once it can write (issue 20 item 8).
//!
//! The "full disk" is a file-size limit (`RLIMIT_FSIZE`, set on the running
//! server with `prlimit`): writes past it fail with EFBIG, as writes to a
//! full filesystem fail with ENOSPC, and lifting it is space returning.
#![cfg(feature = "disk")]

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use drift_core::ErrorKind;
use drift_core::client::{Client, SubscribeOptions, SubscriptionEvent};
use drift_core::model::HistoryRequest;
use support::{TempDir, within};
use tokio::process::{Child, Command};

/// Sets the server's file-size limit (`None`: unlimited).
async fn limit_file_size(server: &Child, bytes: Option<u64>) {
    let pid = server.id().expect("running").to_string();
    // Soft limit only: the hard one stays, so that it can be lifted again.
    let soft = bytes.map_or("unlimited".to_string(), |b| b.to_string());
    let limit = format!("{soft}:unlimited");
    let status = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--fsize={limit}")])
        .status()
        .await
        .expect("run prlimit");
    assert!(status.success(), "prlimit failed");
}

#[tokio::test]
async fn a_full_disk_answers_507_keeps_history_and_recovers() {
    within(async {
        let data = TempDir::new("disk-full");
        let (mut server, url) = serve::start_data(data.path(), "127.0.0.1:0", &[]).await;
        let client = Client::builder(&url)
            .request_timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        // Big enough that each append writes well past the limit below.
        let big = |tag: u8| Bytes::from(vec![tag; 256 << 10]);
        let mut acked = Vec::new();
        for tag in 0..4 {
            acked.push(client.publish("full", big(tag)).await.expect("publish").id);
        }
        let mut live = client
            .subscribe("full", SubscribeOptions::default())
            .await
            .expect("subscribe");

        limit_file_size(&server, Some(64 << 10)).await;
        let refused = client
            .publish("full", big(9))
            .await
            .expect_err("a publish past the limit");
        assert_eq!(refused.kind(), ErrorKind::StorageFull, "{refused}");
        assert_eq!(refused.status(), Some(507), "{refused}");
        assert!(!refused.message().is_empty());

        // Nothing already accepted is lost, and subscribers are still served.
        let mut history = client
            .subscribe(
                "full",
                SubscribeOptions {
                    history: HistoryRequest {
                        last: Some(100),
                        since_us: None,
                        after: None,
                    },
                    resume: false,
                    ..Default::default()
                },
            )
            .await
            .expect("subscribe with history while the disk is full");
        for (id, tag) in acked.iter().zip(0u8..) {
            match history.next_event().await {
                Some(Ok(SubscriptionEvent::Message(m))) => {
                    assert_eq!(m.id, Some(*id));
                    assert_eq!(m.payload, big(tag));
                }
                other => panic!("expected message {id}, got {other:?}"),
            }
        }

        // Space returns: publishing works again and seqs go on without a hole.
        limit_file_size(&server, None).await;
        let again = client
            .publish("full", big(5))
            .await
            .expect("publish once space returned");
        let last = acked.last().expect("acked");
        assert_eq!(again.id.epoch, last.epoch);
        assert_eq!(
            again.id.seq,
            last.seq + 1,
            "the refused publish took no seq"
        );
        match live.next_event().await {
            Some(Ok(SubscriptionEvent::Message(m))) => assert_eq!(m.id, Some(again.id)),
            other => panic!("the live subscriber should get the next message, got {other:?}"),
        }
        server.start_kill().expect("kill");
        server.wait().await.expect("exit");
    })
    .await
}
