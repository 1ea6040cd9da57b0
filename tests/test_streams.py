"""The bounded hand-overs of dashboard.streams: in order, bounded, and clean when stopped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from dashboard.streams import InlineExecutor, window


def test_a_window_keeps_order_and_takes_exactly_ahead_items_early():
    taken: list[int] = []

    def work():
        for number in range(10):
            taken.append(number)
            yield number

    seen = []
    for item in window(work(), ahead=3):
        seen.append(item)
        assert len(taken) == min(item + 4, 10)  # the one handled, and three taken ahead
    assert seen == list(range(10))


def test_a_window_of_none_ahead_takes_one_at_a_time():
    taken: list[int] = []

    def work():
        for number in range(3):
            taken.append(number)
            yield number

    for item in window(work(), ahead=0):
        assert taken[-1] == item


def test_a_consumer_that_stops_leaves_what_was_taken_ahead_to_dropped():
    dropped: list[int] = []
    stream = window(iter(range(100)), ahead=4, dropped=dropped.append)
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()
    assert dropped == [2, 3, 4, 5]


def test_a_failing_drop_does_not_hide_the_others():
    dropped: list[int] = []

    def drop(item: int) -> None:
        if item == 1:
            raise OSError("cannot close")
        dropped.append(item)

    stream = window(iter(range(10)), ahead=2, dropped=drop)
    assert next(stream) == 0
    stream.close()
    assert dropped == [2]


def test_an_error_of_the_work_reaches_the_consumer_after_the_items_before_it():
    def work():
        yield 1
        yield 2
        raise ValueError("broken source")

    stream = window(work(), ahead=5)
    with pytest.raises(ValueError, match="broken source"):
        list(stream)


def test_a_window_over_a_thread_pool_runs_ahead_in_parallel_and_yields_in_order():
    started = threading.Semaphore(0)
    release = threading.Event()

    def slow(number: int) -> int:
        started.release()
        release.wait(5)
        return number * 10

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = window((pool.submit(slow, n) for n in range(6)), ahead=2)
        first = next(futures)
        assert all(started.acquire(timeout=5) for _ in range(3))  # three in flight at once
        release.set()
        assert [first.result(), *(f.result() for f in futures)] == [0, 10, 20, 30, 40, 50]


def test_the_inline_executor_runs_at_once_and_keeps_errors_in_the_future():
    with InlineExecutor() as pool:
        assert pool.submit(lambda a, b: a + b, 1, 2).result() == 3
        failed = pool.submit(lambda: 1 / 0)
    assert failed.done()
    with pytest.raises(ZeroDivisionError):
        failed.result()


def test_a_download_that_leaves_while_waiting_gives_its_place_in_the_queue_at_once():
    from dashboard.streams import DownloadCapacity

    async def scenario() -> None:
        capacity = DownloadCapacity(slots=1, waiting=1, wait_seconds=30)
        assert await capacity.acquire()  # the one slot is busy
        gone = asyncio.Event()
        waiting = asyncio.ensure_future(capacity.acquire(gone))
        await asyncio.sleep(0.01)
        assert not await capacity.acquire()  # the queue is full: turned away at once
        gone.set()  # the waiting client closes its connection
        assert await asyncio.wait_for(waiting, 1) is False
        after = asyncio.ensure_future(capacity.acquire())  # its place is free again
        await asyncio.sleep(0.01)
        assert not after.done()
        capacity.release()
        assert await asyncio.wait_for(after, 1) is True

    asyncio.run(scenario())


def test_a_slot_freed_as_its_waiter_leaves_is_not_lost():
    from dashboard.streams import DownloadCapacity

    async def scenario() -> None:
        capacity = DownloadCapacity(slots=1, waiting=1, wait_seconds=30)
        assert await capacity.acquire()
        gone = asyncio.Event()
        waiting = asyncio.ensure_future(capacity.acquire(gone))
        await asyncio.sleep(0.01)
        capacity.release()  # the slot is handed to the waiter ...
        gone.set()  # ... in the same moment as it leaves
        assert await asyncio.wait_for(waiting, 1) is False
        assert await asyncio.wait_for(capacity.acquire(), 1) is True  # the slot is free

    asyncio.run(scenario())


def test_a_wait_for_a_slot_ends_after_wait_seconds():
    from dashboard.streams import DownloadCapacity

    async def scenario() -> None:
        capacity = DownloadCapacity(slots=1, waiting=1, wait_seconds=0.2)
        assert await capacity.acquire()
        assert await asyncio.wait_for(capacity.acquire(asyncio.Event()), 2) is False
        capacity.release()
        assert await asyncio.wait_for(capacity.acquire(), 1) is True

    asyncio.run(scenario())
