"""Shared by the browser tests and their fixtures: settings of the served apps, and a watch on
what a page reports (console errors, uncaught exceptions, requests beyond the served app)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dashboard.store.db import Store
from tests.helpers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
OUTPUT = ROOT / "test-output"
SECRET = "browser-tests-link-secret"  # ASSESS_SECRET of the served apps: tests sign links too
DEMO_FILES = 24  # small enough to draw and zip in seconds, large enough for distinct counts
CREDENTIALS = {"admin": "admin-pass-123", "viewer": "viewer-pass-123"}
# Tornado's report of a message written to a websocket the browser had dropped without a
# close frame (a test's browser context closing while the server sends): the write's task
# fails with WebSocketClosedError and asyncio logs it as never retrieved. A client leaving,
# not a fault of the app; every other traceback still fails the test.
CLIENT_GONE = re.compile(
    r"[^\n]* Task exception was never retrieved\n"
    r"future: <Task finished name='[^']*' coro=<WebSocketProtocol13\.write_message\.<locals>"
    r"\.wrapper\(\)[^\n]*exception=WebSocketClosedError\(\)>\n"
    r"Traceback \(most recent call last\):\n(?:  [^\n]*\n)+"
    r"tornado\.iostream\.StreamClosedError: Stream is closed\n\n"
    r"During handling of the above exception, another exception occurred:\n\n"
    r"Traceback \(most recent call last\):\n(?:  [^\n]*\n)+"
    r"tornado\.websocket\.WebSocketClosedError\n"
)


def server_log_faults(text: str) -> str:
    """The server log without Tornado's reports of clients that left mid-write."""
    return CLIENT_GONE.sub("", text)


def clipped_cells(cells) -> list[str]:
    """The text of the table cells (a locator) that do not show all of their text's height
    (what a fixed row height, ``preview.ROW_PX``, must never do)."""
    return cells.evaluate_all(
        "cells => cells.filter(c => c.scrollHeight > c.clientHeight + 1).map(c => c.innerText)"
    )


@dataclass
class Served:
    """A served app and the same store opened in the test process."""

    base: str
    store: Store
    data: Path
    workflow: str

    @property
    def log(self) -> Path:
        return self.data / "serve.log"


@dataclass
class PageWatch:
    """What a page reported: console errors, uncaught exceptions, requests off the server."""

    base: str
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        local = urlsplit(self.base).netloc

        def on_console(message) -> None:
            if message.type == "error":
                where = (message.location or {}).get("url", "")
                self.errors.append(f"console error on {page.url}: {message.text} ({where})")

        def on_page_error(error) -> None:
            stack = getattr(error, "stack", None) or ""  # where in which script, to find the cause
            self.errors.append(f"page error on {page.url}: {error}\n{stack}".rstrip())

        def on_request(request) -> None:
            host = urlsplit(request.url).netloc
            if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != local:
                self.external.append(f"{request.url} (page {page.url})")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("request", on_request)

    def assert_clean(self, log: Path, ignore_pages: tuple[str, ...] = ()) -> None:
        """No console error, no uncaught exception, no request beyond the served app, and no
        traceback in the server log. ``ignore_pages``: URL paths (e.g. Panel's ``/login``)
        whose reports are not the app's."""

        def mine(entry: str) -> bool:
            return not any(f"{self.base}{path}" in entry for path in ignore_pages)

        errors = [entry for entry in self.errors if mine(entry)]
        external = [entry for entry in self.external if mine(entry)]
        assert errors == [], "the browser reported errors:\n" + "\n".join(errors)
        assert external == [], "the page requested other hosts:\n" + "\n".join(external)
        text = server_log_faults(log.read_text(errors="replace"))
        assert "Traceback" not in text, f"the server log has a traceback:\n{text[-4000:]}"
