#!/usr/bin/env python3
"""Turns drift-bench/bench/compare's results.jsonl into the Markdown tables of BENCHMARKS.md.

Usage: report.py RESULTS.jsonl [--command "drift-bench/bench/compare ..."] [--into BENCHMARKS.md]

Every figure is the median over the repetitions; every ratio is the median of
the per-repetition ratios (each repetition runs Drift and nchan back to back).
With --into, the part of the file between the markers
<!-- compare:begin --> and <!-- compare:end --> is replaced (appended when the
markers are missing); without it the tables go to stdout.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
from collections import defaultdict

BEGIN = "<!-- compare:begin -->"
END = "<!-- compare:end -->"


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001 - facts are best effort
        return "?"


def machine_facts():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("free -h | awk '/^Mem:/{print $2}'")
    nginx = sh("nginx -v 2>&1 | cut -d/ -f2")
    nchan = sh("dpkg-query -W -f='${Version}' libnginx-mod-nchan")
    h2load = sh("h2load --version | head -1 | awk '{print $NF}'")
    rev = sh("git -C " + os.path.dirname(os.path.abspath(__file__)) + " describe --always --dirty")
    return [
        f"- Date: {sh('date -u +%Y-%m-%dT%H:%MZ')}",
        f"- Machine: {sh('nproc')} cores ({cpu}), {mem} RAM, {platform.system()} {platform.release()}",
        f"- nginx {nginx}, nchan {nchan} (Debian packages), h2load {h2load}",
        f"- Drift: {rev} (release build)",
    ]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio_median(pairs):
    """Median of a/b over repetitions where both exist."""
    rs = [a / b for a, b in pairs if a is not None and b not in (None, 0)]
    return statistics.median(rs) if rs else None


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


SERVERS = ("drift1t", "drift2t", "nchan1w", "nchan2w")


def by_key(rows, scenario):
    """(label, transport) -> server key (each of SERVERS) -> rep -> row."""
    out = defaultdict(lambda: {server: {} for server in SERVERS})
    for r in rows:
        if r.get("scenario") != scenario:
            continue
        server = f"drift{r['workers']}t" if r["server"] == "drift" else f"nchan{r['workers']}w"
        out[(r.get("label", ""), r["transport"])][server][r["rep"]] = r
    return out


def pairs(reps_a, reps_b, key):
    return [(reps_a[k].get(key), reps_b[k].get(key)) for k in reps_a if k in reps_b]


def col(reps, key):
    return med([r.get(key) for r in reps.values()])


def lost(reps):
    return "–" if not reps else fmt(med([r.get("lost") for r in reps.values()]))


def steal(reps):
    """Median share of the machine's CPU time its hypervisor took during the runs, in %."""
    return fmt(med([r.get("steal_pct") for r in reps.values()]), 1)


def worst(*ratios):
    rs = [r for r in ratios if r is not None]
    return min(rs) if rs else None


def judge(verdicts, name, wanted, r1, r2, target):
    """Records whether the worse of the two pairings' ratios reaches target."""
    w = worst(r1, r2)
    ok = w is not None and w >= target
    verdicts.append((name, wanted, w, ok))
    return ok


# The pairs compared: the same number of server threads on each side.
PAIRS = (("drift1t", "nchan1w"), ("drift2t", "nchan2w"))


def fanout_tables(rows):
    data = by_key(rows, "fanout")
    lines = [
        "### Fan-out throughput (as fast as the publisher can go)",
        "",
        "One topic, S subscriptions over 10 HTTP/2 connections, one publisher with 16 POSTs in flight, "
        "400,000 deliveries per run. *msgs/s*: deliveries per second of wall time (the bench "
        "client and the server share the 2 cores); *per CPU-s*: deliveries per second of server CPU "
        "(utime+stime of the Drift process, or of all nginx workers). Drift 1t/2t = `drift serve "
        "--threads 1/2`, nchan 1w/2w = `worker_processes 1/2`; each ratio is Drift ÷ nchan with the "
        "same number of server threads, median of the per-repetition ratios.",
        "",
        "| S | B | framing | transport | msgs/s Drift 1t | nchan 1w | Drift 2t | nchan 2w "
        "| per CPU-s Drift 1t | nchan 1w | **ratio** | Drift 2t | nchan 2w | **ratio** | target "
        "| lost D1t / N1w / D2t / N2w |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    keys = sorted(
        (k for k in data if k[0].startswith("fanout-")),
        key=lambda k: (int(k[0].split("-")[1]), int(k[0].split("-")[2]), k[0].split("-")[3], k[1]),
    )
    for label, transport in keys:
        _, s, b, framing = label.split("-")
        g = data[(label, transport)]
        r1 = ratio_median(pairs(g["drift1t"], g["nchan1w"], "deliveries_per_server_cpu_s"))
        r2 = ratio_median(pairs(g["drift2t"], g["nchan2w"], "deliveries_per_server_cpu_s"))
        target = 3.0 if s == "1000" else 2.0
        ok = judge(verdicts, f"fan-out per CPU-s, S={s}, {b} B, {framing}, {transport}", f"≥{target:g}×", r1, r2, target)
        m = "delivered_msgs_per_s"
        c = "deliveries_per_server_cpu_s"
        lines.append(
            f"| {s} | {b} | {framing} | {transport} | {fmt(col(g['drift1t'], m))} | {fmt(col(g['nchan1w'], m))} "
            f"| {fmt(col(g['drift2t'], m))} | {fmt(col(g['nchan2w'], m))} "
            f"| {fmt(col(g['drift1t'], c))} | {fmt(col(g['nchan1w'], c))} | **{fmt(r1, 1)}×** "
            f"| {fmt(col(g['drift2t'], c))} | {fmt(col(g['nchan2w'], c))} | **{fmt(r2, 1)}×** "
            f"| ≥{target:g}×: {'met' if ok else 'MISSED'} "
            f"| {lost(g['drift1t'])} / {lost(g['nchan1w'])} / {lost(g['drift2t'])} / {lost(g['nchan2w'])} |"
        )
    # How long the latency runs published: their rate is fixed, so the messages tell.
    seconds = med(
        [
            r.get("published", 0) * int(label.split("-")[1]) / 50000
            for (label, _), servers in data.items()
            if label.startswith("latency-")
            for reps in servers.values()
            for r in reps.values()
        ]
    )
    lines += [
        "",
        "### End-to-end latency at a fixed rate (50,000 deliveries/s, 64 B)",
        "",
        "Publish-to-receive time from a timestamp in the payload (publisher and subscribers are one "
        f"process, one clock), HdrHistogram, µs, {fmt(seconds)} s per run. Ratio = nchan p99 ÷ Drift p99 "
        "(target ≥ 2: Drift's p99 at most half of nchan's). *steal*: the share of the machine's CPU time "
        "its hypervisor took during the run (median, %), which delays whatever runs then.",
        "",
        "| S | framing | transport | Drift 1t p50 | p99 | nchan 1w p50 | p99 | **ratio** | Drift 2t p50 | p99 "
        "| nchan 2w p50 | p99 | **ratio** | target | lost D1t / N1w / D2t / N2w | steal % D1t / N1w / D2t / N2w |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted((k for k in data if k[0].startswith("latency-")), key=lambda k: (int(k[0].split("-")[1]), k[0], k[1]))
    for label, transport in keys:
        _, s, _, framing = label.split("-")
        g = data[(label, transport)]

        def lat(reps, q):
            return med([(r.get("latency_us") or {}).get(q) for r in reps.values()])

        def p99_ratio(a, b):
            return ratio_median(
                [
                    ((b[k].get("latency_us") or {}).get("p99"), (a[k].get("latency_us") or {}).get("p99"))
                    for k in a
                    if k in b
                ]
            )

        r1 = p99_ratio(g["drift1t"], g["nchan1w"])
        r2 = p99_ratio(g["drift2t"], g["nchan2w"])
        ok = judge(verdicts, f"p99 latency, S={s}, {framing}, {transport}", "nchan ÷ Drift ≥2×", r1, r2, 2.0)
        lines.append(
            f"| {s} | {framing} | {transport} | {fmt(lat(g['drift1t'], 'p50'))} | {fmt(lat(g['drift1t'], 'p99'))} "
            f"| {fmt(lat(g['nchan1w'], 'p50'))} | {fmt(lat(g['nchan1w'], 'p99'))} | **{fmt(r1, 1)}×** "
            f"| {fmt(lat(g['drift2t'], 'p50'))} | {fmt(lat(g['drift2t'], 'p99'))} "
            f"| {fmt(lat(g['nchan2w'], 'p50'))} | {fmt(lat(g['nchan2w'], 'p99'))} | **{fmt(r2, 1)}×** "
            f"| {'met' if ok else 'MISSED'} "
            f"| {lost(g['drift1t'])} / {lost(g['nchan1w'])} / {lost(g['drift2t'])} / {lost(g['nchan2w'])} "
            f"| {steal(g['drift1t'])} / {steal(g['nchan1w'])} / {steal(g['drift2t'])} / {steal(g['nchan2w'])} |"
        )
    return lines, verdicts


def h2load_table(rows):
    data = by_key(rows, "h2load")
    lines = [
        "### Publish: `h2load -c10 -m10 -n 100000`, 64-byte POSTs to one topic",
        "",
        "| transport | req/s Drift 1t | nchan 1w | **ratio** | Drift 2t | nchan 2w | **ratio** "
        "| req per CPU-s Drift 1t | nchan 1w | Drift 2t | nchan 2w | target ≥1.5× |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for label, transport in sorted(data):
        g = data[(label, transport)]
        r1 = ratio_median(pairs(g["drift1t"], g["nchan1w"], "req_per_s"))
        r2 = ratio_median(pairs(g["drift2t"], g["nchan2w"], "req_per_s"))
        ok = judge(verdicts, f"h2load publish req/s, {transport}", "≥1.5×", r1, r2, 1.5)
        c = "req_per_server_cpu_s"
        lines.append(
            f"| {transport} | {fmt(col(g['drift1t'], 'req_per_s'))} | {fmt(col(g['nchan1w'], 'req_per_s'))} "
            f"| **{fmt(r1, 2)}×** | {fmt(col(g['drift2t'], 'req_per_s'))} | {fmt(col(g['nchan2w'], 'req_per_s'))} "
            f"| **{fmt(r2, 2)}×** | {fmt(col(g['drift1t'], c))} | {fmt(col(g['nchan1w'], c))} "
            f"| {fmt(col(g['drift2t'], c))} | {fmt(col(g['nchan2w'], c))} | {'met' if ok else 'MISSED'} |"
        )
    return lines, verdicts


def idle_table(rows):
    data = by_key(rows, "idle")
    lines = [
        "### Idle subscriptions (SSE over TLS, 100 topics, at most 1000 streams per connection)",
        "",
        "Server RSS growth from before the first connection to one second after the last subscription "
        "answered, divided by the subscriptions; a fresh server each time (Drift with its defaults, "
        "2 threads; nchan with 1 worker).",
        "",
        "| subscriptions | server | open | RSS per subscription (bytes) | server CPU during the 3 s hold (s) |",
        "|---|---|---|---|---|",
    ]
    verdicts = []
    for label, transport in sorted(data, key=lambda k: int(k[0].split("-")[1])):
        total = int(label.split("-")[1])
        for server, reps in sorted(data[(label, transport)].items()):
            if not reps:
                continue  # idle runs only Drift with 2 threads and nchan with 1 worker
            rss = col(reps, "rss_per_sub_bytes")
            opened = col(reps, "open")
            lines.append(
                f"| {total:,} | {server} | {fmt(opened)} | {fmt(rss)} | {fmt(col(reps, 'idle_cpu_s'), 2)} |"
            )
            if server.startswith("drift"):
                verdicts.append((f"idle RSS per subscription ({total:,})", "≤2048 B", rss, rss is not None and rss <= 2048))
                if total >= 100000:
                    verdicts.append(("100,000 idle subscriptions held", "all open", opened, opened == total))
    return lines, verdicts


def render(rows, command):
    out = [BEGIN, "", "## Latest comparison run", ""]
    out += machine_facts()
    out += [f"- Command: `{command}` (raw results: `results.jsonl` in its work directory)", ""]
    f_lines, f_v = fanout_tables(rows)
    h_lines, h_v = h2load_table(rows)
    i_lines, i_v = idle_table(rows)
    verdicts = f_v + h_v + i_v
    out += ["### Targets", "", "| target | wanted | measured (the worse of the 1- and 2-thread pairs) | |", "|---|---|---|---|"]
    for name, want, got, ok in verdicts:
        shown = "–" if got is None else (f"{got:,.0f} B" if "RSS" in name else (f"{got:,.0f}" if "held" in name else f"{got:.2f}×"))
        out.append(f"| {name} | {want} | {shown} | {'met' if ok else '**missed**'} |")
    out += [""] + f_lines + [""] + h_lines + [""] + i_lines + ["", END]
    errors = [r for r in rows if r.get("scenario") == "error" or r.get("error")]
    if errors:
        out.insert(-1, f"\n{len(errors)} run(s) reported an error; see results.jsonl.\n")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--command", default="drift-bench/bench/compare")
    ap.add_argument("--into")
    a = ap.parse_args()
    text = render(load(a.results), a.command)
    if not a.into:
        print(text, end="")
        return
    try:
        doc = open(a.into).read()
    except FileNotFoundError:
        doc = "# Benchmarks\n\n"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + text.rstrip("\n") + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(a.into, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
