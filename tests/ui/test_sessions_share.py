"""What sessions share and what each builds (issue 11): the Overview's numbers are read once
per workflow and data version for every session; a session builds only the tab it shows;
one session's option changes run one at a time even on a thread pool; the preview table
keeps its Tabulator from one change to the next and gives every column a width."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import panel as pn
import pytest
from sqlalchemy import event

from dashboard.errors import UnknownWorkflowError
from dashboard.export import ExportQuery
from dashboard.query import overview as data
from dashboard.store import writer
from dashboard.web.ui import admin as admin_module
from dashboard.web.ui import tabs as tabs_module
from dashboard.web.ui.admin import AdminTab
from dashboard.web.ui.overview import Overview
from dashboard.web.ui.tabs import workflow_tabs
from tests.hand_workflow import image_bytes


class Statements:
    """The SQL statements the store's engine runs while counting."""

    def __init__(self, store) -> None:
        self.texts: list[str] = []
        self._engine = store.engine
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _connection, _cursor, statement, *_args) -> None:
        self.texts.append(statement)

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


def number(root, label: str):
    """The value of the Number indicator labelled ``label`` under ``root``."""
    (indicator,) = [n for n in root.select(pn.indicators.Number) if n.name == label]
    return indicator.value


def add_reviewed_file(store, name: str) -> None:
    """A new file with a machine assessment in the hand workflow: new data."""
    with store.session() as session:
        workflow = store.workflow(session, "harbour")
        source = writer.data_source(session, "cam-1")
        case = writer.case(session, workflow, f"case-{name}")
        data_file = writer.add_file(session, store.files, case, source, name, image_bytes(8, 8))
        writer.add_assessment(
            session, data_file, "detector", "machine", "det@1.0", datetime(2026, 11, 5)
        )


def test_two_sessions_share_the_overview_numbers_until_data_is_added(hand_store):
    first = Overview(store=hand_store, workflow="harbour")
    assert number(first.__panel__(), "Files") == 3
    statements = Statements(hand_store)
    try:
        second = Overview(store=hand_store, workflow="harbour")  # another session's
        assert number(second.__panel__(), "Files") == 3
        # Only the data version was read: no aggregate ran again.
        assert statements.texts and all("max(" in text.lower() for text in statements.texts)
        assert not any("count(" in text.lower() for text in statements.texts)
        assert second._numbers is first._numbers
        statements.texts.clear()
        add_reviewed_file(hand_store, "new.jpg")
        third = Overview(store=hand_store, workflow="harbour")  # after an import
        assert number(third.__panel__(), "Files") == 4
        assert any("count(" in text.lower() for text in statements.texts)
        assert third._numbers is not first._numbers
    finally:
        statements.close()


def test_the_cache_knows_the_class_scope_and_forgets_unknown_workflows(hand_store):
    numbers = data.cached_numbers(hand_store, "harbour")
    latest = numbers.class_distribution("latest")
    assert numbers.class_distribution("all") is not latest
    assert numbers.class_distribution("latest") is latest  # read once per scope
    with pytest.raises(UnknownWorkflowError):
        data.cached_numbers(hand_store, "gone")
    assert not any(key[1] == "gone" for key in data._numbers)


def test_a_class_added_to_the_taxonomy_is_a_new_version(hand_store):
    """A taxonomy can grow without a new assessment: the class chart still shows it."""
    from dashboard.store.models import ObjectClass

    before = data.cached_numbers(hand_store, "harbour")
    assert list(before.class_distribution()["object_class"]) == ["vessel", "buoy"]
    assert data.cached_numbers(hand_store, "harbour") is before
    with hand_store.session() as session:
        workflow = hand_store.workflow(session, "harbour")
        session.add(ObjectClass(workflow=workflow, name="crane", colour="#123456", position=9))
    after = data.cached_numbers(hand_store, "harbour")
    assert after is not before
    assert list(after.class_distribution()["object_class"]) == ["vessel", "buoy", "crane"]


def test_a_session_builds_only_the_tab_it_shows(hand_store):
    tabs = workflow_tabs(hand_store, "harbour", "local")
    assert tabs.tabs._names == ["Overview", "Admin"]
    assert tabs.built(0) is None and tabs.built(1) is None  # nothing until it is shown
    tabs.fill_shown()
    assert isinstance(tabs.built(0), Overview)
    assert tabs.built(1) is None  # the Admin tab is not made for a look at the Overview
    tabs.tabs.active = 1
    assert isinstance(tabs.built(1), AdminTab)
    tabs.tabs.active = 0
    tabs.tabs.active = 1
    assert isinstance(tabs.built(1), AdminTab)  # made once


class LoopQueue:
    """``on_page`` as a served session runs it: each change a callback of the loop, run in
    the order asked; ``later`` ones after those already waiting."""

    def __init__(self) -> None:
        self.waiting: list = []

    def __call__(self, change, later: bool = False) -> None:
        self.waiting.append(change)

    def run_one(self) -> None:
        with pn.io.hold():
            self.waiting.pop(0)()


def test_a_new_tab_is_shown_a_part_per_loop_callback(hand_store, monkeypatch):
    loop = LoopQueue()
    monkeypatch.setattr(tabs_module, "on_page", loop)
    tabs = workflow_tabs(hand_store, "harbour", "local")
    tabs.fill_shown()
    overview = tabs.built(0)
    layout = pn.panel(overview)
    parts = overview._content()
    slot = tabs.tabs.objects[0]
    assert slot.objects == [] and len(loop.waiting) == 1  # nothing shown before the loop runs
    shown = []
    while loop.waiting:
        loop.run_one()
        assert slot.objects == [layout]
        shown.append(len(layout.objects))
    assert shown == list(range(1, len(parts) + 1))  # one part more per callback
    assert [type(part) for part in layout.objects] == [type(part) for part in parts]


def test_a_tab_replaced_while_it_is_shown_keeps_what_replaced_it(hand_store, monkeypatch):
    loop = LoopQueue()
    monkeypatch.setattr(tabs_module, "on_page", loop)
    tabs = workflow_tabs(hand_store, "harbour", "local")
    tabs.fill_shown()
    layout = pn.panel(tabs.built(0))
    loop.run_one()
    loop.run_one()
    assert len(layout.objects) == 2
    replacement = [pn.pane.Markdown("another workflow")]
    layout.objects = replacement  # what the Overview's redraw does on the loop
    while loop.waiting:
        loop.run_one()
    assert layout.objects == replacement


@pytest.mark.parametrize(
    ("tab", "index", "kind", "reads"),
    [("", 0, Overview, (data, "cached_numbers")), ("admin", 1, AdminTab, (ExportQuery, "choices"))],
    ids=["overview", "admin"],
)
def test_a_tab_the_database_does_not_answer_says_so_and_is_made_when_shown_again(
    hand_store, monkeypatch, tab, index, kind, reads
):
    from sqlalchemy.exc import OperationalError

    tabs = workflow_tabs(hand_store, "harbour", "local", tab=tab)
    owner, name = reads

    def refused(*_args):
        raise OperationalError("SELECT ...", {}, Exception("connection refused"))

    with monkeypatch.context() as patched:
        patched.setattr(owner, name, refused)
        tabs.fill_shown()
    assert tabs.built(index) is None
    (alert,) = tabs.tabs.objects[index].objects
    shown = alert.object.replace("\\", "")  # Markdown-escaped
    assert "The database is not answering (connection refused): reload the page." in shown
    tabs.tabs.active = 1 - index  # the database is back: the tab is made when shown again
    tabs.tabs.active = index
    assert isinstance(tabs.built(index), kind)


def test_a_link_to_the_admin_tab_builds_no_overview(hand_store):
    tabs = workflow_tabs(hand_store, "harbour", "local", tab="admin")
    tabs.fill_shown()
    assert tabs.tabs.active == 1
    assert isinstance(tabs.built(1), AdminTab) and tabs.built(0) is None


def test_a_viewer_gets_no_admin_tab_even_by_link(hand_store, monkeypatch):
    from dashboard.config import Settings

    monkeypatch.setattr(hand_store, "settings", Settings.from_env({"ASSESS_ADMINS": "anna"}))
    tabs = workflow_tabs(hand_store, "harbour", "jonas", tab="admin")
    tabs.fill_shown()
    assert tabs.tabs._names == ["Overview"] and tabs.tabs.active == 0
    assert isinstance(tabs.built(0), Overview)


def test_one_sessions_changes_on_two_threads_preview_one_at_a_time(hand_store, monkeypatch):
    """With --num-threads two changes of one page can run at once: the previews are made
    one after the other, and what is shown is the newest options' preview and link."""
    tab = AdminTab(store=hand_store, workflow="harbour", user="local")
    running, overlap = [0], [0]
    real_prepare = admin_module.prepare

    def slow_prepare(query):
        running[0] += 1
        overlap[0] = max(overlap[0], running[0])
        try:
            time.sleep(0.3)
            return real_prepare(query)
        finally:
            running[0] -= 1

    monkeypatch.setattr(admin_module, "prepare", slow_prepare)
    first = threading.Thread(target=lambda: setattr(tab.layout, "value", "wide"))
    second = threading.Thread(target=lambda: setattr(tab.scope, "value", "all"))
    first.start()
    time.sleep(0.1)
    second.start()
    first.join(10)
    second.join(10)
    assert overlap[0] == 1, "two previews of one session ran at once"
    rows = ExportQuery(hand_store, workflow="harbour", scope="all", layout="wide").counts().rows
    assert tab.summary.object.startswith(f"**{rows:,} rows**")
    assert "export-download" in tab.link.object and "_wide_" in tab.link.object


def test_the_preview_keeps_its_table_and_link_and_sets_every_width(hand_store):
    tab = AdminTab(store=hand_store, workflow="harbour", user="local")
    [table] = tab.shown_tables()
    link = tab.action.objects[0]
    assert set(table.widths) == set(table.value.columns)  # the browser measures nothing
    shown = list(table.value["value"])
    tab.safe.value = False  # as many rows: the same table, new values
    [same] = tab.shown_tables()
    assert same is table and tab.action.objects[0] is link
    unsafe = ExportQuery(hand_store, workflow="harbour", spreadsheet_safe=False).preview(200)
    assert list(table.value["value"]) == list(unsafe["value"].fillna("")) != shown
    assert table.page == 1 and "export-download" in link.object
    tab.layout.value = "wide"
    [wide] = tab.shown_tables()
    assert wide is not table and set(wide.widths) == set(wide.value.columns)
    assert len(tab.body.objects) == 2  # the long table stays in the page, hidden
    tab.layout.value = "long"
    [again] = tab.shown_tables()
    assert again is table  # the session's long table, shown again
    assert len(tab.body.objects) == 2 and not tab.body.objects[1].visible
    tab.stage_kind.value = "human"  # another number of rows on the page: a new table
    [fewer] = tab.shown_tables()
    rows = ExportQuery(hand_store, workflow="harbour", stage_kind="human").counts().rows
    assert fewer is not table and len(fewer.value) == rows < len(table.value)
