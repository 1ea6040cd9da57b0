"""A dashboard session when the database goes away (issue "Faults"): the Admin tab says so in
place of the preview, offers no download, and recovers by itself once the database is back.

The database is the tests' own cluster (``tests/pg_cluster.py``), stopped and started for
real under the served app, in Debian's Chromium.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from dashboard.spec.options import LAYOUT_LABELS, Layout
from tests.helpers import served_app, wait_until_no_marked_processes
from tests.ui.test_browser import WAIT, radio, summary

pytestmark = pytest.mark.browser


def test_a_lost_database_is_a_message_in_place_of_the_preview_until_it_is_back(
    cluster, context, tmp_path
):
    data = tmp_path / "data"
    data.mkdir()
    mark = uuid.uuid4().hex
    env = {
        "ASSESS_DATA_DIR": str(data),
        "ASSESS_DB_URL": cluster.url,
        "ASSESS_FILES_URL": cluster.files_url,
        "ASSESS_TEST_MARK": mark,
    }
    with served_app(env) as base:
        page = context.new_page()
        page.goto(f"{base}/app?workflow=bench-export&tab=admin")
        expect(summary(page)).to_be_visible(timeout=WAIT)
        expect(page.locator("#export-download")).to_be_visible()

        cluster.stop()
        radio(page, LAYOUT_LABELS[Layout.wide]).check()
        notice = page.get_by_text("The database is not answering")
        expect(notice).to_be_visible(timeout=WAIT)
        expect(page.get_by_text("Trying again every")).to_be_visible()
        expect(page.locator("#export-download")).to_have_count(0)  # no link without a preview
        expect(page.locator(".tabulator-row:visible")).to_have_count(0)

        cluster.start()  # nothing is clicked: the tab recovers by itself
        expect(notice).to_have_count(0, timeout=WAIT)
        expect(summary(page)).to_be_visible(timeout=WAIT)
        link = page.locator("#export-download")
        expect(link).to_have_text("Export CSV")
        expect(page.locator(".tabulator-row:visible").first).to_be_visible()
        assert "_wide_" in link.get_attribute("download")
        page.close()
    log = (data / "serve.log").read_text()
    assert "Traceback" not in log, log
    wait_until_no_marked_processes(mark)
