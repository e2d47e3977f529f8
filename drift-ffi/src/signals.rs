//! SIGPIPE. Writing to a socket whose peer has gone raises SIGPIPE, and its
//! default action kills the process. Rust programs never see it because the
//! Rust runtime ignores SIGPIPE before `main`; a C program linking libdrift
//! does not get that, and vectored socket writes (`writev`, which hyper
//! uses) have no `MSG_NOSIGNAL` flag. So, like the Rust runtime (and libraries such
//! as gRPC), libdrift ignores SIGPIPE when it starts its first server or
//! client — but only if the program left it at its default: a handler or
//! disposition the program installed is kept.

/// Ignores SIGPIPE once per process if its disposition is still the default.
pub(crate) fn ignore_sigpipe() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: sigaction with a NULL new action only reads the current
            // one into `old`, a zeroed (valid) sigaction we own.
            let is_default = unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_DFL
            };
            if is_default {
                // SAFETY: setting a signal to SIG_IGN installs no handler code
                // and is async-signal-safe; EPIPE is then returned instead.
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
            }
        });
    }
}
