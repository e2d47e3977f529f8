"""History (last N, since, after), resume by id, and gap reporting."""

from __future__ import annotations

import pytest

import drift


def texts(sub: drift.Subscription, n: int) -> list[str]:
    out = []
    for _ in range(n):
        item = sub.next(timeout=10)
        assert isinstance(item, drift.Message), item
        out.append(item.text)
    return out


def test_last_n_then_live(client: drift.Client, topic: str) -> None:
    for i in range(1, 6):
        client.publish(topic, f"m{i}")
    with client.subscribe(topic, history=3) as sub:
        assert texts(sub, 3) == ["m3", "m4", "m5"]
        client.publish(topic, "m6")
        assert texts(sub, 1) == ["m6"]


def test_since_seconds_and_datetime(client: drift.Client, topic: str) -> None:
    for i in range(1, 4):
        client.publish(topic, f"m{i}")
    with client.subscribe(topic, history=3) as sub:
        msgs = [sub.next(timeout=10) for _ in range(3)]
    first = msgs[0]
    assert isinstance(first, drift.Message)
    # Strictly after the first message's publish time.
    with client.subscribe(topic, since=first.time_us / 1e6) as sub:
        assert texts(sub, 2) == ["m2", "m3"]
    with client.subscribe(topic, since=first.time) as sub:
        assert texts(sub, 2) == ["m2", "m3"]
    # since and history together: the newest N of those.
    with client.subscribe(topic, history=1, since=first.time) as sub:
        assert texts(sub, 1) == ["m3"]
    with pytest.raises(drift.InvalidArgument):
        client.subscribe(topic, since=-1.0)


def test_after_id_and_resume(client: drift.Client, topic: str) -> None:
    ids = [client.publish(topic, f"m{i}") for i in range(1, 5)]
    with client.subscribe(topic, after=ids[1]) as sub:
        assert texts(sub, 2) == ["m3", "m4"]
    with client.subscribe(topic, after=str(ids[2])) as sub:
        assert texts(sub, 1) == ["m4"]

    # Resume: read some, go away, messages arrive meanwhile, come back
    # after the last one seen: everything else, no duplicates.
    with client.subscribe(topic, after=ids[3]) as sub:
        client.publish(topic, "m5")
        assert texts(sub, 1) == ["m5"]
        last = sub.last_id
    assert last is not None and last.seq == 5
    client.publish(topic, "m6")
    client.publish(topic, "m7")
    with client.subscribe(topic, after=last) as sub:
        assert texts(sub, 2) == ["m6", "m7"]
        assert sub.next(timeout=0.2) is None
    with pytest.raises(drift.InvalidArgument):
        client.subscribe(topic, after="seven")


def test_expired_gap_on_resume(client: drift.Client, topic: str) -> None:
    assert client.create(topic, history_length=3)
    ids = [client.publish(topic, f"m{i}") for i in range(1, 11)]
    # History holds m8..m10; resuming after m2 misses m3..m7.
    with client.subscribe(topic, after=ids[1]) as sub:
        gap = sub.next(timeout=10)
        assert isinstance(gap, drift.Gap), gap
        assert (gap.from_seq, gap.to_seq, gap.reason) == (3, 7, "expired")
        assert "Gap(from_seq=3, to_seq=7, reason='expired')" == repr(gap)
        assert texts(sub, 3) == ["m8", "m9", "m10"]


def test_epoch_gap_after_delete_and_recreate(client: drift.Client, topic: str) -> None:
    old = [client.publish(topic, f"old{i}") for i in range(2)]
    client.delete(topic)
    new = client.publish(topic, "new")  # recreates the topic: a new epoch
    assert new.epoch != old[0].epoch
    assert new.seq == 1
    with client.subscribe(topic, after=old[-1]) as sub:
        gap = sub.next(timeout=10)
        assert isinstance(gap, drift.Gap), gap
        assert gap.reason == "epoch"
        m = sub.next(timeout=10)
        assert isinstance(m, drift.Message)
        assert (m.text, m.id) == ("new", new)


def test_gap_items_in_iteration(client: drift.Client, topic: str) -> None:
    assert client.create(topic, history_length=2)
    ids = [client.publish(topic, f"m{i}") for i in range(1, 6)]
    items = []
    with client.subscribe(topic, after=ids[0]) as sub:
        for item in sub:
            items.append(item)
            if isinstance(item, drift.Message) and item.id == ids[-1]:
                break
    assert [type(i).__name__ for i in items] == ["Gap", "Message", "Message"]
    assert isinstance(items[0], drift.Gap)
    assert (items[0].from_seq, items[0].to_seq) == (2, 3)


def test_slow_subscribers_drop_or_resume() -> None:
    # 3 MiB unread: more than the client's 1 MiB HTTP/2 stream window plus
    # the server's small per-subscriber queue, so both subscribers are slow.
    big = b"x" * (64 * 1024)
    n = 48
    with drift.Server(h2c=True, queue_messages=4, queue_bytes=256 * 1024) as s:
        with drift.Client(s.url, timeout=10) as c:
            dropping = c.subscribe("t", on_slow="drop")
            resuming = c.subscribe("t")  # "disconnect": resumed from history
            ids = [c.publish("t", big) for _ in range(n)]

            # on_slow="drop": what was skipped is reported as gaps, and the
            # messages and gaps together cover 1..n in order.
            covered: list[int] = []
            gaps: list[drift.Gap] = []
            while not covered or covered[-1] < n:
                item = dropping.next(timeout=10)
                if isinstance(item, drift.Gap):
                    assert item.reason == "dropped"
                    gaps.append(item)
                    covered.extend(range(item.from_seq, item.to_seq + 1))
                else:
                    assert isinstance(item, drift.Message), item
                    covered.append(item.seq)
            assert covered == list(range(1, n + 1))
            assert gaps, "nothing was dropped"
            tail = c.publish("t", "tail")
            m = dropping.next(timeout=10)
            assert isinstance(m, drift.Message) and m.id == tail

            # The default: disconnected when slow, resumed after the last
            # message received, so nothing is lost.
            got = [resuming.next(timeout=10) for _ in range(n + 1)]
            assert all(isinstance(i, drift.Message) for i in got), got
            assert [i.id for i in got] == [*ids, tail]  # type: ignore[union-attr]
            dropping.close()
            resuming.close()
