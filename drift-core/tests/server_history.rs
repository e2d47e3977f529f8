//! History and resume: `X-History-Length` / `X-History-Since` with the
//! intended semantics, query-string equivalents, capacity, `Last-Event-ID`
//! resume with explicit gaps, and the replay → live handoff with no gap and
//! no duplicate (ORIGINAL.md §12 cases 32–44; DESIGN.md §1, §2, §6).

mod support;

use std::collections::HashMap;

use drift_core::protocol::FrameKind;
use drift_core::protocol::history::format_unix_seconds;
use drift_core::{Gap, GapReason};
use http::StatusCode;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const SSE: (&str, &str) = ("accept", "text/event-stream");

/// Request headers and the payloads they must replay.
type SinceCase = (Vec<(&'static str, String)>, Vec<&'static str>);
/// A query string, request headers, and the payloads they must replay.
type QueryCase = (String, Vec<(&'static str, &'static str)>, Vec<&'static str>);

/// Publishes `aaa`, `bbb`, `ccc`, `ddd` to `T`; returns each publish's
/// (epoch, seq, time µs).
async fn four(c: &mut Client) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for m in ["aaa", "bbb", "ccc", "ddd"] {
        let r = c.publish("T", m).await;
        out.push((
            r.num("drift-epoch"),
            r.num("drift-seq"),
            r.num("drift-time"),
        ));
    }
    out
}

/// Reads `n` raw chunks as strings.
async fn chunks(sub: &mut Sub, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let c = sub.next_chunk().await.expect("a message");
        out.push(String::from_utf8(c.to_vec()).unwrap());
    }
    out
}

/// Checks that the next raw chunk is a live message published now, i.e.
/// that nothing else (more history) was queued before it.
async fn next_is_live(sub: &mut Sub, c: &mut Client) {
    c.publish("T", "live").await;
    assert_eq!(&sub.next_chunk().await.unwrap()[..], b"live");
}

/// [`next_is_live`] for several subscribers with one publish (which would
/// otherwise become history for the next one).
async fn all_next_live(subs: &mut [Sub], c: &mut Client) {
    c.publish("T", "live").await;
    for sub in subs {
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"live");
    }
}

/// Case 32: `X-History-Length: 100` replays all four, oldest first, with
/// `x-history-enabled: True`, then live messages follow.
async fn history_length_replays_all_then_live(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        four(&mut c).await;
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("X-History-Length", "100")])
            .await;
        assert_eq!(sub.header("x-history-enabled"), Some("True"));
        assert_eq!(chunks(&mut sub, 4).await, ["aaa", "bbb", "ccc", "ddd"]);
        next_is_live(&mut sub, &mut c).await;
    })
    .await
}

/// Case 33, divergence: `X-History-Length: 2` is the newest two (the
/// original gave the oldest two).
async fn history_length_gives_the_newest(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        four(&mut c).await;
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("x-history-length", "2")])
            .await;
        assert_eq!(chunks(&mut sub, 2).await, ["ccc", "ddd"]);
        next_is_live(&mut sub, &mut c).await;
        // Zero asks for nothing.
        let mut none = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("x-history-length", "0")])
            .await;
        assert_eq!(none.status, StatusCode::OK);
        next_is_live(&mut none, &mut c).await;
    })
    .await
}

/// Case 34: no history headers, no replay; `x-history-enabled: True` is in
/// the headers at once (divergence: the original sent it with the first
/// live message). Case 35: a new topic has no such header.
async fn no_history_request_replays_nothing(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let sent = four(&mut c).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[]).await;
        assert_eq!(sub.header("x-history-enabled"), Some("True"));
        assert_eq!(sub.num("drift-last-seq"), sent[3].1);
        next_is_live(&mut sub, &mut c).await;

        let fresh = server.h2().await.subscribe("/v1/t/new", &[]).await;
        assert_eq!(fresh.status, StatusCode::OK);
        assert_eq!(fresh.header("x-history-enabled"), None);
    })
    .await
}

/// Cases 36–38, divergence where the original was buggy: `X-History-Since`
/// means strictly after T (fractions allowed), and with a length the newest
/// N of those.
async fn history_since_is_strictly_after_and_combines_with_length(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let sent = four(&mut c).await;
        let t = |i: usize| format_unix_seconds(sent[i].2);
        let before_all = (sent[0].2 / 1_000_000 - 10).to_string();
        let cases: Vec<SinceCase> = vec![
            // Case 36: T before everything → all.
            (
                vec![("x-history-since", before_all)],
                vec!["aaa", "bbb", "ccc", "ddd"],
            ),
            // Strictly after the second message's own time.
            (vec![("x-history-since", t(1))], vec!["ccc", "ddd"]),
            // After the newest: nothing.
            (vec![("x-history-since", t(3))], vec![]),
            // Since plus length: the newest N of those after T.
            (
                vec![("x-history-since", t(0)), ("x-history-length", "2".into())],
                vec!["ccc", "ddd"],
            ),
            // No off-by-one: N larger than what matches gives what matches.
            (
                vec![("x-history-since", t(0)), ("x-history-length", "5".into())],
                vec!["bbb", "ccc", "ddd"],
            ),
        ];
        let mut subs = Vec::new();
        for (headers, want) in cases {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut sub = server.h2().await.subscribe("/v1/t/T", &hs).await;
            assert_eq!(sub.status, StatusCode::OK, "{hs:?}");
            assert_eq!(chunks(&mut sub, want.len()).await, want, "{hs:?}");
            subs.push(sub);
        }
        all_next_live(&mut subs, &mut c).await;
    })
    .await
}

/// Cases 39 and 40, divergence: malformed history values are 400 with a
/// reason, never silently "no history" or hex.
async fn malformed_history_values_are_400(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        four(&mut c).await;
        let bad: &[(&str, &str)] = &[
            ("x-history-length", "abc"),
            ("x-history-length", "-1"),
            ("x-history-length", "0x10"),
            ("x-history-length", "1.5"),
            ("x-history-since", "yesterday"),
            ("x-history-since", "0x10"),
            ("x-history-since", "-1"),
            ("x-history-since", "1."),
            ("last-event-id", "abc"),
            ("last-event-id", "1-"),
            ("drift-on-slow", "later"),
        ];
        for &(name, value) in bad {
            let r = c.get_with("/v1/t/T", &[(name, value)]).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {value}");
            assert!(r.text().contains(name), "{name}: {:?}", r.text());
        }
        for q in ["history=abc", "since=yesterday", "after=x", "history=-1"] {
            let r = c.get(&format!("/v1/t/T?{q}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "?{q}");
        }
        // Since plus a malformed length is refused as a whole (case 39).
        let r = c
            .get_with(
                "/v1/t/T",
                &[("x-history-since", "0"), ("x-history-length", "two")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(server.broker().subscription_count(), 0);
    })
    .await
}

/// Case 44: header names are case-insensitive. HTTP/2 forces lower case, so
/// this writes HTTP/1.1 requests byte for byte with other spellings.
async fn history_header_names_are_case_insensitive(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        four(&mut c).await;
        for name in ["X-HISTORY-LENGTH", "x-history-length", "X-History-Length"] {
            let mut io = server.raw_h1().await;
            let req = format!(
                "GET /v1/t/T HTTP/1.1\r\nHost: {}\r\n{name}: 2\r\n\r\n",
                server.authority()
            );
            io.write_all(req.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            read_until(&mut *io, &mut buf, b"3\r\nccc\r\n3\r\nddd\r\n").await;
            let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            assert!(text.starts_with("http/1.1 200"), "{name}: {text}");
            assert!(!text.contains("bbb"), "{name}: only the newest two");
        }
    })
    .await
}

/// Browsers cannot set headers on EventSource: `?history=`, `?since=` and
/// `?after=` do the same, and a header wins over its query parameter.
async fn query_string_equivalents(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let sent = four(&mut c).await;
        let epoch = sent[0].0;
        let seq = |i: usize| sent[i].1;
        let since = format_unix_seconds(sent[1].2);
        let cases: Vec<QueryCase> = vec![
            ("?history=2".into(), vec![], vec!["ccc", "ddd"]),
            (format!("?since={since}"), vec![], vec!["ccc", "ddd"]),
            (
                format!("?after={epoch}-{}", seq(0)),
                vec![],
                vec!["bbb", "ccc", "ddd"],
            ),
            (
                format!("?lastEventId={epoch}-{}", seq(2)),
                vec![],
                vec!["ddd"],
            ),
            (
                "?history=3".into(),
                vec![("x-history-length", "1")],
                vec!["ddd"],
            ),
            ("?_=12345&history=1".into(), vec![], vec!["ddd"]),
        ];
        let mut subs = Vec::new();
        for (query, headers, want) in cases {
            let mut sub = server
                .h2()
                .await
                .subscribe(&format!("/v1/t/T{query}"), &headers)
                .await;
            assert_eq!(sub.status, StatusCode::OK, "{query}");
            assert_eq!(chunks(&mut sub, want.len()).await, want, "{query}");
            subs.push(sub);
        }
        all_next_live(&mut subs, &mut c).await;
    })
    .await
}

/// Case 41: history holds the newest 1000 by default: after 1005 POSTs,
/// asking for 2000 replays exactly #6 … #1005.
async fn history_capacity_is_1000_newest(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        for i in 1..=1005 {
            c.publish("T", format!("m{i}")).await;
        }
        let mut sub = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("x-history-length", "2000")])
            .await;
        let got = chunks(&mut sub, 1000).await;
        let want: Vec<String> = (6..=1005).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want);
        next_is_live(&mut sub, &mut c).await;
    })
    .await
}

/// `Last-Event-ID: EPOCH-SEQ` replays exactly the messages after SEQ, in
/// every framing; resuming at the newest replays nothing and reports no gap.
async fn last_event_id_resumes_after_the_id(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let sent = four(&mut c).await;
        let epoch = sent[0].0;
        let seq = |i: usize| sent[i].1;
        let after2 = format!("{epoch}-{}", seq(1));

        let mut raw = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("last-event-id", &after2)])
            .await;
        assert_eq!(raw.header("drift-gap"), None);
        assert_eq!(chunks(&mut raw, 2).await, ["ccc", "ddd"]);
        next_is_live(&mut raw, &mut c).await;

        let mut frames = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[FRAMES, ("last-event-id", &after2)])
            .await;
        let seqs: Vec<u64> = [
            frames.next_frame().await.unwrap(),
            frames.next_frame().await.unwrap(),
        ]
        .iter()
        .map(|f| f.seq)
        .collect();
        assert_eq!(seqs, [seq(2), seq(3)]);

        let mut sse = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[SSE, ("last-event-id", &after2)])
            .await;
        let ev = sse.next_event().await.unwrap();
        assert_eq!(
            (ev.id.as_deref(), ev.data.as_str()),
            (Some(&*format!("{epoch}-{}", seq(2))), "ccc")
        );

        // At the newest message (the "live" one above): nothing to replay.
        let newest = format!("{epoch}-{}", seq(3) + 1);
        let mut at_end = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("last-event-id", &newest)])
            .await;
        assert_eq!(at_end.header("drift-gap"), None);
        next_is_live(&mut at_end, &mut c).await;
    })
    .await
}

/// A resume id older than what history retains: the `Drift-Gap` header says
/// `FROM-TO expired`, the first in-band item is the gap (frame or SSE
/// event), then what is retained.
async fn resume_before_retained_history_reports_an_expired_gap(store: Store) {
    within(async {
        let server = start_server(|c| {
            store.apply(c);
            c.broker.history_length = 3;
        })
        .await;
        let mut c = server.h2().await;
        let mut epoch = 0;
        let mut seqs = vec![0];
        for i in 1..=6 {
            let r = c.publish("T", format!("m{i}")).await;
            epoch = r.num("drift-epoch");
            seqs.push(r.num("drift-seq"));
        }
        // m4, m5, m6 are retained; resuming after m1 misses m2 and m3.
        let id = format!("{epoch}-{}", seqs[1]);
        let want = Gap {
            from: seqs[2],
            to: seqs[3],
            reason: GapReason::Expired,
        };
        let header = format!("{}-{} expired", seqs[2], seqs[3]);

        let mut frames = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[FRAMES, ("last-event-id", &id)])
            .await;
        assert_eq!(frames.header("drift-gap"), Some(&*header));
        let gap = frames.next_frame().await.unwrap();
        assert_eq!(gap.kind, FrameKind::Gap);
        assert_eq!(gap.as_gap().unwrap(), want);
        for &seq in &seqs[4..=6] {
            let f = frames.next_frame().await.unwrap();
            assert_eq!((f.kind, f.seq), (FrameKind::Message, seq));
        }

        let mut sse = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[SSE, ("last-event-id", &id)])
            .await;
        assert_eq!(sse.header("drift-gap"), Some(&*header));
        let ev = sse.next_event().await.unwrap();
        assert_eq!(ev.event, "gap");
        assert_eq!(
            ev.data,
            format!(
                r#"{{"from":{},"to":{},"reason":"expired"}}"#,
                seqs[2], seqs[3]
            )
        );
        assert_eq!(sse.next_event().await.unwrap().data, "m4");

        // Raw framing has no in-band gap: the header is all it gets.
        let mut raw = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[("last-event-id", &id)])
            .await;
        assert_eq!(raw.header("drift-gap"), Some(&*header));
        assert_eq!(chunks(&mut raw, 3).await, ["m4", "m5", "m6"]);
    })
    .await
}

/// A resume id of another incarnation (the topic was deleted and created
/// again) cannot be placed: the gap says `epoch`, then everything retained
/// of the new incarnation follows.
async fn resume_from_another_epoch_reports_an_epoch_gap(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let mut c = server.h2().await;
        let old = c.publish("T", "old").await;
        assert_eq!(c.delete("/v1/t/T").await.status, StatusCode::OK);
        c.publish("T", "new1").await;
        c.publish("T", "new2").await;
        let id = format!("{}-{}", old.num("drift-epoch"), old.num("drift-seq"));
        let mut frames = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[FRAMES, ("last-event-id", &id)])
            .await;
        let header = frames.header("drift-gap").expect("a gap header");
        assert!(header.ends_with("epoch"), "{header}");
        let gap = frames.next_frame().await.unwrap();
        assert_eq!(gap.as_gap().unwrap().reason, GapReason::Epoch);
        let a = frames.next_frame().await.unwrap();
        let b = frames.next_frame().await.unwrap();
        assert_eq!(
            (&a.payload[..], &b.payload[..]),
            (&b"new1"[..], &b"new2"[..])
        );
    })
    .await
}

/// THE handoff test (DESIGN.md §1 and §6). One publisher publishes 1..=N as
/// fast as it can while subscribers join at staggered points, with
/// `X-History-Length: 1000`, with `Last-Event-ID`, or with nothing. Each
/// must see a strictly consecutive run of seqs from exactly where it asked to
/// start up to N: no hole, no duplicate, at the replay → live seam or
/// anywhere else.
async fn replay_hands_over_to_live_with_no_gap_and_no_duplicate(store: Store) {
    within(async {
        const N: u64 = 2000;
        let server = start_server(|c| {
            store.apply(c);
            // Not a back-pressure test: nobody may be cut off as slow, and
            // history must cover every resume point.
            c.broker.queue_messages = 1 << 20;
            c.broker.queue_bytes = 1 << 30;
            c.broker.history_length = N as usize;
        })
        .await;
        let mut publisher = server.h2().await;
        let first = publisher.publish("T", "1").await;
        let epoch = first.num("drift-epoch");
        // Message i (payload "i") has seq off + i, whatever the store counts from.
        let off = first.num("drift-seq") - 1;
        let (progress_tx, progress) = watch::channel(1u64);

        #[derive(Clone, Copy, Debug)]
        enum Join {
            Length(u64),
            Resume,
            Live,
        }
        let joins = [
            (1, Join::Length(1000)),
            (150, Join::Resume),
            (300, Join::Length(1000)),
            (700, Join::Live),
            (900, Join::Length(1000)),
            (1100, Join::Resume),
            (1300, Join::Length(1000)),
            (1500, Join::Length(10)),
            (1700, Join::Resume),
            (1900, Join::Length(1000)),
            (1995, Join::Length(1000)),
        ];
        let mut tasks = Vec::new();
        for (at, how) in joins {
            let mut progress = progress.clone();
            let mut client = server.h2().await;
            tasks.push(tokio::spawn(async move {
                let seen = *progress.wait_for(|&p| p >= at).await.unwrap();
                // Resume a little behind the publisher.
                let resume_after = seen.saturating_sub(37).max(1);
                let id = format!("{epoch}-{}", off + resume_after);
                let len;
                let headers: Vec<(&str, &str)> = match how {
                    Join::Length(n) => {
                        len = n.to_string();
                        vec![FRAMES, ("x-history-length", &len)]
                    }
                    Join::Resume => vec![FRAMES, ("last-event-id", &id)],
                    Join::Live => vec![FRAMES],
                };
                let mut sub = client.subscribe("/v1/t/T", &headers).await;
                assert_eq!(sub.status, StatusCode::OK);
                assert_eq!(sub.header("drift-gap"), None);
                let last_at_join = sub.num("drift-last-seq") - off;
                let first_expected = match how {
                    Join::Length(n) => last_at_join.saturating_sub(n - 1).max(1),
                    Join::Resume => resume_after + 1,
                    Join::Live => last_at_join + 1,
                };
                let mut next = first_expected;
                while next <= N {
                    let f = sub.next_frame().await.expect("stream open until N");
                    assert_eq!(f.kind, FrameKind::Message, "{how:?} at {at}");
                    assert_eq!(
                        f.seq - off,
                        next,
                        "{how:?} joined at {at} (last seq {last_at_join}): hole or duplicate"
                    );
                    assert_eq!(f.payload, next.to_string(), "payload of seq {next}");
                    next += 1;
                }
                (at, how, first_expected, last_at_join)
            }));
        }

        for i in 2..=N {
            let r = publisher.publish("T", i.to_string()).await;
            assert_eq!(r.num("drift-seq"), off + i);
            progress_tx.send_replace(i);
        }

        let mut seams = HashMap::new();
        for t in tasks {
            let (at, how, first, last_at_join) = t.await.expect("subscriber task");
            seams.insert(at, (format!("{how:?}"), first, last_at_join));
        }
        // The joins really happened while publishing was under way: most
        // subscribers saw a topic that was neither empty nor finished.
        let mid_stream = seams
            .values()
            .filter(|(_, _, last)| *last > 1 && *last < N)
            .count();
        assert!(mid_stream >= joins.len() / 2, "joins: {seams:?}");
    })
    .await
}

// One test per store for each of the above.
every_store!(history_length_replays_all_then_live);
every_store!(history_length_gives_the_newest);
every_store!(no_history_request_replays_nothing);
every_store!(history_since_is_strictly_after_and_combines_with_length);
every_store!(malformed_history_values_are_400);
every_store!(history_header_names_are_case_insensitive);
every_store!(query_string_equivalents);
every_store!(history_capacity_is_1000_newest);
every_store!(last_event_id_resumes_after_the_id);
every_store!(resume_before_retained_history_reports_an_expired_gap);
every_store!(resume_from_another_epoch_reports_an_epoch_gap);
every_store!(
    replay_hands_over_to_live_with_no_gap_and_no_duplicate,
    flavor = "multi_thread",
    worker_threads = 4
);
