"""Pixel coordinates as a person sees the image (SPEC 2), for all eight EXIF orientations:
the COCO import checks the displayed size, the store records it, and the Annotated Files
ZIP draws each box on the content it was drawn around in the upright picture."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from PIL import Image

from dashboard.errors import ImportRecordError
from dashboard.export import ExportQuery
from dashboard.importers.coco import import_coco
from dashboard.store import writer
from dashboard.store.models import DataFile

BLUE, RED = (20, 20, 220), (230, 30, 30)
UPRIGHT = (200, 400)  # as displayed: portrait
BLOCK = (20, 300, 60, 80)  # x, y, width, height of a red block near the bottom left
BOX = (10, 290, 80, 100)  # the annotation around it (its edges lie on blue)
# The transpose that stores an upright picture under each orientation (exif_transpose undoes it).
STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def photo(orientation: int) -> bytes:
    """A camera's JPEG: pixels stored turned, an EXIF tag saying how to show them upright."""
    upright = Image.new("RGB", UPRIGHT, BLUE)
    x, y, w, h = BOX
    upright.paste(RED, (x, y, x + w, y + h))
    stored = (
        upright if STORED_AS[orientation] is None else upright.transpose(STORED_AS[orientation])
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def coco(width: int, height: int, bbox=BOX) -> dict:
    return {
        "images": [{"id": 1, "file_name": "photo.jpg", "width": width, "height": height}],
        "categories": [{"id": 1, "name": "crate"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": list(bbox)}],
    }


def _import(store, tmp_path, orientation: int, size=UPRIGHT, bbox=BOX):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    (images / "photo.jpg").write_bytes(photo(orientation))
    source = tmp_path / "coco.json"
    source.write_text(json.dumps(coco(*size, bbox)))
    return import_coco(
        store, "crates", source, images, stage="detector", stage_kind="machine",
        assessed_by="det@1", order="o1", assessed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


@pytest.fixture
def crates(store):
    with store.session() as s:
        writer.create_workflow(s, "crates", ["crate"], [])
    return store


@pytest.mark.parametrize("orientation", range(1, 9))
def test_boxes_are_imported_stored_and_drawn_as_the_picture_is_seen(crates, tmp_path, orientation):
    _import(crates, tmp_path, orientation)
    with crates.session() as s:
        [stored] = s.query(DataFile).all()
        assert (stored.width, stored.height) == UPRIGHT
    query = ExportQuery(crates, workflow="crates", layout="annotated", order="o1")
    buffer = io.BytesIO()
    query.write_annotated_zip(buffer, workers=1)
    archive = zipfile.ZipFile(buffer)
    [member] = [name for name in archive.namelist() if name != "manifest.json"]
    drawn = Image.open(io.BytesIO(archive.read(member))).convert("RGB")
    assert drawn.size == UPRIGHT
    x, y, w, h = BOX
    edge = drawn.getpixel((x + w // 2, y))  # the box's top edge, in the upright picture
    assert not _close(edge, BLUE)  # drawn where the box is as the picture is seen
    assert _close(drawn.getpixel((30, 340)), RED)  # the block shows through the fill
    assert _close(drawn.getpixel((150, 50)), BLUE)  # far from the box: untouched


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_the_stored_pixel_size_of_a_turned_photo_is_refused_naming_the_displayed_one(
    crates, tmp_path, orientation
):
    with pytest.raises(ImportRecordError, match=r"is 200x400 as displayed"):
        _import(crates, tmp_path, orientation, size=(400, 200), bbox=(10, 10, 30, 30))
    with crates.session() as s:
        assert s.query(DataFile).count() == 0


def _close(colour, expected) -> bool:
    return max(abs(a - b) for a, b in zip(colour, expected, strict=True)) < 40
