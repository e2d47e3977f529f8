//! Timeouts and polling: every test body runs under a bound, so a hang fails
//! instead of blocking the suite; and the clock the messages are stamped with.

use std::future::Future;
use std::time::Duration;

/// Upper bound for one whole test. Generous: it only turns a hang into a
/// failure, it is not a performance assertion.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a test body under [`TEST_TIMEOUT`].
pub async fn within<F: Future>(body: F) -> F::Output {
    within_for(TEST_TIMEOUT, body).await
}

/// Runs `body` under `limit`, panicking with a clear message when it is hit.
pub async fn within_for<F: Future>(limit: Duration, body: F) -> F::Output {
    match tokio::time::timeout(limit, body).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {limit:?}"),
    }
}

/// Waits until `cond` holds, re-checking every 10 ms. Polls a condition
/// (bounded by the caller's timeout); it is not a sleep used as a barrier.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let poll = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .is_err()
    {
        panic!("condition never held: {what}");
    }
}

/// Now in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    drift_core::message::now_us()
}
