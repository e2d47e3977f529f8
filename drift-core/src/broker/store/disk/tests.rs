//! The disk store against real files, in directories of their own under
//! the system's temporary directory.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::broker::config::Retention;
use crate::broker::store::{Appended, Selection};
use crate::error::ErrorKind;
use crate::model::Message;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("drift-disk-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Bytes of every file in the directory.
    fn size(&self) -> u64 {
        std::fs::read_dir(&self.0)
            .expect("list the test directory")
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every async test runs under this bound.
async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the test timed out")
}

fn config(max_messages: usize, max_bytes: Option<u64>, max_age: Option<Duration>) -> TopicConfig {
    TopicConfig {
        history: max_messages > 0,
        retention: Retention {
            max_messages,
            max_bytes,
            max_age,
        },
    }
}

fn options() -> DiskOptions {
    DiskOptions::default()
}

fn open_store(dir: &TempDir) -> DiskStore {
    DiskStore::open(dir.path(), options()).expect("open the store")
}

async fn create(store: &DiskStore, name: &str, config: TopicConfig) -> Arc<dyn TopicLog> {
    match store.open(name, Some(&config)).await {
        Ok(Some(opened)) => opened.log,
        other => panic!("open {name}: {other:?}"),
    }
}

async fn existing(store: &DiskStore, name: &str) -> Arc<dyn TopicLog> {
    match store.open(name, None).await {
        Ok(Some(opened)) => {
            assert!(!opened.created);
            opened.log
        }
        other => panic!("open {name}: {other:?}"),
    }
}

async fn append(log: &dyn TopicLog, payload: &[u8]) -> Appended {
    match log.append(&[Bytes::copy_from_slice(payload)]).await {
        Ok(a) => a,
        Err(e) => panic!("append: {e}"),
    }
}

async fn read_sel(log: &dyn TopicLog, sel: Selection) -> Vec<Arc<Message>> {
    match log.read(&sel).await {
        Ok(v) => v,
        Err(e) => panic!("read: {e}"),
    }
}

async fn seqs(
    log: &dyn TopicLog,
    after_seq: u64,
    since_us: Option<u64>,
    last: Option<u64>,
) -> Vec<u64> {
    let sel = Selection {
        after_seq,
        since_us,
        last,
    };
    read_sel(log, sel).await.iter().map(|m| m.seq).collect()
}

async fn payloads(log: &dyn TopicLog) -> Vec<Vec<u8>> {
    read_sel(log, Selection::default())
        .await
        .iter()
        .map(|m| m.payload.to_vec())
        .collect()
}

#[tokio::test]
async fn restart_keeps_epochs_seqs_configs_and_messages() {
    within(async {
        let dir = TempDir::new("restart");
        let a_config = config(10, Some(1000), Some(Duration::from_secs(3600)));
        let b_config = config(0, None, None);
        let (a_epoch, b_epoch) = {
            let store = open_store(&dir);
            let a = create(&store, "a", a_config).await;
            let b = create(&store, "b", b_config).await;
            for p in [&b"one"[..], b"two", b"three"] {
                append(&*a, p).await;
            }
            append(&*b, b"x").await;
            append(&*b, b"y").await;
            (a.epoch(), b.epoch())
        };
        let store = open_store(&dir);
        let mut names: Vec<String> = store
            .list()
            .await
            .expect("list")
            .iter()
            .map(|l| l.name().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        let a = existing(&store, "a").await;
        assert_eq!(a.epoch(), a_epoch);
        assert_eq!(*a.config(), a_config);
        assert_eq!(a.last_seq(), 3);
        assert_eq!(a.retained(), 3);
        assert_eq!(payloads(&*a).await, [&b"one"[..], b"two", b"three"]);
        assert_eq!(append(&*a, b"four").await.first_seq, 4);
        assert_eq!(seqs(&*a, 2, None, None).await, [3, 4]);
        let b = existing(&store, "b").await;
        assert_eq!(
            (b.epoch(), *b.config(), b.last_seq()),
            (b_epoch, b_config, 2)
        );
        assert_eq!(b.retained(), 0);
        // An existing topic is returned as it is, whatever create says.
        let again = store.open("a", Some(&b_config)).await.expect("open");
        assert!(again.is_some_and(|o| !o.created && o.log.epoch() == a_epoch));
    })
    .await;
}

static STEADY_CLOCK: AtomicU64 = AtomicU64::new(1_000_000);

#[tokio::test]
async fn delete_removes_data_and_recreate_gets_a_new_epoch_across_restart() {
    within(async {
        let dir = TempDir::new("delete");
        // A clock that never moves: epochs must still never repeat.
        let testing = Testing {
            clock: || STEADY_CLOCK.load(Ordering::Relaxed),
            ..Testing::default()
        };
        let open = || DiskStore::open_with(dir.path(), options(), testing).expect("open");
        let first = {
            let store = open();
            let log = create(&store, "t", config(10, None, None)).await;
            append(&*log, b"gone").await;
            assert!(!store.delete("t", log.epoch() + 1).await.expect("delete"));
            assert!(store.delete("t", log.epoch()).await.expect("delete"));
            assert!(!store.delete("t", log.epoch()).await.expect("delete"));
            match log.append(&[Bytes::new()]).await {
                Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound),
                Ok(a) => panic!("append after delete: {a:?}"),
            }
            assert!(seqs(&*log, 0, None, None).await.is_empty());
            assert!(store.open("t", None).await.expect("open").is_none());
            log.epoch()
        };
        assert_eq!(
            stored_rows(&dir),
            0,
            "a deleted topic's messages are gone from disk"
        );
        let second = {
            let store = open();
            assert!(store.open("t", None).await.expect("open").is_none());
            let log = create(&store, "t", config(10, None, None)).await;
            assert!(log.epoch() > first, "{} after {first}", log.epoch());
            assert_eq!(log.last_seq(), 0);
            assert!(seqs(&*log, 0, None, None).await.is_empty());
            assert_eq!(append(&*log, b"new").await.first_seq, 1);
            assert!(store.delete("t", log.epoch()).await.expect("delete"));
            log.epoch()
        };
        let store = open();
        let third = create(&store, "t", config(10, None, None)).await;
        assert!(third.epoch() > second);
        assert!(third.epoch() < 1 << 53);
    })
    .await;
}

static STEPPED_CLOCK: AtomicU64 = AtomicU64::new(0);

#[tokio::test]
async fn publish_time_never_goes_back_even_when_the_clock_does() {
    within(async {
        let dir = TempDir::new("time");
        let testing = Testing {
            clock: || STEPPED_CLOCK.load(Ordering::Relaxed),
            ..Testing::default()
        };
        let open = || DiskStore::open_with(dir.path(), options(), testing).expect("open");
        {
            let store = open();
            STEPPED_CLOCK.store(5_000_000, Ordering::Relaxed);
            let log = create(&store, "t", config(10, None, None)).await;
            assert_eq!(append(&*log, b"1").await.time_us, 5_000_000);
            STEPPED_CLOCK.store(3_000_000, Ordering::Relaxed);
            assert_eq!(append(&*log, b"2").await.time_us, 5_000_000);
        }
        STEPPED_CLOCK.store(1_000_000, Ordering::Relaxed);
        let store = open();
        let log = existing(&store, "t").await;
        assert_eq!(append(&*log, b"3").await.time_us, 5_000_000);
        STEPPED_CLOCK.store(9_000_000, Ordering::Relaxed);
        assert_eq!(append(&*log, b"4").await.time_us, 9_000_000);
        let times: Vec<u64> = read_sel(&*log, Selection::default())
            .await
            .iter()
            .map(|m| m.time_us)
            .collect();
        assert_eq!(times, [5_000_000, 5_000_000, 5_000_000, 9_000_000]);
    })
    .await;
}

#[tokio::test]
async fn queued_appends_share_one_commit() {
    within(async {
        let dir = TempDir::new("group");
        let store = open_store(&dir);
        let logs = [
            create(&store, "a", config(1000, None, None)).await,
            create(&store, "b", config(1000, None, None)).await,
        ];
        let before = store.stats();
        let release = store.hold_writer();
        let calls: Vec<_> = (0..200)
            .map(|i| logs[i % 2].append(&[Bytes::from(format!("m{i}"))]))
            .collect();
        drop(release);
        let mut firsts = [Vec::new(), Vec::new()];
        for (i, call) in calls.into_iter().enumerate() {
            firsts[i % 2].push(call.await.expect("append").first_seq);
        }
        assert_eq!(firsts[0], (1..=100).collect::<Vec<u64>>());
        assert_eq!(firsts[1], (1..=100).collect::<Vec<u64>>());
        let after = store.stats();
        assert_eq!(after.messages - before.messages, 200);
        assert_eq!(
            after.commits - before.commits,
            1,
            "one commit for the batch"
        );
        assert_eq!(seqs(&*logs[0], 98, None, None).await, [99, 100]);
    })
    .await;
}

#[test]
fn concurrent_appenders_need_fewer_commits_than_appends() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(within(async {
        let dir = TempDir::new("concurrent");
        let store = open_store(&dir);
        let log = create(&store, "t", config(100, None, None)).await;
        let before = store.stats();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for _ in 0..20 {
                        seqs.push(append(&*log, b"x").await.first_seq);
                    }
                    seqs
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (1..=1000).collect::<Vec<u64>>(),
            "no seq twice, none missing"
        );
        let commits = store.stats().commits - before.commits;
        assert!(commits < 1000, "{commits} commits for 1000 appends");
    }));
}

#[tokio::test]
async fn a_torn_wal_tail_recovers_to_the_last_complete_commit() {
    within(async {
        let dir = TempDir::new("torn");
        let no_checkpoint = Testing {
            checkpoint: false,
            ..Testing::default()
        };
        {
            let store = DiskStore::open_with(dir.path(), options(), no_checkpoint).expect("open");
            let log = create(&store, "t", config(100, None, None)).await;
            for i in 1..=10u8 {
                append(&*log, &[i; 100]).await;
            }
        }
        let wal = schema::wal_path(&dir.path().join(schema::DB_FILE));
        let len = std::fs::metadata(&wal)
            .expect("the WAL is left behind")
            .len();
        assert!(len > 32 + 4096, "WAL of {len} bytes");
        // Cut the last frame (the last commit's) in the middle.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .expect("open the WAL");
        file.set_len(len - 2000).expect("truncate the WAL");
        drop(file);
        let store = open_store(&dir);
        let log = existing(&store, "t").await;
        assert_eq!(log.last_seq(), 9);
        let expected: Vec<Vec<u8>> = (1..=9u8).map(|i| vec![i; 100]).collect();
        assert_eq!(payloads(&*log).await, expected);
        assert_eq!(append(&*log, b"again").await.first_seq, 10);
    })
    .await;
}

fn open_error(dir: &Path) -> crate::Error {
    match DiskStore::open(dir, options()) {
        Ok(store) => panic!("opened {store:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_foreign_or_newer_database_is_refused_untouched() {
    let dir = TempDir::new("foreign");
    let db = dir.path().join(schema::DB_FILE);
    std::fs::write(
        &db,
        b"these are not the bytes of an SQLite database, at all.....".repeat(100),
    )
    .expect("write");
    let e = open_error(dir.path());
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(e.message().contains(&db.display().to_string()), "{e}");
    assert!(e.message().contains("not a Drift database"), "{e}");

    std::fs::remove_file(&db).expect("remove");
    rusqlite::Connection::open(&db)
        .and_then(|c| c.execute_batch("CREATE TABLE notes (text TEXT)"))
        .expect("an SQLite database of someone else");
    let e = open_error(dir.path());
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(e.message().contains("application_id"), "{e}");

    std::fs::remove_file(&db).expect("remove");
    drop(open_store(&dir));
    rusqlite::Connection::open(&db)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("a newer schema");
    let e = open_error(dir.path());
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(e.message().contains("newer Drift"), "{e}");
    assert!(e.message().contains(&db.display().to_string()), "{e}");
}

#[test]
fn an_unusable_directory_is_refused_with_its_path() {
    let dir = TempDir::new("unusable");
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").expect("write");
    let e = open_error(&file);
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(e.message().contains(&file.display().to_string()), "{e}");

    // A database that cannot be opened (here: a directory).
    let odd = dir.path().join("odd");
    std::fs::create_dir_all(odd.join(schema::DB_FILE)).expect("mkdir");
    let e = open_error(&odd);
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(
        e.message()
            .contains(&odd.join(schema::DB_FILE).display().to_string()),
        "{e}"
    );

    // Permissions do not stop root.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).expect("mkdir");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        let e = open_error(&locked);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert!(e.message().contains(&locked.display().to_string()), "{e}");
    }
}

#[test]
fn a_directory_in_use_is_refused() {
    let dir = TempDir::new("in-use");
    let store = open_store(&dir);
    let e = open_error(dir.path());
    assert_eq!(e.kind(), ErrorKind::Storage);
    let expected = format!(
        "data directory {} is in use by another drift server",
        dir.path().display()
    );
    assert!(e.message().starts_with(&expected), "{e}");
    drop(store);
    drop(open_store(&dir));
}

#[tokio::test]
async fn retention_keeps_the_data_directory_small() {
    within(async {
        let dir = TempDir::new("size");
        let options = DiskOptions {
            fsync: Fsync::Interval(Duration::from_millis(50)),
            ..options()
        };
        let store = DiskStore::open(dir.path(), options).expect("open");
        let mut logs = Vec::new();
        for name in ["a", "b", "c", "d"] {
            logs.push(create(&store, name, config(100, Some(16 << 10), None)).await);
        }
        let payload = Bytes::from(vec![7u8; 1024]);
        let mut largest = 0;
        for round in 0..750 {
            // 32 appends in flight at a time, 24 MiB in all.
            let calls: Vec<_> = (0..32)
                .map(|i| logs[i % logs.len()].append(std::slice::from_ref(&payload)))
                .collect();
            for call in calls {
                call.await.expect("append");
            }
            if round % 10 == 0 {
                largest = largest.max(dir.size());
            }
        }
        largest = largest.max(dir.size());
        assert!(
            largest < 8 << 20,
            "the data directory grew to {largest} bytes"
        );
        for log in &logs {
            assert_eq!(log.last_seq(), 6000);
            assert_eq!(log.retained(), 16);
            assert_eq!(
                seqs(&**log, 0, None, None).await,
                (5985..=6000).collect::<Vec<u64>>()
            );
        }
    })
    .await;
}

/// Rows of `dir`'s messages table, read beside a running store.
fn stored_rows(dir: &TempDir) -> i64 {
    rusqlite::Connection::open(dir.path().join(schema::DB_FILE))
        .and_then(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)))
        .expect("count rows")
}

#[tokio::test]
async fn dropped_messages_are_never_read_before_they_are_deleted_nor_after_a_restart() {
    within(async {
        for options in cache_sizes() {
            let dir = TempDir::new("reclaim");
            let want: Vec<u64> = (91..=100).collect();
            {
                let store = DiskStore::open(dir.path(), options).expect("open");
                let counted = create(&store, "count", config(10, None, None)).await;
                // 8-byte payloads: 80 bytes keep the newest 10.
                let sized = create(&store, "bytes", config(1000, Some(80), None)).await;
                for i in 0..100u64 {
                    append(&*counted, &i.to_be_bytes()).await;
                    append(&*sized, &i.to_be_bytes()).await;
                }
                // 90 dropped of each: fewer than are deleted at once.
                assert_eq!(stored_rows(&dir), 200);
                for log in [&counted, &sized] {
                    assert_eq!(seqs(&**log, 0, None, None).await, want);
                    assert_eq!(seqs(&**log, 0, None, Some(20)).await, want);
                    assert_eq!(log.retained(), 10);
                }
            }
            let store = DiskStore::open(dir.path(), options).expect("reopen");
            for name in ["count", "bytes"] {
                let log = existing(&store, name).await;
                assert_eq!(
                    seqs(&*log, 0, None, None).await,
                    want,
                    "{name} after a restart"
                );
                assert_eq!(log.retained(), 10, "{name} after a restart");
                for i in 100..1000u64 {
                    append(&*log, &i.to_be_bytes()).await;
                }
                assert_eq!(
                    seqs(&*log, 0, None, None).await,
                    (991..=1000).collect::<Vec<u64>>()
                );
            }
            let rows = stored_rows(&dir);
            let most = 2 * (10 + retention::RECLAIM_MESSAGES as i64);
            assert!(rows <= most, "{rows} rows on disk for 20 retained");
        }
    })
    .await;
}

#[tokio::test]
async fn deleted_topics_give_their_space_back() {
    within(async {
        let dir = TempDir::new("vacuum");
        {
            let store = open_store(&dir);
            let log = create(&store, "big", config(100_000, None, None)).await;
            let payload = Bytes::from(vec![3u8; 4096]);
            for _ in 0..40 {
                let batch = vec![payload.clone(); 64];
                log.append(&batch).await.expect("append");
            }
            assert!(dir.size() > 10 << 20, "{} bytes", dir.size());
            assert!(store.delete("big", log.epoch()).await.expect("delete"));
        }
        // Closing vacuums and truncates the WAL (as the writer's periodic
        // pass does while it runs).
        assert!(dir.size() < 1 << 20, "{} bytes left", dir.size());
        let store = open_store(&dir);
        assert!(store.open("big", None).await.expect("open").is_none());
    })
    .await;
}

/// Over the history memory budget, the caches of the topics caching the
/// most are evicted, down below the budget; the data stays on disk, so
/// every retained message is still read back.
#[tokio::test]
async fn over_the_budget_caches_are_evicted_and_the_data_stays_on_disk() {
    within(async {
        let dir = TempDir::new("budget");
        let store = open_store(&dir);
        store.limit_memory(64 * 1024);
        let small = create(&store, "small", config(1000, None, None)).await;
        let hog = create(&store, "hog", config(1000, None, None)).await;
        for _ in 0..10 {
            append(&*small, &[b's'; 1000]).await;
        }
        for _ in 0..100 {
            append(&*hog, &[b'h'; 1000]).await;
            let held = store.memory().expect("a budget").held;
            assert!(held <= 64 * 1024, "{held}");
        }
        let cached = |name: &str| {
            let topics = lock(&store.handle.core.topics);
            let state = lock(&topics[name].shared.state);
            (state.cache.len(), state.cache_bytes)
        };
        let (hog_cached, hog_bytes) = cached("hog");
        let (small_cached, small_bytes) = cached("small");
        assert_eq!(small_cached, 10, "the small topic keeps its cache");
        assert!(hog_cached < 100 && hog_cached > 0, "{hog_cached}");
        let usage = store.memory().expect("a budget");
        assert_eq!(usage.held, hog_bytes + small_bytes);
        assert_eq!(usage.evicted_messages, 100 - hog_cached as u64);
        // Nothing left the disk: all 100 are read back (from disk, then the
        // cache), in order.
        assert_eq!(
            seqs(&*hog, 0, None, None).await,
            (1..=100).collect::<Vec<_>>()
        );
        assert_eq!(hog.retained(), 100);
        // Deleting the topic gives its share back.
        assert!(store.delete("hog", hog.epoch()).await.expect("delete"));
        assert_eq!(store.memory().expect("a budget").held, small_bytes);
    })
    .await;
}

// ===== the memory store's behaviours, against the disk =====

/// Both ways a read is answered: from the cache, and from disk only.
fn cache_sizes() -> [DiskOptions; 2] {
    [
        options(),
        DiskOptions {
            cache_messages: 0,
            ..options()
        },
    ]
}

#[tokio::test]
async fn count_bound_keeps_the_newest() {
    within(async {
        for options in cache_sizes() {
            let dir = TempDir::new("count");
            let store = DiskStore::open(dir.path(), options).expect("open");
            let log = create(&store, "t", config(3, None, None)).await;
            for _ in 0..5 {
                append(&*log, b"x").await;
            }
            assert_eq!(seqs(&*log, 0, None, None).await, [3, 4, 5]);
            assert_eq!(log.retained(), 3);
            assert_eq!(log.last_seq(), 5);
        }
    })
    .await;
}

/// The count bound moves first, then the byte bound drops from there, in
/// the same commit; the retained bytes it leaves are the ones a restart
/// finds again.
#[tokio::test]
async fn count_then_byte_bound_in_one_commit_and_after_a_restart() {
    within(async {
        let dir = TempDir::new("count-bytes");
        {
            let store = open_store(&dir);
            let log = create(&store, "t", config(4, Some(10), None)).await;
            for p in [&b"a"[..], b"b", b"c", b"d", b"eeeeeeee"] {
                append(&*log, p).await;
            }
            // By count 2..=5 (11 bytes), then by bytes 3..=5 (10).
            assert_eq!(seqs(&*log, 0, None, None).await, [3, 4, 5]);
            append(&*log, b"f").await;
            assert_eq!(seqs(&*log, 0, None, None).await, [4, 5, 6]);
        }
        let store = open_store(&dir);
        let log = existing(&store, "t").await;
        assert_eq!(seqs(&*log, 0, None, None).await, [4, 5, 6]);
        append(&*log, b"g").await;
        assert_eq!(seqs(&*log, 0, None, None).await, [5, 6, 7]);
        assert_eq!(payloads(&*log).await, [&b"eeeeeeee"[..], b"f", b"g"]);
    })
    .await;
}

static TICKING_CLOCK: AtomicU64 = AtomicU64::new(1_000_000);

#[tokio::test]
async fn last_since_and_after_combine() {
    within(async {
        for options in cache_sizes() {
            let dir = TempDir::new("select");
            let testing = Testing {
                clock: || TICKING_CLOCK.fetch_add(10, Ordering::Relaxed) + 10,
                ..Testing::default()
            };
            let store = DiskStore::open_with(dir.path(), options, testing).expect("open");
            let log = create(&store, "t", config(100, None, None)).await;
            let mut times = Vec::new();
            for _ in 0..10 {
                times.push(append(&*log, b"x").await.time_us);
            }
            assert_eq!(seqs(&*log, 0, None, Some(2)).await, [9, 10]);
            assert_eq!(seqs(&*log, 0, Some(times[7]), None).await, [9, 10]);
            assert_eq!(seqs(&*log, 0, Some(times[2]), Some(3)).await, [8, 9, 10]);
            assert_eq!(seqs(&*log, 7, None, None).await, [8, 9, 10]);
            assert!(seqs(&*log, 0, None, Some(0)).await.is_empty());
            assert!(seqs(&*log, 10, None, None).await.is_empty());
            let read = read_sel(&*log, Selection::default()).await;
            assert!(read.iter().all(|m| m.epoch == log.epoch()));
        }
    })
    .await;
}

static AGE_CLOCK: AtomicU64 = AtomicU64::new(0);

#[tokio::test]
async fn byte_and_age_bounds() {
    within(async {
        for options in cache_sizes() {
            let dir = TempDir::new("bounds");
            let testing = Testing {
                clock: || AGE_CLOCK.load(Ordering::Relaxed),
                ..Testing::default()
            };
            let store = DiskStore::open_with(dir.path(), options, testing).expect("open");
            AGE_CLOCK.store(1, Ordering::Relaxed);
            let log = create(
                &store,
                "t",
                config(100, Some(10), Some(Duration::from_micros(50))),
            )
            .await;
            for s in 1..=4 {
                AGE_CLOCK.store(s * 10, Ordering::Relaxed);
                append(&*log, b"xxxx").await;
            }
            AGE_CLOCK.store(40, Ordering::Relaxed);
            assert_eq!(seqs(&*log, 0, None, None).await, [3, 4]);
            AGE_CLOCK.store(85, Ordering::Relaxed);
            assert_eq!(seqs(&*log, 0, None, None).await, [4]);
            AGE_CLOCK.store(1000, Ordering::Relaxed);
            assert!(seqs(&*log, 0, None, None).await.is_empty());
            // A lone message larger than the byte bound stays.
            append(&*log, b"a message longer than ten bytes").await;
            assert_eq!(seqs(&*log, 0, None, None).await, [5]);
        }
    })
    .await;
}

#[tokio::test]
async fn batches_get_consecutive_seqs_and_one_time() {
    within(async {
        let dir = TempDir::new("batch");
        let store = open_store(&dir);
        let log = create(&store, "t", config(2, None, None)).await;
        let batch: Vec<Bytes> = (0..5).map(|i| Bytes::from(vec![i])).collect();
        let a = log.append(&batch).await.expect("append");
        assert_eq!(a.first_seq, 1);
        assert_eq!(log.last_seq(), 5);
        let read = read_sel(&*log, Selection::default()).await;
        let got: Vec<(u64, u64, Vec<u8>)> = read
            .iter()
            .map(|m| (m.seq, m.time_us, m.payload.to_vec()))
            .collect();
        assert_eq!(got, [(4, a.time_us, vec![3]), (5, a.time_us, vec![4])]);
        let empty = log.append(&[]).await.expect("append nothing");
        assert_eq!(empty.first_seq, 6);
        assert_eq!(append(&*log, b"6").await.first_seq, 6);
    })
    .await;
}

#[tokio::test]
async fn zero_capacity_keeps_nothing_but_counts() {
    within(async {
        let dir = TempDir::new("zero");
        let store = open_store(&dir);
        let log = create(&store, "t", config(0, None, None)).await;
        append(&*log, b"x").await;
        assert_eq!(log.retained(), 0);
        assert_eq!(log.last_seq(), 1);
        assert!(seqs(&*log, 0, None, None).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn concurrent_creates_make_one_topic() {
    within(async {
        let dir = TempDir::new("create");
        let store = open_store(&dir);
        let release = store.hold_writer();
        let calls: Vec<_> = (0..3)
            .map(|_| store.open("t", Some(&config(5, None, None))))
            .collect();
        drop(release);
        let mut created = 0;
        let mut epochs = Vec::new();
        for call in calls {
            let opened = call.await.expect("open").expect("a topic");
            created += usize::from(opened.created);
            epochs.push(opened.log.epoch());
        }
        assert_eq!(created, 1);
        assert!(epochs.iter().all(|e| *e == epochs[0]));
    })
    .await;
}

#[tokio::test]
async fn a_closed_store_answers_unavailable() {
    within(async {
        let dir = TempDir::new("closed");
        let store = open_store(&dir);
        let log = create(&store, "t", config(5, None, None)).await;
        drop(store);
        match log.append(&[Bytes::from_static(b"late")]).await {
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unavailable),
            Ok(a) => panic!("appended to a closed store: {a:?}"),
        }
        // The directory is free again.
        drop(open_store(&dir));
    })
    .await;
}

// ===== a full disk =====

/// Set in the child process of `a_full_disk_fails_appends_then_recovers`.
const FULL_CHILD: &str = "DRIFT_DISK_FULL_CHILD";

/// Runs the disk-full scenario in a child process (this test binary again,
/// this test only), because the file-size limit it sets applies to the
/// whole process.
#[test]
fn a_full_disk_fails_appends_then_recovers() {
    if let Some(dir) = std::env::var_os(FULL_CHILD) {
        full_disk_child(Path::new(&dir));
        return;
    }
    let dir = TempDir::new("full");
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = format!("{module}::a_full_disk_fails_appends_then_recovers");
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([&test, "--exact", "--nocapture", "--test-threads=1"])
        .env(FULL_CHILD, dir.path())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("full disk: ok"),
        "child ran nothing:\n{stdout}\n{stderr}"
    );
}

fn set_file_size_limit(soft: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = soft.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

fn full_disk_child(dir: &Path) {
    // A write past the limit then fails with EFBIG instead of killing us.
    // SAFETY: ignoring a signal installs no handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(within(async {
        let options = DiskOptions {
            cache_messages: 0,
            ..options()
        };
        let store = DiskStore::open(dir, options).expect("open");
        let log = create(&store, "t", config(1000, None, None)).await;
        for i in 0..10u8 {
            append(&*log, &[i; 100]).await;
        }
        let largest = std::fs::read_dir(dir)
            .expect("list")
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        set_file_size_limit(largest + (64 << 10));
        let big = Bytes::from(vec![1u8; 1 << 20]);
        for _ in 0..3 {
            match log.append(std::slice::from_ref(&big)).await {
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
                    assert!(e.message().contains(&dir.display().to_string()), "{e}");
                }
                Ok(a) => panic!("appended past the limit: {a:?}"),
            }
        }
        assert_eq!(log.last_seq(), 10, "a failed append assigns no seq");
        assert_eq!(
            seqs(&*log, 0, None, None).await,
            (1..=10).collect::<Vec<u64>>()
        );
        set_file_size_limit(libc::RLIM_INFINITY);
        assert_eq!(
            log.append(std::slice::from_ref(&big))
                .await
                .expect("append")
                .first_seq,
            11
        );
        assert_eq!(append(&*log, b"small").await.first_seq, 12);
        drop(log);
        drop(store);
        let store = DiskStore::open(dir, options).expect("reopen");
        let log = existing(&store, "t").await;
        assert_eq!(seqs(&*log, 8, None, None).await, [9, 10, 11, 12]);
    }));
    println!("full disk: ok");
}

// ===== kill -9 =====

/// Set in the child processes of `kill_9_loses_nothing_acknowledged`: the
/// data directory and the fsync mode.
const CRASH_CHILD: &str = "DRIFT_DISK_CRASH_CHILD";
const CRASH_FSYNC: &str = "DRIFT_DISK_CRASH_FSYNC";

/// A child process appends from 20 tasks and prints each acknowledged
/// append; it is killed (SIGKILL) after 300 of them, three times per fsync
/// mode. Every acknowledged message must be there after each kill, with
/// its payload, and seqs must have no holes.
#[test]
fn kill_9_loses_nothing_acknowledged() {
    use std::io::BufRead;

    if let Some(dir) = std::env::var_os(CRASH_CHILD) {
        let fsync: Fsync = std::env::var(CRASH_FSYNC)
            .expect("fsync")
            .parse()
            .expect("fsync");
        crash_child(Path::new(&dir), fsync);
        return;
    }
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = format!("{module}::kill_9_loses_nothing_acknowledged");
    let exe = std::env::current_exe().expect("the test binary");
    for fsync in ["always", "100ms"] {
        let dir = TempDir::new("crash");
        let mut acked = std::collections::HashMap::new();
        for round in 0..3 {
            let mut child = std::process::Command::new(&exe)
                .args([&test, "--exact", "--nocapture", "--test-threads=1"])
                .env(CRASH_CHILD, dir.path())
                .env(CRASH_FSYNC, fsync)
                .env("DRIFT_DISK_CRASH_ROUND", round.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run the child");
            let stdout = child.stdout.take().expect("stdout");
            let mut seen = 0;
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.expect("read the child");
                let Some(rest) = line.strip_prefix("acked ") else {
                    continue;
                };
                let (seq, payload) = rest.split_once(' ').expect("seq and payload");
                acked.insert(seq.parse::<u64>().expect("seq"), payload.to_owned());
                seen += 1;
                if seen == 300 {
                    break;
                }
            }
            assert_eq!(seen, 300, "the child ({fsync}) stopped early");
            child.kill().expect("kill -9");
            let _ = child.wait();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(within(async {
                let store = open_store(&dir);
                let log = existing(&store, "t").await;
                let all = read_sel(&*log, Selection::default()).await;
                let seqs: Vec<u64> = all.iter().map(|m| m.seq).collect();
                assert_eq!(seqs, (1..=log.last_seq()).collect::<Vec<u64>>(), "holes");
                for (seq, payload) in &acked {
                    let m = usize::try_from(*seq - 1).ok().and_then(|i| all.get(i));
                    let got = m.map(|m| String::from_utf8_lossy(&m.payload).into_owned());
                    assert_eq!(got.as_deref(), Some(&payload[..]), "{fsync}: seq {seq}");
                }
            }));
        }
    }
}

fn crash_child(dir: &Path, fsync: Fsync) {
    let round = std::env::var("DRIFT_DISK_CRASH_ROUND").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(within(async {
        let options = DiskOptions { fsync, ..options() };
        let store = DiskStore::open(dir, options).expect("open");
        let log = create(&store, "t", config(100_000, None, None)).await;
        let tasks: Vec<_> = (0..20)
            .map(|task| {
                let (log, round) = (log.clone(), round.clone());
                tokio::spawn(async move {
                    // Bounded, in case nobody kills us.
                    for i in 0..5000 {
                        let payload = format!("r{round}-t{task}-{i}");
                        let a = append(&*log, payload.as_bytes()).await;
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "acked {} {payload}", a.first_seq);
                        let _ = out.flush();
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }));
}

// ===== how fast =====

/// `cargo test --release -p drift-core --features disk --lib appends_per_second -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: run it in release with --nocapture"]
fn appends_per_second() {
    for fsync in [Fsync::Always, Fsync::Interval(Duration::from_millis(100))] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(within(async {
            let dir = TempDir::new("rate");
            let options = DiskOptions { fsync, ..options() };
            let store = DiskStore::open(dir.path(), options).expect("open");
            let log = create(&store, "t", config(1000, None, None)).await;
            let per_task = 2000;
            let tasks = 100;
            let start = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let log = log.clone();
                    tokio::spawn(async move {
                        let payload = Bytes::from(vec![b'x'; 64]);
                        for _ in 0..per_task {
                            log.append(std::slice::from_ref(&payload))
                                .await
                                .expect("append");
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("task");
            }
            let elapsed = start.elapsed().as_secs_f64();
            let stats = store.stats();
            let n = (tasks * per_task) as f64;
            println!(
                "fsync {fsync}: {tasks} appenders x {per_task} x 64 B: {:.0} appends/s, \
                 {} commits ({:.1} appends per commit), {} fdatasyncs",
                n / elapsed,
                stats.commits,
                n / stats.commits as f64,
                stats.syncs
            );
        }));
    }
}
