"""Many users at once (issue 11): first paint, option changes and server memory per session.

    .venv/bin/python bench/bench_sessions.py [--changes 8] [--server-args "--num-threads 4"]
                                             [--out bench/RESULTS-sessions.md] [--one-user]
                                             [--nice-browsers] [--profile FILE]
                                             [--servers 2]

Serves the demo data (a throwaway data folder, `assess-export serve` as `make serve` runs it,
loopback only, no auth: the local user is admin) and drives Debian's Chromium through
Playwright, one browser context per user. Measured in one run:

- one user: the first byte of ``/app`` (the HTTP response to the page request, median of
  5); first paint (from ``goto`` to the Overview shown: its numbers and its six chart
  canvases); the Admin tab's counts after navigating to ``?tab=admin``; an option change
  (a click on Assessments or Layout) to the settled preview and link (the counts of the new
  options, computed here with the query layer on the same store, and a download link whose
  signed options are the new ones), median over ``--changes`` changes;
- 5 and 10 concurrent sessions, each changing options ``--changes`` times as fast as the
  preview settles (no think time): median and p95 of change to settled preview;
- 1 browser and 9 browserless sessions changing options at once (bench/protocol_clients.py:
  Bokeh's own client speaking the browser's protocol, nothing drawn, in a process and a
  scheduling group of its own): the browser's changes, and the server's answers to the
  others (from the change sent to the settled preview in the client's document): the users
  whose browsers are on machines of their own, which this machine cannot give 10 Chromiums;
- 5 concurrent page loads: each page's first paint;
- while all that runs, a 1 KB static file (Panel's ``booleanstatus.css``) is fetched every
  100 ms on a fresh connection: its longest wait per phase;
- server RSS (the ``assess-export serve`` process) as 10 sessions are opened one by one and
  kept open: the growth per additional session (least-squares slope over sessions 1-10).

With ``--servers 2`` two server processes serve one data folder, and each new page goes to
the next in turn: what the deployment's several servers behind a proxy with sticky sessions
(deploy/) do for the event loops, on this one machine. With ``--server-args "--watch-loop
50"`` the report adds each phase's event-loop holds and long garbage collections.

Each wait is bounded (60 s; a miss counts as 60 s and is reported). Chromium runs on the
same 2 cores as the server, so concurrent figures include the browser's own rendering of
every page; the server's CPU time per phase is reported to tell them apart, and
``--nice-browsers`` starts Chromium at the lowest priority and lowers the scheduling group
of each of its processes (Linux's autogroup: without that, the nice of a process in a group of
its own ranks it against nothing), so that the server and the probe get the cores first (the
nearest this machine comes to browsers on other machines).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from dashboard.config import Settings  # noqa: E402
from dashboard.export import ExportQuery  # noqa: E402
from dashboard.importers.demo import DEMO_WORKFLOW, create_demo  # noqa: E402
from dashboard.store.db import open_store  # noqa: E402
from tests.helpers import free_port, served_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 1000}
STATIC = "/static/extensions/panel/css/booleanstatus.css"  # 1,006 bytes
WAIT_MS = 60_000
MISS = WAIT_MS / 1000
SECRET = "bench-sessions-secret"
# --profile: the server runs under pyinstrument, sampling its main thread (the event loop,
# where Bokeh runs every session's callbacks unless --num-threads moves them to a pool).
PROFILED_SERVE = """
import signal, sys
from pathlib import Path
from pyinstrument import Profiler
from dashboard.web.server import main
out = Path(sys.argv.pop(1))
profiler = Profiler(interval=0.001)
signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
profiler.start()
try:
    main(sys.argv[1:])
except KeyboardInterrupt:
    pass
finally:
    profiler.stop()
    out.write_text(profiler.output_text(unicode=False, color=False))
    out.with_suffix(".html").write_text(profiler.output_html())
    profiler.last_session.save(str(out.with_suffix(".pyisession")))
"""
# The option changes a user makes, in turn: (radio label, option, value).
CHANGES = [
    ("All Assessments", "scope", "all"),
    ("Annotations", "layout", "wide"),
    ("Latest Assessments", "scope", "latest"),
    ("Attribute Values and Confidences", "layout", "long"),
]


def next_change(state: dict, index: int) -> tuple[str, str, str]:
    """The ``index``-th change of a session whose page shows the options ``state``: the
    radio's label to click, the option and its new value; ``state`` becomes the options the
    page shows after. A change that would keep an option as it is (sessions start at
    different places of ``CHANGES``) is replaced by the other option's: every change is real."""
    label, option, value = CHANGES[index % len(CHANGES)]
    if state[option] == value:
        label, option, value = CHANGES[(index + 2) % len(CHANGES)]
    state[option] = value
    return label, option, value


TARGETS = {  # metric -> (limit in seconds or MB, how it is compared)
    "first paint (one user)": 2.0,
    "Admin counts visible after navigation (one user)": 3.0,
    "option change to settled preview, median (one user)": 0.5,
    "option change, median (10 sessions)": 1.0,
    "option change, p95 (10 sessions)": 2.0,
    "option change, median (1 browser + 9 browserless sessions)": 1.0,
    "option change, p95 (1 browser + 9 browserless sessions)": 2.0,
    "first paint, slowest of 5 concurrent loads": 4.0,
    "static file, longest wait (whole run)": 0.2,
    "RSS per additional open session (MB)": 40.0,
}

# In-page checks, polled by Chromium itself (Playwright's wait_for_function): they walk
# every shadow root, since Panel renders each component in its own.
DEEP = """
function deepRoots() {
  const roots = [document], stack = [document];
  while (stack.length) {
    for (const el of stack.pop().querySelectorAll('*')) {
      if (el.shadowRoot) { roots.push(el.shadowRoot); stack.push(el.shadowRoot); }
    }
  }
  return roots;
}
function linkOptions() {
  // the options the download link's token is signed for, or null without a link
  for (const root of deepRoots()) {
    const link = root.querySelector('a#export-download');
    const href = link && link.getAttribute('href');
    if (!href || !href.includes('token=')) continue;
    const token = decodeURIComponent(href.split('token=')[1].split('&')[0]);
    let payload = token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    while (payload.length % 4) payload += '=';
    return JSON.parse(atob(payload)).t.options;
  }
  return null;
}
function deepText(selector) {
  for (const root of deepRoots()) {
    const el = root.querySelector(selector);
    if (el) return (el.shadowRoot || el).textContent;
  }
  return null;
}
"""
OVERVIEW_SHOWN = (
    "() => {"
    + DEEP
    + """
  let canvases = 0, numbers = false;
  for (const root of deepRoots()) {
    canvases += root.querySelectorAll('canvas').length;
    if (!numbers && root.textContent && root.textContent.includes('Machine assessments')) {
      numbers = true;
    }
  }
  return numbers && canvases >= 6;
}"""
)
COUNTS_SHOWN = (
    "() => {"
    + DEEP
    + """
  const text = deepText('.preview-counts');
  return !!text && text.includes('estimated size');
}"""
)
SETTLED = (
    "(want) => {"
    + DEEP
    + """
  const text = deepText('.preview-counts');
  if (!text || !text.includes(want.rows + ' rows')) return false;
  const options = linkOptions();
  if (!options || options.scope !== want.scope || options.layout !== want.layout) return false;
  // ... and the preview table of that layout shown, with its rows drawn.
  for (const root of deepRoots()) {
    for (const table of root.querySelectorAll('.preview-' + want.layout)) {
      if (table.offsetParent === null) continue;  // a kept table, hidden
      const inner = table.shadowRoot || table;
      if (inner.querySelector('.tabulator-row')) return true;
    }
  }
  return false;
}"""
)


# What a page shows where a wait for SETTLED ran out: its counts, its link's options and the
# preview tables shown (layout and rows drawn), for the miss's line in the report.
SHOWN = (
    "() => {"
    + DEEP
    + r"""
  const counts = ((deepText('.preview-counts') || '').match(/[\d,]+ rows/) || ['no counts'])[0];
  const signed = linkOptions();
  const options = signed && signed.scope + '/' + signed.layout;
  const tables = [];
  for (const root of deepRoots()) {
    for (const table of root.querySelectorAll('[class*="preview-"]')) {
      if (table.offsetParent === null) continue;
      const inner = table.shadowRoot || table;
      const kind = table.className.match(/preview-(long|wide|members)/);
      if (!kind) continue;  // the counts line, or a table's outer column
      tables.push(kind[0] + ':'
                  + inner.querySelectorAll('.tabulator-row').length);
    }
  }
  const checked = [];
  for (const root of deepRoots()) {
    for (const input of root.querySelectorAll('input[type=radio]:checked')) {
      checked.push(input.parentElement.textContent.trim());
    }
  }
  return 'counts "' + counts + '", link ' + options + ', shown ' + tables.join(' ')
         + ', checked ' + checked.join(' ');
}"""
)

# The probe's loop, run in a process of its own: in this process it would share the GIL with
# Playwright's client of every page, and time that client's work as the server's.
PROBE_LOOP = """
import http.client, sys, time
host, port, path, timeout, out = sys.argv[1:]
with open(out, "a") as samples:
    while True:
        started = time.monotonic()
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=float(timeout))
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            ok = response.status == 200
        except OSError:
            ok = False
        elapsed = time.monotonic() - started
        samples.write(f"{started} {elapsed} {int(ok)}\\n")
        samples.flush()
        time.sleep(max(0.0, 0.1 - elapsed))
"""


@dataclass
class Probe:
    """A small static file fetched every 100 ms on a fresh connection, in a process of its
    own (``PROBE_LOOP``; its times are the system's monotonic clock, as this process's)."""

    base: str
    _out: Path | None = None
    _process: subprocess.Popen | None = None

    def start(self) -> None:
        host, port = urlsplit(self.base).netloc.split(":")
        self._out = Path(tempfile.mkdtemp(prefix="bench-probe-")) / "samples.txt"
        self._out.touch()
        command = [sys.executable, "-c", PROBE_LOOP, host, port, STATIC, str(MISS), str(self._out)]
        self._process = subprocess.Popen(command)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=MISS + 5)

    def _read(self) -> list[tuple[float, float, bool]]:
        rows = []
        for line in self._out.read_text().splitlines() if self._out else []:
            parts = line.split()
            if len(parts) == 3:  # a line being written is skipped
                rows.append((float(parts[0]), float(parts[1]), parts[2] == "1"))
        return rows

    @property
    def samples(self) -> list[tuple[float, float]]:
        """(started, seconds) of every fetch so far."""
        return [(started, seconds) for started, seconds, _ in self._read()]

    @property
    def failures(self) -> int:
        return sum(not ok for _, _, ok in self._read())

    def longest(self, since: float, until: float) -> float:
        waits = [seconds for started, seconds in self.samples if since <= started <= until]
        return max(waits, default=float("nan"))


class Servers:
    """The served app's processes (one unless ``--servers``): their RSS and CPU time, summed."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]

    def rss_mb(self) -> float:
        return sum(process.memory_info().rss for process in self.processes) / 1e6

    def cpu(self) -> float:
        """CPU seconds of the servers and their children (SQLite reader, drawing pool)."""
        import psutil

        total = 0.0
        for process in self.processes:
            for member in [process, *process.children(recursive=True)]:
                try:
                    total += _cpu_seconds(member.cpu_times())
                except psutil.Error:
                    continue
        return total


def _cpu_seconds(times) -> float:
    """A process's CPU time and that of its children that have ended (and were waited for):
    a closed page's renderer, reaped by Chromium's zygote, still counts."""
    return times.user + times.system + times.children_user + times.children_system


def lower_browser_groups(nice: int = 19) -> tuple[int, str]:
    """Set the scheduling group of each of this process's Chromium processes to ``nice``:
    (how many groups were lowered, why one could not be, or "").

    Linux's autogroup gives each session a scheduling group of its own, and the groups share
    the CPUs evenly; Playwright starts Chromium in a new session and Chromium its renderers in
    more, so with 10 pages the server (in the bench's group) got about a twelfth of the cores
    whatever the browsers' own nice, which only ranks a process within its group (measured
    here with /proc/PID/task/*/schedstat: the server's threads waited 2-4 s per second for a
    CPU while they ran 0.2 s). A group's nice is set by writing /proc/PID/autogroup (as root)."""
    import psutil

    lowered, problem = 0, ""
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in child.name():
                continue
            group = Path(f"/proc/{child.pid}/autogroup")
            if group.read_text().split()[-1] == str(nice):
                continue
        except (FileNotFoundError, psutil.Error):
            continue  # a process that has just ended, or a kernel without autogroup
        if failed := lower_group(child.pid, nice):
            problem = failed
        else:
            lowered += 1
    return lowered, problem


def lower_group(pid: int, nice: int = 19) -> str:
    """Set the nice of the scheduling group of process ``pid``: "" or why it could not."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except FileNotFoundError:
        return ""  # ended already, or a kernel without autogroup
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def browser_cpu() -> float:
    """CPU seconds of this process's children other than the server: Playwright's driver and
    Chromium, which share the 2 cores with the server."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name() or "node" in child.name():
                total += _cpu_seconds(child.cpu_times())
        except psutil.Error:
            continue
    return total


@dataclass
class Phase:
    name: str
    started: float
    ended: float = 0.0
    cpu: float = 0.0
    browser: float = 0.0


def first_byte(base: str, path: str) -> float:
    host, port = urlsplit(base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=MISS)
    started = time.monotonic()
    connection.request("GET", path)
    response = connection.getresponse()  # the status line and headers: Tornado's first write
    elapsed = time.monotonic() - started
    response.read()
    connection.close()
    return elapsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)] if ordered else float("nan")


class Bench:
    """The phases, against ``bases`` (one URL per server process): each new page goes to the
    next server in turn, as a proxy with sticky sessions would spread them; the one-user
    timings and the static probe use the first."""

    def __init__(
        self, bases: list[str], server: Servers, store, changes: int, one_user: bool = False
    ) -> None:
        self.bases, self.server, self.store, self.changes = bases, server, store, changes
        self.base = bases[0]
        self._pages = itertools.count()
        self.one_user = one_user  # only the warm-up and the one-user phase
        self.chromium = CHROMIUM  # or a wrapper that starts it at a lower priority
        self.nice_browsers = False  # and their scheduling groups lowered as they start
        self.groups_lowered, self.groups_problem = 0, ""
        self.probe = Probe(self.base)
        self.phases: list[Phase] = []
        self.misses: list[str] = []
        self.options: dict = {}  # page -> the scope and layout it shows
        self.expected = {}
        for scope in ("all", "latest"):  # every (scope, layout) pair the changes reach
            for layout in ("long", "wide"):
                query = ExportQuery(store, workflow=DEMO_WORKFLOW, scope=scope, layout=layout)
                self.expected[(scope, layout)] = query.counts().rows

    def phase(self, name: str) -> Phase:
        phase = Phase(name, time.monotonic(), cpu=self.server.cpu(), browser=browser_cpu())
        self.phases.append(phase)
        return phase

    def end(self, phase: Phase) -> None:
        phase.ended = time.monotonic()
        phase.cpu = self.server.cpu() - phase.cpu
        phase.browser = browser_cpu() - phase.browser

    async def wait(self, page, script: str, what: str, arg=None) -> bool:
        try:
            await page.wait_for_function(script, arg=arg, polling=50, timeout=WAIT_MS)
            return True
        except Exception as exc:  # a timeout (or a closed page): a miss, counted as 60 s
            shown = ""
            if script == SETTLED:
                try:
                    shown = f" (wanted {arg}; the page showed {await page.evaluate(SHOWN)})"
                except Exception as failed:
                    shown = f" (the page could not be read: {type(failed).__name__})"
            self.misses.append(f"{what}: {type(exc).__name__}{shown}")
            return False

    async def new_page(self, browser):
        """A new browser context and page, and the base URL of the server it is to use."""
        context = await browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        return context, await context.new_page(), self.bases[next(self._pages) % len(self.bases)]

    async def first_paint(self, browser, keep: bool = False):
        context, page, base = await self.new_page(browser)
        started = time.monotonic()
        await page.goto(f"{base}/app?workflow={DEMO_WORKFLOW}", wait_until="commit")
        ok = await self.wait(page, OVERVIEW_SHOWN, "first paint")
        elapsed = time.monotonic() - started if ok else MISS
        if not keep:
            await context.close()
            return elapsed, None
        return elapsed, (context, page)

    async def admin_paint(self, browser):
        """Open ?tab=admin in a new context: seconds to the counts, and the open page."""
        context, page, base = await self.new_page(browser)
        started = time.monotonic()
        await page.goto(f"{base}/app?workflow={DEMO_WORKFLOW}&tab=admin", wait_until="commit")
        ok = await self.wait(page, COUNTS_SHOWN, "Admin counts")
        elapsed = time.monotonic() - started if ok else MISS
        # The preview the page starts with: Latest, long.
        await self.wait(page, SETTLED, "first preview", self._want("latest", "long"))
        return elapsed, (context, page)

    def _want(self, scope: str, layout: str) -> dict:
        return {"rows": f"{self.expected[(scope, layout)]:,}", "scope": scope, "layout": layout}

    async def change_options(self, page, count: int, offset: int = 0) -> list[float]:
        """``count`` changes in turn, each timed from the click to the settled preview."""
        # The options the page shows now: a page keeps those of its last phase's changes.
        state = self.options.setdefault(page, {"scope": "latest", "layout": "long"})
        timings = []
        for index in range(count):
            label, option, value = next_change(state, index + offset)
            started = time.monotonic()
            await page.get_by_role("radio", name=label, exact=True).click()
            ok = await self.wait(page, SETTLED, f"change {option}={value}", self._want(**state))
            timings.append(time.monotonic() - started if ok else MISS)
        return timings

    async def with_browserless(self, page, sessions: int = 9) -> dict:
        """``sessions`` browserless sessions (bench/protocol_clients.py, a process in a
        lowered scheduling group) and the browser ``page`` changing options at once: the users
        whose browsers are on their own machines, and one whose browser is here. Their
        timings and CPU."""
        expected = json.dumps(
            {f"{scope} {layout}": rows for (scope, layout), rows in self.expected.items()}
        )
        out = Path(tempfile.mkdtemp(prefix="bench-clients-")) / "clients.json"
        script = ROOT / "bench" / "protocol_clients.py"
        command = [sys.executable, str(script), ",".join(self.bases), str(sessions),
                   str(self.changes), expected, str(out)]  # fmt: skip
        # A session of its own, so a scheduling group of its own, lowered as the browsers'
        # are: the server gets the cores first, the clients and the browser share the rest
        # (in the server's group they would take the server's share from the browser).
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.groups_problem = self.groups_problem or lower_group(process.pid)
        try:
            await asyncio.to_thread(process.stdout.readline)  # "ready": first previews shown
            process.stdin.write("go\n")
            process.stdin.flush()
            browser = await self.change_options(page, self.changes, sessions)
            await asyncio.to_thread(process.wait, MISS * (self.changes + 4))
        finally:
            if process.poll() is None:
                process.kill()
        if not out.exists():
            raise RuntimeError(f"the browserless sessions wrote no results ({process.returncode})")
        result = json.loads(out.read_text())
        self.misses += result["misses"]
        return {"browser": browser, "clients": [t for run in result["timings"] for t in run],
                "clients_cpu": result["cpu"]}  # fmt: skip

    async def lower_groups(self) -> None:
        """With ``--nice-browsers``: lower each new Chromium process's scheduling group, every
        0.2 s while the bench runs (pages start renderers as they open)."""
        while True:
            lowered, problem = await asyncio.to_thread(lower_browser_groups)
            self.groups_lowered += lowered
            self.groups_problem = self.groups_problem or problem
            await asyncio.sleep(0.2)

    async def run(self) -> dict:
        lowering = asyncio.create_task(self.lower_groups()) if self.nice_browsers else None
        try:
            return await self._run()
        finally:
            if lowering is not None:
                lowering.cancel()

    async def _run(self) -> dict:
        from playwright.async_api import async_playwright

        results: dict = {}
        self.probe.start()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=self.chromium, args=LAUNCH_ARGS, headless=True
            )
            # Warm-up: one page load (imports, caches that any first user pays once).
            phase = self.phase("warm-up")
            results["warm-up page load (not a target)"] = (await self.first_paint(browser))[0]
            self.end(phase)

            phase = self.phase("one user")
            path = f"/app?workflow={DEMO_WORKFLOW}"
            bytes_first = [await asyncio.to_thread(first_byte, self.base, path) for _ in range(5)]
            results["first byte of /app, median of 5"] = statistics.median(bytes_first)
            paints = [(await self.first_paint(browser))[0] for _ in range(3)]
            results["first paint (one user)"] = statistics.median(paints)
            admins = []
            for _ in range(3):
                elapsed, (context, page) = await self.admin_paint(browser)
                admins.append(elapsed)
                await context.close()
            results["Admin counts visible after navigation (one user)"] = statistics.median(admins)
            elapsed, (context, page) = await self.admin_paint(browser)
            alone = await self.change_options(page, self.changes)
            await context.close()
            results["option change to settled preview, median (one user)"] = statistics.median(
                alone
            )
            results["option change, max (one user)"] = max(alone)
            self.end(phase)
            if self.one_user:
                await browser.close()
                self.probe.stop()
                return results
            await asyncio.sleep(1)

            # Ten sessions opened one by one and kept open: RSS per session.
            phase = self.phase("10 sessions opened one by one")
            rss = [self.server.rss_mb()]
            sessions = []
            for _ in range(10):
                _, opened = await self.admin_paint(browser)
                sessions.append(opened)
                await asyncio.sleep(0.5)
                rss.append(self.server.rss_mb())
            self.end(phase)
            results["rss"] = rss
            results["RSS per additional open session (MB)"] = _slope(rss[1:])

            for users in (5, 10):
                phase = self.phase(f"{users} sessions changing options")
                pages = [page for _, page in sessions[:users]]
                runs = await asyncio.gather(
                    *(self.change_options(page, self.changes, i) for i, page in enumerate(pages))
                )
                self.end(phase)
                timings = [t for run in runs for t in run]
                results[f"option change, median ({users} sessions)"] = statistics.median(timings)
                results[f"option change, p95 ({users} sessions)"] = percentile(timings, 0.95)
                results[f"option change, max ({users} sessions)"] = max(timings)
                results[f"static file, longest wait ({users} sessions changing)"] = (
                    self.probe.longest(phase.started, phase.ended)
                )
                count = len(timings)
                results[f"server CPU per option change ({users} sessions)"] = phase.cpu / count
                results[f"browser CPU per option change ({users} sessions)"] = phase.browser / count
            results["RSS with 10 sessions open after their changes (MB)"] = self.server.rss_mb()

            # Nine users whose browsers are elsewhere (Bokeh's client, nothing drawn) and one
            # whose browser is here, changing options at once.
            phase = self.phase("1 browser + 9 browserless sessions changing")
            mixed = await self.with_browserless(sessions[0][1])
            self.end(phase)
            name = "1 browser + 9 browserless sessions"
            results["browser timings"] = mixed["browser"]
            results[f"option change, median ({name})"] = statistics.median(mixed["browser"])
            results[f"option change, p95 ({name})"] = percentile(mixed["browser"], 0.95)
            results["server's answer to a change, median (9 browserless sessions)"] = (
                statistics.median(mixed["clients"])
            )
            results["server's answer to a change, p95 (9 browserless sessions)"] = percentile(
                mixed["clients"], 0.95
            )
            results[f"static file, longest wait ({name})"] = self.probe.longest(
                phase.started, phase.ended
            )
            count = len(mixed["browser"]) + len(mixed["clients"])
            results[f"server CPU per option change ({name})"] = phase.cpu / count
            results["browserless clients' CPU per change"] = mixed["clients_cpu"] / len(
                mixed["clients"]
            )
            for context, _ in sessions:
                await context.close()
            await asyncio.sleep(1)

            phase = self.phase("5 concurrent page loads")
            loads = await asyncio.gather(*(self.first_paint(browser) for _ in range(5)))
            self.end(phase)
            paints = sorted(elapsed for elapsed, _ in loads)
            results["first paint, slowest of 5 concurrent loads"] = paints[-1]
            results["first paint, median of 5 concurrent loads"] = statistics.median(paints)
            results["static file, longest wait (5 page loads)"] = self.probe.longest(
                phase.started, phase.ended
            )
            results["server CPU per page load (5 concurrent)"] = phase.cpu / 5
            results["browser CPU per page load (5 concurrent)"] = phase.browser / 5
            await browser.close()
        self.probe.stop()
        results["static file, longest wait (whole run)"] = self.probe.longest(0, time.monotonic())
        results["static file, median wait (whole run)"] = statistics.median(
            seconds for _, seconds in self.probe.samples
        )
        return results


def _slope(values: list[float]) -> float:
    """Least-squares growth per step of ``values`` (one value per session count)."""
    xs = range(len(values))
    mean_x, mean_y = statistics.mean(xs), statistics.mean(values)
    top = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True))
    return top / sum((x - mean_x) ** 2 for x in xs)


@contextmanager
def profiled_app(env: dict[str, str], profile: Path, extra: tuple[str, ...]):
    """``served_app``, with the server under pyinstrument; the profile is written at exit."""
    port = free_port()
    command = [sys.executable, "-c", PROFILED_SERVE, str(profile.resolve()), "--port",
               str(port), *extra]  # fmt: skip
    log_path = Path(env["ASSESS_DATA_DIR"]) / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(180):  # bounded: 90 s
                if process.poll() is not None:
                    raise RuntimeError(log_path.read_text(errors="replace")[-3000:])
                try:
                    first_byte(base, "/app")
                    break
                except OSError:
                    time.sleep(0.5)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=60)


def server_pid(log: Path) -> int:
    for line in log.read_text(errors="replace").splitlines():
        if "process id" in line:
            return int(line.split()[-1])
    raise RuntimeError(f"no process id in {log}")


HOLD = re.compile(
    r"^(?P<at>\S+ \S+) .*event loop held (?P<ms>\d+) ms \(its thread ran (?P<ran>\d+) ms"
)
COLLECTION = re.compile(
    r"^(?P<at>\S+ \S+) .*garbage collection of generation \d took (?P<ms>\d+) ms"
)


def loop_holds(log: str, phases: list[Phase]) -> list[str]:
    """With ``--server-args "--watch-loop MS"``: the holds of the server's event loop and the
    long garbage collections it logged, per phase (empty without the watch)."""
    offset = time.time() - time.monotonic()  # the log's wall clock onto the phases' clock

    def phase_of(at: str) -> str | None:
        moment = datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f").timestamp() - offset
        return next((ph.name for ph in phases if ph.started <= moment <= ph.ended), None)

    holds: dict[str | None, list[tuple[int, int]]] = {ph.name: [] for ph in phases}
    collections: dict[str | None, list[int]] = {ph.name: [] for ph in phases}
    for line in log.splitlines():
        if found := HOLD.match(line):
            holds.setdefault(phase_of(found["at"]), []).append(
                (int(found["ms"]), int(found["ran"]))
            )
        elif found := COLLECTION.match(line):
            collections.setdefault(phase_of(found["at"]), []).append(int(found["ms"]))
    if not any(holds.values()) and not any(collections.values()):
        return []
    lines = [
        "",
        "Event-loop holds (`--watch-loop`) and garbage collections over the watch's threshold:",
        "",
        "| phase | holds | held s | longest | its thread ran | collections | their s | longest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ph in phases:
        held, gcs = holds[ph.name], collections[ph.name]
        total, ran = sum(ms for ms, _ in held), sum(r for _, r in held)
        share = f"{ran / total:.0%}" if total else "-"
        lines.append(
            f"| {ph.name} | {len(held)} | {total / 1000:.2f} | {max(held, default=(0,))[0]} ms | "
            f"{share} | {len(gcs)} | {sum(gcs) / 1000:.2f} | {max(gcs, default=0)} ms |"
        )
    return lines


def report(
    results: dict, bench: Bench, args, started: float, load: tuple, server_log: str = ""
) -> str:
    def figure(name: str, value: float) -> str:
        if name.endswith("(MB)"):
            return f"{value:,.1f} MB"
        return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"

    lines = [
        "## Many sessions at once (bench/bench_sessions.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}; load average at the start {load[0]:.2f}, at the end "
        f"{os.getloadavg()[0]:.2f}; whole run {time.monotonic() - started:.0f} s "
        f"(`bench/bench_sessions.py --changes {args.changes}"
        + (" --one-user" if args.one_user else "")
        + (f" --server-args {shlex.quote(args.server_args)}" if args.server_args else "")
        + (" --nice-browsers" if args.nice_browsers else "")
        + (f" --servers {args.servers}" if args.servers > 1 else "")
        + "`). Demo workflow (240 files), served by `assess-export serve"
        + (f" {args.server_args}" if args.server_args else "")
        + "`"
        + (
            f" in {args.servers} processes on one data folder (new pages to each in turn, the "
            "static probe and the one-user timings to the first; CPU and RSS summed)"
            if args.servers > 1
            else ""
        )
        + ", Chromium through Playwright on the same machine, one context per user"
        + (
            " (Chromium at nice 19, and each of its scheduling groups too: the server and the "
            f"probe get the cores first; {bench.groups_lowered} groups lowered"
            + (f", not all: {bench.groups_problem}" if bench.groups_problem else "")
            + ")."
            if args.nice_browsers
            else "."
        ),
        "",
        "| measure | figure | target |",
        "|---|---:|---|",
    ]
    for name, value in results.items():
        if name in ("rss", "browser timings"):
            continue
        target = TARGETS.get(name)
        if target is None:
            verdict = ""
        else:
            limit = f"{target:g} MB" if name.endswith("(MB)") else figure("", target)
            verdict = f"{'met' if value < target else 'MISSED'} (< {limit})"
        lines.append(f"| {name} | {figure(name, value)} | {verdict} |")
    if "rss" in results:
        rss = ", ".join(f"{value:.0f}" for value in results["rss"])
        lines += ["", f"Server RSS (MB) with 0, 1, ..., 10 Admin sessions open: {rss}."]
    if "browser timings" in results:
        timings = ", ".join(figure("", value) for value in results["browser timings"])
        lines += ["", f"The one browser's changes among 9 browserless sessions: {timings}."]
    lines += [
        "",
        "The cores' share is the server's and the browsers' CPU time over the phase's seconds "
        f"times {os.cpu_count()} cores: near 100%, the phase took as long as this machine's "
        "cores needed for the work, whatever the server did.",
        "",
        "| phase | seconds | server CPU s | server CPUs busy | browser CPU s | browser CPUs busy "
        "| cores' share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in bench.phases:
        seconds = phase.ended - phase.started
        share = (phase.cpu + phase.browser) / seconds / (os.cpu_count() or 1)
        lines.append(
            f"| {phase.name} | {seconds:.1f} | {phase.cpu:.1f} | {phase.cpu / seconds:.2f} | "
            f"{phase.browser:.1f} | {phase.browser / seconds:.2f} | {share:.0%} |"
        )
    probe = bench.probe
    lines += [
        "",
        f"Static probe: {len(probe.samples)} fetches of a 1 KB file, {probe.failures} failed.",
    ]
    if bench.misses:
        lines.append(f"Waits that hit the {MISS:.0f} s bound: " + "; ".join(bench.misses))
    lines += loop_holds(server_log, bench.phases)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=8, help="option changes per session")
    parser.add_argument("--server-args", default="", help="more `assess-export serve` options")
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="server processes on one data folder; new pages go to each in turn (the "
        "deployment's several servers behind a sticky proxy, deploy/)",
    )
    parser.add_argument(
        "--out",
        help="the report's file (default bench/RESULTS-sessions.md; with --one-user, printed "
        "only unless given)",
    )
    parser.add_argument(
        "--one-user",
        action="store_true",
        help="only the warm-up and the one-user phase: a quick before-and-after of one change",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run the server under pyinstrument (its main thread: the event loop) and write "
        "the profile to FILE (text) and FILE with .html",
    )
    parser.add_argument(
        "--nice-browsers",
        action="store_true",
        help="start Chromium at nice 19 and lower its processes' scheduling groups (autogroup) "
        "to 19, so that on this machine's shared cores the server and the static probe run "
        "first: what the server does when the browsers are elsewhere",
    )
    args = parser.parse_args(argv)
    started, load = time.monotonic(), os.getloadavg()

    data = Path(tempfile.mkdtemp(prefix="bench-sessions-")) / "data"
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": SECRET}
    store = open_store(Settings.from_env(env))
    create_demo(store)
    extra = tuple(shlex.split(args.server_args))
    logs = [data / f"serve-{index}.log" for index in range(args.servers)]
    with ExitStack() as serving:
        if args.profile:
            logs = [data / "serve.log"]
            bases = [serving.enter_context(profiled_app(env, Path(args.profile), extra))]
        else:
            bases = [
                serving.enter_context(served_app(env, extra_args=extra, log_name=log.name))
                for log in logs
            ]
        server = Servers([server_pid(log) for log in logs])
        bench = Bench(bases, server, store, args.changes, args.one_user)
        if args.nice_browsers:
            wrapper = data.parent / "chromium-nice"
            wrapper.write_text(f'#!/bin/sh\nexec nice -n 19 {CHROMIUM} "$@"\n')
            wrapper.chmod(0o755)
            bench.chromium = str(wrapper)
            bench.nice_browsers = True
        results = asyncio.run(bench.run())
    store.dispose()
    server_log = "\n".join(log.read_text(errors="replace") for log in logs)
    text = report(results, bench, args, started, load, server_log)
    if args.one_user and not args.out:
        print(text)
        return
    # The hand-written history after it stays.
    write_section(Path(args.out or ROOT / "bench" / "RESULTS-sessions.md"), text)
    print(text)


if __name__ == "__main__":
    main()
