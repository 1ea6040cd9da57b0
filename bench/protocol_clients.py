"""Sessions without a browser, for bench/bench_sessions.py: the users whose browsers are on
machines of their own.

    .venv/bin/python bench/protocol_clients.py BASES SESSIONS CHANGES EXPECTED_JSON OUT_JSON

Each session is Bokeh's own client (``bokeh.client``), in a thread of its own, speaking the
protocol a browser speaks: it pulls the Admin tab's document (``/app?tab=admin``), says the
document is ready (what BokehJS says once the page is drawn, and what makes Panel fill the
page), and then changes options as the browser sessions do (a radio's ``active``), each timed
from the change sent to the settled preview: the counts of the new options, a download link
signed for them and the table of their layout with rows, all in the client's copy of the
document. Nothing is drawn, so each timing is the server's answer plus the wire.

The process prints ``ready`` once every session shows its first preview, waits for a line on
its standard input, then changes; it writes ``{"timings": [[seconds, ...], ...], "misses":
[...], "cpu": seconds}`` to OUT_JSON. Waits are bounded as the bench's (60 s, a miss).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import panel  # noqa: E402, F401  (registers Panel's Bokeh models for the client's document)
import panel.models.tabulator  # noqa: E402, F401
from bokeh.client import pull_session  # noqa: E402
from bokeh.document.events import MessageSentEvent  # noqa: E402
from bokeh.events import DocumentReady  # noqa: E402
from tornado.ioloop import IOLoop  # noqa: E402

from bench.bench_sessions import MISS, next_change  # noqa: E402
from dashboard.importers.demo import DEMO_WORKFLOW  # noqa: E402


def settled(document, want: dict) -> bool:
    """The preview of ``want`` (rows, scope, layout) in a client's copy of the document: the
    same three things the browser check (``SETTLED``) looks for."""
    texts = [m.text for m in document.models if isinstance(getattr(m, "text", None), str)]
    counts = next((text for text in texts if "estimated size" in text), None)
    if counts is None or f"{want['rows']} rows" not in html.unescape(counts):
        return False
    link = next((html.unescape(text) for text in texts if "export-download" in text), None)
    if link is None or "token=" not in link:
        return False
    token = link.split("token=")[1].split("&")[0].split('"')[0]
    payload = token.split(".")[0]
    options = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["t"][
        "options"
    ]
    if options.get("scope") != want["scope"] or options.get("layout") != want["layout"]:
        return False
    tables = [
        model
        for model in document.models
        if type(model).__name__ == "DataTabulator"
        and f"preview-{want['layout']}" in (model.css_classes or [])
    ]
    return any(any(len(column) for column in table.source.data.values()) for table in tables)


class ClientSession:
    """One session: its own event loop, in its own thread."""

    def __init__(self, base: str, expected: dict[str, int], changes: int, offset: int):
        self.base, self.expected, self.changes, self.offset = base, expected, changes, offset
        self.timings: list[float] = []
        self.misses: list[str] = []
        self.ready = threading.Event()
        self.go = threading.Event()

    def _want(self, scope: str, layout: str) -> dict:
        return {"rows": f"{self.expected[f'{scope} {layout}']:,}", "scope": scope, "layout": layout}

    def run(self) -> None:
        loop = IOLoop()
        try:
            session = pull_session(
                url=f"{self.base}/app",
                io_loop=loop,
                arguments={"workflow": DEMO_WORKFLOW, "tab": "admin"},
            )
            loop.run_sync(lambda: self._session(session))
            session.close()
        except Exception as exc:  # a session that could not start: every change a miss
            self.misses.append(f"session: {type(exc).__name__}: {exc}")
            self.timings += [MISS] * (self.changes - len(self.timings))
        finally:
            self.ready.set()
            loop.close(all_fds=True)

    async def _wait(self, document, want: dict, what: str) -> bool:
        started = time.monotonic()
        while time.monotonic() - started < MISS:
            if settled(document, want):
                return True
            await asyncio.sleep(0.005)
        self.misses.append(f"{what}: no settled preview in {MISS:.0f} s")
        return False

    async def _session(self, session) -> None:
        document = session.document
        # Bokeh's client reads the server's messages only while its connection's state
        # machine runs: run it for as long as the session lasts.
        session._connection._until_predicate = None
        reading = asyncio.ensure_future(session._connection._next())
        document.callbacks.trigger_on_change(
            MessageSentEvent(document, "bokeh_event", DocumentReady())
        )
        await self._wait(document, self._want("latest", "long"), "first preview")
        self.ready.set()
        while not self.go.is_set():
            await asyncio.sleep(0.01)
        state = {"scope": "latest", "layout": "long"}
        for index in range(self.changes):
            label, option, value = next_change(state, index + self.offset)
            radio = next(
                m
                for m in document.models
                if type(m).__name__ == "RadioGroup" and label in (m.labels or [])
            )
            started = time.monotonic()
            radio.active = radio.labels.index(label)
            ok = await self._wait(document, self._want(**state), f"change {option}={value}")
            self.timings.append(time.monotonic() - started if ok else MISS)
        reading.cancel()


def main(argv: list[str]) -> None:
    base, sessions, changes, expected, out = argv
    bases = base.split(",")  # one per server process: sessions go to each in turn
    clients = [
        ClientSession(bases[offset % len(bases)], json.loads(expected), int(changes), offset)
        for offset in range(int(sessions))
    ]
    threads = [threading.Thread(target=client.run, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for client in clients:
        client.ready.wait(timeout=MISS * 2)
    print("ready", flush=True)
    sys.stdin.readline()
    for client in clients:
        client.go.set()
    for thread in threads:
        thread.join(timeout=MISS * (int(changes) + 2))
    result = {
        "timings": [client.timings for client in clients],
        "misses": [miss for client in clients for miss in client.misses],
        "cpu": time.process_time(),
    }
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
