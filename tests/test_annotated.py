"""The Annotated Files ZIP: names with and without stage, manifest, skipped files, drawing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from PIL import Image

from dashboard.errors import InvalidOptionError
from dashboard.export import ExportQuery
from dashboard.store import writer
from tests.hand_workflow import image_bytes


def archive(store, workers: int = 1, **options) -> zipfile.ZipFile:
    query = ExportQuery(store, workflow="harbour", layout="annotated", **options)
    buffer = io.BytesIO()
    written = query.write_annotated_zip(buffer, workers=workers)
    zf = zipfile.ZipFile(buffer)
    assert zf.testzip() is None
    manifest = json.loads(zf.read("manifest.json"))
    assert written == len(manifest["members"])
    assert query.counts().rows == len(manifest["members"]) + len(manifest["unreadable"])
    return zf


def test_latest_gives_one_image_per_file_of_the_order(hand_store):
    zf = archive(hand_store, order="8492192")
    assert zf.namelist() == [
        "000003112442_8492192_1.jpg",
        "000003112442_8492192_2.png",
        "manifest.json",
    ]
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["filters"] == {
        "data_source": None,
        "layout": "annotated",
        "order": "8492192",
        "scope": "latest",
        "stage_kind": None,
        "assessed_from": None,
        "assessed_to": None,
        "object_classes": [],
        "workflow": "harbour",
    }
    first = manifest["members"][0]
    assert (first["file_id"], first["assessment_id"], first["stage"]) == (
        hand_store.ids["f1"],
        hand_store.ids["h1"],
        "review",
    )
    assert first["sha256"] == hashlib.sha256(zf.read(first["name"])).hexdigest()
    assert manifest["unreadable"] == []


def test_all_gives_one_image_per_assessment_with_the_stage(hand_store):
    zf = archive(hand_store, workers=2, order="8492192", scope="all")
    assert zf.namelist() == [
        "000003112442_8492192_1_detector.jpg",
        "000003112442_8492192_1_review.jpg",
        "000003112442_8492192_2_detector.png",
        "manifest.json",
    ]


def test_images_keep_size_and_format_and_show_the_annotations(hand_store):
    zf = archive(hand_store, order="8492192", scope="all")
    machine = Image.open(io.BytesIO(zf.read("000003112442_8492192_1_detector.jpg")))
    human = Image.open(io.BytesIO(zf.read("000003112442_8492192_1_review.jpg")))
    assert (machine.format, machine.size, human.size) == ("JPEG", (64, 48), (64, 48))
    line = Image.open(io.BytesIO(zf.read("000003112442_8492192_2_detector.png")))
    assert line.format == "PNG" and line.size == (32, 32)
    # The uniform background (90, 120, 140) is changed where the annotations are drawn.
    assert line.convert("RGB").getpixel((5, 5)) != (90, 120, 140)
    assert line.convert("RGB").getpixel((31, 31)) == (90, 120, 140)


def test_missing_and_undecodable_files_are_listed_not_fatal(hand_store):
    with hand_store.session() as s:
        workflow = hand_store.workflow(s, "harbour")
        order = writer.workflow_order(s, workflow, "8492192")
        case = writer.case(s, workflow, "9", order)
        broken = writer.add_file(
            s, hand_store.files, case, writer.data_source(s, "cam-1"), "b.png", image_bytes(4, 4)
        )
        key = broken.storage_key
    hand_store.files.put(key, b"not an image any more")
    zf = archive(hand_store, order="8492192")
    manifest = json.loads(zf.read("manifest.json"))
    assert [u["name"] for u in manifest["unreadable"]] == ["000000000009_8492192_1.png"]
    assert "000000000009_8492192_1.png" not in zf.namelist()
    assert len(manifest["members"]) == 2


def test_an_order_is_required(hand_store):
    with pytest.raises(InvalidOptionError, match="needs a workflow order"):
        ExportQuery(hand_store, workflow="harbour", layout="annotated")
