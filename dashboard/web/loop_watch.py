"""A watch on the server's event loop: what held it, and for how long.

    assess-export serve --watch-loop 50

Every static file, page request and websocket message of every session is served by one
event loop per server process; anything that runs on it longer than a few tens of
milliseconds makes every other user wait (SPEC 4a). With ``--watch-loop MS`` a thread pings
the loop every ``MS / 2`` milliseconds; when a ping is not answered within ``MS``, it samples
the loop thread's Python stack every few milliseconds until the loop answers, then logs one
warning (logger ``dashboard.web.loop_watch``):

    event loop held 312 ms (its thread ran 41 ms of it, the process 288 ms); 61 samples;
    entry bokeh/server/views/doc_handler.py:get; most at panel/io/document.py:unlocked (23) ...

"its thread ran" is the loop thread's own CPU time over the hold: much less than the hold
means the thread was waiting (for the GIL, which a worker thread held, or for a CPU), not
working. Garbage collections longer than ``MS`` are logged too: they hold every thread.
The watch costs a wake-up per ping and nothing on the loop but a no-op callback.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePath

log = logging.getLogger(__name__)
SAMPLE_SECONDS = 0.005
# Frames of these are plumbing: a hold is named by the first frame outside them.
PLUMBING = ("asyncio", "threading.py", "selectors.py", "tornado/ioloop.py", "contextlib.py")


@dataclass
class Hold:
    """One time the loop did not answer: how long, its thread's CPU meanwhile, where."""

    seconds: float
    thread_cpu: float
    process_cpu: float
    entries: Counter = field(default_factory=Counter)  # outermost frame of the callback
    places: Counter = field(default_factory=Counter)  # innermost frame sampled

    def describe(self) -> str:
        samples = sum(self.places.values())
        entry = self.entries.most_common(1)[0][0] if self.entries else "?"
        places = ", ".join(f"{place} ({count})" for place, count in self.places.most_common(3))
        return (
            f"event loop held {self.seconds * 1000:.0f} ms (its thread ran "
            f"{self.thread_cpu * 1000:.0f} ms of it, the process {self.process_cpu * 1000:.0f} "
            f"ms); {samples} samples; entry {entry}; most at {places or '?'}"
        )


def frame_name(frame) -> str:
    """``package/module.py:function`` of a frame: the last three parts of its file's path."""
    parts = PurePath(frame.f_code.co_filename).parts[-3:]
    return f"{'/'.join(parts)}:{frame.f_code.co_name}"


def _is_plumbing(name: str) -> bool:
    return any(part in name for part in PLUMBING)


def entry_and_place(frame) -> tuple[str, str]:
    """What the loop called (the first frame inside the loop's callback runner that is not
    asyncio's or Tornado's own) and where it was when sampled (the innermost frame)."""
    names = []  # innermost first
    while frame is not None:
        names.append(frame_name(frame))
        frame = frame.f_back
    place = names[0]
    outward = list(reversed(names))
    runner = max((i for i, name in enumerate(outward) if name.endswith("events.py:_run")),
                 default=-1)  # fmt: skip
    inside = [name for name in outward[runner + 1 :] if not _is_plumbing(name)]
    return (inside[0] if inside else place), place


class LoopWatch:
    """Pings ``loop`` from a daemon thread; a ping unanswered for ``threshold`` seconds is a
    hold, sampled until it ends and handed to ``report`` (by default a logged warning)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, loop_thread: int, threshold: float,
                 report=None) -> None:  # fmt: skip
        self.loop, self.loop_thread, self.threshold = loop, loop_thread, threshold
        self.report = report or (lambda hold: log.warning(hold.describe()))
        self._clock = time.pthread_getcpuclockid(loop_thread)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)

    def start(self) -> LoopWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stopped.wait(self.threshold / 2):
            answered = threading.Event()
            sent = time.monotonic()
            thread_cpu, process_cpu = time.clock_gettime(self._clock), time.process_time()
            try:
                self.loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed: the server stopped
                return
            if answered.wait(self.threshold):
                continue
            hold = Hold(0.0, 0.0, 0.0)
            while not answered.wait(SAMPLE_SECONDS):
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    entry, place = entry_and_place(frame)
                    hold.entries[entry] += 1
                    hold.places[place] += 1
                del frame
                if self._stopped.is_set() and not answered.is_set():
                    return  # the server stopped during the hold; one that ended is reported
            hold.seconds = time.monotonic() - sent
            hold.thread_cpu = time.clock_gettime(self._clock) - thread_cpu
            hold.process_cpu = time.process_time() - process_cpu
            self.report(hold)


def watch_running_loop(threshold_ms: float) -> LoopWatch:
    """Start watching the event loop this is called on (from a callback on it)."""
    loop = asyncio.get_running_loop()
    logging.basicConfig()  # the warnings reach stderr even where nothing set logging up
    watch = LoopWatch(loop, threading.get_ident(), threshold_ms / 1000).start()
    watch_collections(threshold_ms / 1000)
    log.warning("watching the event loop: holds over %.0f ms are logged", threshold_ms)
    return watch


def watch_collections(threshold: float):
    """Log every garbage collection longer than ``threshold`` seconds: it holds every thread,
    the event loop's too, however the hold is attributed to the frame it interrupted. Returns
    the callback it added to ``gc.callbacks``."""
    started: list[float] = []

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            took = time.perf_counter() - started[0]
            if took > threshold:
                log.warning(
                    "garbage collection of generation %d took %.0f ms (%d objects freed)",
                    info["generation"], took * 1000, info["collected"],
                )  # fmt: skip

    gc.callbacks.append(timed)
    return timed
