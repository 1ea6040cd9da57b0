"""The processes of deploy/processes, started as a deployment starts them (``deploy/run NAME``),
for tests/test_deployment.py: one log file each, a readiness wait, and a stop that always ends
the process (and whatever it started)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
RUN = DEPLOY / "run"
PROCESS_LINE = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*):\s*(?P<command>\S.*)$")


def process_commands() -> dict[str, str]:
    """The NAME: COMMAND lines of deploy/processes."""
    commands = {}
    for line in (DEPLOY / "processes").read_text().splitlines():
        if found := PROCESS_LINE.match(line):
            commands[found["name"]] = found["command"]
    return commands


def deployment_env(env: dict[str, str]) -> dict[str, str]:
    """The test's environment with ``env`` on top, and this virtual environment's programs
    (assess-export, huey_consumer) first on the PATH, as a deployment image has them."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **env}


class Process:
    """``deploy/run NAME`` in a session of its own, its output in ``log``."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                [str(RUN), self.name],
                cwd=ROOT,
                env=deployment_env(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_url(self, url: str, timeout: float) -> None:
        """Until ``url`` answers 200 (the server's /liveness)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            self._check_alive(deadline, f"{url} did not answer")
            time.sleep(0.2)

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            self._check_alive(deadline, f"{text!r} did not appear in its output")
            time.sleep(0.1)

    def _check_alive(self, deadline: float, what: str) -> None:
        assert self.popen is not None
        if self.popen.poll() is not None or time.monotonic() > deadline:
            ended = self.popen.poll()
            state = f"it ended with {ended}" if ended is not None else "timed out"
            raise AssertionError(
                f"deploy/run {self.name}: {what} ({state}):\n{self.output()[-4000:]}"
            )

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, as an orchestrator stops a container; SIGKILL to the whole process group
        after ``timeout`` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # any child left in its group
        self.popen.wait()
        self.popen = None


def run_once(name: str, env: dict[str, str], log: Path, timeout: float) -> None:
    """A one-off process (``release``) to its end; its output is in the failure message."""
    process = Process(name, env, log).start()
    try:
        assert process.popen is not None
        code = process.popen.wait(timeout=timeout)
    finally:
        process.stop()
    assert code == 0, f"deploy/run {name} ended with {code}:\n{process.output()[-4000:]}"


@contextmanager
def running(processes: list[Process]):
    """Stops every process on the way out, whatever happened."""
    try:
        yield processes
    finally:
        for process in processes:
            process.stop()
