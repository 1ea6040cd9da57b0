"""Bounded hand-overs: the one place where work moves between threads or processes.

Every hand-over is bounded (a few items in flight, never the whole export) and stops early
cleanly (a consumer that stops leaves no thread reading and no file open):

- ``read_ahead``: an iterator run in a thread, a few items ahead of its consumer (the query
  reads the next chunk of rows while this one is written).
- ``window``: work submitted a few items ahead, taken in order (the Files ZIP opens the next
  file on a thread; the Annotated Files ZIP draws images in worker processes).
- ``ChunkPipe`` and ``DownloadCapacity``: an HTTP download's bytes, from its producer
  thread to the event loop that sends them.

An HTTP download runs its producer (an export writing CSV or ZIP bytes) in a thread of its
own and sends the bytes from the event loop. Two bounds keep any number of clients from
starving the server:

- ``DownloadCapacity``: at most ``slots`` producers run at once, each on a thread of a pool
  of exactly that size (never asyncio's default executor, which Tornado and Panel share);
  up to ``waiting`` more requests wait for a slot, at most ``wait_seconds``; the rest are
  turned away at once (the route answers 503 with Retry-After).
- ``ChunkPipe``: the producer hands ~1 MiB chunks to an ``asyncio.Queue`` of a few chunks;
  the sender awaits it without taking a thread. A stopped download (client gone, stalled
  or failed) makes the producer's next write raise ``DownloadCancelled``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

T = TypeVar("T")

CHUNK = 1 << 20
PIPE_CHUNKS = 4  # at most this many chunks wait between the producer and the socket
PUT_POLL = 0.25  # seconds: how often a producer blocked on a full pipe checks for a stop


def read_ahead(source: Iterator[T], depth: int = 1, name: str = "read-ahead") -> Iterator[T]:
    """Run ``source`` in a thread, ``depth`` items ahead of the consumer.

    Errors reach the consumer in order; when the consumer stops early, the thread finishes
    the item it is reading and stops (so a reader is never left mid-answer), and the
    source's own cleanup (a generator's ``finally``) runs in that thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in source:
                items.put(item)
                if stop.is_set():  # the consumer stopped while this item was read or put
                    return
            items.put(done)
        except BaseException as exc:  # handed to the consumer
            items.put(exc)
        finally:
            if hasattr(source, "close"):
                source.close()  # a generator's cleanup runs here, in its own thread

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a waiting put, then let the thread end
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.05)
        thread.join()


def window(
    work: Iterable[T], ahead: int, dropped: Callable[[T], None] | None = None
) -> Iterator[T]:
    """``work``'s items in order, each taken from it ``ahead`` items before it is yielded.

    ``work`` submits as it is iterated (``executor.submit(...)`` per item, say), so up to
    ``ahead`` items are in flight while the consumer handles one; it is iterated on the
    calling thread (it may read a database cursor). A consumer that stops early leaves the
    items taken ahead to ``dropped`` (to close what they opened)."""
    pending: deque[T] = deque()
    try:
        for entry in work:
            pending.append(entry)
            if len(pending) > ahead:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
    finally:
        if dropped is not None:
            for entry in pending:
                with contextlib.suppress(BaseException):
                    dropped(entry)


class InlineExecutor:
    """Runs submitted work at once, on the calling thread: a pool of one, with no pool."""

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def submit(self, fn, *args) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


class DownloadCancelled(Exception):
    """The download stopped (client gone or stalled); the producer stops at its next write."""


class ChunkPipe(io.RawIOBase):
    """A write-only binary stream whose chunks are awaited on the event loop ``loop``."""

    _END = object()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=PIPE_CHUNKS)
        self._buffer = bytearray()
        self._cancelled = threading.Event()

    # -- the producer's side (a worker thread) ------------------------------------------------

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._cancelled.is_set():
            raise DownloadCancelled("the download was stopped")
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def finish(self, error: BaseException | None = None) -> None:
        """The end of the stream: the rest of the buffer, then the end or the error."""
        if error is None and self._buffer:
            self._put(bytes(self._buffer))
        self._buffer.clear()
        self._put(error if error is not None else self._END)

    def _put(self, item) -> None:
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            try:
                future.result(timeout=PUT_POLL)
                return
            except concurrent.futures.TimeoutError:
                if self._cancelled.is_set():
                    future.cancel()
                    raise DownloadCancelled("the download was stopped") from None

    # -- the sender's side (the event loop) ---------------------------------------------------

    def cancel(self) -> None:
        """Stop the producer at its next write, and a sender waiting for a chunk (call on
        the event loop)."""
        self._cancelled.set()
        with contextlib.suppress(asyncio.QueueFull):  # full: the sender is not waiting
            self._queue.put_nowait(DownloadCancelled("the download was stopped"))

    async def get(self) -> bytes | None:
        """The next chunk, None at the end; re-raises the producer's error (or the stop)."""
        item = await self._queue.get()
        if item is self._END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item


class DownloadCapacity:
    """How many downloads produce at once, and how many may wait for a turn."""

    def __init__(self, slots: int, waiting: int, wait_seconds: float) -> None:
        if slots < 1 or waiting < 0:
            raise ValueError("a download capacity needs at least one slot")
        self.slots = slots
        self.waiting = waiting
        self.wait_seconds = wait_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(slots, thread_name_prefix="download")
        self._free = asyncio.Semaphore(slots)
        self._queued = 0

    async def acquire(self, gone: asyncio.Event | None = None) -> bool:
        """Wait for a slot; False when the queue is full, the wait runs out or ``gone`` is
        set (the client left: its place in the queue goes to the next one at once)."""
        if self._free.locked() and self._queued >= self.waiting:
            return False
        self._queued += 1
        taking = asyncio.ensure_future(self._free.acquire())
        leaving = asyncio.ensure_future((gone or asyncio.Event()).wait())
        try:
            await asyncio.wait(
                (taking, leaving), timeout=self.wait_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._queued -= 1
            leaving.cancel()
            if not taking.done():
                taking.cancel()
            # A slot taken in the same moment as the stop is a slot all the same: it is
            # given back unless this client still wants it.
            took = (await asyncio.gather(taking, return_exceptions=True))[0] is True
        if took and gone is not None and gone.is_set():
            self.release()
            return False
        return took

    def release(self) -> None:
        self._free.release()

    def start(self, produce: Callable[[BinaryIO], object], pipe: ChunkPipe) -> asyncio.Future:
        """Run ``produce(pipe)`` on a slot's thread; the pipe ends with its result or error."""

        def run() -> None:
            error = None
            try:
                produce(pipe)
            except BaseException as exc:  # handed to the sender, which fails loudly
                error = exc
            with contextlib.suppress(DownloadCancelled):
                pipe.finish(error)

        return asyncio.get_running_loop().run_in_executor(self._pool, run)
