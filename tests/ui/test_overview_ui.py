"""The Overview renders its HoloViews charts to Bokeh models, and friendly text without data."""

from __future__ import annotations

import html
import re
from datetime import datetime

import panel as pn
from bokeh.models import ColumnDataSource, Plot

from dashboard.store import writer
from dashboard.web.ui.overview import Overview
from tests.hand_workflow import image_bytes

TITLES = [
    "Annotations per object class (Latest Assessments)",
    "Assessments per day by stage kind",
    "Assessments per workflow order and data source",
    "Files per workflow order and data source",
    "Human review against the machine stage, per object class",
    "Location confidence by stage kind",
]


def titles(root) -> list[str]:
    return sorted(plot.title.text for plot in root.select({"type": Plot}))


def texts(root) -> str:
    """The visible text of every HTML-like model (Markdown, Number indicators), tags removed."""
    parts = [getattr(model, "text", None) for model in root.references()]
    shown = " ".join(html.unescape(part) for part in parts if isinstance(part, str))
    return re.sub(r"<[^>]+>", " ", shown)


def data_of(root, column: str) -> dict[str, list]:
    (source,) = [s for s in root.select({"type": ColumnDataSource}) if column in s.data]
    return {key: list(values) for key, values in source.data.items()}


def test_overview_of_the_hand_workflow(hand_store):
    root = Overview(store=hand_store, workflow="harbour").__panel__().get_root()
    assert titles(root) == TITLES
    words = " ".join(texts(root).split())
    for label, value in [("Files", 3), ("Cases", 2), ("Machine assessments", 3)]:
        assert f"{label} {value}" in words
    assert "ties are broken by the greater assessment id" in words
    classes = data_of(root, "colour")
    assert classes["object_class"] == ["vessel", "buoy"]
    assert classes["colour"] == ["#e6194b", "#3cb44b"]  # the taxonomy's class colours
    assert classes["annotations"] == [3, 1]
    changes = data_of(root, "change")
    assert (changes["object_class"], changes["change"]) == (
        ["vessel", "buoy", "buoy"],
        ["moved", "deleted", "added"],
    )


def test_scope_and_workflow_changes_redraw(hand_store):
    with hand_store.session() as session:
        writer.create_workflow(session, "empty", ["vessel"])
    overview = Overview(store=hand_store, workflow="harbour")
    root = overview.__panel__().get_root()
    overview.class_scope = "all"
    assert "Annotations per object class (All Assessments)" in titles(root)
    assert data_of(root, "colour")["annotations"] == [4, 2]
    overview.workflow = "empty"
    assert titles(root) == []
    assert "This workflow has no files yet" in texts(root)


def test_a_workflow_without_annotations_or_review(hand_store):
    """Files and assessments but nothing to plot in the other charts: text, not errors."""
    with hand_store.session() as session:
        workflow = writer.create_workflow(session, "unreviewed", ["crane"])
        source = writer.data_source(session, "cam-9")
        case = writer.case(session, workflow, "1")
        data_file = writer.add_file(
            session, hand_store.files, case, source, "a.jpg", image_bytes(8, 8)
        )
        writer.add_assessment(
            session, data_file, "detector", "machine", "d@1", datetime(2026, 1, 2)
        )
    root = Overview(store=hand_store, workflow="unreviewed").__panel__().get_root()
    assert titles(root) == [
        "Assessments per day by stage kind",
        "Assessments per workflow order and data source",
        "Files per workflow order and data source",
    ]
    words = texts(root)
    assert "No annotations in this workflow yet." in words
    assert "No annotation in this workflow has a confidence." in words
    assert "No file has a human assessment after its machine assessment." in words


def test_no_workflow_and_unknown_workflow(sqlite_store):
    root = Overview(store=sqlite_store, workflow="").__panel__().get_root()
    assert "No workflow in the store yet." in texts(root)
    root = Overview(store=sqlite_store, workflow="gone").__panel__().get_root()
    assert "unknown workflow 'gone'" in texts(root)


def test_saved_page_holds_the_charts(hand_store, tmp_path):
    page = tmp_path / "overview.html"
    pn.panel(Overview(store=hand_store, workflow="harbour")).save(page)
    content = page.read_text(encoding="utf-8")
    for title in TITLES:
        assert title in content
