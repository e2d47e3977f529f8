#!/usr/bin/env python3
"""Where a latency tail comes from, read from `drift bench fanout --latency-log`.

Usage: tail.py LOG [--late-us N]

A delivery is late above N µs (default: the run's p99). For every message with
a late delivery it asks: was the whole message late (every delivery, so the
delay came before the fan-out: the publish itself waited), or only some of its
connections (so part of the fan-out waited while the rest went out on time)?
Connections that are late together again and again point at one server thread
or worker. A message published less than half the mean interval after the one
before it was sent in a burst: the publisher itself had been held up.
"""

import argparse
import statistics
from collections import Counter

from latency_log import LatencyLog, pct


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--late-us", type=int, help="late above this many µs (default: the p99)")
    args = ap.parse_args()

    log = LatencyLog(args.log)
    published = log.published
    # (topic, publisher, seq) -> [(latency, connection)]
    messages = {key: [(recv_us - published[key], conn) for recv_us, conn in ds]
                for key, ds in log.deliveries.items()}

    latencies = sorted(lat for ds in messages.values() for lat, _ in ds)
    connections = {c for ds in messages.values() for _, c in ds}
    late_us = args.late_us if args.late_us is not None else pct(latencies, 0.99)
    firsts = sorted(min(lat for lat, _ in ds) for ds in messages.values())
    lasts = sorted(max(lat for lat, _ in ds) for ds in messages.values())
    print(f"{len(latencies)} deliveries of {len(messages)} messages over {len(connections)} connections")
    print("latency µs: " + "  ".join(f"{n} {pct(latencies, q)}" for n, q in
                                     [("p50", .5), ("p90", .9), ("p99", .99), ("p99.9", .999)])
          + f"  max {latencies[-1]}")
    print(f"per message, first delivery: p50 {pct(firsts, .5)} p90 {pct(firsts, .9)}; "
          f"last delivery: p50 {pct(lasts, .5)} p90 {pct(lasts, .9)} p99 {pct(lasts, .99)}")

    order = sorted(messages, key=lambda k: published[k])
    span = published[order[-1]] - published[order[0]]
    mean_gap = span / max(1, len(order) - 1)
    in_burst = {k for prev, k in zip(order, order[1:]) if published[k] - published[prev] < mean_gap / 2}

    whole, part = [], []
    for key, ds in messages.items():
        late = [(lat, c) for lat, c in ds if lat > late_us]
        if not late:
            continue
        (whole if len(late) == len(ds) else part).append((key, ds, late))
    n_late = sum(len(late) for _, _, late in whole + part)
    print(f"late = above {late_us} µs: {n_late} deliveries in {len(whole) + len(part)} messages")
    if whole:
        spreads = sorted(max(lat for lat, _ in ds) - min(lat for lat, _ in ds) for _, ds, _ in whole)
        print(f"  whole message late: {len(whole)} messages, {sum(len(ds) for _, ds, _ in whole)} "
              f"deliveries; first-to-last spread p50 {pct(spreads, .5)} µs "
              f"({sum(k in in_burst for k, _, _ in whole)} published in a burst)")
    if part:
        behind = sorted(
            int(statistics.median(lat for lat, _ in late)
                - statistics.median(lat for lat, _ in ds if lat <= late_us))
            for _, ds, late in part)
        sets = Counter(tuple(sorted({c for _, c in late})) for _, _, late in part)
        print(f"  some connections late: {len(part)} messages, {sum(len(late) for _, _, late in part)} "
              f"late deliveries, behind the on-time ones by p10 {pct(behind, .1)} "
              f"p50 {pct(behind, .5)} p90 {pct(behind, .9)} µs "
              f"({sum(k in in_burst for k, _, _ in part)} published in a burst)")
        print("    most frequent sets of late connections: "
              + ", ".join(f"{list(s)} x{n}" for s, n in sets.most_common(5)))


if __name__ == "__main__":
    main()
