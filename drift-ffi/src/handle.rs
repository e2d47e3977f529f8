//! Handles: how Rust objects become opaque C pointers and back.
//!
//! Every handle libdrift gives out is a `Box` turned into a raw pointer and
//! entered in a registry of live handles together with its type. Each use
//! and each free looks the pointer up first, so a wrong-type pointer, a
//! pointer that was already freed (double free) or one that never came from
//! libdrift gives `DRIFT_STATUS_INVALID_ARGUMENT` (or, for a `_free`
//! function, a last error and no effect) instead of undefined behaviour.
//! (This catches most mistakes, not all: once an address is reused by a new
//! handle of the same type, a stale pointer looks live again.)
//!
//! These helpers are the only places that cast handle pointers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use crate::boundary::{Failure, FfiResult, Out, catch, set_last_error};
use crate::status::drift_status;

/// The type of a registered handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ServerConfig,
    Server,
    ClientOptions,
    Client,
    SubscribeOptions,
    Subscription,
    /// A message the caller owns (from `drift_subscription_next`).
    Message,
    /// A message lent to a callback for the duration of the call: readable,
    /// but `drift_message_free` must refuse it.
    LentMessage,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::ServerConfig => "drift_server_config",
            Kind::Server => "drift_server",
            Kind::ClientOptions => "drift_client_options",
            Kind::Client => "drift_client",
            Kind::SubscribeOptions => "drift_subscribe_options",
            Kind::Subscription => "drift_subscription",
            Kind::Message | Kind::LentMessage => "drift_message",
        })
    }
}

/// A Rust type that C sees as an opaque handle.
pub(crate) trait Handle: Sized + 'static {
    /// The registry tag of handles that C owns.
    const KIND: Kind;

    /// Whether a handle registered as `kind` may be used as `Self`.
    fn accepts(kind: Kind) -> bool {
        kind == Self::KIND
    }
}

const SHARDS: usize = 16;

/// Live handles by address. Sharded so that threads working on different
/// handles rarely wait for each other.
static REGISTRY: [Mutex<BTreeMap<usize, Kind>>; SHARDS] =
    [const { Mutex::new(BTreeMap::new()) }; SHARDS];

fn shard(addr: usize) -> &'static Mutex<BTreeMap<usize, Kind>> {
    // Heap blocks are at least 8-byte aligned: skip the low bits.
    &REGISTRY[(addr >> 4) % SHARDS]
}

fn with_shard<R>(addr: usize, f: impl FnOnce(&mut BTreeMap<usize, Kind>) -> R) -> R {
    // A panic while holding the lock cannot leave the map inconsistent
    // (single insert/remove calls), so a poisoned lock is still usable.
    let mut map = shard(addr).lock().unwrap_or_else(|e| e.into_inner());
    f(&mut map)
}

/// Registers `addr` as a live handle of `kind`.
pub(crate) fn register(addr: usize, kind: Kind) {
    with_shard(addr, |m| m.insert(addr, kind));
}

/// Removes `addr` from the registry if it is registered as `kind`.
pub(crate) fn unregister(addr: usize, kind: Kind) -> bool {
    with_shard(addr, |m| {
        if m.get(&addr) == Some(&kind) {
            m.remove(&addr);
            true
        } else {
            false
        }
    })
}

fn lookup(addr: usize) -> Option<Kind> {
    with_shard(addr, |m| m.get(&addr).copied())
}

/// Moves `value` to the heap and hands it out as a registered handle that
/// the caller owns.
pub(crate) fn into_raw<T: Handle>(value: T) -> *mut T {
    let p = Box::into_raw(Box::new(value));
    register(p as usize, T::KIND);
    p
}

fn check<T: Handle>(addr: usize, what: &str) -> FfiResult<()> {
    if addr == 0 {
        return Err(Failure::null(what));
    }
    match lookup(addr) {
        Some(kind) if T::accepts(kind) => Ok(()),
        Some(kind) => Err(Failure::invalid(format!(
            "{what} is a {kind}, not a {}",
            T::KIND
        ))),
        None => Err(Failure::invalid(format!(
            "{what} is not a live {} (already freed, or not from libdrift)",
            T::KIND
        ))),
    }
}

/// Borrows a handle argument.
///
/// # Safety
///
/// If `p` is registered, it points to a live `T` (the registry guarantees
/// that much); the caller must not free it while the borrow lasts, which the
/// C API documents as "do not free while another call on it is running".
pub(crate) unsafe fn borrow<'a, T: Handle>(p: *const T, what: &str) -> FfiResult<&'a T> {
    check::<T>(p as usize, what)?;
    // SAFETY: registered as a T (or a kind T accepts, which has the same
    // type), so it came from Box::into_raw and was not freed yet.
    Ok(unsafe { &*p })
}

/// Borrows an optional handle argument (a configuration or options): NULL
/// is `T`'s defaults.
///
/// # Safety
///
/// As for [`borrow`].
pub(crate) unsafe fn borrow_or_default<'a, T: Handle + Default + Clone>(
    p: *const T,
    what: &str,
) -> FfiResult<Cow<'a, T>> {
    if p.is_null() {
        return Ok(Cow::Owned(T::default()));
    }
    // SAFETY: forwarded from the caller.
    unsafe { borrow(p, what) }.map(Cow::Borrowed)
}

/// Borrows a handle argument mutably.
///
/// # Safety
///
/// As for [`borrow`], and no other reference to `*p` may exist; the C API
/// documents that a handle passed as non-`const` must not be used by another
/// thread during the call.
pub(crate) unsafe fn borrow_mut<'a, T: Handle>(p: *mut T, what: &str) -> FfiResult<&'a mut T> {
    check::<T>(p as usize, what)?;
    // SAFETY: as in `borrow`; exclusivity is the caller's promise.
    Ok(unsafe { &mut *p })
}

/// Changes a builder handle (options, configs) all or nothing: runs
/// `change` on a copy of `*p` and stores the copy only if `change`
/// succeeds, so a refused change leaves the handle as it was.
///
/// # Safety
///
/// As for [`borrow_mut`].
pub(crate) unsafe fn update<T: Handle + Clone>(
    p: *mut T,
    what: &str,
    change: impl FnOnce(&mut T) -> FfiResult<()>,
) -> FfiResult<()> {
    // SAFETY: forwarded from the caller.
    let target = unsafe { borrow_mut(p, what) }?;
    let mut changed = target.clone();
    change(&mut changed)?;
    *target = changed;
    Ok(())
}

/// A builder handle (server config, client options, subscribe options),
/// whose setters all go through [`try_set`] and [`set`].
pub(crate) trait Builder: Handle + Clone {
    /// The handle argument's name in error messages.
    const ARG: &'static str;

    /// Refuses settings that cannot work together; a changed builder is kept
    /// only if this accepts it. Accepts everything unless a builder says
    /// otherwise.
    fn check(&self) -> FfiResult<()> {
        Ok(())
    }
}

/// The body of a builder setter: applies `change` to the builder `p` all or
/// nothing (see [`update`]), also refusing what [`Builder::check`] refuses,
/// inside the panic boundary.
///
/// # Safety
///
/// As for [`borrow_mut`].
pub(crate) unsafe fn try_set<T: Builder>(
    p: *mut T,
    change: impl FnOnce(&mut T) -> FfiResult<()>,
) -> drift_status {
    ffi_status! {
        // SAFETY: forwarded from the caller.
        unsafe {
            update(p, T::ARG, |b| {
                change(b)?;
                b.check()
            })
        }
    }
}

/// [`try_set`] for a change that cannot fail by itself.
///
/// # Safety
///
/// As for [`borrow_mut`].
pub(crate) unsafe fn set<T: Builder>(p: *mut T, change: impl FnOnce(&mut T)) -> drift_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_set(p, |b| {
            change(b);
            Ok(())
        })
    }
}

impl<T: Handle> Out<*mut T> {
    /// Hands `value` to the caller as a new handle that it owns.
    pub(crate) fn give(self, value: T) -> FfiResult<()> {
        self.write(into_raw(value))
    }
}

/// The body of a `_free` function, inside the panic boundary: takes the
/// handle back (see [`take`]) and drops it.
///
/// # Safety
///
/// As for [`take`].
pub(crate) unsafe fn free<T: Handle>(p: *mut T, function: &str) {
    // SAFETY: forwarded from the caller.
    catch(|| drop(unsafe { take(p, function) }));
}

/// Takes back ownership of a handle for a `_free` function: NULL is a
/// no-op; an unknown or wrong-type pointer is reported as the last error and
/// left alone.
///
/// # Safety
///
/// If `p` is registered as `T::KIND`, it came from [`into_raw`] for a `T`.
pub(crate) unsafe fn take<T: Handle>(p: *mut T, function: &str) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    if !unregister(p as usize, T::KIND) {
        let why = match lookup(p as usize) {
            Some(Kind::LentMessage) => "it is lent to a callback and owned by libdrift".to_string(),
            Some(kind) => format!("it is a {kind}"),
            None => "it is not live (freed twice, or not from libdrift)".to_string(),
        };
        set_last_error(
            drift_status::InvalidArgument,
            &format!("{function}: pointer not freed: {why}"),
        );
        return None;
    }
    // SAFETY: it was registered as T::KIND, so it came from Box::into_raw of
    // a T, and we just removed it, so nobody else will free it.
    Some(unsafe { Box::from_raw(p) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Thing(u32);
    impl Handle for Thing {
        const KIND: Kind = Kind::ClientOptions;
    }
    #[derive(Debug)]
    struct Other;
    impl Handle for Other {
        const KIND: Kind = Kind::ServerConfig;
    }

    #[test]
    fn handles_are_checked() {
        let p = into_raw(Thing(5));
        // SAFETY: p is live.
        assert_eq!(unsafe { borrow(p, "t") }.unwrap().0, 5);
        let wrong = p.cast::<Other>();
        // SAFETY: the registry refuses a wrong type before any dereference.
        let e = unsafe { borrow(wrong, "t") }.unwrap_err();
        assert_eq!(e.status, drift_status::InvalidArgument);
        assert!(
            e.message
                .contains("is a drift_client_options, not a drift_server_config")
        );
        // SAFETY: the registry refuses a wrong type; nothing is freed.
        assert!(unsafe { take(wrong, "f") }.is_none());
        // SAFETY: p is live and owned here.
        assert!(unsafe { take(p, "f") }.is_some());
        // Double free: refused, and p is never dereferenced.
        // SAFETY: the registry no longer knows p.
        assert!(unsafe { take(p, "drift_x_free") }.is_none());
        assert!(
            String::from_utf8(crate::boundary::last_error_bytes())
                .unwrap()
                .contains("not live")
        );
        // SAFETY: as above.
        let e = unsafe { borrow(p, "t") }.unwrap_err();
        assert!(e.message.contains("not a live"));
        // SAFETY: NULL.
        let e = unsafe { borrow(std::ptr::null::<Thing>(), "thing") }.unwrap_err();
        assert_eq!(e.status, drift_status::NullArgument);
        // SAFETY: NULL is a no-op.
        assert!(unsafe { take(std::ptr::null_mut::<Thing>(), "f") }.is_none());
    }

    /// Larger than any handle type, as `Settings` below (and of another
    /// size), so that no other test's handle takes its address once freed.
    #[derive(Debug, Clone, PartialEq)]
    struct Options([u64; 640], u32);
    impl Default for Options {
        fn default() -> Self {
            Options([0; 640], 0)
        }
    }
    impl Handle for Options {
        const KIND: Kind = Kind::SubscribeOptions;
    }

    #[test]
    fn optional_handles_default_and_free_checks() {
        // SAFETY: NULL, a live handle, then the freed one (refused).
        unsafe {
            let defaults = borrow_or_default(std::ptr::null::<Options>(), "options").unwrap();
            assert!(matches!(defaults, Cow::Owned(Options(_, 0))));
            let p = into_raw(Options([1; 640], 4));
            let given = borrow_or_default(p, "options").unwrap();
            assert!(matches!(given, Cow::Borrowed(Options(_, 4))));
            free(p, "drift_options_free");
            let e = borrow_or_default(p, "options").unwrap_err();
            assert_eq!(e.status, drift_status::InvalidArgument);
            free(p, "drift_options_free");
            assert!(
                String::from_utf8(crate::boundary::last_error_bytes())
                    .unwrap()
                    .contains("drift_options_free: pointer not freed")
            );
            free(std::ptr::null_mut::<Options>(), "drift_options_free");
        }
    }

    /// Far larger than any handle type, so that it never takes the address
    /// of a handle that another test has freed and still probes.
    #[derive(Debug, Clone)]
    struct Settings([u64; 512]);
    impl Handle for Settings {
        const KIND: Kind = Kind::ClientOptions;
    }

    #[test]
    fn a_refused_update_changes_nothing() {
        let p = into_raw(Settings([1; 512]));
        // SAFETY: p is live and used by this thread only.
        unsafe {
            update(p, "t", |t| {
                t.0[0] = 2;
                Ok(())
            })
            .unwrap();
            let e = update(p, "t", |t| {
                t.0[0] = 3;
                Err(Failure::invalid("no"))
            })
            .unwrap_err();
            assert_eq!(e.status, drift_status::InvalidArgument);
            assert_eq!(borrow(p, "t").unwrap().0[0], 2);
            let e = update(std::ptr::null_mut::<Settings>(), "t", |_| Ok(())).unwrap_err();
            assert_eq!(e.status, drift_status::NullArgument);
            assert!(take(p, "f").is_some());
        }
    }
}
