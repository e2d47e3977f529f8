//! Per-thread scheduler figures of a process, from /proc: how long each
//! thread ran, how long it sat in a run queue waiting for a CPU, and how often
//! it gave the CPU up (it slept: nothing to do) or had it taken (preempted).
//!
//! A latency tail made of waiting looks different here from one made of work:
//! the same CPU time, but run-queue waits and preemptions per message that
//! grow. On a machine whose cores the bench client shares with the server,
//! that is what tells the two apart.

use serde_json::{Value, json};

use super::report::{r3, status_number};

/// One thread's scheduler figures: cumulative since it started (a
/// [`snapshot`]), or what it did between two snapshots ([`since`]).
#[derive(Debug, Clone)]
pub(crate) struct ThreadStats {
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    pub(crate) name: String,
    /// Time on a CPU (ns), from `schedstat`.
    pub(crate) run_ns: u64,
    /// Time runnable but waiting for a CPU (ns), from `schedstat`.
    pub(crate) wait_ns: u64,
    /// Times it gave the CPU up (slept).
    pub(crate) voluntary: u64,
    /// Times the CPU was taken from it (preempted).
    pub(crate) involuntary: u64,
}

/// The threads of `pid` now; empty when the process is gone or /proc lacks
/// the figures (a kernel without scheduler statistics). A thread that ends
/// while it is being read is skipped.
pub(crate) fn snapshot(pid: u32) -> Vec<ThreadStats> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut threads: Vec<ThreadStats> = tasks
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let tid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let dir = entry.path();
            let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
            let (run_ns, wait_ns) = parse_schedstat(&read("schedstat")?)?;
            let (voluntary, involuntary) = parse_switches(&read("status")?)?;
            Some(ThreadStats {
                pid,
                tid,
                name: read("comm")?.trim_end().to_owned(),
                run_ns,
                wait_ns,
                voluntary,
                involuntary,
            })
        })
        .collect();
    threads.sort_by_key(|t| t.tid);
    threads
}

/// `run_ns wait_ns timeslices` of `/proc/PID/task/TID/schedstat`.
fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

/// The `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` lines of
/// `/proc/PID/task/TID/status`.
fn parse_switches(status: &str) -> Option<(u64, u64)> {
    Some((
        status_number(status, "voluntary_ctxt_switches:")?,
        status_number(status, "nonvoluntary_ctxt_switches:")?,
    ))
}

/// What each thread did from `start` to `end`. A thread that started in
/// between counts from zero; one that ended in between is left out (its
/// last figures are unknown). Threads that neither ran nor switched are left
/// out too: a runtime's idle helpers would only lengthen the report.
pub(crate) fn since(start: &[ThreadStats], end: &[ThreadStats]) -> Vec<ThreadStats> {
    end.iter()
        .filter_map(|e| {
            let s = start.iter().find(|s| s.pid == e.pid && s.tid == e.tid);
            let before = |f: fn(&ThreadStats) -> u64| s.map_or(0, f);
            let used = ThreadStats {
                pid: e.pid,
                tid: e.tid,
                name: e.name.clone(),
                run_ns: e.run_ns.saturating_sub(before(|t| t.run_ns)),
                wait_ns: e.wait_ns.saturating_sub(before(|t| t.wait_ns)),
                voluntary: e.voluntary.saturating_sub(before(|t| t.voluntary)),
                involuntary: e.involuntary.saturating_sub(before(|t| t.involuntary)),
            };
            let active = used.run_ns > 0 || used.voluntary > 0 || used.involuntary > 0;
            active.then_some(used)
        })
        .collect()
}

/// The JSON list of the summary: one object per thread.
pub(crate) fn to_json(threads: &[ThreadStats]) -> Value {
    threads
        .iter()
        .map(|t| {
            json!({
                "pid": t.pid,
                "tid": t.tid,
                "name": t.name,
                "cpu_s": r3(t.run_ns as f64 / 1e9),
                "runqueue_wait_s": r3(t.wait_ns as f64 / 1e9),
                "voluntary_switches": t.voluntary,
                "involuntary_switches": t.involuntary,
            })
        })
        .collect()
}

/// The human line: per thread, CPU time, run-queue wait and switches.
pub(crate) fn line(label: &str, threads: &[ThreadStats]) -> Option<String> {
    if threads.is_empty() {
        return None;
    }
    let each: Vec<String> = threads
        .iter()
        .map(|t| {
            format!(
                "{} ran {:.2} s, waited for a CPU {:.2} s, slept {}x, preempted {}x",
                t.name,
                t.run_ns as f64 / 1e9,
                t.wait_ns as f64 / 1e9,
                t.voluntary,
                t.involuntary
            )
        })
        .collect();
    Some(format!("  {label} threads: {}", each.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(tid: u32, run_ns: u64, wait_ns: u64, voluntary: u64, involuntary: u64) -> ThreadStats {
        ThreadStats {
            pid: 7,
            tid,
            name: format!("t{tid}"),
            run_ns,
            wait_ns,
            voluntary,
            involuntary,
        }
    }

    #[test]
    fn reads_schedstat_and_status() {
        assert_eq!(
            parse_schedstat("2034567 99000 41\n"),
            Some((2_034_567, 99_000))
        );
        assert_eq!(parse_schedstat("12\n"), None);
        let status =
            "Name:\tdrift-io-0\nvoluntary_ctxt_switches:\t5012\nnonvoluntary_ctxt_switches:\t13\n";
        assert_eq!(parse_switches(status), Some((5012, 13)));
        assert_eq!(parse_switches("Name:\tx\n"), None);
    }

    #[test]
    fn differences_skip_ended_and_idle_threads() {
        let start = [
            clock(1, 100, 10, 5, 1),
            clock(2, 50, 0, 1, 0),
            clock(3, 9, 9, 9, 9),
        ];
        // 1 ran, 2 did nothing, 3 ended, 4 started during the phase.
        let end = [
            clock(1, 400, 60, 25, 3),
            clock(2, 50, 0, 1, 0),
            clock(4, 30, 5, 2, 0),
        ];
        let used = since(&start, &end);
        let got: Vec<(u32, u64, u64, u64, u64)> = used
            .iter()
            .map(|t| (t.tid, t.run_ns, t.wait_ns, t.voluntary, t.involuntary))
            .collect();
        assert_eq!(got, [(1, 300, 50, 20, 2), (4, 30, 5, 2, 0)]);
    }

    #[test]
    fn this_process_has_its_threads_named() {
        let main = snapshot(std::process::id());
        assert!(!main.is_empty(), "no thread read");
        let me = main.iter().find(|t| t.tid == std::process::id());
        assert!(me.is_some_and(|t| !t.name.is_empty()), "{main:?}");
        assert!(snapshot(u32::MAX).is_empty());
    }
}
