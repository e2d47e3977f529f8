#!/usr/bin/env python3
"""drift-bench/bench/wal_frames.py [COMMITS] [PER_COMMIT]: what one commit of the disk store
writes to SQLite's write-ahead log, and what other table layouts would write.

Replays the disk store's commit pattern with Python's sqlite3 (the same SQLite file format):
one topic at its default history of 1000 messages; each commit inserts PER_COMMIT (default 19,
what `drift bench publish -c 10 -m 10` gives per commit with `--fsync always`) 64-byte messages,
deletes what retention pushed out, and updates the topic's row, in WAL mode with
`synchronous = NORMAL`, 4 KiB pages and no automatic checkpoint, as `disk/schema.rs` sets up.
After a warm-up to the steady state it runs COMMITS (default 2000) commits and prints the WAL
frames (pages) per commit, for the layout the store uses (`messages` clustered by (epoch, seq),
WITHOUT ROWID; `auto_vacuum = INCREMENTAL`) beside variants: retention deleting only every 256
messages, an integer-keyed (rowid) table, and no auto-vacuum."""
import os
import sqlite3
import sys
import tempfile

COMMITS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
PER_COMMIT = int(sys.argv[2]) if len(sys.argv) > 2 else 19
HISTORY = 1000
PAGE = 4096
FRAME = PAGE + 24  # a WAL frame: its 24-byte header and one page


def frames_per_commit(clustered, auto_vacuum, trim_every):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "drift.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute(f"PRAGMA page_size = {PAGE}")
        db.execute(f"PRAGMA auto_vacuum = {auto_vacuum}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("CREATE TABLE topics (epoch INTEGER PRIMARY KEY, last_seq INTEGER, bytes INTEGER)")
        db.execute("INSERT INTO topics VALUES (1, 0, 0)")
        if clustered:
            db.execute(
                "CREATE TABLE messages (epoch INTEGER NOT NULL, seq INTEGER NOT NULL, "
                "time_us INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (epoch, seq)) WITHOUT ROWID"
            )
            insert = "INSERT INTO messages (epoch, seq, time_us, payload) VALUES (1, ?1, ?2, ?3)"
        else:
            db.execute(
                "CREATE TABLE messages (seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, "
                "time_us INTEGER NOT NULL, payload BLOB NOT NULL)"
            )
            insert = "INSERT INTO messages (seq, epoch, time_us, payload) VALUES (?1, 1, ?2, ?3)"
        payload = b"x" * 64
        seq = 0

        def commit():
            nonlocal seq
            db.execute("BEGIN IMMEDIATE")
            for _ in range(PER_COMMIT):
                seq += 1
                db.execute(insert, (seq, 1_796_000_000_000_000 + seq, payload))
            if seq > HISTORY and seq % trim_every < PER_COMMIT:
                db.execute("DELETE FROM messages WHERE epoch = 1 AND seq <= ?", (seq - HISTORY,))
            db.execute("UPDATE topics SET last_seq = ?, bytes = ? WHERE epoch = 1", (seq, HISTORY * 64))
            db.execute("COMMIT")

        for _ in range(2 * HISTORY // PER_COMMIT):
            commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for _ in range(COMMITS):
            commit()
        frames = os.path.getsize(path + "-wal") // FRAME
        db.close()
        return frames / COMMITS


print(f"{COMMITS} commits of {PER_COMMIT} x 64 B to one topic keeping {HISTORY} (SQLite {sqlite3.sqlite_version})")
print(f"{'layout':58s} {'frames/commit':>13s} {'KiB/commit':>10s}")
for label, clustered, auto_vacuum, trim_every in [
    ("the store's: clustered (epoch, seq), incremental vacuum", True, "INCREMENTAL", 1),
    ("  retention deleting every 256 messages", True, "INCREMENTAL", 256),
    ("  no auto-vacuum", True, "NONE", 1),
    ("rowid table keyed by seq", False, "INCREMENTAL", 1),
    ("  retention deleting every 256 messages", False, "INCREMENTAL", 256),
    ("no retention deletes at all (clustered)", True, "INCREMENTAL", 1 << 62),
]:
    f = frames_per_commit(clustered, auto_vacuum, trim_every)
    print(f"{label:58s} {f:13.2f} {f * FRAME / 1024:10.1f}")
