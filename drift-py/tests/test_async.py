"""drift.AsyncClient on asyncio: the twin of test_client.py, plus many
concurrent subscriptions and cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

import drift
from conftest import async_client_for


@pytest.fixture
def aclient(any_server: drift.Server) -> drift.AsyncClient:
    return async_client_for(any_server)


async def test_round_trip(aclient: drift.AsyncClient, topic: str) -> None:
    async with aclient as client:
        async with client.subscribe(topic) as sub:
            sent = await client.publish(topic, b"hello")
            await client.publish(topic, "world")
            got = []
            async for item in sub:
                assert isinstance(item, drift.Message)
                got.append(item)
                if len(got) == 2:
                    break
        assert [m.data for m in got] == [b"hello", b"world"]
        assert got[0].id == sent
        assert sub.last_id == got[1].id
        assert sub.end_reason == "closed"


async def test_await_subscribe(aclient: drift.AsyncClient, topic: str) -> None:
    sub = await aclient.subscribe(topic)
    assert isinstance(sub, drift.AsyncSubscription)
    await aclient.publish(topic, "x")
    item = await sub.__anext__()
    assert isinstance(item, drift.Message) and item.text == "x"
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await sub.__anext__()


async def test_topic_management(aclient: drift.AsyncClient, topic: str) -> None:
    assert await aclient.exists(topic) is False
    assert await aclient.create(topic, history_length=5) is True
    assert await aclient.create(topic, history_length=5) is False
    ids = await aclient.publish_many(topic, [b"a", b"b"])
    assert [i.seq for i in ids] == [1, 2]
    assert abs(await aclient.time() - time.time()) < 60
    await aclient.delete(topic)
    with pytest.raises(drift.NotFound) as e:
        await aclient.delete(topic)
    assert e.value.status == 404


async def test_history_and_gap(aclient: drift.AsyncClient, topic: str) -> None:
    await aclient.create(topic, history_length=2)
    ids = [await aclient.publish(topic, f"m{i}") for i in range(1, 6)]
    items = []
    async with aclient.subscribe(topic, after=ids[0]) as sub:
        async for item in sub:
            items.append(item)
            if len(items) == 3:
                break
    gap, m4, m5 = items
    assert isinstance(gap, drift.Gap) and gap.reason == "expired"
    assert (gap.from_seq, gap.to_seq) == (2, 3)
    assert isinstance(m4, drift.Message) and isinstance(m5, drift.Message)
    assert [m4.text, m5.text] == ["m4", "m5"]


async def test_server_end_stops_async_for(aclient: drift.AsyncClient, topic: str) -> None:
    await aclient.publish(topic, "x")
    async with aclient.subscribe(topic) as sub:
        await aclient.delete(topic)
        assert [item async for item in sub] == []
        assert sub.end_reason == "deleted"


async def test_many_concurrent_subscriptions(server: drift.Server, topic: str) -> None:
    n = 200
    async with async_client_for(server) as client:
        subs = [client.subscribe(topic) for _ in range(n)]
        # Opened concurrently over the one HTTP/2 connection.
        await asyncio.gather(*(s.__aenter__() for s in subs))
        sent = [await client.publish(topic, f"m{i}") for i in range(3)]

        async def read_three(sub: drift.AsyncSubscription) -> list[drift.MessageId]:
            got = []
            async for item in sub:
                assert isinstance(item, drift.Message)
                assert item.id is not None
                got.append(item.id)
                if len(got) == 3:
                    break
            sub.close()
            return got

        results = await asyncio.gather(*(read_three(s) for s in subs))
    assert len(results) == n
    assert all(r == sent for r in results)


async def test_cancelled_anext_leaves_subscription_usable(
    aclient: drift.AsyncClient, topic: str
) -> None:
    async with aclient.subscribe(topic) as sub:
        waiting = asyncio.ensure_future(sub.__anext__())
        done, _ = await asyncio.wait({waiting}, timeout=0.1)
        assert not done  # nothing published yet
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await aclient.publish(topic, "after cancel")
        item = await asyncio.wait_for(sub.__anext__(), 10)
        assert isinstance(item, drift.Message) and item.text == "after cancel"


async def test_close_wakes_pending_anext(aclient: drift.AsyncClient, topic: str) -> None:
    sub = await aclient.subscribe(topic)
    pending = asyncio.ensure_future(sub.__anext__())
    done, _ = await asyncio.wait({pending}, timeout=0.05)
    assert not done
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 10)
    assert sub.end_reason == "closed"


async def test_async_errors(server: drift.Server, topic: str) -> None:
    client = drift.AsyncClient(server.url, timeout=10)  # system roots: untrusted
    with pytest.raises(drift.TLSError):
        await client.publish(topic, "x")
    with pytest.raises(drift.InvalidArgument):
        await async_client_for(server).publish("", "x")


async def test_timeouts_while_reading_lose_nothing(aclient: drift.AsyncClient, topic: str) -> None:
    # `asyncio.wait_for` cancels `__anext__` on timeout, sometimes just as
    # an item arrives: that item must come with the next call, in order.
    n = 100
    async with aclient.subscribe(topic) as sub:

        async def publish() -> None:
            for i in range(n):
                await aclient.publish(topic, str(i))

        publisher = asyncio.ensure_future(publish())
        got: list[int] = []
        while len(got) < n:
            try:
                item = await asyncio.wait_for(sub.__anext__(), 0.0005)
            except asyncio.TimeoutError:
                continue
            assert isinstance(item, drift.Message)
            got.append(int(item.text))
        await publisher
    assert got == list(range(n))
