//! The server-side scripts: each store operation that reads and writes is
//! one script, so that it is atomic for every node (`EVALSHA`, falling back
//! to `EVAL` after a Redis restart forgot the script).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| Script::new(concat!(include_str!("lua/common.lua"), include_str!($file))))
    };
}

/// Opens (and perhaps creates) a topic: see `lua/open.lua`.
pub(super) static OPEN: LazyLock<Script> = script!("lua/open.lua");
/// Appends a batch, trims and notifies: see `lua/append.lua`.
pub(super) static APPEND: LazyLock<Script> = script!("lua/append.lua");
/// Reads a selection: see `lua/read.lua`.
pub(super) static READ: LazyLock<Script> = script!("lua/read.lua");
/// Deletes an incarnation: see `lua/delete.lua`.
pub(super) static DELETE: LazyLock<Script> = script!("lua/delete.lua");
/// Ends an incarnation the store lost part of: see `lua/reset.lua`.
pub(super) static RESET: LazyLock<Script> = script!("lua/reset.lua");
