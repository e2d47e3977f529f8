//! Where connections run: as tasks of the server's own runtime, or on
//! connection threads that each run a current-thread runtime and serve the
//! connections handed to them (see [`crate::server::ServerConfig::threads`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpStream;

use super::EngineCounters;
use super::wake_relay::ThreadRelay;
use crate::error::Result;

/// A connection's whole life, from TLS handshake to close.
pub(crate) type ConnectionJob = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The connection threads of `ServerConfig::threads`: each runs a
/// current-thread runtime and the connections handed to it, round robin.
pub(crate) struct IoThreads {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<ConnectionJob>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
}

impl IoThreads {
    fn start(n: usize, counters: &Arc<EngineCounters>) -> Result<IoThreads> {
        let mut io = IoThreads {
            senders: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            next: 0,
        };
        // Each thread says when it runs, so that once the server is started
        // its threads exist (with their names) for whoever looks.
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        for i in 0..n {
            let started_tx = started_tx.clone();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ConnectionJob>();
            let counters = counters.add_thread();
            let thread = std::thread::Builder::new()
                .name(format!("drift-io-{i}"))
                .spawn(move || {
                    EngineCounters::install(&counters);
                    let _ = started_tx.send(());
                    runtime.block_on(async move {
                        // Wakes this thread's subscriptions in batches.
                        tokio::spawn(ThreadRelay::install(counters));
                        let mut connections = tokio::task::JoinSet::new();
                        while let Some(job) = rx.recv().await {
                            spawn(&mut connections, ThreadRelay::scope(job));
                        }
                        // The server stopped and its grace period is over:
                        // close what is left.
                        connections.shutdown().await;
                    });
                })?;
            io.senders.push(tx);
            io.threads.push(thread);
        }
        drop(started_tx);
        for _ in 0..n {
            // An error means a thread ended at once: `stop` will find out.
            if started.recv().is_err() {
                break;
            }
        }
        Ok(io)
    }

    fn dispatch(&mut self, job: ConnectionJob) {
        let i = self.next % self.senders.len();
        self.next = self.next.wrapping_add(1);
        if self.senders[i].send(job).is_err() {
            tracing::warn!("connection thread {i} is gone; connection dropped");
        }
    }

    /// Closes the remaining connections and waits for the threads to end.
    async fn stop(self) {
        drop(self.senders);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The running connections of one server.
pub(crate) struct Connections {
    run: Run,
    counters: Arc<EngineCounters>,
}

enum Run {
    /// Tasks on the runtime the server runs on (`inline_connections`).
    Here(tokio::task::JoinSet<()>),
    /// Connection threads.
    Threads(IoThreads),
}

impl Connections {
    /// `n` connection threads, or none (tasks of the current runtime),
    /// counting what they do in `counters`.
    pub(crate) fn start(n: Option<usize>, counters: Arc<EngineCounters>) -> Result<Connections> {
        let run = match n {
            None => Run::Here(tokio::task::JoinSet::new()),
            Some(n) => {
                let n = n.max(1);
                let threads = IoThreads::start(n, &counters)?;
                counters
                    .connection_threads
                    .store(n as u64, Ordering::Relaxed);
                Run::Threads(threads)
            }
        };
        Ok(Connections { run, counters })
    }

    /// Runs `serve` on an accepted socket.
    ///
    /// A connection thread registers the socket with its own reactor. Left
    /// with the accepting runtime's reactor, every readiness event of the
    /// connection (each incoming POST) would wake the accepting thread first,
    /// which would then wake the connection thread: two thread wake-ups and
    /// an eventfd write per event instead of one wake-up.
    pub(crate) fn dispatch<F>(&mut self, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> ConnectionJob + Send + 'static,
    {
        match &mut self.run {
            Run::Here(set) => {
                EngineCounters::count(&self.counters.connections_inline);
                spawn(set, serve(stream));
            }
            Run::Threads(io) => {
                EngineCounters::count(&self.counters.connections_on_threads);
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(e) => return tracing::warn!("accepted socket unusable: {e}"),
                };
                io.dispatch(Box::pin(async move {
                    // Runs on the connection thread, inside its runtime.
                    match TcpStream::from_std(stream) {
                        Ok(stream) => serve(stream).await,
                        Err(e) => tracing::warn!("accepted socket unusable: {e}"),
                    }
                }));
            }
        }
    }

    /// Closes the connections still open and waits until they are gone.
    pub(crate) async fn stop(self) {
        match self.run {
            Run::Here(mut set) => set.shutdown().await,
            Run::Threads(io) => io.stop().await,
        }
    }
}

/// Spawns a connection into `set`, reaping the ones that have finished so
/// the set does not grow with every connection ever served.
fn spawn(set: &mut tokio::task::JoinSet<()>, job: impl Future<Output = ()> + Send + 'static) {
    set.spawn(job);
    while set.try_join_next().is_some() {}
}
