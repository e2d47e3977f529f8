//! How SQLite's and the file system's failures reach the caller: no space
//! (`SQLITE_FULL`, `ENOSPC`, `EFBIG`) as [`ErrorKind::StorageFull`], every
//! other write, read or corruption failure as [`ErrorKind::Storage`], each
//! with a one-line message that names the data directory.

use std::io;
use std::path::Path;

use rusqlite::ErrorCode;

use crate::error::{Error, ErrorKind};

/// `err`, from doing `what` in the store at `dir`. `errno` is the
/// connection's last system error (`sqlite3_system_errno`): SQLite reports
/// a failed `write()` as a generic I/O error, and only the errno tells a
/// full disk (`ENOSPC`) or a file-size limit (`EFBIG`) from a broken one.
pub(super) fn sqlite(dir: &Path, what: &str, err: rusqlite::Error, errno: i32) -> Error {
    let kind = match &err {
        rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::DiskFull => {
            ErrorKind::StorageFull
        }
        rusqlite::Error::SqliteFailure(e, _)
            if e.code == ErrorCode::SystemIoFailure && errno_is_full(errno) =>
        {
            ErrorKind::StorageFull
        }
        _ => ErrorKind::Storage,
    };
    // SQLite's own words, which rusqlite also prints for the error itself.
    let text = match &err {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        e => e.to_string(),
    };
    let errno_text = || {
        if errno == 0 {
            String::new()
        } else {
            format!(" ({})", io::Error::from_raw_os_error(errno))
        }
    };
    let reason = match &err {
        _ if kind == ErrorKind::StorageFull => format!("no space left: {text}{}", errno_text()),
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(e.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) =>
        {
            format!("the database is corrupt: {text}")
        }
        _ => format!("{text}{}", errno_text()),
    };
    Error::new(
        kind,
        format!("data directory {}: {what}: {reason}", dir.display()),
    )
}

/// `err`, from doing `what` with a file of the store at `path`.
pub(super) fn io(path: &Path, what: &str, err: io::Error) -> Error {
    let kind = if err.raw_os_error().is_some_and(errno_is_full)
        || matches!(
            err.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge
        ) {
        ErrorKind::StorageFull
    } else {
        ErrorKind::Storage
    };
    Error::new(kind, format!("{what} {}: {err}", path.display()))
}

/// Data read from disk that cannot be what Drift wrote.
pub(super) fn corrupt(dir: &Path, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!("data directory {}: corrupt data: {what}", dir.display()),
    )
}

/// The store was closed (its last handle dropped) while this call was made.
pub(super) fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the disk store is closed")
}

/// The last system error (`errno`) of `conn`, read right after a failed
/// call: SQLite keeps it per connection.
pub(super) fn errno(conn: &rusqlite::Connection) -> i32 {
    // SAFETY: `handle` is the live connection `conn` borrows, used on this
    // thread only; sqlite3_system_errno only reads a field of it.
    unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) }
}

fn errno_is_full(errno: i32) -> bool {
    errno != 0
        && matches!(
            io::Error::from_raw_os_error(errno).kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn full_disk_and_file_size_limits_are_storage_full() {
        let dir = Path::new("/data");
        let full = sqlite(dir, "append", failure(rusqlite::ffi::SQLITE_FULL), 0);
        assert_eq!(full.kind(), ErrorKind::StorageFull);
        assert!(full.message().starts_with("data directory /data: append"));
        for errno in [28 /* ENOSPC */, 27 /* EFBIG */] {
            let e = sqlite(
                dir,
                "append",
                failure(rusqlite::ffi::SQLITE_IOERR_WRITE),
                errno,
            );
            assert_eq!(e.kind(), ErrorKind::StorageFull, "errno {errno}");
        }
        let eio = sqlite(dir, "append", failure(rusqlite::ffi::SQLITE_IOERR_WRITE), 5);
        assert_eq!(eio.kind(), ErrorKind::Storage);
        let corrupt = sqlite(dir, "read", failure(rusqlite::ffi::SQLITE_CORRUPT), 0);
        assert_eq!(corrupt.kind(), ErrorKind::Storage);
        assert!(corrupt.message().contains("corrupt"));
        let e = io(dir, "cannot write", io::Error::from_raw_os_error(28));
        assert_eq!(e.kind(), ErrorKind::StorageFull);
    }
}
