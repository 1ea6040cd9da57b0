"""Importing the package starts nothing and changes no process-wide state: the server's
start-up (``dashboard.web.server.start_up``), a job worker's start and the CLI's export do that,
each explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

# Runs in a fresh interpreter: the state of the process before and after importing every
# module under dashboard.
IMPORT_ALL = r"""
import gc, importlib, json, pkgutil, signal, threading

import pyarrow as pa
from huey import Huey
from PIL import Image


def state():
    return {
        "threads": sorted(thread.name for thread in threading.enumerate()),
        "arrow_pool": pa.default_memory_pool().backend_name,
        "pillow_blocks_max": Image.core.get_blocks_max(),
        "signal_handlers": [
            repr(signal.getsignal(signum)) for signum in (signal.SIGINT, signal.SIGTERM)
        ],
        "huey_instances": sum(isinstance(thing, Huey) for thing in gc.get_objects()),
    }


def failed(name):
    raise ImportError(f"importing {name} failed")


before = state()
import dashboard

modules = [
    info.name
    for info in pkgutil.walk_packages(dashboard.__path__, "dashboard.", onerror=failed)
]
for name in modules:
    importlib.import_module(name)
from dashboard.jobs import tasks

after = state()
queue = getattr(tasks, "queue", None)  # the lazy maker of the job queue (None: none such)
after["queues_made"] = None if queue is None else queue.cache_info().currsize
print(json.dumps({"modules": modules, "before": before, "after": after}))
"""


def run_fresh(script: str, cwd: Path, data: Path) -> dict:
    """Run ``script`` in a fresh interpreter with only ASSESS_DATA_DIR of our settings, in
    ``cwd`` (a relative default such as ./data would land there, not in the checkout); the
    JSON report its last line prints."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASSESS_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**env, "ASSESS_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_every_module_starts_nothing_and_changes_no_process_state(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    report = run_fresh(IMPORT_ALL, tmp_path, data)
    # Every front end is among them: the served app, the routes, the server, the CLI, the jobs.
    for name in ("dashboard.app", "dashboard.web.routes", "dashboard.web.server", "dashboard.cli"):
        assert name in report["modules"]
    assert "dashboard.jobs.tasks" in report["modules"]
    before, after = report["before"], report["after"]
    assert after["threads"] == before["threads"]
    assert after["arrow_pool"] == before["arrow_pool"]
    assert after["pillow_blocks_max"] == before["pillow_blocks_max"]
    assert after["signal_handlers"] == before["signal_handlers"]
    assert after["huey_instances"] == 0
    assert after["queues_made"] == 0
    assert sorted(path.name for path in data.rglob("*")) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data"]


# The server's start-up in a fresh interpreter whose SIGTERM handler is its own (as Panel's
# server installs one): what it applies and starts, and the handlers it leaves.
START_UP = r"""
import json, signal, threading

import pyarrow as pa
from PIL import Image

from dashboard.jobs import tasks
from dashboard.runtime import app_store
from dashboard.web.server import start_up


def own_handler(signum, frame):
    pass


signal.signal(signal.SIGTERM, own_handler)
start_up()
report = {
    "threads": sorted(thread.name for thread in threading.enumerate()),
    "arrow_pool": pa.default_memory_pool().backend_name,
    "pillow_blocks_max": Image.core.get_blocks_max(),
    "sigterm_kept": signal.getsignal(signal.SIGTERM) is own_handler,
    "sigint_kept": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
    "queues_made": tasks.queue.cache_info().currsize,
}
tasks.start_background_work(app_store()).stop(graceful=True)  # the one already started
print(json.dumps(report))
"""


def test_the_server_start_up_applies_the_settings_starts_the_workers_and_keeps_the_signals(
    tmp_path,
):
    data = tmp_path / "data"
    report = run_fresh(START_UP, tmp_path, data)
    assert report["threads"] == ["MainThread", "Scheduler", "Worker-1"]
    assert report["arrow_pool"] == "system"
    assert report["pillow_blocks_max"] >= 64
    assert report["sigterm_kept"] and report["sigint_kept"]
    assert report["queues_made"] == 1
    assert (data / "jobs.sqlite3").exists() and (data / "assess.db").exists()
