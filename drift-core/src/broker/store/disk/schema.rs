//! The data directory: its lock, the database's identity and schema, the
//! connections' settings, and loading what a previous run left.
//!
//! One SQLite database, `drift.db`, in WAL mode:
//! - `meta(key, value)`: `last_epoch`, the highest epoch ever handed out
//!   (kept after its topic is deleted, so a re-created topic never gets an
//!   epoch used before, across restarts too);
//! - `topics`: one row per live incarnation, keyed by its epoch (unique over
//!   all topics ever), with its configuration, last seq, last publish time
//!   and the payload bytes of its rows in `messages` (retained, and dropped
//!   by retention but not yet deleted: see `retention`);
//! - `messages(epoch, seq, time_us, payload)`, clustered by `(epoch, seq)`
//!   so that a topic's history, its trimming and its deletion are range
//!   operations.
//!
//! The file is marked with `PRAGMA application_id` ([`APPLICATION_ID`]) and
//! `user_version` ([`SCHEMA_VERSION`]): a database of another application,
//! or one written by a newer Drift, is refused with a message, never
//! modified.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::err;
use super::retention::{self, Span, Stored};
use crate::broker::config::Retention;
use crate::broker::config::TopicConfig;
use crate::error::{Error, ErrorKind, Result};

/// `PRAGMA application_id` of a Drift database: "Drft".
pub(super) const APPLICATION_ID: i32 = 0x4472_6674;
/// The schema this build writes and the newest it reads.
pub(super) const SCHEMA_VERSION: i32 = 1;
/// The database's file name in the data directory.
pub(super) const DB_FILE: &str = "drift.db";
/// The lock file's name in the data directory.
pub(super) const LOCK_FILE: &str = "drift.lock";
/// SQLite's page size for new databases (also the WAL's frame payload).
const PAGE_SIZE: u64 = 4096;
/// The WAL is cut back to this many frames when it restarts.
const WAL_LIMIT_FRAMES: u64 = 1024;

const CREATE: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('last_epoch', 0);
CREATE TABLE topics (
    epoch INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    history INTEGER NOT NULL,
    max_messages INTEGER NOT NULL,
    max_bytes INTEGER,
    max_age_ns INTEGER,
    last_seq INTEGER NOT NULL,
    last_time_us INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TABLE messages (
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_us INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (epoch, seq)
) WITHOUT ROWID;
";

/// The data directory, locked for this process.
#[derive(Debug)]
pub(super) struct DataDir {
    pub(super) dir: PathBuf,
    pub(super) db: PathBuf,
    /// Held (flock) until dropped: refuses a second server on `dir`.
    pub(super) lock: File,
}

/// Creates `dir` if needed and locks it.
pub(super) fn lock_dir(dir: &Path) -> Result<DataDir> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::new(
            ErrorKind::Storage,
            format!("data directory {} is not a directory", dir.display()),
        ));
    }
    fs::create_dir_all(dir).map_err(|e| err::io(dir, "cannot create data directory", e))?;
    let path = dir.join(LOCK_FILE);
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| err::io(&path, "cannot open the lock file", e))?;
    match fs4::FileExt::try_lock(&lock) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // Best effort: the holder wrote its pid there.
            let _ = lock.read_to_string(&mut holder);
            let holder = holder.trim();
            let pid = if holder.is_empty() || holder.len() > 20 {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "data directory {} is in use by another drift server{pid}",
                    dir.display()
                ),
            ));
        }
        Err(fs4::TryLockError::Error(e)) => {
            return Err(err::io(&path, "cannot lock", e));
        }
    }
    // Who holds it, for the message above; not needed for the lock itself.
    let _ = lock
        .set_len(0)
        .and_then(|()| write!(lock, "{}", std::process::id()));
    Ok(DataDir {
        dir: dir.to_owned(),
        db: dir.join(DB_FILE),
        lock,
    })
}

/// The database's write-ahead log file.
pub(super) fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

/// Says so (one line) when the WAL ends in a torn frame: the last write of
/// a previous run was cut short (a crash or a full disk). SQLite then
/// recovers to the last complete commit by itself; nothing that was
/// acknowledged is lost, since an append is answered only after its commit.
fn check_wal_tail(dir: &Path, db: &Path) {
    let wal = wal_path(db);
    let Ok(mut file) = File::open(&wal) else {
        return;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    let mut header = [0u8; 32];
    if len < 32 || file.read_exact(&mut header).is_err() {
        return;
    }
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if magic & !1 != 0x377f_0682 {
        return;
    }
    let page = u64::from(u32::from_be_bytes([
        header[8], header[9], header[10], header[11],
    ]));
    let frame = page + 24;
    let torn = (len - 32) % frame;
    if page >= 512 && torn != 0 {
        tracing::warn!(
            "data directory {}: the write-ahead log ends in a torn write ({torn} bytes); \
             recovering to the last complete commit",
            dir.display()
        );
    }
}

/// What opening the writer connection found.
pub(super) struct Opened {
    pub(super) conn: Connection,
    /// The WAL's length when cut back (`journal_size_limit`).
    pub(super) wal_limit: u64,
    /// The WAL, open for syncing.
    pub(super) wal: File,
    pub(super) last_epoch: u64,
    pub(super) topics: Vec<Loaded>,
}

/// A topic a previous run left.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) name: String,
    pub(super) epoch: u64,
    pub(super) config: TopicConfig,
    pub(super) last_seq: u64,
    pub(super) last_time_us: u64,
    /// Payload bytes retained.
    pub(super) bytes: u64,
    /// Oldest retained seq (`last_seq + 1` when none).
    pub(super) first_seq: u64,
    /// Its publish time (when there is one).
    pub(super) first_time_us: u64,
    /// What is on disk (see [`retention`]).
    pub(super) stored: Stored,
}

fn sql(dir: &Path, what: &str) -> impl Fn(rusqlite::Error) -> Error {
    let dir = dir.to_owned();
    let what = what.to_owned();
    move |e| err::sqlite(&dir, &what, e, 0)
}

/// Opens (creating if needed) the database for writing: checks that it is
/// Drift's and not newer than this build, sets the connection up, and
/// loads every topic.
pub(super) fn open_writer(data: &DataDir, checkpoint: bool) -> Result<Opened> {
    let dir = &data.dir;
    let db = &data.db;
    check_wal_tail(dir, db);
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql(dir, &format!("cannot open {}", db.display())))?;
    let not_drift = |why: String| {
        Error::new(
            ErrorKind::Storage,
            format!("{} is not a Drift database: {why}", db.display()),
        )
    };
    let header = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id), \
                (SELECT user_version FROM pragma_user_version), \
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |r| {
            Ok((
                r.get::<_, i32>(0)?,
                r.get::<_, i32>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    );
    let (app, version, objects) = match header {
        Ok(h) => h,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not_drift("it is not an SQLite file".into()));
        }
        Err(e) => {
            return Err(err::sqlite(
                dir,
                &format!("cannot read {}", db.display()),
                e,
                0,
            ));
        }
    };
    let fresh = app == 0 && version == 0 && objects == 0;
    if !fresh {
        if app != APPLICATION_ID {
            return Err(not_drift(format!(
                "its application_id is {app:#x}, Drift's is {APPLICATION_ID:#x}"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "{} was written by a newer Drift (schema version {version}; \
                     this build reads up to {SCHEMA_VERSION})",
                    db.display()
                ),
            ));
        }
        if version < 1 {
            return Err(not_drift(format!("unknown schema version {version}")));
        }
    }
    let setup = sql(dir, "cannot set the database up");
    if fresh {
        conn.pragma_update(None, "page_size", PAGE_SIZE as i64)
            .map_err(&setup)?;
        // Must precede the first table: frees pages back to the file system
        // with `PRAGMA incremental_vacuum` (see `retention`).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(&setup)?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(&setup)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            ErrorKind::Storage,
            format!(
                "data directory {}: the database cannot use a write-ahead log (journal mode {mode})",
                dir.display()
            ),
        ));
    }
    // NORMAL: a commit is written to the OS, the WAL synced before each
    // checkpoint and the database after. With Fsync::Always the sync
    // thread then fdatasyncs the WAL before a commit is visible or answered
    // (see `publish`), which is what FULL would do inside the commit.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(&setup)?;
    // Checkpoints are the writer's (see `writer`): SQLite's automatic one
    // runs inside a commit and can fail it after the commit is durable.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(&setup)?;
    let page: i64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .map_err(&setup)?;
    let page = u64::try_from(page).unwrap_or(PAGE_SIZE);
    // A whole number of frames, so that a cut-back WAL never looks torn.
    let limit = 32 + WAL_LIMIT_FRAMES * (page + 24);
    conn.pragma_update(None, "journal_size_limit", limit as i64)
        .map_err(&setup)?;
    share(&conn, checkpoint).map_err(&setup)?;
    if fresh {
        let create = sql(dir, "cannot create the schema");
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {CREATE} PRAGMA application_id = {APPLICATION_ID}; \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(create)?;
    }
    let (last_epoch, topics) = load(dir, &conn)?;
    let wal_file = wal_path(db);
    let wal = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&wal_file)
        .map_err(|e| err::io(&wal_file, "cannot open the write-ahead log", e))?;
    Ok(Opened {
        wal,
        conn,
        wal_limit: limit,
        last_epoch,
        topics,
    })
}

/// What the writer's and the readers' connections both need: to wait for
/// each other's locks, and (without `checkpoint`) to leave the WAL alone
/// when they close.
fn share(conn: &Connection, checkpoint: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    if !checkpoint {
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
    }
    Ok(())
}

/// A read connection (queries only) on the database the writer opened.
pub(super) fn open_reader(data: &DataDir, checkpoint: bool) -> Result<Connection> {
    let dir = &data.dir;
    let conn = Connection::open_with_flags(
        &data.db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql(dir, "cannot open a read connection"))?;
    let setup = sql(dir, "cannot set a read connection up");
    share(&conn, checkpoint).map_err(&setup)?;
    Ok(conn)
}

/// An integer from disk that must be non-negative.
pub(super) fn unsigned(dir: &Path, what: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| err::corrupt(dir, format_args!("{what} is {v}")))
}

fn load(dir: &Path, conn: &Connection) -> Result<(u64, Vec<Loaded>)> {
    let read = sql(dir, "cannot load topics");
    let last_epoch: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'last_epoch'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(&read)?;
    let Some(last_epoch) = last_epoch else {
        return Err(err::corrupt(dir, "the epoch high-water mark is missing"));
    };
    let mut last_epoch = unsigned(dir, "the epoch high-water mark", last_epoch)?;
    let mut stmt = conn
        .prepare(
            "SELECT name, epoch, history, max_messages, max_bytes, max_age_ns, \
                    last_seq, last_time_us, bytes FROM topics",
        )
        .map_err(&read)?;
    type Row = (
        String,
        i64,
        bool,
        i64,
        Option<i64>,
        Option<i64>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .map_err(&read)?
        .collect::<rusqlite::Result<_>>()
        .map_err(&read)?;
    let mut first = conn
        .prepare("SELECT seq, time_us FROM messages WHERE epoch = ?1 ORDER BY seq LIMIT 1")
        .map_err(&read)?;
    let mut topics = Vec::with_capacity(rows.len());
    for (name, epoch, history, max_messages, max_bytes, max_age_ns, last_seq, last_time, bytes) in
        rows
    {
        let what = |field: &str| format!("topic {name:?}: {field}");
        let epoch = unsigned(dir, &what("epoch"), epoch)?;
        let config = decode_config(dir, &name, history, max_messages, max_bytes, max_age_ns)?;
        let last_seq = unsigned(dir, &what("last seq"), last_seq)?;
        let oldest: Option<(i64, i64)> = first
            .query_row([epoch as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(&read)?;
        let (first_seq, first_time_us) = match oldest {
            Some((s, t)) => (
                unsigned(dir, &what("seq"), s)?,
                unsigned(dir, &what("publish time"), t)?,
            ),
            None => (last_seq + 1, 0),
        };
        if first_seq > last_seq + 1 {
            return Err(err::corrupt(
                dir,
                format_args!("topic {name:?} retains seq {first_seq} past its last seq {last_seq}"),
            ));
        }
        // The row counts what is on disk, from the oldest row; what of it
        // is retained is where retention stood (age aside: the writer's
        // next pass expires by age).
        let stored = Stored {
            first_seq,
            bytes: unsigned(dir, &what("stored bytes"), bytes)?,
        };
        let mut span = Span {
            epoch,
            first_seq,
            first_time_us,
            last_seq,
            bytes: stored.bytes,
            stored,
        };
        retention::advance(conn, &mut span, &config, 0).map_err(&read)?;
        last_epoch = last_epoch.max(epoch);
        topics.push(Loaded {
            epoch,
            config,
            last_seq,
            last_time_us: unsigned(dir, &what("last publish time"), last_time)?,
            bytes: span.bytes,
            first_seq: span.first_seq,
            first_time_us: span.first_time_us,
            stored,
            name,
        });
    }
    Ok((last_epoch, topics))
}

/// A topic configuration as `topics` columns: `history`, `max_messages`,
/// `max_bytes`, `max_age_ns`.
pub(super) fn encode_config(config: &TopicConfig) -> Result<(bool, i64, Option<i64>, Option<i64>)> {
    let r = &config.retention;
    let too_large = |what: &str| Error::invalid(format!("{what} is too large for the disk store"));
    let max_messages = i64::try_from(r.max_messages).map_err(|_| too_large("history length"))?;
    let max_bytes = r
        .max_bytes
        .map(|b| i64::try_from(b).map_err(|_| too_large("max bytes")))
        .transpose()?;
    let max_age = r
        .max_age
        .map(|a| i64::try_from(a.as_nanos()).map_err(|_| too_large("max age")))
        .transpose()?;
    Ok((config.history, max_messages, max_bytes, max_age))
}

fn decode_config(
    dir: &Path,
    name: &str,
    history: bool,
    max_messages: i64,
    max_bytes: Option<i64>,
    max_age_ns: Option<i64>,
) -> Result<TopicConfig> {
    let what = |field: &str| format!("topic {name:?}: {field}");
    let max_messages = usize::try_from(max_messages).map_err(|_| {
        err::corrupt(
            dir,
            format_args!("{} is {max_messages}", what("history length")),
        )
    })?;
    let max_bytes = max_bytes
        .map(|b| unsigned(dir, &what("max bytes"), b))
        .transpose()?;
    let max_age = max_age_ns
        .map(|a| unsigned(dir, &what("max age"), a).map(Duration::from_nanos))
        .transpose()?;
    Ok(TopicConfig {
        history,
        retention: Retention {
            max_messages,
            max_bytes,
            max_age,
        },
    })
}
