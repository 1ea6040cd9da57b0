"""A session made at websocket connect (a slow client whose first session expired, or the
page from another server process) still loads every resource from this server."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from dashboard.importers.demo import create_demo
from tests.helpers import free_port, served_app
from tests.ui.browser_support import DEMO_FILES, SECRET, PageWatch

pytestmark = pytest.mark.browser


def test_a_late_session_requests_nothing_from_other_hosts(browser, tmp_path):
    from dashboard.config import Settings
    from dashboard.store.db import open_store

    data = tmp_path / "data"
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": SECRET}
    store = open_store(Settings.from_env(env))
    create_demo(store, files=DEMO_FILES)
    store.dispose()
    # Sessions the page request made expire after half a second unless a websocket claims
    # them; the page's scripts arrive two seconds late, so the session is made at connect.
    lifetimes = ("--unused-session-lifetime", "500", "--check-unused-sessions", "200")
    with served_app(env, port=free_port(), extra_args=lifetimes) as base:
        context = browser.new_context()
        try:
            page = context.new_page()
            watch = PageWatch(base)
            watch.attach(page)
            page.route(re.compile(r"^https?://(?!127\.0\.0\.1).*"), lambda route: route.abort())

            def late(route) -> None:
                time.sleep(2)
                route.continue_()

            page.route(re.compile(r".*/static/js/bokeh\.min\.js.*"), late)
            page.goto(f"{base}/app")
            expect(page.locator(".bk-tab", has_text="Overview")).to_be_visible(timeout=60_000)
            page.wait_for_timeout(2000)  # stylesheets of the components load after the tabs
        finally:
            context.close()
        log = (data / "serve.log").read_text(errors="replace")
        assert "discarding" in log.lower() or "unused" in log.lower(), (
            "the page's first session was not discarded: the test did not make a late session"
        )
        watch.assert_clean(data / "serve.log")
