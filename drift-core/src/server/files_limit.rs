//! The process's open-file limit (`RLIMIT_NOFILE`): every connection is a
//! file descriptor, so the default connection limit is derived from it, and
//! `drift serve` raises it to the hard limit at start (a program embedding
//! a server sets its own limits; the library does not change them).

use std::io;

/// The soft and hard open-file limits, `None` where they cannot be read.
pub fn open_files_limit() -> Option<(u64, u64)> {
    let limit = get().ok()?;
    Some((to_u64(limit.rlim_cur), to_u64(limit.rlim_max)))
}

/// Raises the soft open-file limit to the hard one; returns the limit now
/// in effect.
///
/// # Errors
///
/// The OS error when the limit cannot be read or set.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = get()?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(to_u64(limit.rlim_cur))
}

fn get() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

// `rlim_t` is u64 on Linux and may be narrower elsewhere.
#[allow(clippy::unnecessary_cast)]
fn to_u64(n: libc::rlim_t) -> u64 {
    n as u64
}
