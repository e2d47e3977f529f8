//! Mutex locking that outlives a panicking holder.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking it over when a holder panicked: the state it guards is
/// never left half-written in a way that matters more than stopping the
/// server would.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
