"""The interactive image of the Annotated Files preview: the shapes lie on the drawn content
(an asymmetric image and boxes), the picture is sent downscaled, and each shape's hover
text is its own annotation's, even for two identical boxes."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import pytest
from PIL import Image

from dashboard.export import ExportQuery
from dashboard.store import writer
from dashboard.web.ui.preview import INTERACTIVE_SIZE, interactive_image

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
    """The picture (decoded from what is sent) and the shapes' data of the interactive image."""
    from bokeh.models import ImageURL, Patches

    figure = interactive_image(query, item).object
    glyphs = {type(r.glyph): r for r in figure.renderers}
    url = glyphs[ImageURL].data_source.data["url"][0]
    assert url.startswith("data:image/jpeg;base64,")  # encoded, not raw pixels
    picture = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    return figure, picture, glyphs[Patches].data_source.data


def _colour(figure, picture, x: float, y: float) -> tuple[int, int, int]:
    """The colour shown at plot coordinates (x, y): y counts up from the bottom."""
    scale = picture.width / figure.x_range.end
    pixel = picture.getpixel((int(x * scale), int((figure.y_range.end - y) * scale)))
    return tuple(pixel)


def _close(colour, expected) -> bool:  # JPEG changes colours a little
    return all(abs(a - b) < 40 for a, b in zip(colour, expected, strict=True))


def test_the_shapes_lie_on_the_content_they_annotate(boxed):
    figure, picture, shapes = _parts(*boxed)
    xs, ys = shapes["xs"][0], shapes["ys"][0]
    centre = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    assert centre == (300, HEIGHT - 150)  # the plot's y counts up from the bottom
    assert _close(_colour(figure, picture, *centre), RED)  # the red corner is under its box
    assert _close(_colour(figure, picture, 300, 150), BLUE)  # not at the bottom


def test_the_picture_is_sent_downscaled_and_encoded_in_the_full_images_coordinates(boxed):
    figure, picture, _ = _parts(*boxed)
    assert max(picture.size) == INTERACTIVE_SIZE
    assert (figure.x_range.start, figure.x_range.end) == (0, WIDTH)
    assert (figure.y_range.start, figure.y_range.end) == (0, HEIGHT)


def test_two_identical_boxes_hover_with_their_own_attributes(boxed):
    _, _, shapes = _parts(*boxed)
    assert list(shapes["attributes"]) == ["note=first", "note=second"]
    assert len(set(shapes["annotation_id"])) == 2


def test_a_24_megapixel_photo_is_decoded_small_for_the_preview():
    """JPEG draft decoding: the preview never holds the full 24 MP image in memory."""
    from dashboard.produce.drawing import preview_image

    photo = Image.new("RGB", (6000, 4000), BLUE)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=80)
    image, size = preview_image(buffer.getvalue(), INTERACTIVE_SIZE)
    assert size == (6000, 4000) and max(image.size) == INTERACTIVE_SIZE


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_preview_image_is_turned_as_displayed(orientation):
    """EXIF orientations 5-8 turn the picture a quarter: the displayed size swaps."""
    from dashboard.produce.drawing import preview_image

    stored = Image.new("RGB", (400, 200), BLUE)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif.tobytes())
    image, size = preview_image(buffer.getvalue(), 100)
    expected = (200, 400) if orientation >= 5 else (400, 200)
    assert size == expected
    assert image.size == (expected[0] // 4, expected[1] // 4)
