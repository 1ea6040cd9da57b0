"""The interactive image of the Annotated Files preview: the shapes lie on the drawn content
(an asymmetric image and boxes), the picture is sent downscaled, and each shape's hover
text is its own annotation's, even for two identical boxes."""

from __future__ import annotations

import io
from datetime import datetime

import holoviews as hv
import pytest
from PIL import Image

from dashboard.query.export import ExportQuery
from dashboard.store import writer
from dashboard.ui.preview import INTERACTIVE_SIZE, interactive_image

RED, BLUE = (220, 20, 20), (20, 20, 220)
WIDTH, HEIGHT = 2400, 1200  # larger than what is sent


def _image() -> bytes:
    """Blue, with a red block in the top-left corner (x < 600, y < 300 as a person sees it)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BLUE)
    image.paste(RED, (0, 0, 600, 300))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def boxed(store):
    with store.session() as s:
        workflow = writer.create_workflow(s, "boxes", ["crate"], [("note", "string")])
        taxonomy = writer.Taxonomy(workflow)
        order = writer.workflow_order(s, workflow, "o1")
        source = writer.data_source(s, "cam")
        case = writer.case(s, workflow, "c1", order)
        data_file = writer.add_file(s, store.files, case, source, "a.png", _image())
        assessment = writer.add_assessment(
            s, data_file, "detector", "machine", "det@1", datetime(2026, 1, 1)
        )
        corner = "POLYGON ((0 0, 600 0, 600 300, 0 300, 0 0))"
        for entity, note in (("00000000-0000-4000-8000-00000000000a", "first"),
                             ("00000000-0000-4000-8000-00000000000b", "second")):  # fmt: skip
            annotation = writer.add_annotation(
                s, taxonomy, assessment, entity, "crate", corner, 0.9, 0.9
            )
            writer.add_value(s, taxonomy, assessment, entity, "note", note, 0.5, annotation)
    query = ExportQuery(store, workflow="boxes", layout="annotated", order="o1")
    return query, next(query.annotated_items())


def _parts(query, item):
    """The picture and the shapes of the interactive image."""
    pane = interactive_image(query, item)
    elements = list(pane.object.values())
    [rgb] = [e for e in elements if isinstance(e, hv.RGB)]
    [polygons] = [e for e in elements if isinstance(e, hv.Polygons)]
    return rgb, polygons


def _colour(rgb, x: float, y: float) -> tuple[int, int, int]:
    cell = rgb[x, y]
    return tuple(int(cell.dimension_values(band)[0]) for band in ("R", "G", "B"))


def test_the_shapes_lie_on_the_content_they_annotate(boxed):
    rgb, polygons = _parts(*boxed)
    shape = polygons.split()[0]
    xs, ys = shape.dimension_values(0), shape.dimension_values(1)
    centre = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    assert centre == (300, HEIGHT - 150)  # the plot's y counts up from the bottom
    assert _colour(rgb, *centre) == RED  # the red corner is under its box
    assert _colour(rgb, 300, 150) == BLUE  # and not at the bottom, where nothing was boxed


def test_the_picture_is_sent_downscaled_in_the_full_images_coordinates(boxed):
    rgb, _ = _parts(*boxed)
    height, width = rgb.data.shape[:2]
    assert max(width, height) == INTERACTIVE_SIZE
    assert rgb.bounds.lbrt() == (0, 0, WIDTH, HEIGHT)


def test_two_identical_boxes_hover_with_their_own_attributes(boxed):
    _, polygons = _parts(*boxed)
    notes = [shape.dimension_values("attributes")[0] for shape in polygons.split()]
    assert notes == ["note=first", "note=second"]
