"""Reads a `drift bench fanout --latency-log` file; shared by the scripts in bench/."""

from collections import defaultdict


class LatencyLog:
    """One log: its clock's origin, and each message's publish time and deliveries.

    A message is keyed by (topic, publisher, seq); `published[key]` is its
    publish time and `deliveries[key]` lists (received_us, connection), all in
    µs of the bench's clock. `origin_unix_us` is that clock's zero in µs after
    the Unix epoch (None in logs written before the clock line existed).
    """

    def __init__(self, path):
        self.origin_unix_us = None
        self.published = {}
        self.deliveries = defaultdict(list)
        with open(path) as f:
            for line in f:
                if line.startswith("# clock:"):
                    self.origin_unix_us = int(line.split()[4])
                elif not line.startswith("#"):
                    pub_us, recv_us, topic, publisher, seq, conn, _sub = map(int, line.split())
                    key = (topic, publisher, seq)
                    self.published[key] = pub_us
                    self.deliveries[key].append((recv_us, conn))
        if not self.deliveries:
            raise SystemExit(f"{path}: no deliveries")


def pct(values, q):
    """The q-quantile (0..1) of sorted values."""
    return values[min(len(values) - 1, int(len(values) * q))]
