"""The demo workflow: its promised shape, determinism, stages, images and first-start rule."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from dashboard.errors import InvalidValueError
from dashboard.importers.demo import DEMO_WORKFLOW, create_demo, ensure_demo
from dashboard.spec.geometry import parse_wkt
from dashboard.store.db import Store, open_store
from dashboard.store.models import (
    Annotation,
    Assessment,
    Attribute,
    AttributeValue,
    Case,
    DataFile,
    DataSource,
    ObjectClass,
    Workflow,
    WorkflowOrder,
)
from dashboard.store.writer import create_workflow

SMALL = 20  # files of the small demos the cross-backend tests create


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every record of the store without database ids, in a canonical order."""
    file_key = (Case.external_id, WorkflowOrder.name, DataFile.count)
    with store.session() as session:
        files = session.execute(
            select(
                *file_key,
                DataSource.name,
                DataSource.kind,
                DataFile.file_name,
                DataFile.content_type,
                DataFile.width,
                DataFile.height,
                DataFile.byte_size,
                DataFile.sha256,
            )
            .join(DataFile.case)
            .outerjoin(Case.workflow_order)
            .join(DataFile.data_source)
        ).all()
        assessment_key = (*file_key, Assessment.stage, Assessment.assessed_at)
        assessments = session.execute(
            select(*assessment_key, Assessment.stage_kind, Assessment.assessed_by)
            .join(Assessment.data_file)
            .join(DataFile.case)
            .outerjoin(Case.workflow_order)
        ).all()
        annotations = session.execute(
            select(
                *assessment_key,
                Annotation.entity_id,
                ObjectClass.name,
                Annotation.geometry,
                Annotation.confidence,
                Annotation.class_confidence,
                Annotation.frame,
            )
            .join(Annotation.assessment)
            .join(Annotation.object_class)
            .join(Assessment.data_file)
            .join(DataFile.case)
            .outerjoin(Case.workflow_order)
        ).all()
        of_annotation = aliased(Annotation)
        values = session.execute(
            select(
                *assessment_key,
                AttributeValue.entity_id,
                of_annotation.geometry,
                Attribute.name,
                AttributeValue.value,
                AttributeValue.confidence,
            )
            .join(AttributeValue.assessment)
            .join(AttributeValue.attribute)
            .outerjoin(of_annotation, AttributeValue.annotation_id == of_annotation.id)
            .join(Assessment.data_file)
            .join(DataFile.case)
            .outerjoin(Case.workflow_order)
        ).all()
    tables = {"files": files, "assessments": assessments, "annotations": annotations}
    tables["values"] = values
    return {name: sorted((tuple(row) for row in rows), key=repr) for name, rows in tables.items()}


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory) -> dict[str, list[tuple]]:
    """The default demo (240 files) on SQLite, created once for the read-only checks."""
    folder = tmp_path_factory.mktemp("demo")
    store = open_store(db_url=f"sqlite:///{folder / 'store.db'}", files_url=str(folder / "files"))
    try:
        assert create_demo(store) == DEMO_WORKFLOW
        with store.session() as session:
            stored = session.execute(
                select(DataFile.sha256, DataFile.storage_key, DataFile.content_type)
            ).all()
            images = {sha: (store.files.read(key), kind) for sha, key, kind in stored}
            value_types = session.scalars(
                select(Attribute.value_type).join(AttributeValue.attribute).distinct()
            ).all()
            taxonomy = session.scalars(select(Attribute.name).order_by(Attribute.position)).all()
        yield {**dump(store), "images": images, "value_types": value_types, "taxonomy": taxonomy}
    finally:
        store.dispose()


def _by_file(rows: list[tuple]) -> dict[tuple, list[tuple]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row[:3]].append(row)
    return grouped


def test_full_demo_has_the_promised_files_cases_and_orders(full_demo):
    files = full_demo["files"]
    assert len(files) == 240
    content_types = Counter(row[6] for row in files)
    assert set(content_types) == {"image/jpeg", "image/png"}
    assert 0.08 <= content_types["image/png"] / len(files) <= 0.25
    sizes = Counter((row[7], row[8]) for row in files)
    assert len(sizes) >= 4
    assert any(height > width for width, height in sizes)
    assert {(row[3], row[4]) for row in files} == {
        ("quay-camera-3", "camera"),
        ("drone-survey", "bucket"),
    }
    orders = Counter(row[1] for row in files)
    assert set(orders) == {"8492192", "8492193", "8492201", None}
    assert min(orders.values()) >= 10
    counts = defaultdict(list)
    for external_id, order, count, *_ in files:
        assert re.fullmatch(r"[1-9]\d{6}", external_id)
        counts[(external_id, order)].append(count)
    assert {tuple(sorted(c)) for c in counts.values()} == {(1,), (1, 2), (1, 2, 3)}
    assert len({external_id for external_id, _ in counts}) == len(counts)
    names = [row[5] for row in files]
    assert len(set(names)) == len(names)
    assert "Kräne_Süd.jpg" in names
    assert sum(not name.isascii() for name in names) >= 5
    assert any(name.endswith(".JPG") for name in names)
    for name, content_type in ((row[5], row[6]) for row in files):
        suffix = name.rsplit(".", 1)[1].lower()
        assert (suffix in {"jpg", "jpeg"}) == (content_type == "image/jpeg"), name


def test_full_demo_has_a_machine_stage_everywhere_and_a_human_stage_on_most(full_demo):
    stages = _by_file(full_demo["assessments"])
    assert len(stages) == 240
    reviewed = 0
    for rows in stages.values():
        by_stage = {row[3]: row for row in rows}
        assert set(by_stage) <= {"detector", "review"} and len(by_stage) == len(rows)
        machine = by_stage["detector"]
        assert machine[5] == "machine"
        assert re.fullmatch(r"harbour-detector@\d+\.\d+\.\d+", machine[6])
        if "review" in by_stage:
            reviewed += 1
            human = by_stage["review"]
            assert human[5] == "human"
            assert re.fullmatch(r"[a-z]+\.[a-z]+", human[6])
            assert human[4] > machine[4]
    assert 0.75 <= reviewed / 240 <= 0.95
    times = [row[4] for row in full_demo["assessments"]]
    assert all(isinstance(t, datetime) and t.year == 2026 and t.microsecond == 0 for t in times)
    assert (max(times) - min(times)).days >= 14
    assert len({row[6] for row in full_demo["assessments"]}) >= 4


def test_full_demo_annotations_and_values_cover_the_taxonomy(full_demo):
    annotations, values = full_demo["annotations"], full_demo["values"]
    classes = Counter(row[6] for row in annotations)
    assert set(classes) == {"vessel", "container", "crane", "buoy", "person", "corrosion"}
    kinds = Counter(parse_wkt(row[7]).kind for row in annotations)
    assert kinds["POLYGON"] > 1000 and kinds["POINT"] > 50
    corrosion = [parse_wkt(row[7]) for row in annotations if row[6] == "corrosion"]
    assert all(len(shape.points) >= 7 for shape in corrosion)  # real polygons, not boxes
    for row in annotations:
        stage, confidence, class_confidence = row[3], row[8], row[9]
        if stage == "detector":
            assert 0.3 <= confidence <= 0.99 and 0.3 <= class_confidence <= 0.99
        else:
            assert confidence == class_confidence == 1.0
        assert row[10] == 0
    by_attribute = defaultdict(set)
    for row in values:
        by_attribute[row[7]].add(row[8])
    assert by_attribute["severity"] == {"low", "medium", "high"}
    assert by_attribute["occluded"] == {"true", "false"}
    assert all(re.fullmatch(r"[1-4]", v) for v in by_attribute["visible_count"])
    assert all(re.fullmatch(r"\d+(\.\d)?", v) for v in by_attribute["length_m"])
    assert any("." in v for v in by_attribute["length_m"])
    assert "Rost an der Bordwand – Ölspur" in by_attribute["note"]
    assert any(not name.isascii() for name in by_attribute["vessel_name"])
    assert by_attribute["flag_state"] <= {"DE", "NL", "DK", "NO", "PA", "LR", "MT"}
    entity_level = {row[7] for row in values if row[6] is None}
    assert entity_level == {"vessel_name", "flag_state"}
    machine_attributes = {row[7] for row in values if row[3] == "detector"}
    assert "note" not in machine_attributes and "vessel_name" not in machine_attributes
    for row in values:
        assert (row[9] == 1.0) == (row[3] == "review")


def test_full_demo_values_use_all_five_value_types(full_demo):
    assert {str(kind) for kind in full_demo["value_types"]} == {
        "enum",
        "boolean",
        "integer",
        "decimal",
        "string",
    }
    assert full_demo["taxonomy"] == [
        "severity",
        "occluded",
        "visible_count",
        "length_m",
        "vessel_name",
        "flag_state",
        "note",
    ]


def test_review_keeps_moves_relabels_deletes_and_adds_entities(full_demo):
    stages = defaultdict(lambda: defaultdict(dict))
    for row in full_demo["annotations"]:
        stages[row[:3]][row[3]][row[5]] = (row[6], row[7])
    kept = added = deleted = moved = unchanged = relabelled = 0
    files_of_entity = defaultdict(set)
    for file_key, by_stage in stages.items():
        machine, human = by_stage["detector"], by_stage.get("review")
        for entity_id in machine.keys() | (human or {}).keys():
            files_of_entity[entity_id].add(file_key)
            assert str(uuid.UUID(entity_id, version=4)) == entity_id
        if human is None:
            continue
        for entity_id in machine.keys() & human.keys():
            kept += 1
            moved += machine[entity_id][1] != human[entity_id][1]
            unchanged += machine[entity_id][1] == human[entity_id][1]
            relabelled += machine[entity_id][0] != human[entity_id][0]
        added += len(human.keys() - machine.keys())
        deleted += len(machine.keys() - human.keys())
    assert kept > 500 and moved > 200 and unchanged > 200
    assert 5 <= relabelled < kept // 10
    assert 50 <= added < kept // 3
    assert 30 <= deleted < kept // 3
    assert all(len(found_in) == 1 for found_in in files_of_entity.values())


def test_full_demo_images_decode_and_annotations_lie_inside(full_demo):
    sizes = {row[10]: (row[7], row[8]) for row in full_demo["files"]}
    files = {row[:3]: row for row in full_demo["files"]}
    for sha, (data, content_type) in full_demo["images"].items():
        assert hashlib.sha256(data).hexdigest() == sha
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.size == sizes[sha]
            assert Image.MIME[image.format] == content_type
            assert image.mode == "RGB"
    for row in full_demo["annotations"]:
        width, height = files[row[:3]][7:9]
        x0, y0, x1, y1 = parse_wkt(row[7]).bounds
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height, row


def test_full_demo_annotations_outline_drawn_objects(full_demo):
    """Where the reviewer put a visible buoy or rust patch, the pixels have its colour."""
    files = {row[:3]: row for row in full_demo["files"]}
    values = full_demo["values"]
    occluded = {(row[:3], row[5]) for row in values if row[7:9] == ("occluded", "true")}
    pictures: dict[str, Image.Image] = {}
    checked = Counter()
    for row in full_demo["annotations"]:
        visible = (row[:3], row[5]) not in occluded
        if row[3] != "review" or row[6] not in ("buoy", "corrosion") or not visible:
            continue
        sha = files[row[:3]][10]
        if sha not in pictures:
            pictures[sha] = Image.open(io.BytesIO(full_demo["images"][sha][0])).convert("RGB")
        shape = parse_wkt(row[7])
        points = shape.points if shape.kind == "POINT" else shape.points[:-1]
        x = round(sum(p[0] for p in points) / len(points))
        y = round(sum(p[1] for p in points) / len(points))
        red, green, blue = pictures[sha].getpixel((x, y))
        if row[6] == "buoy":  # red, yellow or green on a blue sea
            checked[row[6], red > blue + 40 or green > blue + 40] += 1
        else:  # rust brown
            checked[row[6], red > green > blue and red > blue + 50] += 1
    assert checked["buoy", True] > 50 and checked["buoy", False] == 0
    assert checked["corrosion", True] > 50
    assert checked["corrosion", False] <= checked["corrosion", True] // 20


def test_same_seed_gives_the_same_data_on_every_backend(store, tmp_path):
    assert create_demo(store, seed=11, files=SMALL) == DEMO_WORKFLOW
    first = dump(store)
    assert len(first["files"]) == SMALL
    assert {row[1] for row in first["files"]} == {"8492192", "8492193", "8492201", None}
    again = open_store(db_url=f"sqlite:///{tmp_path / 'again.db'}", files_url=str(tmp_path / "a"))
    other = open_store(db_url=f"sqlite:///{tmp_path / 'other.db'}", files_url=str(tmp_path / "o"))
    try:
        create_demo(again, seed=11, files=SMALL)
        create_demo(other, seed=12, files=SMALL)
        assert dump(again) == first
        different = dump(other)
    finally:
        again.dispose()
        other.dispose()
    for table in first:
        assert different[table] != first[table]
    assert not {row[10] for row in first["files"]} & {row[10] for row in different["files"]}
    assert not {row[5] for row in first["annotations"]} & {
        row[5] for row in different["annotations"]
    }


def test_ensure_demo_creates_once_and_create_demo_refuses_an_existing_name(store):
    assert ensure_demo(store, files=8) is True
    assert ensure_demo(store, files=8) is False
    with pytest.raises(InvalidValueError, match="harbour-inspection.*exists already"):
        create_demo(store, files=8)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Workflow)) == 1
        assert session.scalar(select(func.count()).select_from(DataFile)) == 8


def test_ensure_demo_returns_false_when_another_process_won_the_race(sqlite_store, monkeypatch):
    create_demo(sqlite_store, files=4)
    monkeypatch.setattr(sqlite_store, "is_empty", lambda: True)  # checked before the other won
    assert ensure_demo(sqlite_store, files=4) is False
    assert sqlite_store.workflow_names() == [DEMO_WORKFLOW]


def test_ensure_demo_from_two_threads_creates_one_demo(store):
    with ThreadPoolExecutor(max_workers=2) as pool:
        created = list(pool.map(lambda _: ensure_demo(store, files=6), range(2)))
    assert sorted(created) == [False, True]
    assert store.workflow_names() == [DEMO_WORKFLOW]


def test_ensure_demo_leaves_a_store_with_other_workflows_alone(sqlite_store):
    with sqlite_store.session() as session:
        create_workflow(session, "bridges", ["crack"])
    assert ensure_demo(sqlite_store, files=4) is False
    assert sqlite_store.workflow_names() == ["bridges"]


def test_create_demo_needs_at_least_one_file(sqlite_store):
    with pytest.raises(InvalidValueError, match="at least one file"):
        create_demo(sqlite_store, files=0)
    assert sqlite_store.is_empty()
