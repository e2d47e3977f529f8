//! A configured server that a program starts and stops as often as it
//! likes, from any thread: Python's `drift.Server(...)` is one (configure
//! now, `start()`/`stop()` or `with` later, again and again). It holds at
//! most one [`BackgroundServer`] at a time; concurrent starts serve once,
//! and every concurrent stop waits until that server has stopped.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{BackgroundServer, ServerConfig};
use crate::error::Result;

/// A [`ServerConfig`] and the server, if any, that runs it now.
///
/// Its lock is held only to look at or swap the running server, never while
/// a server binds or stops, so a caller that holds a lock of its own while
/// it blocks here (Python's GIL is released around `start` and `stop`, and
/// held around the rest) cannot deadlock with another thread.
#[derive(Debug)]
pub struct RestartableServer {
    config: ServerConfig,
    running: Mutex<Option<Arc<BackgroundServer>>>,
}

impl RestartableServer {
    /// Configures only; nothing binds until [`RestartableServer::start`].
    pub fn new(config: ServerConfig) -> RestartableServer {
        RestartableServer {
            config,
            running: Mutex::new(None),
        }
    }

    /// The configuration each start uses.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Starts serving, as [`BackgroundServer::start`]; does nothing when it
    /// already runs. When two threads start it at once, one server keeps
    /// serving and the other is stopped before its `start` returns.
    ///
    /// # Errors
    ///
    /// As [`BackgroundServer::start`].
    pub fn start(&self) -> Result<()> {
        if self.lock().is_some() {
            return Ok(());
        }
        let started = BackgroundServer::start(self.config.clone())?;
        let mut running = self.lock();
        if running.is_some() {
            drop(running);
            return started.stop();
        }
        *running = Some(Arc::new(started));
        Ok(())
    }

    /// Stops the running server gracefully and returns once it has stopped,
    /// also when another thread is stopping it; does nothing when it is not
    /// running. The last caller out drops the server (which removes a
    /// temporary CA file).
    ///
    /// # Errors
    ///
    /// As [`BackgroundServer::stop`].
    pub fn stop(&self) -> Result<()> {
        let Some(running) = self.current() else {
            return Ok(());
        };
        let stopped = running.stop();
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, &running)) {
            *slot = None;
        }
        drop(slot);
        stopped
    }

    /// The server that runs now, to read its URL, port or certificate.
    pub fn current(&self) -> Option<Arc<BackgroundServer>> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<BackgroundServer>>> {
        // Nothing panics while holding it; tolerate poisoning anyway.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::TlsMode;

    fn h2c() -> RestartableServer {
        RestartableServer::new(ServerConfig {
            tls: TlsMode::H2c,
            ..ServerConfig::embedded()
        })
    }

    #[test]
    fn starts_stops_and_starts_again() {
        let server = h2c();
        assert!(server.current().is_none());
        server.start().expect("start");
        let first = server.current().expect("running").port();
        server.start().expect("a second start does nothing");
        assert_eq!(server.current().expect("running").port(), first);
        server.stop().expect("stop");
        assert!(server.current().is_none());
        server.stop().expect("stopping a stopped server");
        server.start().expect("start again");
        assert!(server.current().expect("running").is_running());
        server.stop().expect("stop again");
    }

    #[test]
    fn concurrent_starts_serve_once_and_concurrent_stops_all_wait() {
        let server = Arc::new(h2c());
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let server = Arc::clone(&server);
                std::thread::spawn(move || server.start())
            })
            .collect();
        for start in starts {
            start.join().expect("thread").expect("start");
        }
        let running = server.current().expect("one server runs");
        let stops: Vec<_> = (0..4)
            .map(|_| {
                let server = Arc::clone(&server);
                std::thread::spawn(move || server.stop())
            })
            .collect();
        for stop in stops {
            stop.join().expect("thread").expect("stop");
            // Whichever stop returned, the server is no longer serving.
            assert!(!running.is_running());
        }
        assert!(server.current().is_none());
    }
}
