"""COCO import: exact stored rows, a human stage on top of a machine stage, and bad input."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from dashboard.errors import (
    ImportRecordError,
    InvalidGeometryError,
    InvalidValueError,
    MissingImageError,
    UnknownChoiceError,
    UnknownWorkflowError,
)
from dashboard.importers.coco import ImportSummary, import_coco
from dashboard.store import writer
from dashboard.store.models import (
    Annotation,
    Assessment,
    Attribute,
    AttributeValue,
    Base,
    Case,
    DataFile,
    DataSource,
    Entity,
    ObjectClass,
    Workflow,
    WorkflowOrder,
)

WORKFLOW = "harbour"
ENTITY_A = "5b0e8a39-2f0e-4c1c-9a57-0d1f6d7f3a01"
ENTITY_B = "0c6f3a8e-8d7b-4f7e-b0a4-6a2e4e9c5b02"
MACHINE_AT = datetime(2026, 11, 28, 18, 7, 1, tzinfo=UTC)
HUMAN_AT = datetime(2026, 11, 29, 9, 30, 0, tzinfo=UTC)
IMAGES = {  # file name: (size, format)
    "harbour_a.png": ((64, 48), "PNG"),
    "harbour_b.jpg": ((40, 30), "JPEG"),
    "harbour_c.png": ((32, 32), "PNG"),
}


def machine_coco() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "harbour_a.png", "width": 64, "height": 48},
            {
                "id": 2,
                "file_name": "harbour_b.jpg",
                "width": 40,
                "height": 30,
                "external_id": "3112442",
            },
            {"id": 3, "file_name": "harbour_c.png", "width": 32, "height": 32},
        ],
        "categories": [
            {"id": 1, "name": "vessel"},
            {"id": 2, "name": "buoy"},
            {"id": 9, "name": "seagull"},  # unknown to the workflow, but no annotation uses it
        ],
        "annotations": [
            {
                "id": 11,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 5, 20.5, 10],
                "segmentation": [],
                "score": 0.91,
                "iscrowd": 0,
                "area": 205,
                "entity_id": ENTITY_A,
            },
            {
                "id": 12,
                "image_id": 1,
                "category_id": 2,
                "bbox": [40, 20, 10, 10],
                "segmentation": [[40, 20, 50, 20, 45, 30]],
                "score": 0.5,
                "attributes": {
                    "occluded": False,
                    "severity": "high",
                    "length_m": 3.25,
                    "entity_id": ENTITY_B,
                },
            },
            {"id": 13, "image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 30]},
        ],
    }


def human_coco() -> dict:
    """A reviewer's pass: other image ids (matching is by file name), one kept entity."""
    return {
        "images": [
            {"id": 5, "file_name": "harbour_a.png", "width": 64, "height": 48},
            {"id": 6, "file_name": "harbour_b.jpg", "width": 40, "height": 30},
            {"id": 7, "file_name": "harbour_c.png", "width": 32, "height": 32},
        ],
        "categories": [{"id": 1, "name": "buoy"}, {"id": 2, "name": "vessel"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 5,
                "category_id": 2,
                "bbox": [11, 5, 20, 10],
                "attributes": {"entity_id": ENTITY_A, "severity": "low"},
            },
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [1, 1, 4, 4]},
        ],
    }


@dataclass
class Harbour:
    store: object
    tmp_path: Path
    images_dir: Path
    image_bytes: dict[str, bytes] = field(default_factory=dict)

    def write_coco(self, coco: dict | str, name: str = "coco.json") -> Path:
        path = self.tmp_path / name
        path.write_text(coco if isinstance(coco, str) else json.dumps(coco), encoding="utf-8")
        return path

    def run(self, coco: dict | str, **options) -> ImportSummary:
        arguments = {
            "stage": "detector",
            "stage_kind": "machine",
            "assessed_by": "yolo@8.1",
            "assessed_at": MACHINE_AT,
        }
        arguments.update(options)
        workflow = arguments.pop("workflow", WORKFLOW)
        images_dir = arguments.pop("images_dir", self.images_dir)
        return import_coco(self.store, workflow, self.write_coco(coco), images_dir, **arguments)

    def human(self, coco: dict | None = None, **options) -> ImportSummary:
        arguments = {
            "stage": "review",
            "stage_kind": "human",
            "assessed_by": "ana",
            "assessed_at": HUMAN_AT,
            "images_dir": self.tmp_path / "no-images-needed",
        }
        arguments.update(options)
        return self.run(coco or human_coco(), **arguments)


def write_images(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    written = {}
    for name, (size, image_format) in IMAGES.items():
        image = Image.new("RGB", size, (20, 60, 110))
        ImageDraw.Draw(image).rectangle((2, 2, size[0] // 2, size[1] // 2), fill=(230, 230, 230))
        buffer = io.BytesIO()
        image.save(buffer, image_format)
        written[name] = buffer.getvalue()
        (folder / name).write_bytes(written[name])
    return written


@pytest.fixture
def harbour(store, tmp_path) -> Harbour:
    with store.session() as session:
        writer.create_workflow(
            session,
            WORKFLOW,
            ["vessel", "buoy"],
            [("severity", "enum", ["low", "high"]), ("length_m", "decimal")],
        )
    images_dir = tmp_path / "images"
    return Harbour(store, tmp_path, images_dir, write_images(images_dir))


def table_counts(store) -> dict[str, int]:
    with store.session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def stored_files(store) -> list[tuple]:
    with store.session() as session:
        rows = session.execute(
            select(
                Case.external_id,
                WorkflowOrder.name,
                DataFile.count,
                DataFile.file_name,
                DataFile.content_type,
                DataFile.width,
                DataFile.height,
                DataFile.byte_size,
                DataFile.sha256,
                DataSource.name,
            )
            .join(Case, DataFile.case_id == Case.id)
            .outerjoin(WorkflowOrder, Case.workflow_order_id == WorkflowOrder.id)
            .join(DataSource, DataFile.data_source_id == DataSource.id)
            .order_by(DataFile.id)
        )
        return [tuple(row) for row in rows]


def stored_assessments(store) -> list[tuple]:
    with store.session() as session:
        rows = session.execute(
            select(
                DataFile.file_name,
                Assessment.stage,
                Assessment.stage_kind,
                Assessment.assessed_by,
                Assessment.assessed_at,
            )
            .join(DataFile, Assessment.data_file_id == DataFile.id)
            .order_by(Assessment.id)
        )
        return [(name, stage, str(kind), by, at) for name, stage, kind, by, at in rows]


def stored_annotations(store) -> list[tuple]:
    with store.session() as session:
        rows = session.execute(
            select(
                Assessment.stage,
                DataFile.file_name,
                Annotation.entity_id,
                ObjectClass.name,
                Annotation.geometry,
                Annotation.confidence,
                Annotation.class_confidence,
                Annotation.frame,
            )
            .join(Assessment, Annotation.assessment_id == Assessment.id)
            .join(DataFile, Assessment.data_file_id == DataFile.id)
            .join(ObjectClass, Annotation.object_class_id == ObjectClass.id)
            .order_by(Annotation.id)
        )
        return [tuple(row) for row in rows]


def stored_values(store) -> list[tuple]:
    with store.session() as session:
        rows = session.execute(
            select(
                Assessment.stage,
                AttributeValue.entity_id,
                Annotation.geometry,
                Attribute.name,
                AttributeValue.value,
                AttributeValue.confidence,
            )
            .join(Assessment, AttributeValue.assessment_id == Assessment.id)
            .join(Annotation, AttributeValue.annotation_id == Annotation.id)
            .join(Attribute, AttributeValue.attribute_id == Attribute.id)
            .order_by(AttributeValue.id)
        )
        return [tuple(row) for row in rows]


BOX_A = "POLYGON ((10 5, 30.5 5, 30.5 15, 10 15, 10 5))"
TRIANGLE = "POLYGON ((40 20, 50 20, 45 30, 40 20))"
WHOLE_B = "POLYGON ((0 0, 40 0, 40 30, 0 30, 0 0))"


def test_machine_stage_stores_files_assessments_annotations_and_values(harbour):
    summary = harbour.run(machine_coco())

    assert summary == ImportSummary(
        files_added=3, files_matched=0, assessments=3, annotations=3, values=2
    )
    expected_files = []
    for external_id, name, content_type, (width, height) in (
        ("1", "harbour_a.png", "image/png", (64, 48)),
        ("3112442", "harbour_b.jpg", "image/jpeg", (40, 30)),
        ("3", "harbour_c.png", "image/png", (32, 32)),
    ):
        data = harbour.image_bytes[name]
        expected_files.append(
            (
                external_id,
                None,
                1,
                name,
                content_type,
                width,
                height,
                len(data),
                hashlib.sha256(data).hexdigest(),
                "coco-import",
            )
        )
    assert stored_files(harbour.store) == expected_files

    at = datetime(2026, 11, 28, 18, 7, 1)
    assert stored_assessments(harbour.store) == [
        (name, "detector", "machine", "yolo@8.1", at) for name in IMAGES
    ]

    annotations = stored_annotations(harbour.store)
    new_entity = annotations[2][2]
    assert str(uuid.UUID(new_entity)) == new_entity
    assert new_entity not in (ENTITY_A, ENTITY_B)
    assert annotations == [
        ("detector", "harbour_a.png", ENTITY_A, "vessel", BOX_A, 0.91, 0.91, 0),
        ("detector", "harbour_a.png", ENTITY_B, "buoy", TRIANGLE, 0.5, 0.5, 0),
        ("detector", "harbour_b.jpg", new_entity, "vessel", WHOLE_B, None, None, 0),
    ]
    # taxonomy order; CVAT's own "occluded" is not an attribute of the workflow: skipped
    assert stored_values(harbour.store) == [
        ("detector", ENTITY_B, TRIANGLE, "severity", "high", None),
        ("detector", ENTITY_B, TRIANGLE, "length_m", "3.25", None),
    ]


def test_stored_bytes_are_the_image_files(harbour):
    harbour.run(machine_coco())
    with harbour.store.session() as session:
        keys = dict(session.execute(select(DataFile.file_name, DataFile.storage_key)).all())
    for name, data in harbour.image_bytes.items():
        assert harbour.store.files.read(keys[name]) == data


def test_human_stage_adds_assessments_to_the_same_files_and_keeps_entities(harbour):
    harbour.run(machine_coco())
    files_before = stored_files(harbour.store)

    summary = harbour.human()

    assert summary == ImportSummary(
        files_added=0, files_matched=3, assessments=3, annotations=2, values=1
    )
    assert stored_files(harbour.store) == files_before
    human_at = datetime(2026, 11, 29, 9, 30)
    assert stored_assessments(harbour.store)[3:] == [
        (name, "review", "human", "ana", human_at) for name in IMAGES
    ]
    annotations = stored_annotations(harbour.store)
    assert annotations[3][:2] + annotations[3][3:] == (
        "review",
        "harbour_a.png",
        "vessel",
        "POLYGON ((11 5, 31 5, 31 15, 11 15, 11 5))",
        None,
        None,
        0,
    )
    assert annotations[3][2] == ENTITY_A  # the reviewer kept the machine's detection
    assert annotations[4][:2] + annotations[4][3:5] == (
        "review",
        "harbour_c.png",
        "buoy",
        "POLYGON ((1 1, 5 1, 5 5, 1 5, 1 1))",
    )
    assert annotations[4][2] not in {row[2] for row in annotations[:4]}
    assert stored_values(harbour.store)[2:] == [
        ("review", ENTITY_A, "POLYGON ((11 5, 31 5, 31 15, 11 15, 11 5))", "severity", "low", None)
    ]
    counts = table_counts(harbour.store)
    assert (counts["data_file"], counts["assessment"], counts["entity"]) == (3, 6, 4)


def test_files_are_matched_within_the_given_order(harbour):
    harbour.run(machine_coco(), order="8492192")
    assert {row[1] for row in stored_files(harbour.store)} == {"8492192"}

    assert harbour.human(order="8492192").files_matched == 3

    with pytest.raises(MissingImageError, match=r"image 5 \('harbour_a.png'\): image file not"):
        harbour.human(order="8492193")  # no such files in that order: they would be new


def test_a_file_name_in_two_orders_needs_an_order(harbour):
    harbour.run(machine_coco(), order="8492192")
    harbour.run(machine_coco(), order="8492193")
    before = table_counts(harbour.store)

    with pytest.raises(ImportRecordError) as caught:
        harbour.human()

    assert str(caught.value) == (
        "image 5 ('harbour_a.png'): 2 files named 'harbour_a.png' exist in workflow "
        "'harbour'; import into one workflow order (order=...)"
    )
    assert table_counts(harbour.store) == before


def test_a_matched_file_must_have_the_recorded_size(harbour):
    harbour.run(machine_coco())
    before = table_counts(harbour.store)
    coco = human_coco()
    coco["images"][1]["height"] = 31

    with pytest.raises(ImportRecordError) as caught:
        harbour.human(coco)

    assert str(caught.value) == (
        "image 6 ('harbour_b.jpg'): the COCO record says 40x31 pixels but the stored file is 40x30"
    )
    assert table_counts(harbour.store) == before


def test_images_without_annotations_get_empty_assessments(harbour):
    coco = machine_coco()
    del coco["annotations"]

    summary = harbour.run(coco)

    assert summary == ImportSummary(
        files_added=3, files_matched=0, assessments=3, annotations=0, values=0
    )
    assert len(stored_assessments(harbour.store)) == 3


def test_images_with_one_external_id_form_one_case(harbour):
    coco = machine_coco()
    for image in coco["images"]:
        image["external_id"] = "3112442"

    harbour.run(coco)

    assert [row[:4] for row in stored_files(harbour.store)] == [
        ("3112442", None, 1, "harbour_a.png"),
        ("3112442", None, 2, "harbour_b.jpg"),
        ("3112442", None, 3, "harbour_c.png"),
    ]


def test_a_case_from_an_earlier_import_is_not_extended(harbour):
    harbour.run(machine_coco())
    before = table_counts(harbour.store)
    coco = machine_coco()
    coco["images"] = [coco["images"][2] | {"file_name": "renamed.png"}]
    coco["annotations"] = []
    (harbour.images_dir / "renamed.png").write_bytes(harbour.image_bytes["harbour_c.png"])

    with pytest.raises(ImportRecordError) as caught:
        harbour.run(coco)

    assert str(caught.value) == (
        "image 3 ('renamed.png'): case '3' already exists in workflow 'harbour' with other "
        "files (harbour_c.png); give the image its own 'external_id' or import into another "
        "workflow order"
    )
    assert table_counts(harbour.store) == before


def test_each_segmentation_polygon_is_an_annotation_of_one_entity(harbour):
    coco = machine_coco()
    coco["annotations"][1]["segmentation"].append([0, 0, 8, 0, 8, 8, 0, 8])

    assert harbour.run(coco).annotations == 4

    rows = [row for row in stored_annotations(harbour.store) if row[2] == ENTITY_B]
    assert [row[4] for row in rows] == [TRIANGLE, "POLYGON ((0 0, 8 0, 8 8, 0 8, 0 0))"]
    values = [(row[2], row[3]) for row in stored_values(harbour.store)]
    assert values == [
        (TRIANGLE, "severity"),
        (TRIANGLE, "length_m"),
        ("POLYGON ((0 0, 8 0, 8 8, 0 8, 0 0))", "severity"),
        ("POLYGON ((0 0, 8 0, 8 8, 0 8, 0 0))", "length_m"),
    ]


def test_float_rounding_at_the_edge_is_clamped(harbour):
    coco = machine_coco()
    coco["annotations"][1]["segmentation"] = [[-0.0000001, 20, 64.0000004, 20, 45, 48.0000001]]

    harbour.run(coco)

    assert stored_annotations(harbour.store)[1][4] == "POLYGON ((0 20, 64 20, 45 48, 0 20))"


def test_assessed_at_defaults_to_now_in_whole_seconds(harbour):
    start = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    harbour.run(machine_coco(), assessed_at=None)
    end = datetime.now(UTC).replace(tzinfo=None)

    stamps = {row[4] for row in stored_assessments(harbour.store)}
    assert len(stamps) == 1
    stamp = stamps.pop()
    assert start <= stamp <= end
    assert stamp.microsecond == 0


def test_assessed_at_in_another_zone_is_stored_as_utc(harbour):
    two_hours_east = timezone(timedelta(hours=2))
    harbour.run(machine_coco(), assessed_at=datetime(2026, 11, 28, 20, 7, 1, tzinfo=two_hours_east))
    stamps = {row[4] for row in stored_assessments(harbour.store)}
    assert stamps == {datetime(2026, 11, 28, 18, 7, 1)}


def test_a_uuid_known_in_another_workflow_is_an_entity_of_this_one_too(harbour):
    with harbour.store.session() as session:
        other = writer.create_workflow(session, "other", ["vessel"])
        writer.entity(session, other, ENTITY_A)

    harbour.run(machine_coco())

    with harbour.store.session() as session:
        owners = session.scalars(
            select(Workflow.name)
            .join(Entity, Entity.workflow_id == Workflow.id)
            .where(Entity.id == ENTITY_A)
        )
        assert sorted(owners) == ["harbour", "other"]


def test_a_missing_coco_file_is_named(harbour):
    with pytest.raises(ImportRecordError, match="COCO file not found: .*nope.json"):
        import_coco(
            harbour.store,
            WORKFLOW,
            harbour.tmp_path / "nope.json",
            harbour.images_dir,
            stage="detector",
            stage_kind="machine",
            assessed_by="yolo@8.1",
        )


# -- bad input: the error names the record and the database is unchanged ---------------

Mutation = Callable[[dict, Path], "dict | str | None"]


@dataclass(frozen=True)
class Bad:
    name: str
    error: type[Exception]
    fragments: tuple[str, ...]
    mutate: Mutation = lambda coco, images_dir: None
    options: dict = field(default_factory=dict)


def _annotation(index: int, **changes) -> Mutation:
    def mutate(coco: dict, _images_dir: Path) -> None:
        coco["annotations"][index].update(changes)

    return mutate


def _without(section: str, index: int, key: str) -> Mutation:
    def mutate(coco: dict, _images_dir: Path) -> None:
        del coco[section][index][key]

    return mutate


def _image(index: int, **changes) -> Mutation:
    def mutate(coco: dict, _images_dir: Path) -> None:
        coco["images"][index].update(changes)

    return mutate


def _unknown_category(coco: dict, _images_dir: Path) -> None:
    coco["categories"].append({"id": 3, "name": "boat"})
    coco["annotations"][1]["category_id"] = 3


def _delete_image_c(_coco: dict, images_dir: Path) -> None:
    (images_dir / "harbour_c.png").unlink()


def _garble_image_c(_coco: dict, images_dir: Path) -> None:
    (images_dir / "harbour_c.png").write_bytes(b"not an image at all")


def _duplicate(section: str) -> Mutation:
    def mutate(coco: dict, _images_dir: Path) -> None:
        coco[section][1]["id"] = coco[section][0]["id"]

    return mutate


BAD_INPUT = [
    Bad(
        "malformed json",
        ImportRecordError,
        ("coco.json", "not valid JSON at line 2, column 12"),
        lambda coco, _: '{"images": [\n  {"id": 1,,}\n]}',
    ),
    Bad("not an object", ImportRecordError, ("coco.json", "JSON object"), lambda coco, _: "[]"),
    Bad(
        "missing images",
        ImportRecordError,
        ("coco.json: 'images' is missing",),
        lambda coco, _: {k: v for k, v in coco.items() if k != "images"},
    ),
    Bad(
        "image without width",
        ImportRecordError,
        ("image 1 ('harbour_a.png'): missing key 'width'",),
        _without("images", 0, "width"),
    ),
    Bad(
        "image with a zero height",
        ImportRecordError,
        ("image 2 ('harbour_b.jpg'): 'height' must be a positive integer, got 0",),
        _image(1, height=0),
    ),
    Bad(
        "annotation without category",
        ImportRecordError,
        ("annotation 11: missing key 'category_id'",),
        _without("annotations", 0, "category_id"),
    ),
    Bad(
        "annotation without id",
        ImportRecordError,
        ("annotations[2]: missing key 'id'",),
        _without("annotations", 2, "id"),
    ),
    Bad(
        "unknown image id",
        ImportRecordError,
        ("annotation 11: image_id 99 is not in 'images'",),
        _annotation(0, image_id=99),
    ),
    Bad(
        "category id not listed",
        ImportRecordError,
        ("annotation 11: category_id 42 is not in 'categories'",),
        _annotation(0, category_id=42),
    ),
    Bad(
        "unknown category",
        UnknownChoiceError,
        (
            "annotation 12: unknown category 'boat' (category 3) in workflow 'harbour'; "
            "known classes: vessel, buoy",
        ),
        _unknown_category,
    ),
    Bad(
        "rle segmentation",
        ImportRecordError,
        ("annotation 12: RLE segmentation masks are not supported",),
        _annotation(1, segmentation={"counts": [0, 12, 3000], "size": [48, 64]}),
    ),
    Bad(
        "odd number of coordinates",
        InvalidGeometryError,
        ("annotation 12: a segmentation polygon has an odd number of coordinates (5)",),
        _annotation(1, segmentation=[[40, 20, 50, 20, 45]]),
    ),
    Bad(
        "two points",
        InvalidGeometryError,
        ("annotation 12: a segmentation polygon needs at least 3 points, got 2",),
        _annotation(1, segmentation=[[40, 20, 50, 20]]),
    ),
    Bad(
        "repeated points",
        InvalidGeometryError,
        ("annotation 12: a polygon needs at least 3 distinct points",),
        _annotation(1, segmentation=[[1, 1, 1, 1, 2, 2]]),
    ),
    Bad(
        "text coordinate",
        InvalidGeometryError,
        ("annotation 12: 'segmentation polygon' must be a list of numbers",),
        _annotation(1, segmentation=[[40, "20", 50, 20, 45, 30]]),
    ),
    Bad(
        "empty box",
        InvalidGeometryError,
        ("annotation 11: a box needs a positive width and height, got 0.0x10.0",),
        _annotation(0, bbox=[10, 5, 0, 10]),
    ),
    Bad(
        "text in a box",
        InvalidGeometryError,
        ("annotation 11: 'bbox' must be a list of numbers, got [10, '5', 20, 10]",),
        _annotation(0, bbox=[10, "5", 20, 10]),
    ),
    Bad(
        "three numbers in a box",
        InvalidGeometryError,
        ("annotation 11: a bbox is [x, y, width, height], got [10, 5, 20]",),
        _annotation(0, bbox=[10, 5, 20]),
    ),
    Bad(
        "no geometry",
        InvalidGeometryError,
        ("annotation 13: has neither a 'segmentation' nor a 'bbox'",),
        _without("annotations", 2, "bbox"),
    ),
    Bad(
        "box outside the image",
        InvalidGeometryError,
        (
            "annotation 11: point (70, 5) is outside image 1 ('harbour_a.png'), "
            "which is 64x48 pixels",
        ),
        _annotation(0, bbox=[50, 5, 20, 10]),
    ),
    Bad(
        "polygon left of the image",
        InvalidGeometryError,
        ("annotation 12: point (-1, 20) is outside image 1",),
        _annotation(1, segmentation=[[-1, 20, 50, 20, 45, 30]]),
    ),
    Bad(
        "score above one",
        InvalidValueError,
        ("annotation 11: 'score' must be a number from 0 to 1, got 1.5",),
        _annotation(0, score=1.5),
    ),
    Bad(
        "score as text",
        InvalidValueError,
        ("annotation 11: 'score' must be a number from 0 to 1, got 'high'",),
        _annotation(0, score="high"),
    ),
    Bad(
        "entity id not a uuid",
        ImportRecordError,
        ("annotation 11: entity_id 'vessel-1' is not a UUID",),
        _annotation(0, entity_id="vessel-1"),
    ),
    Bad(
        "two entity ids",
        ImportRecordError,
        (f"annotation 12: two different entity_id values: {ENTITY_B}, {ENTITY_A}",),
        _annotation(1, entity_id=ENTITY_A),
    ),
    Bad(
        "unknown attribute",
        UnknownChoiceError,
        ("annotation 12: unknown attribute 'colour'", "known attributes: severity, length_m"),
        _annotation(1, attributes={"colour": "red"}),
    ),
    Bad(
        "value not an option",
        InvalidValueError,
        ("annotation 12: attribute 'severity' (enum): 'medium' is not one of low, high",),
        _annotation(1, attributes={"severity": "medium"}),
    ),
    Bad(
        "rotated cvat box",
        ImportRecordError,
        ("annotation 11: a box rotated by 30.0 degrees",),
        _annotation(0, attributes={"rotation": 30.0}),
    ),
    Bad(
        "duplicate image id",
        ImportRecordError,
        ("image 1: the image id is used twice",),
        _duplicate("images"),
    ),
    Bad(
        "duplicate annotation id",
        ImportRecordError,
        ("annotation 11: the annotation id is used twice",),
        _duplicate("annotations"),
    ),
    Bad(
        "duplicate file name",
        ImportRecordError,
        ("image 2 ('harbour_a.png'): image 1 ('harbour_a.png') has the same file name",),
        _image(1, file_name="harbour_a.png"),
    ),
    Bad(
        "file name leaving the images folder",
        ImportRecordError,
        ("image 1: unsafe file_name '../secret.png'",),
        _image(0, file_name="../secret.png"),
    ),
    Bad(
        "control character in external id",
        ImportRecordError,
        ("image 2 ('harbour_b.jpg'): invalid external_id '31\\n12'",),
        _image(1, external_id="31\n12"),
    ),
    Bad(
        "missing image file",  # after two files were added in the same transaction
        MissingImageError,
        ("image 3 ('harbour_c.png'): image file not found: ", "harbour_c.png"),
        _delete_image_c,
    ),
    Bad(
        "unreadable image file",
        MissingImageError,
        ("image 3 ('harbour_c.png'): ", "is not a readable image"),
        _garble_image_c,
    ),
    Bad(
        "size differs from the image",
        ImportRecordError,
        ("image 3 ('harbour_c.png'): the COCO record says 33x32 pixels but ", "is 32x32"),
        _image(2, width=33),
    ),
    Bad(
        "invalid stage kind",
        InvalidValueError,
        ("stage_kind must be 'machine' or 'human', got 'robot'",),
        options={"stage_kind": "robot"},
    ),
    Bad(
        "empty stage",
        InvalidValueError,
        ("stage must be a non-empty text",),
        options={"stage": " "},
    ),
    Bad(
        "unknown workflow",
        UnknownWorkflowError,
        ("unknown workflow 'harbor'; known workflows: harbour",),
        options={"workflow": "harbor"},
    ),
]


@pytest.mark.parametrize("bad", BAD_INPUT, ids=[bad.name for bad in BAD_INPUT])
def test_bad_input_names_the_record_and_imports_nothing(harbour, bad):
    harbour.run(machine_coco(), order="earlier")  # so that "unchanged" covers real rows
    before = table_counts(harbour.store)
    coco = copy.deepcopy(machine_coco())
    replaced = bad.mutate(coco, harbour.images_dir)

    with pytest.raises(bad.error) as caught:
        harbour.run(coco if replaced is None else replaced, order="new", **bad.options)

    message = str(caught.value)
    for fragment in bad.fragments:
        assert fragment in message
    assert table_counts(harbour.store) == before


def test_progress_counts_the_images_up_to_all_of_them(harbour):
    calls: list[tuple[int, int]] = []

    harbour.run(machine_coco(), progress=lambda done, total: calls.append((done, total)))

    images = len(machine_coco()["images"])
    assert calls[0] == (0, images)
    assert calls[-1] == (images, images)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
