"""The counts of the preview (``sql.counts``) are those of the direct statement
(``sql.counts_direct``, the rows as the export reads them) for every filter combination, on
SQLite and PostgreSQL: on the hand-built workflow, on a generated one (bench/generate.py:
entity-level values, bare entities, entities kept across assessments), and after a second
import adds annotations and values to entities and assessments that were already there.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import func, select

from dashboard.export import ExportQuery
from dashboard.query import sql
from dashboard.spec.options import Scope
from dashboard.store import writer
from dashboard.store.models import (
    Annotation,
    Assessment,
    AttributeValue,
    Case,
    DataFile,
    ObjectClass,
    StageKind,
    Workflow,
    WorkflowOrder,
)
from tests.hand_workflow import E1, E3, E4


def _numbers(store, statement) -> dict[str, int]:
    with store.engine.connect() as connection:
        row = connection.execute(statement).one()
    return {name: int(value or 0) for name, value in row._mapping.items()}


def _grid(store, workflow: str) -> list[sql.Filters]:
    """Every combination of scope, data source, order, stage kind and object classes, each
    with no time window, a window's start, and a start and an end (the workflow's times)."""
    with store.session() as session:
        workflow_id = session.scalar(select(Workflow.id).where(Workflow.name == workflow))
        files = (
            select(DataFile.data_source_id)
            .join(Case, DataFile.case_id == Case.id)
            .where(Case.workflow_id == workflow_id)
        )
        sources = sorted(set(session.scalars(files)))
        orders = session.scalars(
            select(WorkflowOrder.id).where(WorkflowOrder.workflow_id == workflow_id)
        ).all()
        classes = session.scalars(
            select(ObjectClass.id)
            .where(ObjectClass.workflow_id == workflow_id)
            .order_by(ObjectClass.position)
        ).all()
        times = sorted(
            set(
                session.scalars(
                    select(Assessment.assessed_at)
                    .join(DataFile, Assessment.data_file_id == DataFile.id)
                    .join(Case, DataFile.case_id == Case.id)
                    .where(Case.workflow_id == workflow_id)
                )
            )
        )
    middle = times[len(times) // 2]
    windows = [(None, None), (middle, None), (times[0], times[-1])]
    class_sets = [None, (classes[0],), tuple(classes[:2]), tuple(classes)]
    grid = []
    for scope, source, order, kind, (start, end), class_ids in itertools.product(
        Scope,
        [None, *sources],
        [None, *orders[:2]],
        [None, StageKind.machine, StageKind.human],
        windows,
        class_sets,
    ):
        grid.append(sql.Filters(workflow_id, scope, source, order, kind, start, end, class_ids))
    return grid


def _assert_same_counts(store, workflow: str) -> int:
    """Every combination's counts equal the direct statement's; how many were compared."""
    grid = _grid(store, workflow)
    different = []
    for filters in grid:
        expected = _numbers(store, sql.counts_direct(filters))
        got = _numbers(store, sql.counts(filters))
        if got != expected:
            different.append((filters, expected, got))
    assert not different, different[:3]
    return len(grid)


def test_same_counts_as_direct_on_the_hand_workflow(hand_store):
    assert _assert_same_counts(hand_store, "harbour") > 400


def test_same_counts_as_direct_on_a_generated_workflow(store, tmp_path):
    from bench.generate import WORKFLOW, generate

    totals = generate(store.db_url, str(tmp_path / "generated"), 3_000)
    compared = _assert_same_counts(store, WORKFLOW)
    assert compared > 500
    with store.session() as session:
        workflow_id = session.scalar(select(Workflow.id).where(Workflow.name == WORKFLOW))
    everything = _numbers(store, sql.counts(sql.Filters(workflow_id, Scope.all)))
    assert everything["assessments"] == totals.assessments
    assert everything["annotations"] == totals.annotations
    assert everything["attribute_values"] == totals.attribute_values
    assert everything["entities"] == totals.entities
    assert everything["bare_entities"] > 0  # the generator's entity-level values alone


def test_exact_after_a_second_import_adds_to_existing_entities(hand_store):
    """A later import adds values to entities (and an assessment) that were already there:
    an annotation-level value, entity-level values on an annotated and on a bare entity, a
    second annotation of an entity in one assessment, a new bare entity, and a new
    assessment that keeps an entity. The counts follow, exactly, for every combination."""
    before = ExportQuery(hand_store, workflow="harbour", scope="all").in_scope()
    with hand_store.session() as s:
        wf = s.scalar(select(Workflow).where(Workflow.name == "harbour"))
        tax = writer.Taxonomy(wf)
        h1 = s.get(Assessment, hand_store.ids["h1"])
        c = s.get(Annotation, hand_store.ids["c"])
        writer.add_value(s, tax, h1, E3, "note", "added later", None, c)  # annotation-level
        writer.add_value(s, tax, h1, E1, "note", "entity-level, later")  # annotated entity
        writer.add_value(s, tax, h1, E4, "note", "bare, later")  # bare entity, again
        writer.add_annotation(s, tax, h1, E1, "buoy", "POINT (3 3)", 0.5)  # E1: 2 classes
        new = "00000000-0000-4000-8000-0000000000aa"
        writer.add_value(s, tax, h1, new, "severity", "low")  # a new bare entity
        f2 = s.get(DataFile, hand_store.ids["f2"])
        later = writer.add_assessment(s, f2, "review", "human", "bo", datetime(2026, 11, 4))
        kept = writer.add_annotation(s, tax, later, E1, "vessel", "POINT (1 1)", None)
        writer.add_value(s, tax, later, E1, "severity", "high", None, kept)
    after = ExportQuery(hand_store, workflow="harbour", scope="all").in_scope()
    assert after.assessments == before.assessments + 1
    assert after.annotations == before.annotations + 2
    assert after.attribute_values == before.attribute_values + 5
    assert after.entities == before.entities + 1  # the new bare one; E1 was counted
    assert after.bare_entities == before.bare_entities + 1
    _assert_same_counts(hand_store, "harbour")


def test_class_filter_counts_entity_level_values_once_per_entity(hand_store):
    """An entity with two kept annotations in one assessment: its entity-level value is one
    value (not one per annotation), its entity one entity."""
    with hand_store.session() as s:
        wf = s.scalar(select(Workflow).where(Workflow.name == "harbour"))
        tax = writer.Taxonomy(wf)
        h1 = s.get(Assessment, hand_store.ids["h1"])
        writer.add_annotation(s, tax, h1, E1, "vessel", "POINT (4 4)", 0.5)
        workflow_id = wf.id
        vessel = s.scalar(select(ObjectClass.id).where(ObjectClass.name == "vessel"))
        values_of_e1 = s.scalar(
            select(func.count())
            .select_from(AttributeValue)
            .where(
                AttributeValue.assessment_id == h1.id,
                AttributeValue.entity_id == E1,
            )
        )
    filters = sql.Filters(workflow_id, Scope.latest, class_ids=(vessel,))
    got = _numbers(hand_store, sql.counts(filters))
    assert got == _numbers(hand_store, sql.counts_direct(filters))
    # Latest + vessel: h1 (E1 twice) and f3's m3 (E6) and f2's m2 (E5).
    assert got["entities"] == 3
    assert got["annotations"] == 4
    assert got["attribute_values"] == values_of_e1  # E1's in h1; E5 and E6 have none
    assert got["bare_entities"] == got["empty_assessments"] == 0


def test_no_class_kept_counts_nothing_but_the_files(hand_store):
    """An empty set of object classes keeps no annotation, so no assessment: as direct."""
    with hand_store.session() as s:
        workflow_id = s.scalar(select(Workflow.id).where(Workflow.name == "harbour"))
    for scope in Scope:
        filters = sql.Filters(workflow_id, scope, class_ids=())
        got = _numbers(hand_store, sql.counts(filters))
        assert got == _numbers(hand_store, sql.counts_direct(filters))
        assert got["assessments"] == got["entities"] == got["attribute_values"] == 0


def test_latest_breaks_a_tie_of_times_by_the_greater_id(hand_store):
    """Two assessments of one file at the same second: the later id is the latest (SPEC 2),
    here a review that removed everything (an empty assessment)."""
    with hand_store.session() as s:
        f3 = s.get(DataFile, hand_store.ids["f3"])
        m3 = s.get(Assessment, hand_store.ids["m3"])
        writer.add_assessment(s, f3, "review", "human", "bo", m3.assessed_at)
        workflow_id = s.scalar(select(Workflow.id).where(Workflow.name == "harbour"))
    latest = _numbers(hand_store, sql.counts(sql.Filters(workflow_id, Scope.latest)))
    assert latest["empty_assessments"] == 1
    _assert_same_counts(hand_store, "harbour")
