"""The served app answers with the chosen workflow (the stack works end to end)."""

from __future__ import annotations

import urllib.request

from dashboard.store.db import open_store
from tests.hand_workflow import build_hand_workflow
from tests.helpers import served_app


def test_served_app_shows_the_workflow(tmp_path):
    data = tmp_path / "data"
    store = open_store(db_url=f"sqlite:///{data / 'assess.db'}", files_url=str(data / "files"))
    build_hand_workflow(store)
    store.dispose()
    with served_app({"ASSESS_DATA_DIR": str(data)}) as base:
        response = urllib.request.urlopen(f"{base}/app?workflow=harbour", timeout=60)
        page = response.read().decode("utf-8")
    assert response.status == 200
    # The title names the product only: the template renders it as HTML, so a name from data
    # never goes there (the Overview's header shows the workflow, as text).
    assert "<title>Assessment Export Dashboard</title>" in page
    assert "harbour" not in page
