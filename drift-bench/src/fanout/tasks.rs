//! Where the tasks of a scenario run: one current-thread runtime per OS
//! thread (a shard), each task on the shard its index falls to.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;

/// Runs `make(shard)` on each of `threads` OS threads, each a current-thread
/// runtime with a `LocalSet`, and returns their results in shard order.
pub(crate) fn run_sharded<T, F, Fut>(threads: usize, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + 'static,
{
    let make = Arc::new(make);
    let handles: Vec<_> = (0..threads)
        .map(|shard| {
            let make = make.clone();
            std::thread::Builder::new()
                .name(format!("bench-{shard}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&rt, make(shard))
                })
                .expect("spawn bench thread")
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread panicked"))
        .collect()
}

/// Spawns `task(i)` as a local task for every `i < n` that belongs to
/// `shard` of `threads` (`i ≡ shard mod threads`).
pub(crate) fn spawn_mine<T, Fut>(
    shard: usize,
    threads: usize,
    n: usize,
    task: impl Fn(usize) -> Fut,
) -> Vec<JoinHandle<T>>
where
    T: 'static,
    Fut: Future<Output = T> + 'static,
{
    (shard..n)
        .step_by(threads)
        .map(|i| tokio::task::spawn_local(task(i)))
        .collect()
}

/// The results of `tasks` that did not panic, in order.
pub(crate) async fn join_ok<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(v) = t.await {
            out.push(v);
        }
    }
    out
}
