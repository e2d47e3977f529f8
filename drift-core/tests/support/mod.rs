//! Shared helpers for the server integration tests: a real Drift server on a
//! loopback port, and small clients that talk to it over real sockets.
//!
//! - [`start_server`] / [`start_h2c`] / [`start_server_v6`]: a spawned server
//!   on an ephemeral port (TLS with a generated certificate, or h2c).
//! - [`Client`]: a hyper client (HTTP/2 or HTTP/1.1, over TLS with ALPN or
//!   cleartext) with `get/put/post/delete/head` returning a [`Reply`], and
//!   `subscribe` returning a [`Sub`] whose body is read frame by frame (one
//!   hyper data frame is one HTTP/2 DATA frame).
//! - [`H2Raw`]: the `h2` crate directly, for frame-level control such as a
//!   client that never sends a stream WINDOW_UPDATE (the original Go client).
//! - [`within`]: every test body runs under a timeout, so a hang fails
//!   instead of blocking the suite.
//!
//! One file per purpose: `server.rs` (the test server and its connections),
//! `hyper_client.rs` (`Client`, `Reply`), `sub.rs` (`Sub`), `body.rs`
//! (request bodies), `h2raw.rs` (`H2Raw`), `raw.rs` (transports, raw
//! reads), `stores.rs` (the stores tests run against), `fs.rs` (`TempDir`), `redis.rs` (`RedisServer`) and `timing.rs` (timeouts, polling, clock);
//! this file re-exports them all. `client.rs` is not part of this module: it
//! is included on its own, next to it.
//!
//! The tests of drift-cli and drift-bench include this file by path, so that
//! there is one copy: `#[path = "../../drift-core/tests/support/mod.rs"]
//! mod support;`.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

mod body;
mod fs;
mod h2frames;
mod h2raw;
mod hyper_client;
mod raw;
mod redis;
mod server;
mod stores;
mod sub;
mod timing;

// Each test crate uses some of these re-exports and not others.
#[allow(unused_imports)]
pub use self::{
    body::*, fs::*, h2frames::*, h2raw::*, hyper_client::*, raw::*, redis::*, server::*, stores::*,
    sub::*, timing::*,
};
