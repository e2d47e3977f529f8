#!/usr/bin/env python3
"""How a fixed-rate run's messages spent their time on the CPUs: a latency log
lined up with a scheduler trace.

Usage: cpu_waits.py LOG SCHED_DATA [--server drift-io,nginx] [--client bench]
                    [--script] [--offset-us N]

LOG is written by `drift bench fanout --latency-log LOG`; SCHED_DATA by
`perf record -k mono -e sched:sched_switch -e sched:sched_wakeup -a -o
SCHED_DATA -- sleep N` while that run was measuring. Run this script on the
same machine soon after (the log's clock is wall-clock time, the trace's is
CLOCK_MONOTONIC; their difference is read now, unless --offset-us gives it).
With --script, SCHED_DATA is the text `perf script -F cpu,time,event,trace`
printed for it.

For each message published inside the trace (from its publication to its last
delivery), on time or late (any delivery above the run's p99 within the
trace), it gives per message in µs: how long the server's and the client's
threads ran, how long they waited for a CPU (woken or preempted, not yet
running), and how much of that wait fell while another CPU was idle: time a
CPU could have run them and did not.
"""

import argparse
import bisect
import re
import subprocess
import time
from collections import Counter, defaultdict

from latency_log import LatencyLog, pct

SWITCH = re.compile(
    r"\[(\d+)\]\s+([\d.]+):\s+sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
    r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
WAKEUP = re.compile(
    r"\[\d+\]\s+([\d.]+):\s+sched:sched_wakeup: comm=(.*?) pid=(\d+) .*target_cpu=(\d+)")


class Trace:
    """Who ran on each CPU when, and when the watched threads waited."""

    def __init__(self, out, role):
        self.runs = defaultdict(list)  # cpu -> [(start, end, pid, comm)]
        self.waits = []  # (start, end, cpu it was queued on, role)
        current, runnable = {}, {}
        self.first = self.last = None
        for line in out.splitlines():
            m = SWITCH.search(line)
            if m:
                cpu, t = int(m[1]), float(m[2]) * 1e6
                if self.first is None:
                    self.first = t
                self.last = t
                if cpu in current:
                    start, pid, comm = current[cpu]
                    self.runs[cpu].append((start, t, pid, comm))
                prev_pid, prev_comm, state = int(m[4]), m[3], m[5]
                if role(prev_comm) and state.startswith("R"):  # preempted
                    runnable[prev_pid] = (t, cpu, prev_comm)
                next_pid, next_comm = int(m[7]), m[6]
                if next_pid in runnable:
                    start, queued_on, comm = runnable.pop(next_pid)
                    self.waits.append((start, t, queued_on, role(comm)))
                current[cpu] = (t, next_pid, next_comm)
                continue
            m = WAKEUP.search(line)
            if m and role(m[2]):
                runnable.setdefault(int(m[3]), (float(m[1]) * 1e6, int(m[4]), m[2]))
        if self.first is None:
            raise SystemExit("the trace has no sched_switch events")
        self.starts = {cpu: [r[0] for r in rs] for cpu, rs in self.runs.items()}
        self.waits.sort()
        self.wait_starts = [w[0] for w in self.waits]
        self.longest_wait = max((e - s for s, e, _, _ in self.waits), default=0)

    def overlaps(self, cpu, a, b):
        """(start, end, pid, comm) of every run on `cpu`, clipped to [a, b]."""
        runs = self.runs[cpu]
        i = max(0, bisect.bisect_right(self.starts[cpu], a) - 1)
        while i < len(runs) and runs[i][0] < b:
            start, end, pid, comm = runs[i]
            if min(end, b) > max(start, a):
                yield max(start, a), min(end, b), pid, comm
            i += 1

    def idle_elsewhere(self, cpu, a, b):
        """µs of [a, b] during which some CPU other than `cpu` was idle."""
        spans = sorted((s, e) for other in self.runs if other != cpu
                       for s, e, pid, _ in self.overlaps(other, a, b) if pid == 0)
        total, reach = 0.0, a
        for s, e in spans:
            if e > reach:
                total += e - max(s, reach)
                reach = e
        return total

    def waits_within(self, a, b):
        """(cpu, role, start, end) of waits clipped to [a, b]."""
        i = bisect.bisect_left(self.wait_starts, a - self.longest_wait)
        while i < len(self.waits) and self.waits[i][0] < b:
            start, end, cpu, who = self.waits[i]
            if min(end, b) > max(start, a):
                yield cpu, who, max(start, a), min(end, b)
            i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("sched_data")
    ap.add_argument("--server", default="drift-io,nginx",
                    help="comma-separated thread name prefixes of the server")
    ap.add_argument("--client", default="bench", help="thread name prefix of the bench client")
    ap.add_argument("--script", action="store_true",
                    help="SCHED_DATA is `perf script` output, not perf.data")
    ap.add_argument("--offset-us", type=float,
                    help="CLOCK_REALTIME minus CLOCK_MONOTONIC during the run, in µs")
    args = ap.parse_args()
    servers = tuple(args.server.split(","))

    def role(comm):
        if comm.startswith(servers):
            return "server"
        return "client" if comm.startswith(args.client) else None

    if args.script:
        with open(args.sched_data) as f:
            text = f.read()
    else:
        text = subprocess.run(
            ["perf", "script", "-i", args.sched_data, "-F", "cpu,time,event,trace"],
            capture_output=True, text=True, check=True).stdout
    trace = Trace(text, role)
    log = LatencyLog(args.log)
    if log.origin_unix_us is None:
        raise SystemExit(f"{args.log}: no '# clock:' line (written by a newer drift bench)")
    offset = args.offset_us
    if offset is None:
        offset = (time.clock_gettime(time.CLOCK_REALTIME)
                  - time.clock_gettime(time.CLOCK_MONOTONIC)) * 1e6
    to_mono = log.origin_unix_us - offset
    # (topic, publisher, seq) -> (span start, span end, largest latency), in
    # the trace's clock, for the messages whose span lies inside the trace.
    windows = {}
    for key, ds in log.deliveries.items():
        published = log.published[key]
        last = max(r for r, _ in ds)
        a, b = published + to_mono, last + to_mono
        if trace.first + 5_000 < a and b < trace.last - 5_000:
            windows[key] = (a, b, last - published)
    if not windows:
        raise SystemExit("no message lies inside the trace: was it recorded during the run?")
    latencies = sorted(r - log.published[key] for key in windows for r, _ in log.deliveries[key])
    p99 = pct(latencies, 0.99)
    print(f"{len(windows)} messages inside the trace; latency p50 {pct(latencies, 0.5)} "
          f"p99 {p99} µs")
    for name, late in (("on time", False), ("late", True)):
        group = [w for w in windows.values() if (w[2] > p99) == late]
        if not group:
            print(f"{name}: 0 messages")
            continue
        c = Counter()
        for a, b, _ in group:
            c["window"] += b - a
            for cpu in trace.runs:
                for s, e, pid, comm in trace.overlaps(cpu, a, b):
                    who = role(comm)
                    c[f"{who} ran" if who else ("idle" if pid == 0 else "others ran")] += e - s
            for cpu, who, s, e in trace.waits_within(a, b):
                c[f"{who} waited"] += e - s
                c[f"{who} waited while a CPU was idle"] += trace.idle_elsewhere(cpu, s, e)
        n = len(group)
        keys = ["window", "server ran", "client ran",
                "server waited", "server waited while a CPU was idle",
                "client waited", "client waited while a CPU was idle", "others ran", "idle"]
        print(f"{name}: {len(group)} messages; per message µs: "
              + ", ".join(f"{k} {c[k] / n:.0f}" for k in keys))


if __name__ == "__main__":
    main()
