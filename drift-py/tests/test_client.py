"""drift.Client (blocking) against the TLS and the h2c server: publish,
subscribe, topic management, values, closing."""

from __future__ import annotations

import datetime
import pickle
import threading
import time

import pytest

import drift
from conftest import client_for


def test_round_trip(client: drift.Client, topic: str) -> None:
    with client.subscribe(topic) as sub:
        first = client.publish(topic, b"\x00binary\xff")
        second = client.publish(topic, "text ✓")
        assert isinstance(first, drift.MessageId)
        assert second.epoch == first.epoch
        assert (first.seq, second.seq) == (1, 2)
        assert str(second) == f"{second.epoch}-2"

        m1 = next(sub)
        m2 = next(sub)
    assert isinstance(m1, drift.Message) and isinstance(m2, drift.Message)
    assert m1.data == b"\x00binary\xff"
    assert bytes(m1) == m1.data and len(m1) == len(m1.data)
    assert m2.data == "text ✓".encode()
    assert m2.text == "text ✓"
    with pytest.raises(UnicodeDecodeError):
        _ = m1.text
    assert (m1.id, m2.id) == (first, second)
    assert (m1.seq, m1.epoch) == (1, first.epoch)
    assert m1.time.tzinfo is datetime.timezone.utc
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - m1.time).total_seconds()) < 60
    assert m1.time_us <= m2.time_us
    assert m1.time == datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + (
        datetime.timedelta(microseconds=m1.time_us)
    )
    assert sub.last_id == second
    assert sub.end_reason == "closed"
    assert "Message(id=" in repr(m1)


def test_payload_types(client: drift.Client, topic: str) -> None:
    with client.subscribe(topic) as sub:
        client.publish(topic, bytearray(b"ba"))
        client.publish(topic, memoryview(b"mv"))
        client.publish(topic, b"")
        got = [next(sub) for _ in range(3)]
    assert [m.data for m in got if isinstance(m, drift.Message)] == [b"ba", b"mv", b""]
    with pytest.raises(TypeError):
        client.publish(topic, 42)  # type: ignore[arg-type]


def test_publish_many(client: drift.Client, topic: str) -> None:
    ids = client.publish_many(topic, [b"a", "b", b"c"])
    assert [i.seq for i in ids] == [1, 2, 3]
    with client.subscribe(topic, history=3) as sub:
        assert [sub.next(timeout=10).data for _ in range(3)] == [b"a", b"b", b"c"]  # type: ignore[union-attr]


def test_create_exists_delete(client: drift.Client, topic: str) -> None:
    assert client.exists(topic) is False
    assert client.create(topic, history_length=10) is True
    assert client.create(topic, history_length=10) is False
    assert client.exists(topic) is True
    with pytest.raises(drift.Conflict) as conflict:
        client.create(topic, history_length=11)
    assert conflict.value.status == 409
    client.delete(topic)
    assert client.exists(topic) is False
    with pytest.raises(drift.NotFound):
        client.delete(topic)


def test_create_options(client: drift.Client, topic: str) -> None:
    assert client.create(topic, history=False) is True
    client.publish(topic, "gone")
    with client.subscribe(topic, history=5) as sub:
        assert sub.next(timeout=0.2) is None  # nothing kept
    assert client.create(topic + "-b", max_age=60, max_bytes=1000) is True
    with pytest.raises(drift.InvalidArgument):
        client.create(topic + "-c", max_age=0)


def test_server_time(client: drift.Client) -> None:
    assert abs(client.time() - time.time()) < 60


def test_next_with_timeout(client: drift.Client, topic: str) -> None:
    with client.subscribe(topic) as sub:
        assert sub.next(timeout=0.05) is None
        client.publish(topic, "x")
        m = sub.next(timeout=10)
        assert isinstance(m, drift.Message) and m.text == "x"
    with pytest.raises(drift.SubscriptionClosed):
        sub.next(timeout=1)
    assert sub.closed


def test_close_from_another_thread_stops_iteration(client: drift.Client, topic: str) -> None:
    sub = client.subscribe(topic)
    received: list[object] = []
    got_one = threading.Event()

    def consume() -> None:
        for item in sub:
            received.append(item)
            got_one.set()

    t = threading.Thread(target=consume)
    t.start()
    client.publish(topic, "one")
    # Once the consumer has the message it blocks for the next one: close
    # the subscription under its feet.
    assert got_one.wait(10)
    sub.close()
    t.join(10)
    assert not t.is_alive()
    assert [m.text for m in received] == ["one"]  # type: ignore[attr-defined]
    assert sub.end_reason == "closed"


def test_delete_ends_subscription(client: drift.Client, topic: str) -> None:
    client.publish(topic, "x")
    sub = client.subscribe(topic)
    client.delete(topic)
    assert list(sub) == []
    assert sub.end_reason == "deleted"
    assert sub.closed


def test_closed_client(any_server: drift.Server, topic: str) -> None:
    c = client_for(any_server)
    sub = c.subscribe(topic)
    c.close()
    with pytest.raises(drift.SubscriptionClosed, match="client is closed"):
        c.publish(topic, "x")
    # Subscriptions made before go on.
    with client_for(any_server) as other:
        other.publish(topic, "still here")
    m = sub.next(timeout=10)
    assert isinstance(m, drift.Message) and m.text == "still here"
    sub.close()


def test_headers_are_accepted(any_server: drift.Server, topic: str) -> None:
    with client_for(any_server, headers={"X-Test": "1"}) as c:
        assert c.publish(topic, "x").seq == 1
    with client_for(any_server, headers=[("X-Test", "2")]) as c:
        assert c.publish(topic, "x").seq == 2
    with pytest.raises(drift.InvalidArgument):
        client_for(any_server, headers={"bad name": "x"})


def test_message_id_value() -> None:
    a = drift.MessageId(3, 4)
    assert (a.epoch, a.seq) == (3, 4)
    assert str(a) == "3-4"
    assert repr(a) == "MessageId(epoch=3, seq=4)"
    assert drift.MessageId.parse(" 3-4 ") == a
    assert a != drift.MessageId(3, 5) and a < drift.MessageId(3, 5)
    assert hash(a) == hash(drift.MessageId(3, 4))
    assert pickle.loads(pickle.dumps(a)) == a
    assert len({a, drift.MessageId(3, 4)}) == 1
    with pytest.raises(drift.InvalidArgument):
        drift.MessageId.parse("3:4")


def test_message_pickles_and_compares(client: drift.Client, topic: str) -> None:
    with client.subscribe(topic) as sub:
        client.publish(topic, b"\x00payload")
        client.publish(topic, b"\x00payload")
        first, second = sub.next(timeout=5), sub.next(timeout=5)
    assert isinstance(first, drift.Message) and isinstance(second, drift.Message)
    copy = pickle.loads(pickle.dumps(first))
    assert isinstance(copy, drift.Message)
    assert copy == first and hash(copy) == hash(first)
    assert (copy.data, copy.id, copy.time_us) == (first.data, first.id, first.time_us)
    assert first != second, "the same payload, another id"
    assert first != first.data and len({first, copy, second}) == 2


def test_gap_value_is_comparable() -> None:
    # Gaps only come from subscriptions; see test_history.py. The class is
    # exported and documented for isinstance checks.
    assert drift.Gap.__module__ == "drift"
    assert drift.Message.__module__ == "drift"


def test_timeouts_while_reading_lose_nothing(client: drift.Client, topic: str) -> None:
    n = 100
    with client.subscribe(topic) as sub:
        publisher = threading.Thread(
            target=lambda: [client.publish(topic, str(i)) for i in range(n)]
        )
        publisher.start()
        got: list[int] = []
        while len(got) < n:
            item = sub.next(timeout=0.0005)
            if item is not None:
                assert isinstance(item, drift.Message)
                got.append(int(item.text))
        publisher.join(10)
    assert got == list(range(n))
