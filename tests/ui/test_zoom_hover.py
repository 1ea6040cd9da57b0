"""Hovering the zoom view in Chromium: a point inside a drawn box names that box's annotation,
a point where nothing was drawn names none (an asymmetric image, so a flipped picture or
flipped shapes would show)."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from playwright.sync_api import expect

from dashboard.config import Settings
from dashboard.store import writer
from dashboard.store.db import open_store
from tests.helpers import served_app
from tests.ui.test_browser import WAIT

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 2400, 1200


@pytest.fixture(scope="module")
def boxes_app(tmp_path_factory):
    from PIL import Image

    data = tmp_path_factory.mktemp("zoom") / "data"
    env = {"ASSESS_DATA_DIR": str(data)}
    store = open_store(Settings.from_env(env))
    image = Image.new("RGB", (WIDTH, HEIGHT), (20, 20, 220))
    image.paste((220, 20, 20), (0, 0, 600, 300))  # red in the top-left corner, as seen
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    with store.session() as s:
        workflow = writer.create_workflow(s, "boxes", ["crate"], [("note", "string")])
        taxonomy = writer.Taxonomy(workflow)
        case = writer.case(s, workflow, "c1", writer.workflow_order(s, workflow, "o1"))
        data_file = writer.add_file(
            s, store.files, case, writer.data_source(s, "cam"), "a.png", buffer.getvalue()
        )
        assessment = writer.add_assessment(
            s, data_file, "detector", "machine", "det@1", datetime(2026, 1, 1)
        )
        entity = "00000000-0000-4000-8000-00000000000a"
        corner = "POLYGON ((0 0, 600 0, 600 300, 0 300, 0 0))"
        annotation = writer.add_annotation(s, taxonomy, assessment, entity, "crate", corner, 0.9)
        writer.add_value(s, taxonomy, assessment, entity, "note", "top-left", 0.5, annotation)
    try:
        with served_app(env) as base:
            yield base
    finally:
        store.dispose()


def test_hovering_the_zoom_view_names_the_box_under_the_mouse(context, boxes_app):
    page = context.new_page()
    page.goto(f"{boxes_app}/app?workflow=boxes&tab=admin&layout=annotated&order=o1")
    canvas = page.locator(".bk-Canvas").last
    expect(canvas).to_be_visible(timeout=WAIT)
    page.wait_for_timeout(1000)  # the picture loads
    box = canvas.bounding_box()

    def at(x: float, y: float):
        """Image pixel (x right, y down as seen) to the page; the plot spans the canvas."""
        page.mouse.move(box["x"] + x / WIDTH * box["width"], box["y"] + y / HEIGHT * box["height"])
        page.wait_for_timeout(300)

    tooltip = page.get_by_text("note=top-left")
    at(300, 150)  # inside the box, on the red corner
    expect(tooltip).to_be_visible(timeout=WAIT)
    at(300, 1050)  # bottom-left: nothing drawn there
    expect(tooltip).to_have_count(0)
    at(2100, 150)  # top-right: nothing either
    expect(tooltip).to_have_count(0)
    page.close()
