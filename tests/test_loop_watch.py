"""The event loop's watch (``assess-export serve --watch-loop MS``) and the start-up heap
kept out of the garbage collector's full passes: what shows, and lessens, the waits every
user has when one callback holds the server's event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import urllib.request

from dashboard.web.loop_watch import LoopWatch, watch_collections
from dashboard.web.server import freeze_start_up_heap
from tests.helpers import served_app


def compute_on_the_loop(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(1000))


def sleep_on_the_loop(seconds: float) -> None:
    time.sleep(seconds)


def watched(*callbacks) -> list:
    """Run ``callbacks`` (function, seconds) on an event loop, one after another with a pause
    between, under a watch of 50 ms; the holds it reported. (Each pause's timer starts
    before its callback runs.)"""
    holds: list = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        watch = LoopWatch(loop, threading.get_ident(), 0.05, report=holds.append).start()
        try:
            for function, seconds in callbacks:
                await asyncio.sleep(0.2)
                loop.call_soon(function, seconds)
            await asyncio.sleep(seconds + 0.3)  # the last hold ends, and is reported, first
        finally:
            watch.stop()

    asyncio.run(run())
    return holds


def test_a_hold_is_reported_with_what_held_the_loop_and_whether_it_worked():
    holds = watched((compute_on_the_loop, 0.4), (sleep_on_the_loop, 0.4))
    assert len(holds) == 2, [hold.describe() for hold in holds]
    working, waiting = holds
    assert 0.35 < working.seconds < 1.5
    assert working.thread_cpu > 0.3  # it computed: its thread ran
    assert working.entries.most_common(1)[0][0].endswith(":compute_on_the_loop")
    assert "compute_on_the_loop" in working.describe()
    assert 0.35 < waiting.seconds < 1.5
    assert waiting.thread_cpu < 0.1  # it slept: its thread waited
    assert waiting.entries.most_common(1)[0][0].endswith(":sleep_on_the_loop")


def test_short_callbacks_are_not_reported():
    assert watched(*[(compute_on_the_loop, 0.01)] * 5) == []


def test_a_garbage_collection_longer_than_the_threshold_is_logged(caplog):
    timed = watch_collections(0.0)
    try:
        with caplog.at_level(logging.WARNING, logger="dashboard.web.loop_watch"):
            gc.collect()
    finally:
        gc.callbacks.remove(timed)
    assert any("garbage collection of generation 2 took" in r.message for r in caplog.records)


def test_the_start_up_heap_is_kept_out_of_full_collections():
    try:
        freeze_start_up_heap()
        assert gc.get_freeze_count() > 10_000  # the modules of Panel, Bokeh, pandas, the app
    finally:
        gc.unfreeze()


def test_the_server_watches_its_loop_when_asked(tmp_path):
    (tmp_path / "data").mkdir()
    env = {"ASSESS_DATA_DIR": str(tmp_path / "data")}
    with served_app(env, extra_args=("--watch-loop", "40")) as base:
        urllib.request.urlopen(f"{base}/app", timeout=30).read()
        log = (tmp_path / "data" / "serve.log").read_text()
    assert "watching the event loop: holds over 40 ms are logged" in log
