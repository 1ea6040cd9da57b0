"""Helpers for tests that serve the app: free ports and a served panel process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_app(
    env: dict[str, str],
    timeout: float = 90,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    log_name: str = "serve.log",
):
    """The dashboard served as `make serve` serves it (`assess-export serve`), on a free
    port; yields the base URL.

    ``extra_args`` go to panel serve (e.g. ``--basic-auth``, ``--cookie-secret``); its
    output goes to ``log_name`` in the data folder."""
    port = port or free_port()
    command = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), *extra_args]
    log_path = Path(env["ASSESS_DATA_DIR"]) / log_name
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, f"{base}/app", log_path, timeout)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=30).read()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")
                raise RuntimeError(f"panel serve did not start:\n{output[-3000:]}") from None
            time.sleep(0.5)


def marked_processes(mark: str) -> list[int]:
    """The live processes whose environment holds ``ASSESS_TEST_MARK=mark``: a test gives the
    processes it starts a mark, and whatever they start (reader processes, drawing pools)
    inherits it, so an orphan left behind is found even after its parent is gone."""
    needle = f"ASSESS_TEST_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if state != "Z" and needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def wait_until_no_marked_processes(mark: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes left behind: {left}"


def empty_redis_or_skip(url: str) -> str:
    """Empty the Redis database ``url`` (each test module has its own) and return it; skip
    when Redis is not reachable, except under CI=true, where it must be."""
    import pytest
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Redis at 127.0.0.1:6379 is not reachable")
    return url
