"""The Admin tab without a browser: widgets drive the query, the preview shows its counts,
the button is a signed link for the user, Annotated Files waits for an order."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, unquote, urlparse

import panel as pn
import pytest

from dashboard.export import ExportQuery
from dashboard.links import verify
from dashboard.store.models import DataFile
from dashboard.web.ui import admin as admin_module
from dashboard.web.ui.admin import AdminTab


def tab_for(store) -> AdminTab:
    return AdminTab(store=store, workflow="harbour", user="local")


def href(tab: AdminTab) -> str:
    [pane] = tab.action.objects
    return html.unescape(re.search(r'href="([^"]+)"', pane.object).group(1))


def test_defaults_match_spec_and_preview_the_latest_long_table(hand_store):
    tab = tab_for(hand_store)
    assert (tab.scope.value, tab.layout.value) == ("latest", "long")
    assert (tab.data_source.value, tab.order.value) == ("", "")
    assert list(tab.scope.options) == ["All Assessments", "Latest Assessments"]
    assert list(tab.layout.options) == [
        "Attribute Values and Confidences",
        "Annotations",
        "Files",
        "Annotated Files (select workflow order)",
    ]
    expected = ExportQuery(hand_store, workflow="harbour").counts()
    assert tab.summary.object.startswith(f"**{expected.rows:,} rows**")
    [table] = tab.shown_tables()
    assert len(table.value) == expected.rows
    assert "Export CSV" in tab.action.objects[0].object


def test_every_option_change_updates_the_preview_to_the_query_counts(hand_store):
    tab = tab_for(hand_store)
    changes = [
        ("scope", "all", {"scope": "all"}),
        ("layout", "wide", {"layout": "wide"}),
        ("data_source", "cam-1", {"data_source": "cam-1"}),
        ("order", "8492192", {"order": "8492192"}),
        ("data_source", "", {"data_source": None}),
        ("layout", "files", {"layout": "files"}),
    ]
    options = {"workflow": "harbour"}
    for widget, value, option in changes:
        getattr(tab, widget).value = value
        options.update(option)
        rows = ExportQuery(hand_store, **options).counts().rows
        assert tab.summary.object.startswith(f"**{rows:,} "), (widget, value, tab.summary.object)
    assert "Download ZIP" in tab.action.objects[0].object


def test_the_download_link_is_signed_for_the_user_with_the_options(hand_store):
    tab = tab_for(hand_store)
    tab.layout.value = "wide"
    tab.format.value = "parquet"
    token = unquote(parse_qs(urlparse(href(tab)).query)["token"][0])
    grant = verify(hand_store.settings.secret(), token, "local")
    assert grant.target == {
        "kind": "export",
        "options": {
            "workflow": "harbour",
            "scope": "latest",
            "layout": "wide",
            "data_source": None,
            "order": None,
            "stage_kind": None,
            "assessed_from": None,
            "assessed_to": None,
            "object_classes": [],
            "format": "parquet",
            "spreadsheet_safe": True,
        },
    }


def test_a_job_request_the_database_refuses_says_so_and_adds_no_job(hand_store, monkeypatch):
    """A database that does not answer the request (down, or on SQLite a long import holding
    the write lock) is told on the page, not left to the server's log."""
    from sqlalchemy.exc import OperationalError

    from dashboard.jobs import records

    tab = tab_for(hand_store)
    tab.layout.value = "annotated"
    tab.order.value = "8492192"
    told = []
    monkeypatch.setattr(
        admin_module, "_notify", lambda kind, message, **_: told.append((kind, message))
    )

    def refused(*_args, **_kwargs):
        raise OperationalError("INSERT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(records, "create_job", refused)
    tab._request_annotated(None)
    assert told == [("error", "Not requested: the database did not answer (database is locked). "
                              "Try again in a moment.")]  # fmt: skip
    assert records.list_jobs(hand_store, "local") == []
    assert (tab.request.label, tab.request.disabled) == ("Request annotated files", False)


def test_the_request_button_waits_while_the_request_is_recorded(hand_store, monkeypatch):
    """A request can wait for the database (on SQLite, an import's write lock): meanwhile the
    button says so and takes no second click; after it, the button is as the options make it."""
    from dashboard.jobs import tasks

    tab = tab_for(hand_store)
    tab.layout.value = "annotated"
    tab.order.value = "8492192"
    assert (tab.request.label, tab.request.disabled) == ("Request annotated files", False)
    seen = []
    monkeypatch.setattr(admin_module, "_notify", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(
        tasks,
        "request_annotated_export",
        lambda *_args: seen.append((tab.request.label, tab.request.disabled)),
    )
    tab._request_annotated(None)
    assert seen == [(admin_module.REQUESTING, True)]
    assert (tab.request.label, tab.request.disabled) == ("Request annotated files", False)
    tab.order.value = ""  # no order: the button stays disabled after a request
    tab._request_annotated(None)
    assert tab.request.disabled


def test_annotated_files_wait_for_an_order(hand_store):
    tab = tab_for(hand_store)
    tab.layout.value = "annotated"
    assert tab.request.disabled
    assert "needs a workflow order" in tab.summary.object
    reason = tab.action.objects[0].objects[-1].object
    assert reason.startswith("Choose a workflow order first")
    tab.order.value = "8492192"
    assert not tab.request.disabled
    assert tab.summary.object.startswith("**2 drawn images in the ZIP**")


def test_recent_jobs_keep_one_table_and_show_the_users_jobs(hand_store):
    from dashboard.jobs import records

    tab = tab_for(hand_store)
    table = tab.jobs_table
    assert not tab.jobs.visible and table.value.empty  # no jobs yet: nothing shown
    options = {"workflow": "harbour", "scope": "all", "layout": "annotated", "order": "8492192"}
    job_id = records.create_job(hand_store, "local", options)
    records.create_job(hand_store, "someone-else", options)
    tab._refresh_jobs()
    assert tab.jobs.visible and tab.jobs_table is table
    assert list(table.value["status"]) == ["queued"]
    records.fail_job(hand_store, job_id, "the disk is full")
    tab._refresh_jobs()
    assert tab.jobs_table is table
    assert list(table.value["status"]) == ["failed"]
    assert list(table.value["download"]) == ["the disk is full"]


def test_a_database_that_stops_answering_is_a_message_in_place_of_the_preview(
    sqlite_store, tmp_path
):
    """The store's file vanishes (a lost database): the preview says so in one line and
    offers no link; once it is back, the next change previews again."""
    from tests.hand_workflow import build_hand_workflow

    build_hand_workflow(sqlite_store)
    tab = AdminTab(store=sqlite_store, workflow="harbour", user="local")
    database = tmp_path / "store.db"
    sqlite_store.engine.dispose()
    database.rename(tmp_path / "away.db")
    try:
        tab.layout.value = "wide"
        assert tab.summary.object.startswith("**The database is not answering \\(")
        assert tab.shown_body() == []
        assert "export-download" not in str(tab.action.objects[0].object)  # no link
    finally:
        sqlite_store.engine.dispose()
        database.unlink(missing_ok=True)
        (tmp_path / "away.db").rename(database)
    tab.layout.value = "long"
    expected = ExportQuery(sqlite_store, workflow="harbour").counts()
    assert tab.summary.object.startswith(f"**{expected.rows:,} rows**")


def test_stage_kind_and_time_filters_drive_the_preview_and_the_link(hand_store):
    from datetime import date

    tab = tab_for(hand_store)
    tab.stage_kind.value = "human"
    tab.assessed_from.value = date(2026, 11, 2)
    options = {"workflow": "harbour", "stage_kind": "human", "assessed_from": "2026-11-02"}
    expected = ExportQuery(hand_store, **options).counts()
    assert tab.summary.object.startswith(f"**{expected.rows:,} rows**")
    [table] = tab.shown_tables()
    assert set(table.value["stage_kind"]) == {"human"}
    token = parse_qs(urlparse(href(tab)).query)["token"][0]
    grant = verify(tab.settings.secret(), unquote(token), "local")
    assert grant.target["options"]["stage_kind"] == "human"
    assert grant.target["options"]["assessed_from"] == "2026-11-02"
    tab.assessed_to.value = date(2026, 11, 1)  # before from: a clear message, no link
    shown = tab.summary.object.replace("\\", "")  # as Markdown text: punctuation escaped
    assert "assessed_from (2026-11-02) must be before assessed_to (2026-11-01)" in shown


def test_object_classes_drive_the_preview_the_link_and_the_url(hand_store):
    tab = tab_for(hand_store)
    assert tab.class_names == ["vessel", "buoy"]
    tab.scope.value = "all"
    tab.object_classes.value = ["buoy"]
    options = {"workflow": "harbour", "scope": "all", "object_classes": ["buoy"]}
    expected = ExportQuery(hand_store, **options).counts()
    assert tab.summary.object.startswith(f"**{expected.rows:,} rows**")
    [table] = tab.shown_tables()
    assert set(table.value.loc[table.value["attribute"] == "object_class", "value"]) == {"buoy"}
    token = parse_qs(urlparse(href(tab)).query)["token"][0]
    grant = verify(tab.settings.secret(), unquote(token), "local")
    assert grant.target["options"]["object_classes"] == ["buoy"]
    tab.object_classes.value = ["buoy", "vessel"]  # picked in any order: the workflow's order
    grant = verify(tab.settings.secret(), unquote(parse_qs(urlparse(href(tab)).query)["token"][0]),
                   "local")  # fmt: skip
    assert grant.target["options"]["object_classes"] == ["vessel", "buoy"]


def test_the_table_says_which_rows_it_shows_and_keeps_the_values_in_view(hand_store):
    from dashboard.web.ui.preview import rows_shown

    tab = tab_for(hand_store)
    tab.scope.value = "all"
    [table] = tab.shown_tables()
    total = ExportQuery(hand_store, workflow="harbour", scope="all").counts().rows
    [shown] = tab.shown_body()
    position = shown.select(pn.pane.Markdown)[1]
    assert position.object == f"rows 1–20 of {total:,}" == rows_shown(table, total)
    assert table.frozen_columns == {"attribute": "right", "value": "right", "confidence": "right"}
    tab.layout.value = "wide"
    [wide] = tab.shown_tables()
    assert wide.frozen_columns == {"file_name": "left"}
    [shown] = tab.shown_body()
    assert "one row per annotation" in shown.select(pn.pane.Markdown)[0].object


def test_the_shown_link_is_signed_again_while_the_page_is_open(hand_store, monkeypatch):
    import time

    from dashboard.web.ui.admin import LINK_LIFETIME

    tab = tab_for(hand_store)

    def grant():
        token = parse_qs(urlparse(href(tab)).query)["token"][0]
        return verify(tab.settings.secret(), unquote(token), "local")

    first = grant()
    later = time.time() + 3 * LINK_LIFETIME  # hours later, the tab still open
    monkeypatch.setattr(time, "time", lambda: later)
    tab._refresh_link()
    renewed = grant()
    assert renewed.expires >= later + LINK_LIFETIME - 1 > first.expires
    assert renewed.target == first.target


def test_every_export_option_has_one_widget_on_the_admin_tab(hand_store):
    from dashboard.web.ui.admin import OPTION_WIDGETS

    names = [option.name for option in OPTION_WIDGETS]
    options = [name for name in ExportQuery.param if name not in ("name", "workflow")]
    assert sorted(names) == sorted(options)
    tab = AdminTab(store=hand_store, workflow="harbour", user="local")
    assert all(hasattr(tab, option.widget) for option in OPTION_WIDGETS)


def test_a_callback_knows_whether_it_runs_on_the_event_loop_or_a_worker_thread():
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from dashboard.web.ui.page import on_event_loop

    async def on_the_loop() -> bool:
        return on_event_loop()

    assert asyncio.run(on_the_loop()) is True
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(on_event_loop).result() is False


def test_a_preview_that_fails_unexpectedly_raises_and_is_not_left_dimmed(hand_store, monkeypatch):
    """A fault that is not the database's is raised (the server logs it), and the preview
    does not keep showing that it is being made."""
    tab = tab_for(hand_store)

    def broken(_query):
        raise RuntimeError("a bug")

    monkeypatch.setattr(admin_module, "prepare", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        tab.layout.value = "wide"
    assert tab.body.styles == {}  # not left dimmed


def test_the_preview_is_dimmed_while_the_next_one_is_made(hand_store, monkeypatch):
    tab = tab_for(hand_store)
    assert tab.body.styles == {}
    seen = []
    prepare = admin_module.prepare

    def watched(query):
        seen.append(dict(tab.body.styles))
        return prepare(query)

    monkeypatch.setattr(admin_module, "prepare", watched)
    tab.layout.value = "wide"
    assert seen == [admin_module.STALE_STYLE]
    assert tab.body.styles == {}


def test_a_preview_is_made_once_for_every_session_until_data_is_added(hand_store, monkeypatch):
    """Two users on the same options share one prepared preview (made once, on the first
    one's thread); data added to the store makes the next preview anew, with the new data."""
    from datetime import datetime

    from dashboard.store import writer
    from dashboard.store.models import DataFile
    from dashboard.web.ui import preview as preview_module

    made = []
    make = preview_module._prepare
    monkeypatch.setattr(preview_module, "_prepare", lambda query: made.append(1) or make(query))
    first, second = tab_for(hand_store), tab_for(hand_store)
    assert len(made) == 1  # both tabs open on the same preview
    first.layout.value = "wide"
    second.layout.value = "wide"
    assert len(made) == 2
    assert first.summary.object == second.summary.object
    every = {"workflow": "harbour", "layout": "wide", "scope": "all"}
    before = ExportQuery(hand_store, **every).counts().rows

    with hand_store.session() as s:
        data_file = s.query(DataFile).filter_by(file_name="loose.jpg").one()
        machine = writer.add_assessment(
            s, data_file, "detector", "machine", "det@2.0", datetime(2026, 12, 1, 8)
        )
        tax = writer.Taxonomy(data_file.case.workflow)
        entity = "00000000-0000-4000-8000-000000000999"
        writer.add_annotation(s, tax, machine, entity, "buoy", "POINT (5 5)", 0.9)
    second.scope.value = "all"
    assert len(made) == 3  # made anew: the data changed
    assert ExportQuery(hand_store, **every).counts().rows == before + 1
    assert second.summary.object.startswith(f"**{before + 1:,} rows**")


def test_a_drawn_preview_is_drawn_anew_from_the_files_bytes(hand_store):
    """Files' bytes can become unreadable without any change of the data (the download then
    skips them): the gallery is drawn from them each time, never from an earlier drawing."""
    from dashboard.web.ui.preview import prepare

    tab = tab_for(hand_store)
    tab.layout.value = "annotated"
    tab.order.value = "8492192"
    assert all(shown.jpeg is not None for shown in prepare(tab.query).thumbnails)
    with hand_store.session() as s:
        keys = [f.storage_key for f in s.query(DataFile)]
    for key in keys:
        hand_store.files.put(key, b"not an image any more")
    thumbnails = prepare(tab.query).thumbnails
    assert thumbnails and all(shown.jpeg is None for shown in thumbnails)


def test_the_data_version_changes_with_a_new_attribute_alone(hand_store):
    """A wide table's columns are the taxonomy's: an attribute added without any value yet
    is new data for every cache keyed by the data version."""
    from dashboard.store import writer
    from dashboard.store.models import Workflow

    before = hand_store.data_version()
    with hand_store.session() as s:
        workflow = s.query(Workflow).filter_by(name="harbour").one()
        writer.add_attribute(s, workflow.id, "draught_m", 99)
    assert hand_store.data_version() != before
