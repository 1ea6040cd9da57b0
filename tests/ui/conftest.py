"""Fixtures of the browser tests: Debian's Chromium through Playwright, and served apps.

The browser is launched once per session; each served app once per module (and only by the
tests that ask for it). Each app's store is opened here with the server's settings, so the
tests compute what the page must show with the query layer on the very same data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.config import Settings
from dashboard.store.db import Store, open_store
from tests.helpers import free_port, served_app
from tests.ui.browser_support import (
    CHROMIUM,
    CREDENTIALS,
    DEMO_FILES,
    LAUNCH_ARGS,
    OUTPUT,
    SECRET,
    VIEWPORT,
    Served,
)


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium; skipped where it is missing, except under CI=true."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium (.ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


def _open_store(env: dict[str, str]) -> Store:
    """The store exactly as the server opens it (same data folder, exports and secret)."""
    return open_store(Settings.from_env(env))


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory) -> Iterator[Served]:
    """The app served without auth (the single local user is admin) on a 24-file demo."""
    from dashboard.importers.demo import create_demo

    data = tmp_path_factory.mktemp("browser") / "data"
    port = free_port()
    env = {
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_SECRET": SECRET,
        # Job links are made with this base: it must be the served app for them to work.
        "ASSESS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    store = _open_store(env)
    workflow = create_demo(store, files=DEMO_FILES)
    try:
        with served_app(env, port=port) as base:
            yield Served(base, store, data, workflow)
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory) -> Iterator[Served]:
    """The app behind Panel's basic auth: ``admin`` has the admin role, ``viewer`` not."""
    from tests.hand_workflow import build_hand_workflow

    root = tmp_path_factory.mktemp("browser-auth")
    data = root / "data"
    credentials = root / "credentials.json"
    credentials.write_text(json.dumps(CREDENTIALS))
    env = {"ASSESS_DATA_DIR": str(data), "ASSESS_SECRET": SECRET, "ASSESS_ADMINS": "admin"}
    store = _open_store(env)
    build_hand_workflow(store)
    args = (
        "--basic-auth", str(credentials), "--cookie-secret", "browser-tests-cookie-secret",
        "--basic-login-template", "dashboard/templates/login.html",
    )  # fmt: skip
    try:
        with served_app(env, extra_args=args) as base:
            yield Served(base, store, data, "harbour")
    finally:
        store.dispose()


@pytest.fixture
def context(browser):
    """A fresh browser context (own cookies and downloads) per test."""
    opened = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """test-output/screenshots at the repository root (ignored by git): CI keeps it."""
    folder = OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
