"""Sessions off the event loop (issue 11): while one user's option change waits on the
database, the server still answers: static files come at once, and another user's page
opens (the page request reads no database). Served as `make serve` serves it: session
callbacks on `assess-export serve`'s thread pool (--num-threads, 4 by default)."""

from __future__ import annotations

import http.client
import re
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from dashboard.config import Settings
from dashboard.export import ExportQuery
from dashboard.importers.demo import create_demo
from dashboard.store.db import open_store
from dashboard.web.server import DEFAULT_THREADS, session_threads
from tests.helpers import served_app
from tests.ui.browser_support import DEMO_FILES, SECRET, VIEWPORT

WAIT = 30_000
STATIC = "/static/extensions/panel/css/booleanstatus.css"  # a 1 KB file Panel serves
PROMPT = 1.0  # seconds: a static file waits at most this (the target is 0.2 s)


def test_serve_runs_session_callbacks_on_threads_unless_told_otherwise():
    assert session_threads(None, False, {}) == DEFAULT_THREADS == 4
    assert session_threads(2, False, {}) == 2
    assert session_threads(None, False, {"PANEL_NUM_THREADS": "3"}) is None  # Panel reads it
    assert session_threads(None, True, {}) is None  # --no-threads: on the event loop
    with pytest.raises(SystemExit):
        session_threads(2, True, {})


@contextmanager
def assessments_locked(db_url: str):
    """The assessment table locked by this process: every statement of the server that
    reads it waits until the block ends. Stands in for a slow query."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("LOCK TABLE assessment IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def fetch_seconds(base: str, path: str) -> float:
    host, port = urlsplit(base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    started = time.monotonic()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200, (path, response.status)
    return time.monotonic() - started


@pytest.mark.browser
@pytest.mark.postgres
def test_a_session_waiting_on_the_database_holds_up_nobody_else(browser, pg_schema_url, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_SECRET": SECRET,
        "ASSESS_DB_URL": pg_schema_url,
        "ASSESS_FILES_URL": str(tmp_path / "files"),
    }
    store = open_store(Settings.from_env(env))
    workflow = create_demo(store, files=DEMO_FILES)
    all_rows = ExportQuery(store, workflow=workflow, scope="all").counts().rows
    store.dispose()
    with served_app(env) as base:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(f"{base}/app?workflow={workflow}&tab=admin")
            counts = page.get_by_text("estimated size")
            expect(counts).to_be_visible(timeout=WAIT)
            expect(page.locator("#export-download")).to_be_visible(timeout=WAIT)
            with assessments_locked(pg_schema_url):
                page.get_by_role("radio", name="All Assessments", exact=True).check()
                # The change has started (its "Preparing" is shown) and now waits.
                expect(page.locator("#export-pending")).to_be_attached(timeout=WAIT)
                time.sleep(0.5)
                waits = [fetch_seconds(base, STATIC) for _ in range(5)]
                page_request = fetch_seconds(base, f"/app?workflow={workflow}")
                still_waiting = page.locator("#export-pending").count() == 1
            assert still_waiting, "the change did not wait on the database: nothing was tested"
            assert max(waits) < PROMPT, f"a static file waited {max(waits):.2f} s"
            assert page_request < 3 * PROMPT, f"another page took {page_request:.2f} s"
            # Once the database answers, the change completes.
            expect(counts).to_have_text(re.compile(rf"^\s*{all_rows:,} rows"), timeout=WAIT)
            expect(page.locator("#export-download")).to_be_visible(timeout=WAIT)
        finally:
            context.close()
    log = (data / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
