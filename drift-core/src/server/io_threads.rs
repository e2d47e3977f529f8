//! Where connections run: as tasks of the server's own runtime, or on
//! connection threads that each run a current-thread runtime and serve the
//! connections handed to them (see [`super::ServerConfig::threads`]).

use std::future::Future;

use tokio::net::TcpStream;

use super::wake_relay::ThreadRelay;
use crate::error::Result;

/// A connection's whole life, from TLS handshake to close.
pub(crate) type ConnectionJob = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The connection threads of [`ServerConfig::threads`]: each runs a
/// current-thread runtime and the connections handed to it, round robin.
pub(crate) struct IoThreads {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<ConnectionJob>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
}

impl IoThreads {
    fn start(n: usize) -> Result<IoThreads> {
        let mut io = IoThreads {
            senders: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            next: 0,
        };
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ConnectionJob>();
            let thread = std::thread::Builder::new()
                .name(format!("drift-io-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        // Wakes this thread's subscriptions in batches.
                        tokio::spawn(ThreadRelay::install());
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
pub(crate) enum Connections {
    /// Tasks on the runtime the server runs on (`inline_connections`).
    Here(tokio::task::JoinSet<()>),
    /// Connection threads.
    Threads(IoThreads),
}

impl Connections {
    /// `n` connection threads, or none (tasks of the current runtime).
    pub(crate) fn start(n: Option<usize>) -> Result<Connections> {
        Ok(match n {
            None => Connections::Here(tokio::task::JoinSet::new()),
            Some(n) => Connections::Threads(IoThreads::start(n.max(1))?),
        })
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
        match self {
            Connections::Here(set) => spawn(set, serve(stream)),
            Connections::Threads(io) => {
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
        match self {
            Connections::Here(mut set) => set.shutdown().await,
            Connections::Threads(io) => io.stop().await,
        }
    }
}

/// Spawns a connection into `set`, reaping the ones that have finished so
/// the set does not grow with every connection ever served.
fn spawn(set: &mut tokio::task::JoinSet<()>, job: impl Future<Output = ()> + Send + 'static) {
    set.spawn(job);
    while set.try_join_next().is_some() {}
}
