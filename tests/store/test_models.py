"""The schema and the writer, on SQLite and on PostgreSQL.

Constraints are checked twice: by the database (rows inserted through the ORM, bypassing the
writer) and by the writer's own checks, which give a message a user can act on. Every failing
write inside ``store.session()`` must leave the database as it was.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.errors import (
    InvalidGeometryError,
    InvalidValueError,
    MissingImageError,
    UnknownChoiceError,
)
from dashboard.store import writer
from dashboard.store.models import (
    Annotation,
    Assessment,
    AssessmentSummary,
    Attribute,
    AttributeValue,
    Base,
    Case,
    DataFile,
    DataSource,
    Entity,
    ObjectClass,
    StageKind,
    ValueType,
    Workflow,
    WorkflowOrder,
)

E1 = "00000000-0000-4000-8000-000000000001"
E2 = "00000000-0000-4000-8000-000000000002"
WHEN = datetime(2024, 5, 6, 7, 8, 9)


def image_bytes(width: int, height: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 140)).save(buffer, fmt)
    return buffer.getvalue()


JPEG = image_bytes(32, 24, "JPEG")
PNG = image_bytes(5, 7, "PNG")


@dataclass
class World:
    """Ids of a small workflow with one file, one assessment and one annotation."""

    workflow: int
    order: int
    source: int
    case: int
    file: int
    assessment: int
    annotation: int
    vessel: int
    severity: int


@pytest.fixture
def world(store) -> World:
    with store.session() as s:
        wf = writer.create_workflow(
            s,
            "harbour",
            ["vessel", ("buoy", "#00ff00")],
            [
                ("severity", "enum", ["low", "high"]),
                ("occluded", "boolean"),
                ("crew", "integer"),
                ("length_m", "decimal"),
                ("note", "string"),
            ],
        )
        order = writer.workflow_order(s, wf, "8492192")
        source = writer.data_source(s, "cam-1", "camera")
        case = writer.case(s, wf, "3112442", order)
        data_file = writer.add_file(s, store.files, case, source, "a.jpg", JPEG)
        assessment = writer.add_assessment(s, data_file, "detect", "machine", "yolo@8", WHEN)
        annotation = writer.add_annotation(
            s, writer.Taxonomy(wf), assessment, E1, "vessel", "POLYGON ((1 1, 9 1, 9 9))", 0.9
        )
        return World(
            workflow=wf.id,
            order=order.id,
            source=source.id,
            case=case.id,
            file=data_file.id,
            assessment=assessment.id,
            annotation=annotation.id,
            vessel=wf.object_classes[0].id,
            severity=wf.attributes[0].id,
        )


def snapshot(store) -> dict[str, list[tuple]]:
    """Every row of every table, to compare before and after a failed write."""
    with store.session() as s:
        return {
            table.name: sorted(map(repr, s.execute(select(table)).all()))
            for table in Base.metadata.sorted_tables
        }


def counts(store) -> dict[str, int]:
    with store.session() as s:
        return {
            table.name: s.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def refused_by_database(store, add: Callable[[Session], object]) -> None:
    """Insert through the ORM only; the database must refuse and keep nothing."""
    before = snapshot(store)
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(add(s))
        s.flush()
    assert snapshot(store) == before


def taxonomy(s: Session, world: World) -> writer.Taxonomy:
    return writer.Taxonomy(s.get(Workflow, world.workflow))


# --- the schema ---------------------------------------------------------------------------------


def test_migration_creates_every_table_with_the_models_columns(store):
    inspector = inspect(store.engine)
    assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    for table in Base.metadata.sorted_tables:
        columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name: c.nullable for c in table.columns}, table.name


def test_migration_matches_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrating_twice_changes_nothing(store):
    from dashboard.store.db import migrate

    # Sorted: PostgreSQL lists tables in catalog order, which an ALTER TABLE can change.
    before = sorted(inspect(store.engine).get_table_names())
    migrate(store.engine)
    assert sorted(inspect(store.engine).get_table_names()) == before
    from alembic.script import ScriptDirectory

    from dashboard.store.db import SCHEMA_HEAD, alembic_config

    head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()
    assert head == SCHEMA_HEAD == "0005"  # opening skips Alembic only at the true head
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
            (head,)
        ]


# --- constraints held by the database -------------------------------------------------------------


def data_file(world: World, **changes) -> DataFile:
    values = dict(
        case_id=world.case,
        count=2,
        data_source_id=world.source,
        file_name="b.jpg",
        content_type="image/jpeg",
        width=10,
        height=10,
        byte_size=3,
        sha256="0" * 64,
        storage_key="00/x.jpg",
    )
    return DataFile(**(values | changes))


def annotation(world: World, **changes) -> Annotation:
    values = dict(
        assessment_id=world.assessment,
        entity_id=E1,
        object_class_id=world.vessel,
        geometry="POINT (1 1)",
        confidence=0.5,
        class_confidence=0.5,
        frame=0,
    )
    return Annotation(**(values | changes))


def attribute_value(world: World, **changes) -> AttributeValue:
    values = dict(
        assessment_id=world.assessment,
        entity_id=E1,
        attribute_id=world.severity,
        value="low",
        confidence=0.5,
    )
    return AttributeValue(**(values | changes))


def reserved(world: World, name: str) -> Attribute:
    return Attribute(workflow_id=world.workflow, name=name, value_type=ValueType.string, position=9)


BROKEN_ROWS: dict[str, Callable[[World], object]] = {
    "workflow name taken": lambda w: Workflow(name="harbour", description=""),
    "order name taken in the workflow": lambda w: WorkflowOrder(
        workflow_id=w.workflow, name="8492192"
    ),
    "data source name taken": lambda w: DataSource(name="cam-1", kind="upload"),
    "object class name taken": lambda w: ObjectClass(
        workflow_id=w.workflow, name="vessel", colour="#000000", position=5
    ),
    "file count taken in the case": lambda w: data_file(w, count=1),
    "file count 0": lambda w: data_file(w, count=0),
    "file count -1": lambda w: data_file(w, count=-1),
    "attribute named location": lambda w: reserved(w, "location"),
    "attribute named object_class": lambda w: reserved(w, "object_class"),
    "annotation confidence 1.5": lambda w: annotation(w, confidence=1.5),
    "annotation confidence -0.01": lambda w: annotation(w, confidence=-0.01),
    "class confidence 1.0001": lambda w: annotation(w, class_confidence=1.0001),
    "class confidence -1": lambda w: annotation(w, class_confidence=-1.0),
    "frame -1": lambda w: annotation(w, frame=-1),
    "value confidence 1.5": lambda w: attribute_value(w, confidence=1.5),
    "value confidence -0.5": lambda w: attribute_value(w, confidence=-0.5),
    "file of an unknown data source": lambda w: data_file(w, data_source_id=w.source + 100),
}


def test_the_database_refuses_rows_that_break_a_constraint(store, world, subtests):
    for label, make in BROKEN_ROWS.items():
        with subtests.test(msg=label):
            refused_by_database(store, lambda s, make=make: make(world))


def test_rows_within_the_constraints_are_kept(store, world):
    with store.session() as s:
        other = writer.create_workflow(s, "other", ["vessel"])
        s.add(WorkflowOrder(workflow_id=other.id, name="8492192"))
        s.add(data_file(world, count=2))
        s.add(annotation(world, confidence=0.0, class_confidence=1.0, frame=3))
        s.add(annotation(world, confidence=None, class_confidence=None))
        s.add(attribute_value(world, confidence=1.0))
        s.add(attribute_value(world, confidence=None))
    assert counts(store) == {
        "data_source": 1,
        "export_job": 0,
        "workflow": 2,
        "attribute": 5,
        "entity": 1,
        "object_class": 3,
        "workflow_order": 2,
        "assessment_case": 1,
        "data_file": 2,
        "assessment": 1,
        "annotation": 3,
        "attribute_value": 2,
        "assessment_summary": 1,  # the world's annotation, written by the writer
    }


def test_the_database_refuses_a_second_orderless_case_with_the_same_external_id(store, world):
    with store.session() as s:
        s.add(Case(workflow_id=world.workflow, external_id="A-7"))
    refused_by_database(store, lambda s: Case(workflow_id=world.workflow, external_id="A-7"))


def test_deleting_a_workflow_cascades_to_everything_it_holds(store, world):
    with store.session() as s:
        other = writer.create_workflow(s, "kept", ["vessel"])
        source = s.get(DataSource, world.source)
        case = writer.case(s, other, "1")
        writer.add_file(s, store.files, case, source, "kept.png", PNG)
    with store.session() as s:
        s.execute(delete(Workflow).where(Workflow.id == world.workflow))
    assert counts(store) == {
        "data_source": 1,
        "export_job": 0,
        "workflow": 1,
        "attribute": 0,
        "entity": 0,
        "object_class": 1,
        "workflow_order": 0,
        "assessment_case": 1,
        "data_file": 1,
        "assessment": 0,
        "annotation": 0,
        "attribute_value": 0,
        "assessment_summary": 0,
    }


def test_deleting_a_workflow_through_the_orm_cascades(store, world):
    with store.session() as s:
        s.delete(s.get(Workflow, world.workflow))
    assert counts(store)["annotation"] == 0


# --- the writer ---------------------------------------------------------------------------------


def test_create_workflow_stores_the_taxonomy_in_order(store, world):
    with store.session() as s:
        wf = s.get(Workflow, world.workflow)
        assert [(c.name, c.colour, c.position) for c in wf.object_classes] == [
            ("vessel", "#e6194b", 0),
            ("buoy", "#00ff00", 1),
        ]
        assert [(a.name, a.value_type, a.options, a.position) for a in wf.attributes] == [
            ("severity", ValueType.enum, ["low", "high"], 0),
            ("occluded", ValueType.boolean, None, 1),
            ("crew", ValueType.integer, None, 2),
            ("length_m", ValueType.decimal, None, 3),
            ("note", ValueType.string, None, 4),
        ]


BAD_TAXONOMIES = [
    (("harbour", ["x"]), "a workflow named 'harbour' already exists"),
    (("  ", ["x"]), "a workflow needs a name"),
    (("new", ["x"], [("location", "string")]), "attribute name 'location' is reserved"),
    (("new", ["x"], [("object_class", "enum", ["a"])]),
     "attribute name 'object_class' is reserved"),
    (("new", ["x"], [("kind", "enum")]), "enum attribute 'kind' needs options"),
    (("new", ["x"], [("kind", "enum", [])]), "enum attribute 'kind' needs options"),
    (("new", ["x"], [("n", "float")]),
     "attribute 'n' has unknown type 'float'; types: enum, boolean, integer, decimal, string"),
    (("new", ["x", "y", ("x", "#000000")]), "repeated object class names: x"),
    (("new", ["x"], [("n", "string"), ("n", "integer")]), "repeated attribute names: n"),
]  # fmt: skip


def test_create_workflow_refuses_bad_taxonomies(store, world, subtests):
    before = snapshot(store)
    for args, message in BAD_TAXONOMIES:
        with subtests.test(msg=message):
            with pytest.raises(InvalidValueError) as caught, store.session() as s:
                writer.create_workflow(s, *args)
            assert str(caught.value) == message
            assert snapshot(store) == before


def test_workflow_order_data_source_and_case_are_get_or_create(store, world):
    with store.session() as s:
        wf = s.get(Workflow, world.workflow)
        other = writer.create_workflow(s, "other", ["vessel"])
        assert writer.workflow_order(s, wf, "8492192").id == world.order
        other_order = writer.workflow_order(s, other, "8492192")
        assert other_order.id != world.order
        new_order = writer.workflow_order(s, wf, "8492193")
        assert writer.workflow_order(s, wf, "8492193").id == new_order.id

        source = writer.data_source(s, "cam-1", "upload")
        assert (source.id, source.kind) == (world.source, "camera")
        drone = writer.data_source(s, "drone", "camera")
        assert writer.data_source(s, "drone").id == drone.id

        order = s.get(WorkflowOrder, world.order)
        assert writer.case(s, wf, "3112442", order).id == world.case
        assert writer.case(s, wf, 3112442, order).id == world.case
        loose = writer.case(s, wf, "3112442")
        assert loose.id != world.case and loose.workflow_order_id is None
        assert writer.case(s, wf, "3112442").id == loose.id
        assert writer.case(s, wf, "3112442", new_order).id not in {world.case, loose.id}
        assert writer.case(s, other, "3112442", other_order).id not in {world.case, loose.id}
    assert counts(store) == {
        "data_source": 2,
        "export_job": 0,
        "workflow": 2,
        "attribute": 5,
        "entity": 1,
        "object_class": 3,
        "workflow_order": 3,
        "assessment_case": 4,
        "data_file": 1,
        "assessment": 1,
        "annotation": 1,
        "attribute_value": 0,
        "assessment_summary": 1,
    }


def test_a_case_needs_an_external_id_and_an_order_of_its_workflow(store, world):
    before = snapshot(store)
    with pytest.raises(InvalidValueError, match="non-empty external ID"), store.session() as s:
        writer.case(s, s.get(Workflow, world.workflow), " ")
    with (
        pytest.raises(UnknownChoiceError) as caught,
        store.session() as s,
    ):
        other = writer.create_workflow(s, "other", ["vessel"])
        writer.case(s, other, "1", s.get(WorkflowOrder, world.order))
    assert str(caught.value) == "order '8492192' belongs to another workflow than 'other'"
    assert snapshot(store) == before


def test_add_file_records_the_image_and_stores_its_bytes(store, world, subtests):
    images = [
        ("IMG_0001.JPG", JPEG, "image/jpeg", (32, 24), ".jpg"),
        ("scan.png", PNG, "image/png", (5, 7), ".png"),
        ("no-suffix", PNG, "image/png", (5, 7), ""),
    ]
    for count, (name, data, content_type, size, suffix) in enumerate(images, start=2):
        with subtests.test(msg=name):
            with store.session() as s:
                case = s.get(Case, world.case)
                source = s.get(DataSource, world.source)
                file_id = writer.add_file(s, store.files, case, source, name, data).id
            digest = hashlib.sha256(data).hexdigest()
            with store.session() as s:
                row = s.get(DataFile, file_id)
            assert (
                row.case_id,
                row.count,
                row.data_source_id,
                row.file_name,
                row.content_type,
                (row.width, row.height),
                row.byte_size,
                row.sha256,
                row.storage_key,
            ) == (
                world.case,
                count,
                world.source,
                name,
                content_type,
                size,
                len(data),
                digest,
                f"{digest[:2]}/{digest}{suffix}",
            )
            assert store.files.read(row.storage_key) == data


def test_add_file_numbers_files_within_their_case(store, world):
    with store.session() as s:
        case = s.get(Case, world.case)
        source = s.get(DataSource, world.source)
        second = writer.add_file(s, store.files, case, source, "b.png", PNG)
        third = writer.add_file(s, store.files, case, source, "c.jpg", JPEG)
        tenth = writer.add_file(s, store.files, case, source, "j.jpg", JPEG, count=10)
        assert (second.count, third.count, tenth.count) == (2, 3, 10)
    with store.session() as s:
        rows = s.execute(select(DataFile.file_name, DataFile.count).order_by(DataFile.count))
        assert [tuple(r) for r in rows] == [("a.jpg", 1), ("b.png", 2), ("c.jpg", 3), ("j.jpg", 10)]


def test_add_file_refuses_what_is_not_an_image_or_a_count_below_one(store, world, subtests):
    before = snapshot(store)
    attempts = [
        ("notes.jpg", b"hello", None, MissingImageError, "'notes.jpg' is not a readable image"),
        ("zero.png", PNG, 0, InvalidValueError, "a file's count starts at 1, got 0 for 'zero.png'"),
        ("neg.png", PNG, -2, InvalidValueError, "a file's count starts at 1, got -2 for 'neg.png'"),
    ]
    for name, data, count, error, message in attempts:
        with subtests.test(msg=name):
            with pytest.raises(error) as caught, store.session() as s:
                case = s.get(Case, world.case)
                source = s.get(DataSource, world.source)
                writer.add_file(s, store.files, case, source, name, data, count=count)
            assert str(caught.value).startswith(message)
            assert snapshot(store) == before
            digest = hashlib.sha256(data).hexdigest()
            assert not store.files.exists(f"{digest[:2]}/{digest}.png")
            assert not store.files.exists(f"{digest[:2]}/{digest}.jpg")


ASSESSED_AT = [
    (datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2))), WHEN),
    (datetime(2024, 5, 6, 7, 8, 9, 999999), WHEN),
    (datetime(2024, 5, 6, 1, 8, 9, 500000, tzinfo=timezone(timedelta(hours=-6))), WHEN),
    (datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
     datetime(2023, 12, 31, 23, 30)),
]  # fmt: skip


def test_add_assessment_stores_naive_utc_to_the_second(store, world):
    with store.session() as s:
        data_file_ = s.get(DataFile, world.file)
        ids = [
            writer.add_assessment(s, data_file_, "review", StageKind.human, "alice", given).id
            for given, _ in ASSESSED_AT
        ]
    with store.session() as s:
        rows = [s.get(Assessment, i) for i in ids]
        assert [
            (r.data_file_id, r.stage, r.stage_kind, r.assessed_by, r.assessed_at) for r in rows
        ] == [(world.file, "review", StageKind.human, "alice", stored) for _, stored in ASSESSED_AT]
        assert all(r.assessed_at.tzinfo is None for r in rows)


def test_add_assessment_refuses_an_unknown_stage_kind(store, world):
    before = snapshot(store)
    with pytest.raises(ValueError, match="'robot'"), store.session() as s:
        writer.add_assessment(s, s.get(DataFile, world.file), "x", "robot", "me", WHEN)
    assert snapshot(store) == before


def stored_values(store) -> list[tuple]:
    with store.session() as s:
        rows = s.execute(
            select(Attribute.name, AttributeValue.value, AttributeValue.confidence)
            .join(Attribute, Attribute.id == AttributeValue.attribute_id)
            .order_by(AttributeValue.id)
        )
        return [tuple(row) for row in rows]


CANONICAL_VALUES = [
    ("occluded", "yes", "true"),
    ("occluded", False, "false"),
    ("crew", "007", "7"),
    ("crew", 12, "12"),
    ("length_m", "2.50", "2.5"),
    ("length_m", "1e3", "1000"),
    ("severity", "high", "high"),
    ("note", "Ölhafen ⚓ '=cmd'  ", "Ölhafen ⚓ '=cmd'  "),
]


def test_add_value_stores_the_canonical_text(store, world):
    with store.session() as s:
        tax = taxonomy(s, world)
        assessment = s.get(Assessment, world.assessment)
        for attribute, raw, _ in CANONICAL_VALUES:
            writer.add_value(s, tax, assessment, E1, attribute, raw, 0.75)
    assert stored_values(store) == [(name, text, 0.75) for name, _, text in CANONICAL_VALUES]


def test_add_value_of_an_annotation_or_of_the_entity(store, world):
    with store.session() as s:
        assessment = s.get(Assessment, world.assessment)
        tax = taxonomy(s, world)
        writer.add_value(s, tax, assessment, E1, "severity", "low",
                         annotation=s.get(Annotation, world.annotation))  # fmt: skip
        writer.add_value(s, tax, assessment, E1, "note", "whole entity")
        writer.add_value(s, tax, assessment, E2, "crew", 3)
    with store.session() as s:
        rows = s.execute(
            select(
                AttributeValue.entity_id,
                AttributeValue.annotation_id,
                AttributeValue.value,
                AttributeValue.confidence,
            ).order_by(AttributeValue.id)
        )
        assert [tuple(r) for r in rows] == [
            (E1, world.annotation, "low", None),
            (E1, None, "whole entity", None),
            (E2, None, "3", None),
        ]
        assert sorted(s.scalars(select(Entity.id))) == [E1, E2]


def test_add_annotation_stores_canonical_geometry(store, world):
    with store.session() as s:
        added = writer.add_annotation(
            s, taxonomy(s, world), s.get(Assessment, world.assessment), E2, "buoy",
            "polygon((0 0,2.50 0,2.5 2))", confidence=1, class_confidence=0, frame=4,
        )  # fmt: skip
        annotation_id = added.id
    with store.session() as s:
        row = s.get(Annotation, annotation_id)
        assert (
            row.entity_id,
            row.object_class.name,
            row.geometry,
            row.confidence,
            row.class_confidence,
            row.frame,
        ) == (E2, "buoy", "POLYGON ((0 0, 2.5 0, 2.5 2, 0 0))", 1.0, 0.0, 4)


def test_unknown_class_and_attribute_name_the_known_ones(store, world):
    with store.session() as s:
        tax = taxonomy(s, world)
        with pytest.raises(UnknownChoiceError) as caught:
            tax.object_class("boat")
        assert str(caught.value) == (
            "unknown object class 'boat' in workflow 'harbour'; known classes: vessel, buoy"
        )
        with pytest.raises(UnknownChoiceError) as caught:
            tax.attribute("colour")
        assert str(caught.value) == (
            "unknown attribute 'colour' in workflow 'harbour'; "
            "known attributes: severity, occluded, crew, length_m, note"
        )


def test_an_entity_belongs_to_one_workflow(store, world):
    with store.session() as s:
        other = writer.create_workflow(s, "other", ["vessel"])
        first = s.scalar(select(Entity.workflow_id).where(Entity.id == E1))
        assert writer.entity(s, other, E1) == E1  # the same UUID: another entity, of "other"
        assert set(s.scalars(select(Entity.workflow_id).where(Entity.id == E1))) == {
            first,
            other.id,
        }
        with pytest.raises(InvalidValueError) as caught:
            writer.entity(s, other, "E-1")
        assert str(caught.value) == "entity id 'E-1' is not a UUID"
        assert writer.entity(s, other, E2.upper()) == E2
        assert writer.entity(s, other, E2) == E2


Write = Callable[[Session, World, object], object]


def add_annotation(**changes) -> Write:
    def write(s: Session, world: World, _store) -> object:
        arguments = dict(
            entity_id=E2,
            object_class="vessel",
            geometry="POINT (1 1)",
            confidence=0.5,
            class_confidence=0.5,
            frame=0,
        )
        assessment = s.get(Assessment, world.assessment)
        return writer.add_annotation(s, taxonomy(s, world), assessment, **(arguments | changes))

    return write


def add_value(attribute: str, value: object, confidence: float | None = None) -> Write:
    def write(s: Session, world: World, _store) -> object:
        assessment = s.get(Assessment, world.assessment)
        return writer.add_value(s, taxonomy(s, world), assessment, E2, attribute, value,
                                confidence)  # fmt: skip

    return write


def add_file(count: int) -> Write:
    def write(s: Session, world: World, store) -> object:
        case = s.get(Case, world.case)
        source = s.get(DataSource, world.source)
        return writer.add_file(s, store.files, case, source, "dup.png", PNG, count=count)

    return write


FAILING_WRITES = [
    (add_annotation(confidence=1.5), InvalidValueError,
     "confidence must be between 0 and 1, got 1.5"),
    (add_annotation(confidence=-0.1), InvalidValueError,
     "confidence must be between 0 and 1, got -0.1"),
    (add_annotation(class_confidence=2), InvalidValueError,
     "class confidence must be between 0 and 1, got 2"),
    (add_annotation(confidence=float("nan")), InvalidValueError,
     "confidence must be between 0 and 1, got nan"),
    (add_annotation(frame=-1), InvalidValueError, "a frame number starts at 0, got -1"),
    (add_annotation(object_class="boat"), UnknownChoiceError, "unknown object class 'boat'"),
    (add_annotation(geometry="POLYGON ((0 0, 1 1))"), InvalidGeometryError,
     "a polygon needs at least 3 distinct points"),
    (add_annotation(entity_id="not-a-uuid"), InvalidValueError,
     "entity id 'not-a-uuid' is not a UUID"),
    (add_value("crew", "many"), InvalidValueError,
     "attribute 'crew' (integer): 'many' is not an integer"),
    (add_value("severity", "medium"), InvalidValueError,
     "attribute 'severity' (enum): 'medium' is not one of low, high"),
    (add_value("colour", "red"), UnknownChoiceError, "unknown attribute 'colour'"),
    (add_value("note", "x", 1.01), InvalidValueError,
     "confidence must be between 0 and 1, got 1.01"),
    (add_file(count=1), IntegrityError, ""),
]  # fmt: skip


def test_a_failing_write_in_a_session_changes_nothing(store, world, subtests):
    before = snapshot(store)
    for write, error, message in FAILING_WRITES:
        with subtests.test(msg=message or error.__name__):
            with pytest.raises(error) as caught, store.session() as s:
                s.add(Workflow(name="added first", description="rolled back"))
                writer.data_source(s, "added first")
                writer.add_value(s, taxonomy(s, world), s.get(Assessment, world.assessment), E1,
                                 "note", "added first")  # fmt: skip
                s.flush()
                write(s, world, store)
            assert str(caught.value).startswith(message)
            assert snapshot(store) == before


def test_a_refused_annotation_or_value_adds_no_entity_to_the_session(store, world):
    with store.session() as s:
        tax = taxonomy(s, world)
        assessment = s.get(Assessment, world.assessment)
        with pytest.raises(UnknownChoiceError):
            writer.add_annotation(s, tax, assessment, E2, "boat", "POINT (1 1)")
        with pytest.raises(InvalidValueError):
            writer.add_value(s, tax, assessment, E2, "crew", "many")
    assert counts(store)["entity"] == 1


def test_a_value_of_an_annotation_must_be_of_its_entity_and_assessment(store):
    from datetime import datetime

    from dashboard.errors import InvalidValueError
    from dashboard.store import writer
    from tests.hand_workflow import image_bytes

    with store.session() as s:
        wf = writer.create_workflow(s, "consistency", ["car"], [("note", "string")])
        tax = writer.Taxonomy(wf)
        file = writer.add_file(
            s, store.files, writer.case(s, wf, "1"), writer.data_source(s, "d"), "a.png",
            image_bytes(4, 4, "PNG"),
        )  # fmt: skip
        first = writer.add_assessment(s, file, "m", "machine", "m@1", datetime(2026, 1, 1))
        second = writer.add_assessment(s, file, "h", "human", "h", datetime(2026, 1, 2))
        annotation = writer.add_annotation(s, tax, first, None, "car", "POINT (1 1)")
        other_entity = writer.entity(s, wf)
        with pytest.raises(InvalidValueError, match="must be of its entity"):
            writer.add_value(s, tax, first, other_entity, "note", "x", None, annotation)
        with pytest.raises(InvalidValueError, match="in its assessment"):
            writer.add_value(s, tax, second, annotation.entity_id, "note", "x", None, annotation)
        writer.add_value(s, tax, first, annotation.entity_id, "note", "ok", None, annotation)


def old_store(backend: str, tmp_path, request, revision: str) -> str:
    """The URL of a store at an earlier migration holding two workflows with one file and
    one assessment each, where one UUID is used in both (the long-CSV import of old): E1
    with an annotation and a value in each, and an entity-level value in the second; E2, an
    entity without rows."""
    from alembic import command
    from sqlalchemy import text

    from dashboard.store.db import alembic_config, make_engine

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), revision)
    # Before 0004 an entity was one record whatever its workflows; since, one per workflow.
    entities = f"('{E1}', 1), ('{E2}', 1)" + (f", ('{E1}', 2)" if revision >= "0004" else "")
    statements = [
        "INSERT INTO workflow (id, name, description) VALUES (1, 'one', ''), (2, 'two', '')",
        "INSERT INTO object_class (id, workflow_id, name, colour, position) "
        "VALUES (1, 1, 'car', '#000000', 0), (2, 2, 'car', '#000000', 0)",
        "INSERT INTO attribute (id, workflow_id, name, value_type, position) "
        "VALUES (1, 1, 'note', 'string', 0), (2, 2, 'note', 'string', 0)",
        "INSERT INTO data_source (id, name, kind) VALUES (1, 'cam', 'upload')",
        "INSERT INTO assessment_case (id, workflow_id, external_id) VALUES (1, 1, 'c'), "
        "(2, 2, 'c')",
        "INSERT INTO data_file (id, case_id, count, data_source_id, file_name, content_type, "
        "width, height, byte_size, sha256, storage_key) VALUES "
        "(1, 1, 1, 1, 'a.jpg', 'image/jpeg', 0, 0, 0, '', ''), "
        "(2, 2, 1, 1, 'a.jpg', 'image/jpeg', 0, 0, 0, '', '')",
        "INSERT INTO assessment (id, data_file_id, stage, stage_kind, assessed_by, assessed_at) "
        "VALUES (1, 1, 'm', 'machine', 'x', '2026-01-01 00:00:00'), "
        "(2, 2, 'm', 'machine', 'x', '2026-01-01 00:00:00')",
        f"INSERT INTO entity (id, workflow_id) VALUES {entities}",
        "INSERT INTO annotation (id, assessment_id, entity_id, object_class_id, geometry, frame) "
        f"VALUES (1, 1, '{E1}', 1, 'POINT (1 1)', 0), (2, 2, '{E1}', 2, 'POINT (1 1)', 0)",
        "INSERT INTO attribute_value (id, assessment_id, entity_id, annotation_id, "
        f"attribute_id, value) VALUES (1, 1, '{E1}', 1, 1, 'a'), (2, 2, '{E1}', 2, 2, 'b'), "
        f"(3, 2, '{E1}', NULL, 2, 'c')",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()
    return url


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_store_made_before_entities_per_workflow_is_migrated_on_open(backend, tmp_path, request):
    """Migration 0004: the entity's key becomes (workflow, UUID). A store of 0003 where one
    UUID was used in two workflows (the long-CSV import of old) gets the missing record, and
    every annotation and value survives the table copies (foreign keys off on SQLite)."""
    from sqlalchemy import text

    from dashboard.store.db import SCHEMA_HEAD, open_store, schema_version

    url = old_store(backend, tmp_path, request, "0003")
    store = open_store(db_url=url, files_url=str(tmp_path / "f"))
    try:
        assert schema_version(store.engine) == SCHEMA_HEAD
        with store.session() as s:
            entities = sorted(tuple(r) for r in s.execute(select(Entity.workflow_id, Entity.id)))
            assert entities == [(1, E1), (1, E2), (2, E1)]  # E2: an entity with no rows
            assert s.scalar(select(func.count()).select_from(Annotation)) == 2
            assert s.scalar(select(func.count()).select_from(AttributeValue)) == 3
        with store.engine.connect() as connection:
            assert (
                connection.exec_driver_sql(
                    "PRAGMA foreign_keys" if backend == "sqlite" else "SELECT 1"
                ).scalar()
                == 1
            )  # foreign keys are on again on SQLite
        with store.session() as s:  # deleting a workflow still cascades through its cases
            s.execute(text("DELETE FROM workflow WHERE id = 2"))
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Annotation)) == 1
            assert sorted(tuple(r) for r in s.execute(select(Entity.workflow_id, Entity.id))) == [
                (1, E1),
                (1, E2),
            ]
    finally:
        store.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_store_made_before_summaries_gets_them_on_open(backend, tmp_path, request):
    """Migration 0005: entities get numbers, unique in the store, and every assessment its
    summary rows; the counts read from them equal the counts from the rows, and later
    writes number on from the migrated ones."""
    from dashboard.export import ExportQuery
    from dashboard.query import sql
    from dashboard.store.db import open_store

    url = old_store(backend, tmp_path, request, "0004")
    store = open_store(db_url=url, files_url=str(tmp_path / "f"))
    try:
        with store.session() as s:
            numbers = dict(
                ((w, e), n)
                for w, e, n in s.execute(select(Entity.workflow_id, Entity.id, Entity.number))
            )
            assert sorted(numbers.values()) == [1, 2, 3]
            rows = s.execute(
                select(
                    AssessmentSummary.assessment_id,
                    AssessmentSummary.entity_number,
                    AssessmentSummary.object_class_id,
                    AssessmentSummary.annotations,
                    AssessmentSummary.attribute_values,
                )
            )
            assert sorted(rows, key=lambda r: (r[0], r[2] is None)) == [
                (1, numbers[(1, E1)], 1, 1, 1),
                (2, numbers[(2, E1)], 2, 1, 1),
                (2, numbers[(2, E1)], None, 0, 1),  # the entity-level value
            ]
        for name in ("one", "two"):
            for scope in ("latest", "all"):
                filters = ExportQuery(store, workflow=name, scope=scope).filters()
                with store.engine.connect() as connection:
                    counted = connection.execute(sql.counts(filters)).one()
                    direct = connection.execute(sql.counts_direct(filters)).one()
                assert tuple(counted) == tuple(direct)
        with store.session() as s:
            workflow = s.get(Workflow, 1)
            added = writer.entity(s, workflow)
            assert s.get(Entity, (1, added)).number == 4
    finally:
        store.dispose()


@pytest.mark.postgres
def test_processes_starting_at_once_on_an_empty_database_migrate_one_after_the_other(
    pg_schema_url, tmp_path
):
    from concurrent.futures import ThreadPoolExecutor

    from dashboard.store.db import SCHEMA_HEAD, open_store, schema_version

    def start(_):
        store = open_store(db_url=pg_schema_url, files_url=str(tmp_path / "f"))
        try:
            return schema_version(store.engine)
        finally:
            store.dispose()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(start, range(4))) == [SCHEMA_HEAD] * 4
